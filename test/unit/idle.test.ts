import { context, metrics, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MessagingTracer } from '../../src/adapter/index.ts';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher, type MemoryMessage } from '../../src/memory/index.ts';
import { recordSpans } from '../../src/testing/index.ts';
import type { MessageTrace } from '../../src/core/message-trace.ts';
import { captureDiag } from '../support/diag.ts';
import { asChannel, FakeChannel } from '../support/fakes/amqplib.ts';
import { asProducer, FakeProducer } from '../support/fakes/kafkajs.ts';
import { asConfluentProducer, FakeConfluentProducer } from '../support/fakes/confluent-kafka.ts';
import { traceConfluentProducer } from '../../src/confluent-kafka/index.ts';
import { traceChannel } from '../../src/amqplib/index.ts';
import { traceProducer } from '../../src/kafkajs/index.ts';

// With nothing registered (no SDK, no propagator, no MeterProvider) tracebus calls straight
// through; these tests pin down that this shortcut behaves as the traced path would.
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TP = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const ZERO_TRACE = '00000000000000000000000000000000';

function disableAll(): void {
  trace.disable();
  propagation.disable();
  metrics.disable();
  context.disable();
}

beforeEach(disableAll);
afterEach(disableAll);

describe('with nothing registered, a consumed message sent on carries none of the context it arrived with', () => {
  const arrived = { traceparent: TP, tracestate: 'vendor=1', baggage: 'user=7', 'x-order': '42' };

  it('on the in-process bus', async () => {
    const bus = new MemoryBus();
    const delivered: Array<Record<string, unknown>> = [];
    bus.subscribe('orders', async (message) => void delivered.push(message.headers));
    await traceMemoryPublisher()(bus).publish('orders', { payload: 1, headers: arrived });
    await bus.close();
    expect(delivered).toEqual([{ 'x-order': '42' }]);
  });

  it('through kafkajs', async () => {
    const raw = new FakeProducer();
    await traceProducer()(asProducer(raw)).send({ topic: 'orders', messages: [{ value: 'v', headers: { ...arrived, traceparent: Buffer.from(TP) } }] });
    expect(raw.sent[0]!.arg.messages[0]!.headers).toEqual({ 'x-order': '42' });
  });

  it('through Confluent\'s client, which changes the messages it is given: copies, with headers or without', async () => {
    const raw = new FakeConfluentProducer();
    const messages = [{ value: 'a', headers: { ...arrived } }, { value: 'b' }];
    await traceConfluentProducer()(asConfluentProducer(raw)).send({ topic: 'orders', messages });
    expect(messages).toEqual([{ value: 'a', headers: arrived }, { value: 'b' }]);
    expect((raw.calls[0]!.arg as { messages: unknown[] }).messages).toEqual([{ value: 'a', headers: { 'x-order': '42' } }, { value: 'b', headers: undefined }]);
  });

  it('through amqplib', () => {
    const raw = new FakeChannel();
    traceChannel()(asChannel(raw)).sendToQueue('orders', Buffer.from('v'), { headers: arrived });
    expect(raw.published[0]!.options!.headers).toEqual({ 'x-order': '42' });
  });
});

describe('when tracing is not (fully) set up', () => {
  it('publishes a copy of the headers without stale trace headers and leaves the caller’s headers alone', async () => {
    const tracer = new MessagingTracer('kafka');
    const headers = { traceparent: TP, TraceState: 'a=1', Baggage: 'user=7', 'x-order': '42' };
    const sent = await tracer.tracePublish({ type: 'send', destination: 'orders' }, headers, undefined, undefined, async (written) => written);
    expect(sent).toEqual({ 'x-order': '42' });
    expect(headers).toEqual({ traceparent: TP, TraceState: 'a=1', Baggage: 'user=7', 'x-order': '42' });
  });

  it('a sendBatch that is no batch goes to the client as it is, for its own error', async () => {
    const raw = asProducer(new FakeProducer());
    const producer = traceProducer()(raw);
    const failure = (sender: typeof raw, batch: unknown) => Promise.resolve().then(() => sender.sendBatch(batch as never)).catch((error: unknown) => String(error));
    const untraced = await failure(raw, undefined);
    expect(untraced).toMatch(/^TypeError: Cannot read properties of undefined/);
    expect(await failure(producer, undefined)).toBe(untraced);
    // And while tracing, no span for it either.
    const recorder = recordSpans();
    try {
      expect(await failure(producer, null)).toBe(await failure(raw, null));
      expect(recorder.spans()).toEqual([]);
    } finally {
      await recorder.shutdown();
    }
  });

  it('hands the handler an empty trace context, runs it in the root context and rethrows its error unchanged', async () => {
    const tracer = new MessagingTracer('kafka');
    const seen: { trace: MessageTrace; active: boolean }[] = [];
    const result = tracer.traceProcess({ type: 'process', destination: 'orders' }, { traceparent: TP }, undefined, undefined, undefined, (handlerTrace) => {
      seen.push({ trace: handlerTrace, active: trace.getSpan(context.active()) === undefined });
      return 'done';
    });
    expect(result).toBe('done');
    expect(seen[0]!.trace.traceId).toBe(ZERO_TRACE);
    expect(seen[0]!.trace.sampled).toBe(false);
    expect(seen[0]!.trace.baggage).toEqual({});
    expect(seen[0]!.trace.context).toBe(ROOT_CONTEXT);
    const failure = new RangeError('no stock');
    await expect(tracer.traceProcess({ type: 'process' }, undefined, undefined, undefined, undefined, async () => Promise.reject(failure))).rejects.toBe(failure);
    expect(() => tracer.tracePublish({ type: 'send' }, undefined, undefined, undefined, () => { throw failure; })).toThrow(failure);
  });

  it('skips hooks and policy functions, which have no span to act on', async () => {
    const bus = new MemoryBus();
    const calls: string[] = [];
    const received: MemoryMessage[] = [];
    bus.subscribe('orders', traceMemoryHandler({ consumerHook: () => void calls.push('consumerHook'), policy: () => (calls.push('policy'), 'parent') })((message) => void received.push(message)));
    await traceMemoryPublisher({ producerHook: () => void calls.push('producerHook') })(bus).publish('orders', { payload: 1, headers: { traceparent: TP } });
    await bus.close();
    expect(calls).toEqual([]);
    expect(received.map((message) => message.headers)).toEqual([{}]);
  });

  it('traces at once when an SDK is registered later, and goes idle again when it is disabled', async () => {
    const bus = new MemoryBus();
    const publisher = traceMemoryPublisher()(bus);
    const traceIds: string[] = [];
    bus.subscribe('orders', traceMemoryHandler()((_message, handlerTrace) => void traceIds.push(handlerTrace.traceId)));

    await publisher.publish('orders', { payload: 'before' });
    await bus.drained();
    const recorder = recordSpans();
    await publisher.publish('orders', { payload: 'during' });
    await bus.drained();
    const spans = recorder.spans();
    await recorder.shutdown();
    disableAll();
    await publisher.publish('orders', { payload: 'after' });
    await bus.close();

    expect(spans.map((span) => span.name)).toEqual(['send orders', 'process orders']);
    const [send, processed] = spans;
    expect(processed!.parentSpanContext?.spanId).toBe(send!.spanContext().spanId);
    expect(traceIds).toEqual([ZERO_TRACE, send!.spanContext().traceId, ZERO_TRACE]);
  });

  it('with only a propagator and a context manager registered, context still passes through the hop', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const bus = new MemoryBus();
    const onward: unknown[] = [];
    const publisher = traceMemoryPublisher()(bus);
    bus.subscribe('next', (message) => void onward.push(message.headers));
    bus.subscribe('orders', traceMemoryHandler()((_message, handlerTrace) => publisher.publish('next', { payload: handlerTrace.traceId })));
    await bus.publish('orders', { payload: 1, headers: { traceparent: TP } });
    await bus.close();
    expect(onward).toEqual([{ traceparent: TP }]);
  });

  it('with an SDK but no propagator, messages are traced and not reported as arriving without trace headers', async () => {
    const diagnostics = captureDiag();
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    trace.setGlobalTracerProvider(provider);
    try {
      const bus = new MemoryBus();
      bus.subscribe('orders', traceMemoryHandler()(() => undefined));
      await bus.publish('orders', { payload: 1, headers: { traceparent: TP } });
      await bus.publish('orders', { payload: 2 });
      await bus.close();
      await provider.forceFlush();
      expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(['process orders', 'process orders']);
      expect(diagnostics.logged).toEqual([]);
    } finally {
      diagnostics.stop();
    }
  });

  it('prepare() answers undefined while idle, and its state, passed on, is what the message is traced with', async () => {
    const tracer = new MessagingTracer('kafka');
    expect(tracer.prepare()).toBeUndefined();
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    trace.setGlobalTracerProvider(provider);
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const state = tracer.prepare();
    expect(state?.fields).toEqual(new Set(['traceparent', 'tracestate']));
    // Unregistered after prepare(): the prepared state still carries the message through.
    propagation.disable();
    const sent = tracer.tracePublish({ type: 'send', destination: 'orders' }, { 'x-order': '42' }, undefined, undefined, (written) => written, true, state);
    const [published] = exporter.getFinishedSpans();
    expect(sent).toEqual({ 'x-order': '42', traceparent: `00-${published!.spanContext().traceId}-${published!.spanContext().spanId}-01` });
    let handled: MessageTrace | undefined;
    tracer.traceProcess({ type: 'process', destination: 'orders' }, sent, undefined, undefined, undefined, (handlerTrace) => (handled = handlerTrace), state);
    expect(handled!.traceId).toBe(published!.spanContext().traceId);
    expect(exporter.getFinishedSpans()[1]!.parentSpanContext?.spanId).toBe(published!.spanContext().spanId);
    // Without the prepared state the same calls look again and find no propagator.
    expect(tracer.tracePublish({ type: 'send', destination: 'orders' }, { 'x-order': '42' }, undefined, undefined, (written) => written)).toEqual({ 'x-order': '42' });
    await provider.shutdown();
  });
});
