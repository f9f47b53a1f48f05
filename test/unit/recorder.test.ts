import { context, createContextKey, propagation, ROOT_CONTEXT, trace, type TextMapPropagator } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AlwaysOnSampler, InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from '../../src/memory/index.ts';
import { findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';

// What an application module or an instrumentation does at import, before any recorder exists.
const appTracer = trace.getTracer('app');
const appProvider = trace.getTracerProvider();

// recordSpans() samples as NodeSDK does by default, so tests agree with production: an
// upstream decision is followed, a new trace is sampled.
const UNSAMPLED = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
const SAMPLED = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

let recorder: SpanRecorder | undefined;
afterEach(async () => {
  await recorder?.shutdown();
});

async function deliver(traceparent: string | undefined): Promise<boolean[]> {
  const bus = new MemoryBus();
  const sampled: boolean[] = [];
  bus.subscribe('orders', traceMemoryHandler()(async (_message, trace) => void sampled.push(trace.sampled)));
  await bus.publish('orders', { payload: 1, headers: traceparent === undefined ? {} : { traceparent } });
  await bus.close();
  return sampled;
}

describe('recordSpans() samples as NodeSDK does by default', () => {
  it('an unsampled upstream message gets an unsampled, unrecorded process span', async () => {
    recorder = recordSpans();
    expect(await deliver(UNSAMPLED)).toEqual([false]);
    expect(recorder.spans()).toEqual([]);
  });

  it('a sampled upstream message, and a message that starts a trace, are recorded', async () => {
    recorder = recordSpans();
    expect(await deliver(SAMPLED)).toEqual([true]);
    expect(await deliver(undefined)).toEqual([true]);
    expect(recorder.spans().map((span) => [span.name, span.parentSpanContext?.spanId])).toEqual([
      ['process orders', '00f067aa0ba902b7'],
      ['process orders', undefined],
    ]);
  });

  it('the sampler is an option: always-on records the unsampled upstream too', async () => {
    recorder = recordSpans({ sampler: new AlwaysOnSampler() });
    expect(await deliver(UNSAMPLED)).toEqual([true]);
    expect(recorder.spans()).toHaveLength(1);
  });
});

describe('recordSpans({ global: false })', () => {
  it('with its provider and propagator passed to tracebus, a publish and its handling are one trace', async () => {
    recorder = recordSpans({ global: false });
    const tracing = { tracerProvider: recorder.provider, propagator: recorder.propagator };
    const bus = new MemoryBus();
    const headers: Record<string, unknown>[] = [];
    bus.subscribe('orders', traceMemoryHandler(tracing)(async (message) => void headers.push(message.headers)));
    await traceMemoryPublisher(tracing)(bus).publish('orders', { payload: 1 });
    await bus.close();
    const [send, processed] = ['send orders', 'process orders'].map((name) => findSpan(recorder!.spans(), name));
    expect(headers).toEqual([{ traceparent: `00-${send!.spanContext().traceId}-${send!.spanContext().spanId}-01` }]);
    expect(processed!.spanContext().traceId).toBe(send!.spanContext().traceId);
    expect(processed!.parentSpanContext?.spanId).toBe(send!.spanContext().spanId);
  });
});

describe('recordSpans() records globally', () => {
  const names = (from: SpanRecorder) => from.spans().map((span) => span.name);

  it('records the spans of a tracer obtained before it and of a provider captured then, recorder after recorder', async () => {
    for (const round of ['first', 'second']) {
      recorder = recordSpans();
      appTracer.startSpan(`${round}: app`).end();
      appProvider.getTracer('lib').startSpan(`${round}: lib`).end();
      expect(names(recorder)).toEqual([`${round}: app`, `${round}: lib`]);
      await recorder.shutdown();
    }
  });

  it('spans() still answers after shutdown(), with the spans ended by then; reset() empties it', async () => {
    const done = recordSpans();
    appTracer.startSpan('before shutdown').end();
    await done.shutdown();
    appTracer.startSpan('after shutdown').end();
    expect(names(done)).toEqual(['before shutdown']);
    done.reset();
    expect(names(done)).toEqual([]);
  });

  it('a tracer obtained while one recorder records records into the next one, its active spans nested', async () => {
    const first = recordSpans();
    const tracer = trace.getTracer('svc');
    tracer.startSpan('under first').end();
    expect(names(first)).toEqual(['under first']);
    await first.shutdown();
    expect(tracer.startSpan('with no recorder').isRecording()).toBe(false);
    recorder = recordSpans();
    tracer.startActiveSpan('parent', (parent) => {
      tracer.startSpan('child').end();
      parent.end();
    });
    const [child, parent] = recorder.spans();
    expect([child?.name, parent?.name]).toEqual(['child', 'parent']);
    expect(child?.parentSpanContext?.spanId).toBe(parent?.spanContext().spanId);
  });

  it('refuses a second global recorder while one records, naming the fix; one with global: false records beside it', async () => {
    recorder = recordSpans();
    expect(() => recordSpans()).toThrow(
      new Error(
        'tracebus/testing: recordSpans() is already recording globally: a recorder from an earlier call has not been shut down, and one records globally at a time. Call `await recorder.shutdown()` on that one first (in afterEach, so that a failed test shuts it down too), or pass { global: false } to recorders that run side by side.',
      ),
    );
    const beside = recordSpans({ global: false });
    trace.getTracer('svc').startSpan('global').end();
    beside.provider.getTracer('svc').startSpan('beside').end();
    await beside.shutdown();
    trace.getTracer('svc').startSpan('after the other shut down').end();
    expect(names(recorder)).toEqual(['global', 'after the other shut down']);
  });

  it('shutdown() undoes its registration at once and once: not the next recorder\'s, awaited or not, called again or not', async () => {
    const first = recordSpans();
    const closing = first.shutdown();
    recorder = recordSpans();
    await closing;
    await first.shutdown();
    trace.getTracer('svc').startSpan('under the second').end();
    expect(names(recorder)).toEqual(['under the second']);
    expect(propagation.fields()).toEqual(['traceparent', 'tracestate', 'baggage']);
  });

  it('sets aside the tracer provider and propagator registered before and puts them back; the context manager stays', async () => {
    const exporter = new InMemorySpanExporter();
    const theirs = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const manager = new AsyncLocalStorageContextManager().enable();
    const propagator: TextMapPropagator = { inject: () => {}, extract: (ctx) => ctx, fields: () => ['x-theirs'] };
    const active = ROOT_CONTEXT.setValue(createContextKey('test'), 1);
    trace.setGlobalTracerProvider(theirs);
    context.setGlobalContextManager(manager);
    propagation.setGlobalPropagator(propagator);
    try {
      const tracerOfTheirs = trace.getTracer('app');
      const publisher = traceMemoryPublisher()(new MemoryBus());
      await publisher.publish('before', { payload: 1 });
      recorder = recordSpans();
      await publisher.publish('during', { payload: 2 });
      tracerOfTheirs.startSpan('their tracer, during').end();
      expect(propagation.fields()).toEqual(['traceparent', 'tracestate', 'baggage']);
      expect(manager.with(active, () => context.active())).toBe(active);
      expect(names(recorder)).toEqual(['send during']);
      await recorder.shutdown();
      await publisher.publish('after', { payload: 3 });
      expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(['send before', 'their tracer, during', 'send after']);
      expect(propagation.fields()).toEqual(['x-theirs']);
      expect(manager.with(active, () => context.active())).toBe(active);
    } finally {
      trace.disable();
      context.disable();
      propagation.disable();
    }
  });
});
