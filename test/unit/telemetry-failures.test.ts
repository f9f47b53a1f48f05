/**
 * The OpenTelemetry SDK runs span processors inside startSpan() and end(), and a meter of
 * another make may throw from its instruments: none of it may fail a send, keep a message from
 * its handler, turn a handler's success into a failure or keep a confirm from its caller.
 */
import { context, metrics, propagation, ROOT_CONTEXT, trace, type Context, type Meter, type MeterProvider } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan, type Span as SdkSpan, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider as SdkMeterProvider } from '@opentelemetry/sdk-metrics';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { traceChannel } from '../../src/amqplib/index.ts';
import { traceProducer } from '../../src/kafkajs/index.ts';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from '../../src/memory/index.ts';
import { captureDiagEachTest } from '../support/diag.ts';
import { asConfirmChannel, FakeConfirmChannel } from '../support/fakes/amqplib.ts';
import { asProducer, FakeProducer } from '../support/fakes/kafkajs.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TP = `00-${TRACE_ID}-${PARENT_ID}-01`;

/** A span processor that throws from `onStart` or `onEnd` (`which`), after the exporter saw the span. */
function throwingProvider(which: 'onStart' | 'onEnd'): { provider: TracerProvider; exporter: InMemorySpanExporter } {
  const exporter = new InMemorySpanExporter();
  const faulty: SpanProcessor = {
    onStart(_span: SdkSpan, _parent: Context) {
      if (which === 'onStart') throw new Error('processor onStart failed');
    },
    onEnd(_span: ReadableSpan) {
      if (which === 'onEnd') throw new Error('processor onEnd failed');
    },
    forceFlush: async () => undefined,
    shutdown: async () => undefined,
  };
  return { provider: new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter }), faulty] }), exporter };
}

const contextManager = new AsyncLocalStorageContextManager();
beforeEach(() => {
  context.setGlobalContextManager(contextManager.enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterEach(() => {
  context.disable();
  propagation.disable();
  metrics.disable();
});
const diagnostics = captureDiagEachTest();

describe('a span processor that throws', () => {
  it('from onEnd: the publish resolves, the handler runs once and its success stays a success', async () => {
    const { provider, exporter } = throwingProvider('onEnd');
    // A handler whose success became a failure would be retried, then dead-lettered.
    const deadLettered: unknown[] = [];
    const bus = new MemoryBus({ maxAttempts: 2, onDeadLetter: (message) => void deadLettered.push(message) });
    const handled: Array<[unknown, number]> = [];
    bus.subscribe('orders', traceMemoryHandler({ tracerProvider: provider })(async (message) => void handled.push([message.payload, message.attempt])));
    await expect(traceMemoryPublisher({ tracerProvider: provider })(bus).publish('orders', { payload: 1 })).resolves.toBeUndefined();
    await bus.publish('orders', { payload: 2, headers: { traceparent: TP } });
    await bus.close();
    expect(handled).toEqual([
      [1, 1],
      [2, 1],
    ]);
    expect(deadLettered).toEqual([]);
    const [sent, processed, upstream] = exporter.getFinishedSpans();
    expect(processed!.parentSpanContext?.spanId).toBe(sent!.spanContext().spanId);
    expect(upstream!.spanContext().traceId).toBe(TRACE_ID);
    expect(upstream!.parentSpanContext?.spanId).toBe(PARENT_ID);
    expect(diagnostics.logged.filter((line) => line.includes('threw while ending a span'))).toHaveLength(3);
  });

  it('from onEnd: a ConfirmChannel publish still calls the caller back with the broker’s answer', () => {
    const { provider, exporter } = throwingProvider('onEnd');
    const fake = new FakeConfirmChannel();
    const channel = traceChannel({ tracerProvider: provider })(asConfirmChannel(fake));
    const answers: unknown[] = [];
    expect(channel.sendToQueue('jobs', Buffer.from('x'), {}, (error) => void answers.push(error))).toBe(true);
    expect(() => fake.published[0]!.callback!(null)).not.toThrow();
    expect(answers).toEqual([null]);
    expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(['send jobs']);
  });

  it('from onEnd of a Kafka create span: the whole batch still reaches the client', async () => {
    const { provider } = throwingProvider('onEnd');
    const fake = new FakeProducer();
    const producer = traceProducer({ tracerProvider: provider })(asProducer(fake));
    await expect(producer.send({ topic: 'orders', messages: [{ value: 'a' }, { value: 'b' }] })).resolves.toEqual([{ topicName: 'orders', partition: 0, errorCode: 0 }]);
    expect(fake.sent).toHaveLength(1);
    expect((fake.sent[0]!.arg as { messages: Array<{ value: string }> }).messages.map((message) => message.value)).toEqual(['a', 'b']);
  });

  it('from onStart: the message is sent and handled in the trace it came with, without spans of its own', async () => {
    const { provider } = throwingProvider('onStart');
    const bus = new MemoryBus({ maxAttempts: 1 });
    const seen: Array<{ traceId: string; traceparent: unknown }> = [];
    bus.subscribe(
      'orders',
      traceMemoryHandler({ tracerProvider: provider })(async (message, handlerTrace) => void seen.push({ traceId: handlerTrace.traceId, traceparent: message.headers?.traceparent })),
    );
    const parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: 1, isRemote: true });
    await context.with(parent, () => traceMemoryPublisher({ tracerProvider: provider })(bus).publish('orders', { payload: 1 }));
    await bus.close();
    expect(seen).toEqual([{ traceId: TRACE_ID, traceparent: TP }]);
    expect(diagnostics.logged.filter((line) => line.includes('threw while starting a span'))).toHaveLength(2);
  });
});

/** A MeterProvider whose instruments throw on every measurement, or whose getMeter throws. */
function throwingMeterProvider(where: 'measure' | 'getMeter'): MeterProvider {
  const real = new SdkMeterProvider();
  return {
    getMeter(name, version, options): Meter {
      if (where === 'getMeter') throw new Error('getMeter failed');
      const meter = real.getMeter(name, version, options);
      return new Proxy(meter, {
        get(target, key, receiver) {
          const value = Reflect.get(target, key, receiver);
          if (key !== 'createCounter' && key !== 'createHistogram') return value;
          return () => ({
            add() {
              throw new Error('counter failed');
            },
            record() {
              throw new Error('histogram failed');
            },
          });
        },
      });
    },
  };
}

describe('a meter that throws', () => {
  it.each(['measure', 'getMeter'] as const)('from %s: the publish resolves and the handler gets the message, in its trace', async (where) => {
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const meterProvider = throwingMeterProvider(where);
    const bus = new MemoryBus({ maxAttempts: 1 });
    const handled: unknown[] = [];
    bus.subscribe('orders', traceMemoryHandler({ tracerProvider, meterProvider })((message) => void handled.push(message.payload)));
    await expect(traceMemoryPublisher({ tracerProvider, meterProvider })(bus).publish('orders', { payload: 1 })).resolves.toBeUndefined();
    await bus.close();
    expect(handled).toEqual([1]);
    const [sent, processed] = exporter.getFinishedSpans();
    expect(processed!.parentSpanContext?.spanId).toBe(sent!.spanContext().spanId);
    expect(processed!.status.code).toBe(0);
    expect(diagnostics.logged.some((line) => line.startsWith('error: tracebus: the MeterProvider or one of its instruments threw'))).toBe(true);
  });
});
