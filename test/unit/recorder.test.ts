import { AlwaysOnSampler } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from '../../src/memory/index.ts';
import { findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';

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
