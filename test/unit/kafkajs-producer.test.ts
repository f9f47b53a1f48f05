import { context, metrics, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type SpanOptions, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider, type HistogramMetricData, type MetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Kafka, logLevel, Partitioners, type Message, type Producer, type ProducerBatch, type ProducerRecord, type TopicMessages } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { headerGetter, headerSetter } from '../../src/adapter/index.ts';
import { traceProducer } from '../../src/kafkajs/index.ts';
import { assertChildOf, assertLinkedTo, findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { asProducer, FakeProducer, type Sent } from '../support/fakes/kafkajs.ts';
import { CollectingReader } from '../support/metrics.ts';
import { spanIdPropagator } from '../support/propagators.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const SAMPLED = `00-${TRACE_ID}-${PARENT_ID}-01`;
const STALE = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;

const wire = (span: ReadableSpan) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Buffer.isBuffer(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

const messagesOf = (sent: Sent) => (sent.method === 'send' ? sent.arg.messages : sent.arg.topicMessages!.flatMap((group) => group.messages));
const app = () => trace.getTracer('app');

let recorder: SpanRecorder;
let raw: FakeProducer;
beforeEach(() => {
  recorder = recordSpans();
  raw = new FakeProducer();
});
afterEach(async () => {
  await recorder.shutdown();
});

describe('traceProducer: send', () => {
  it('a single-message send is one PRODUCER span whose context goes into a copy of the headers', async () => {
    const producer = traceProducer({ brokers: ['kafka-1.internal:9093', 'kafka-2.internal:9093'], clientId: 'checkout' })(asProducer(raw));
    const record = deepFreeze({
      topic: 'orders',
      acks: -1,
      timeout: 1000,
      messages: [{ key: Buffer.from('order-7'), value: '{"id":7}', partition: 2, timestamp: '1700000000000', headers: { 'x-app': 'kept', 'x-bytes': Buffer.from('raw') } }],
    });
    const snapshot = JSON.stringify(record);
    const result = await app().startActiveSpan('POST /orders', async (request) => {
      const metadata = await producer.send(record);
      request.end();
      return metadata;
    });

    expect(result).toEqual([{ topicName: 'orders', partition: 0, errorCode: 0 }]);
    const spans = recorder.spans();
    const send = findSpan(spans, 'send orders');
    assertChildOf(send, findSpan(spans, 'POST /orders'), spans);
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.links).toEqual([]);
    expect(send.attributes).toEqual({
      'messaging.system.name': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'orders',
      'messaging.destination.partition.id': '2',
      'kafka.message.key': 'order-7',
      'messaging.client.id': 'checkout',
      'server.address': 'kafka-1.internal',
      'server.port': 9093,
    });
    const [sent] = raw.sent as [Sent];
    expect(sent.active).toBe(send.spanContext().spanId);
    expect(sent.arg).not.toBe(record);
    expect(sent.arg.messages).not.toBe(record.messages);
    expect(sent.arg).toMatchObject({ topic: 'orders', acks: -1, timeout: 1000 });
    const message = sent.arg.messages[0]!;
    expect(message).toMatchObject({ key: Buffer.from('order-7'), value: '{"id":7}', partition: 2, timestamp: '1700000000000' });
    expect(message.headers).toEqual({ 'x-app': 'kept', 'x-bytes': Buffer.from('raw'), traceparent: wire(send) });
    expect(JSON.stringify(record)).toBe(snapshot);
  });

  it('replaces the trace headers a consumed message brought, whatever their case or type, instead of repeating them', async () => {
    const producer = traceProducer()(asProducer(raw));
    const consumed = deepFreeze({ key: null, value: Buffer.from('x'), headers: { TraceParent: Buffer.from(STALE), tracestate: [Buffer.from('a=1'), Buffer.from('b=2')], 'x-app': Buffer.from('kept') } });
    await producer.send({ topic: 'onward', messages: [consumed] });
    const send = findSpan(recorder.spans(), 'send onward');
    const headers = raw.sent[0]!.arg.messages[0]!.headers!;
    expect(Object.keys(headers).sort()).toEqual(['traceparent', 'x-app']);
    expect(headers.traceparent).toBe(wire(send));
    expect(consumed.headers.TraceParent).toEqual(Buffer.from(STALE));
  });

  it('header values kafkajs cannot encode become encodable, so tracing never makes a send throw', async () => {
    const producer = traceProducer()(asProducer(raw));
    const headers = { count: 42, flag: true, big: 10n, gone: null, absent: undefined, object: { a: 1 }, list: ['a', 1, null, Buffer.from('b')], empty: [null], bytes: new Uint8Array([104, 105]) };
    await producer.send({ topic: 't', messages: [{ value: 'v', headers: headers as never }] });
    const sent = raw.sent[0]!.arg.messages[0]!.headers!;
    expect(sent).toEqual({ count: '42', flag: 'true', big: '10', list: ['a', '1', Buffer.from('b')], bytes: Buffer.from('hi'), traceparent: expect.any(String) });
    for (const value of Object.values(sent).flat()) expect(typeof value === 'string' || Buffer.isBuffer(value)).toBe(true);
    expect(headers.gone).toBeNull();
    expect(headers.count).toBe(42);
  });

  it('a tombstone (null value) is marked; a null key is left out; body size is opt-in', async () => {
    await traceProducer()(asProducer(raw)).send({ topic: 'compacted', messages: [{ key: null, value: null }] });
    await traceProducer({ bodySize: true })(asProducer(new FakeProducer())).send({ topic: 'sized', messages: [{ key: 'k', value: 'héllo' }] });
    const tombstone = findSpan(recorder.spans(), 'send compacted');
    expect(tombstone.attributes['kafka.message.tombstone']).toBe(true);
    expect(tombstone.attributes).not.toHaveProperty('kafka.message.key');
    expect(tombstone.attributes).not.toHaveProperty('messaging.message.body.size');
    expect(findSpan(recorder.spans(), 'send sized').attributes['messaging.message.body.size']).toBe(6);
  });

  it('a message without a value is no tombstone: kafkajs refuses it, and the span records that error', async () => {
    // kafkajs checks the messages before it needs a connection: this real producer never dials.
    const producer = traceProducer()(new Kafka({ brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING }).producer());
    const refused = await producer.send({ topic: 'missing', messages: [{ key: 'k' } as never] }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    expect(refused?.name).toBe('KafkaJSNonRetriableError');
    expect(refused?.message).toMatch(/^Invalid message without value for topic "missing": \{"key":"k","headers":\{"traceparent":"00-[\da-f]{32}-[\da-f]{16}-01"\}\}$/);
    const send = findSpan(recorder.spans(), 'send missing');
    expect(send.attributes).toEqual({
      'messaging.system.name': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'missing',
      'kafka.message.key': 'k',
      'error.type': 'KafkaJSNonRetriableError',
    });
    expect(send.status).toEqual({ code: SpanStatusCode.ERROR, message: refused!.message });
    // The same in a batch: each message's create span.
    await producer.send({ topic: 'missing-many', messages: [{ key: 'a', value: 'v' }, { key: 'b', value: undefined } as never] }).catch(() => undefined);
    const creates = recorder.spans().filter((span) => span.name === 'create missing-many');
    expect(creates.map((span) => [span.attributes['kafka.message.key'], span.attributes['kafka.message.tombstone']])).toEqual([
      ['a', undefined],
      ['b', undefined],
    ]);
  });

  it('a message whose key and value come from its class (getters) is sent with them, single or in a batch, with create spans or without', async () => {
    class OrderPlaced {
      readonly #id: string;
      constructor(id: string) {
        this.#id = id;
      }
      get key() {
        return this.#id;
      }
      get value() {
        return JSON.stringify({ id: this.#id });
      }
    }
    const producer = traceProducer()(asProducer(raw));
    await producer.send({ topic: 'orders', messages: [new OrderPlaced('o-1')] });
    await producer.send({ topic: 'orders', messages: [new OrderPlaced('o-2'), new OrderPlaced('o-3')] });
    await traceProducer({ createSpans: false })(asProducer(raw)).send({ topic: 'orders', messages: [new OrderPlaced('o-4'), new OrderPlaced('o-5')] });
    expect(raw.sent.flatMap((sent) => sent.arg.messages.map((message) => [message.key, message.value, typeof message.headers?.traceparent]))).toEqual(
      ['o-1', 'o-2', 'o-3', 'o-4', 'o-5'].map((id) => [id, `{"id":"${id}"}`, 'string']),
    );
    expect(recorder.spans().filter((span) => span.attributes['kafka.message.key'] !== undefined).map((span) => [span.name, span.attributes['kafka.message.key']])).toEqual([
      ['send orders', 'o-1'],
      ['create orders', 'o-2'],
      ['create orders', 'o-3'],
    ]);
  });

  it('a key or value of another type (a number) goes to the client as it is, for its own answer, and is left off the span', async () => {
    // tracebus threw a RangeError of its own here; kafkajs itself rejects such a send with a TypeError.
    const producer = traceProducer({ bodySize: true })(asProducer(raw));
    const single = { topic: 'numbers', messages: [{ key: 42, value: 1234 }] } as unknown as ProducerRecord;
    const bulk = { topic: 'numbers', messages: [{ key: 7n, value: 'x' }, { key: { not: 'a key' }, value: Buffer.from('ab') }] } as unknown as ProducerRecord;
    await expect(producer.send(single)).resolves.toEqual([{ topicName: 'numbers', partition: 0, errorCode: 0 }]);
    await expect(producer.send(bulk)).resolves.toEqual([{ topicName: 'numbers', partition: 0, errorCode: 0 }]);
    expect(raw.sent.map((sent) => sent.arg.messages.map((message) => [message.key, message.value]))).toEqual([[[42, 1234]], [[7n, 'x'], [{ not: 'a key' }, Buffer.from('ab')]]]);
    const spans = recorder.spans();
    const sends = spans.filter((span) => span.name === 'send numbers');
    expect(sends.map((span) => span.kind)).toEqual([SpanKind.PRODUCER, SpanKind.CLIENT]);
    expect(sends[0]!.attributes).not.toHaveProperty('kafka.message.key');
    expect(sends[0]!.attributes).not.toHaveProperty('messaging.message.body.size');
    const creates = spans.filter((span) => span.name === 'create numbers');
    expect(creates.map((span) => [span.attributes['kafka.message.key'], span.attributes['messaging.message.body.size']])).toEqual([[undefined, 1], [undefined, 2]]);
    expect(spans.every((span) => span.ended)).toBe(true);
  });

  it('several messages in one send: a create span per message, carried by that message, linked from a CLIENT send span', async () => {
    const producer = traceProducer({ clientId: 'bulk' })(asProducer(raw));
    const record = deepFreeze({ topic: 'events', messages: [{ key: 'a', value: '1' }, { key: 'b', value: '2', headers: { traceparent: STALE } }, { key: 'c', value: '3', partition: 1 }] });
    await app().startActiveSpan('import', async (job) => {
      await producer.send(record);
      job.end();
    });

    const spans = recorder.spans();
    const job = findSpan(spans, 'import');
    const creates = spans.filter((span) => span.name === 'create events');
    expect(creates.map((span) => span.attributes['kafka.message.key'])).toEqual(['a', 'b', 'c']);
    for (const create of creates) {
      expect(create.kind).toBe(SpanKind.PRODUCER);
      assertChildOf(create, job, spans);
      expect(create.attributes['messaging.operation.type']).toBe('create');
      expect(create.attributes).not.toHaveProperty('messaging.client.id');
      expect(create.attributes).not.toHaveProperty('messaging.batch.message_count');
    }
    expect(creates[2]!.attributes['messaging.destination.partition.id']).toBe('1');
    const send = findSpan(spans, 'send events');
    expect(send.kind).toBe(SpanKind.CLIENT);
    assertChildOf(send, job, spans);
    expect(send.attributes).toMatchObject({ 'messaging.batch.message_count': 3, 'messaging.destination.name': 'events', 'messaging.client.id': 'bulk', 'messaging.operation.type': 'send' });
    expect(send.attributes).not.toHaveProperty('kafka.message.key');
    expect(send.links.map((link) => link.context.spanId)).toEqual(creates.map((span) => span.spanContext().spanId));
    expect(raw.sent[0]!.active).toBe(send.spanContext().spanId);
    expect(raw.sent[0]!.arg.messages.map((message) => message.headers?.traceparent)).toEqual(creates.map(wire));
    expect(record.messages[1]!.headers!.traceparent).toBe(STALE);
  });

  it('each create span goes out as injecting its context writes it: the random-trace-id flag of the trace it continues, its trace state, the baggage', async () => {
    const producer = traceProducer()(asProducer(raw));
    // An incoming message's context as tracebus's W3C propagator reads it: flag 0x02 set, a trace state.
    const incoming = recorder.propagator.extract(ROOT_CONTEXT, { traceparent: `00-${TRACE_ID}-${PARENT_ID}-03`, tracestate: 'shop=7,vendor=x' }, headerGetter);
    const parent = propagation.setBaggage(incoming, propagation.createBaggage({ tenant: { value: 'acme' } }));
    await context.with(parent, () => producer.send({ topic: 'bulk', messages: [{ value: '1' }, { value: '2', headers: { tracestate: 'stale=1', 'x-app': 'kept' } }] }));
    const creates = recorder.spans().filter((span) => span.name === 'create bulk');
    expect(creates).toHaveLength(2);
    expect(raw.sent[0]!.arg.messages.map((message) => message.headers)).toEqual([
      { traceparent: `00-${TRACE_ID}-${creates[0]!.spanContext().spanId}-03`, tracestate: 'shop=7,vendor=x', baggage: 'tenant=acme' },
      { 'x-app': 'kept', traceparent: `00-${TRACE_ID}-${creates[1]!.spanContext().spanId}-03`, tracestate: 'shop=7,vendor=x', baggage: 'tenant=acme' },
    ]);
    // The same as the propagator writes for that span in that context, header for header.
    const injected = creates.map((create) => {
      const headers: Record<string, string> = {};
      recorder.propagator.inject(trace.setSpan(parent, trace.wrapSpanContext(create.spanContext())), headers, headerSetter);
      return headers;
    });
    expect(raw.sent[0]!.arg.messages.map(({ headers }) => ({ ...headers, 'x-app': undefined }))).toEqual(injected.map((headers) => ({ ...headers, 'x-app': undefined })));
  });

  it('where the global propagator writes more than the W3C fields, each message carries those of its own create span too', async () => {
    propagation.disable();
    propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator(), spanIdPropagator()] }));
    try {
      const producer = traceProducer()(asProducer(raw));
      const parent = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }));
      await context.with(parent, () => producer.send({ topic: 'bulk', messages: [{ value: '1' }, { value: '2' }] }));
      const creates = recorder.spans().filter((span) => span.name === 'create bulk');
      expect(raw.sent[0]!.arg.messages.map((message) => message.headers)).toEqual(
        creates.map((create) => ({ 'x-span-id': create.spanContext().spanId, traceparent: wire(create), baggage: 'tenant=acme' })),
      );
    } finally {
      // What this test registered: the next recorder registers its own.
      propagation.disable();
    }
  });

  it('createSpans: false gives bulk senders one PRODUCER send span, whose context every message carries', async () => {
    const producer = traceProducer({ createSpans: false })(asProducer(raw));
    await producer.send({ topic: 'bulk', messages: [{ value: '1' }, { value: '2', headers: { TraceParent: STALE, baggage: 'old=1' } }] });
    const spans = recorder.spans();
    const send = findSpan(spans, 'send bulk');
    expect(spans.map((span) => span.name)).toEqual(['send bulk']);
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.attributes['messaging.batch.message_count']).toBe(2);
    // As for every send, the baggage a message arrived with does not travel on: the send's context has none.
    expect(raw.sent[0]!.arg.messages.map((message) => message.headers)).toEqual([{ traceparent: wire(send) }, { traceparent: wire(send) }]);
    // With baggage of its own, every message carries that, once.
    const withBaggage = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }));
    await context.with(withBaggage, () => producer.send({ topic: 'bulk', messages: [{ value: '3', headers: { Baggage: 'old=1' } }, { value: '4' }] }));
    const second = recorder.spans().filter((span) => span.name === 'send bulk')[1]!;
    expect(raw.sent[1]!.arg.messages.map((message) => message.headers)).toEqual([
      { traceparent: wire(second), baggage: 'tenant=acme' },
      { traceparent: wire(second), baggage: 'tenant=acme' },
    ]);
  });

  it('links the send span only to create spans with a valid context, and sends no traceparent for the others', async () => {
    const real = trace.getTracerProvider();
    const invalid = trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 });
    let created = 0;
    // A provider whose every second `create` span has an invalid context, as a broken tracer's would.
    const tracerProvider = {
      getTracer(name: string, version?: string) {
        const tracer = real.getTracer(name, version);
        return {
          startSpan: (spanName: string, options?: SpanOptions, ctx?: Context) => (spanName === 'create mixed' && created++ % 2 === 1 ? invalid : tracer.startSpan(spanName, options, ctx)),
          startActiveSpan: tracer.startActiveSpan.bind(tracer),
        } as Tracer;
      },
    };
    const producer = traceProducer({ tracerProvider })(asProducer(raw));
    await producer.send({ topic: 'mixed', messages: Array.from({ length: 4 }, (_, index) => ({ value: String(index) })) });
    const spans = recorder.spans();
    const creates = spans.filter((span) => span.name === 'create mixed');
    expect(creates).toHaveLength(2);
    const send = findSpan(spans, 'send mixed');
    expect(send.links.map((link) => link.context.spanId)).toEqual(creates.map((span) => span.spanContext().spanId));
    expect(raw.sent[0]!.arg.messages.map((message) => message.headers?.traceparent)).toEqual([wire(creates[0]!), undefined, wire(creates[1]!), undefined]);
  });

  it('maxLinks caps the send span’s links and records how many were dropped', async () => {
    const producer = traceProducer({ maxLinks: 2 })(asProducer(raw));
    await producer.send({ topic: 'many', messages: Array.from({ length: 5 }, (_, index) => ({ value: String(index) })) });
    const send = findSpan(recorder.spans(), 'send many');
    expect(send.links).toHaveLength(2);
    expect(send.attributes['tracebus.links.dropped_count']).toBe(3);
    // Every message still carries its own create span's context.
    expect(new Set(raw.sent[0]!.arg.messages.map((message) => message.headers?.traceparent)).size).toBe(5);
  });

  it('sendBatch: one send span for the call, named without a destination when it spans topics', async () => {
    const producer = traceProducer()(asProducer(raw));
    const batch = deepFreeze({ acks: 1, topicMessages: [{ topic: 'left', messages: [{ value: 'l1' }, { value: 'l2' }] }, { topic: 'right', messages: [{ value: 'r1' }] }] });
    await producer.sendBatch(batch);
    await producer.sendBatch({ topicMessages: [{ topic: 'single', messages: [{ value: 's1' }] }] });

    const spans = recorder.spans();
    const send = findSpan(spans, 'send');
    expect(send.kind).toBe(SpanKind.CLIENT);
    expect(send.attributes['messaging.batch.message_count']).toBe(3);
    expect(send.attributes).not.toHaveProperty('messaging.destination.name');
    const creates = [...spans.filter((span) => span.name === 'create left'), findSpan(spans, 'create right')];
    expect(creates).toHaveLength(3);
    for (const create of creates) assertLinkedTo(send, create, spans);
    const sent = raw.sent[0]!;
    expect(sent.method).toBe('sendBatch');
    expect(sent.arg.acks).toBe(1);
    expect(sent.arg.topicMessages!.map((group) => group.topic)).toEqual(['left', 'right']);
    expect(messagesOf(sent).map((message) => message.headers?.traceparent)).toEqual(creates.map(wire));
    // sendBatch is a batch API even with one message: a send span and a create span.
    const single = findSpan(spans, 'send single');
    expect(single.attributes['messaging.batch.message_count']).toBe(1);
    assertLinkedTo(single, findSpan(spans, 'create single'), spans);
  });

  it('a failed send is recorded on its span and rejects with the very same error', async () => {
    const producer = traceProducer()(asProducer(raw));
    class KafkaJSNumberOfRetriesExceeded extends Error {}
    const failure = new KafkaJSNumberOfRetriesExceeded('broker down');
    raw.failWith = failure;
    await expect(producer.send({ topic: 'down', messages: [{ value: 'x' }] })).rejects.toBe(failure);
    await expect(producer.sendBatch({ topicMessages: [{ topic: 'down', messages: [{ value: 'x' }, { value: 'y' }] }] })).rejects.toBe(failure);
    raw.failWith = undefined;
    const thrown = new TypeError('synchronous');
    raw.throwWith = thrown;
    expect(() => producer.send({ topic: 'sync', messages: [{ value: 'x' }] })).toThrow(thrown);

    const sends = recorder.spans().filter((span) => span.name.startsWith('send'));
    expect(sends.map((span) => [span.name, span.status.code, span.attributes['error.type']])).toEqual([
      ['send down', SpanStatusCode.ERROR, 'KafkaJSNumberOfRetriesExceeded'],
      ['send down', SpanStatusCode.ERROR, 'KafkaJSNumberOfRetriesExceeded'],
      ['send sync', SpanStatusCode.ERROR, 'TypeError'],
    ]);
    expect(sends[0]!.events.map((event) => event.attributes?.['exception.message'])).toEqual(['broker down']);
    expect(recorder.openSpans()).toEqual([]);
  });

  it('malformed calls reach kafkajs untouched, for its own error', async () => {
    const producer = traceProducer()(asProducer(raw));
    const record = { topic: 'odd', messages: 'not an array' } as unknown as ProducerRecord;
    await producer.send(record);
    await producer.sendBatch({ topicMessages: [{ topic: 'odd' } as TopicMessages] } as ProducerBatch);
    expect(raw.sent[0]!.arg).toBe(record);
    expect(recorder.spans()).toEqual([]);
  });

  it('record, batch and group fields from a class (getters, inherited, non-enumerable) reach kafkajs as they would untraced', async () => {
    // kafkajs destructures the record, so it reads inherited fields too; a spread dropped them
    // (the topic of this class, its acks and compression), and kafkajs refused the send ("Invalid topic").
    class OrderRecord {
      readonly #topic: string;
      messages: Message[];
      constructor(topic: string, messages: Message[]) {
        this.#topic = topic;
        this.messages = messages;
        Object.defineProperty(this, 'timeout', { value: 1500, enumerable: false });
      }
      // A private field: the getter must run on the record itself.
      get topic() {
        return this.#topic;
      }
      get acks() {
        return 1;
      }
      get compression() {
        return 1;
      }
    }
    class NightlyBatch {
      topicMessages: OrderRecord[];
      constructor(topicMessages: OrderRecord[]) {
        this.topicMessages = topicMessages;
      }
      get acks() {
        return 0;
      }
    }
    const fields = (sent: object) => {
      const arg = sent as Record<string, unknown>;
      return { topic: arg.topic, acks: arg.acks, timeout: arg.timeout, compression: arg.compression, own: Object.keys(Object.getOwnPropertyDescriptors(sent)) };
    };
    const one = Object.freeze(new OrderRecord('orders', [{ value: 'one' }]));
    const two = new OrderRecord('orders', [{ value: 'a' }, { value: 'b' }]);
    const producer = traceProducer()(asProducer(raw));
    await producer.send(one as unknown as ProducerRecord);
    await producer.send(two as unknown as ProducerRecord);
    await traceProducer({ createSpans: false })(asProducer(raw)).send(two as unknown as ProducerRecord);
    await producer.sendBatch(new NightlyBatch([new OrderRecord('a', [{ value: '1' }]), new OrderRecord('b', [{ value: '2' }])]) as unknown as ProducerBatch);

    const record = { topic: 'orders', acks: 1, timeout: 1500, compression: 1, own: ['messages', 'timeout'] };
    expect(raw.sent.slice(0, 3).map((sent) => fields(sent.arg))).toEqual([record, record, record]);
    for (const sent of raw.sent.slice(0, 3)) expect(sent.arg).toBeInstanceOf(OrderRecord);
    const batch = raw.sent[3]!.arg;
    expect([batch.acks, batch.timeout, Object.hasOwn(batch, 'acks')]).toEqual([0, undefined, false]);
    expect(batch.topicMessages!.map(fields)).toEqual([
      { ...record, topic: 'a' },
      { ...record, topic: 'b' },
    ]);
    // Every message still carries its context, and the records given stay as they were.
    expect(raw.sent.flatMap(messagesOf).map((message) => typeof message.headers?.traceparent)).toEqual(Array(7).fill('string'));
    expect([one.messages, two.messages]).toEqual([[{ value: 'one' }], [{ value: 'a' }, { value: 'b' }]]);
    expect(recorder.spans().filter((span) => span.name.startsWith('send')).map((span) => span.name)).toEqual(['send orders', 'send orders', 'send orders', 'send']);

    // The same with nothing registered.
    await recorder.shutdown();
    try {
      const idle = new FakeProducer();
      await traceProducer()(asProducer(idle)).send(one as unknown as ProducerRecord);
      await traceProducer()(asProducer(idle)).sendBatch(new NightlyBatch([two]) as unknown as ProducerBatch);
      expect(fields(idle.sent[0]!.arg)).toEqual(record);
      expect([idle.sent[1]!.arg.acks, ...idle.sent[1]!.arg.topicMessages!.map(fields)]).toEqual([0, record]);
    } finally {
      recorder = recordSpans();
    }
  });

  it('sendBatch hands kafkajs a batch whose topicMessages is missing or not an array as it is, for its own answer', async () => {
    // kafkajs rejects topicMessages: null; tracebus took it for none, and the send resolved.
    const producer = traceProducer()(asProducer(raw));
    const none = { topicMessages: null } as unknown as ProducerBatch;
    const missing = {} as ProducerBatch;
    await producer.sendBatch(none);
    await producer.sendBatch(missing);
    expect(raw.sent.map((sent) => sent.arg)).toEqual([none, missing]);
    expect(raw.sent[0]!.arg).toBe(none);
    expect(raw.sent[1]!.arg).toBe(missing);
    // Without topicMessages, kafkajs sends nothing; the call is a send of no messages.
    expect(recorder.spans().map((span) => [span.name, span.attributes['messaging.batch.message_count']])).toEqual([['send', 0]]);
  });

  it('delegates everything else to the producer, bound to it', async () => {
    const producer = traceProducer()(asProducer(raw));
    await producer.connect();
    expect(raw.connected).toBe(true);
    expect(producer.events).toBe(raw.events);
    expect({ ...producer }.events).toBe(raw.events);
    expect(producer.isIdempotent()).toBe(false);
    expect(producer.logger()).toBe('logger');
    const { connect } = producer;
    await connect();
    producer.on(producer.events.CONNECT, () => undefined);
    expect(raw.listeners.map(([event]) => event)).toEqual(['producer.connect']);
    await producer.disconnect();
    expect(raw.connected).toBe(false);
  });

  it('misuse fails at once with a sentence that names the fix', () => {
    expect(() => traceProducer(null as never)).toThrow(/^tracebus: traceProducer\(options\) takes an options object or nothing; got null$/);
    expect(() => traceProducer({ createSpans: 'no' as never })).toThrow(/createSpans\b.*true or false/);
    expect(() => traceProducer({ producerHook: 'hook' as never })).toThrow(/producerHook.*function/);
    expect(() => traceProducer({ brokers: [7] as never })).toThrow(/^tracebus: traceProducer\(\{ brokers \}\) takes the broker list as given to new Kafka\(\), such as \['127\.0\.0\.1:9092'\] or a function; got \[7\]$/);
    expect(() => traceProducer({ maxLinks: -1 })).toThrow(/maxLinks/);
    expect(() => traceProducer()({} as Producer)).toThrow(/needs a kafkajs producer, e\.g\. traceProducer\(options\)\(kafka\.producer\(\)\); got an object; options go in the first call: traceProducer\(options\)\(producer\)$/);
    const traced = traceProducer()(asProducer(raw));
    expect(() => traceProducer()(traced)).toThrow(/traced already/);
  });

  it('producerHook adds attributes to each span about one message; a hook that throws does not stop the send', async () => {
    const seen: string[] = [];
    const producer = traceProducer({
      producerHook(span, { topic, message }) {
        seen.push(`${topic}:${message.value}`);
        span.setAttribute('app.value', String(message.value));
        if (message.value === 'boom') throw new Error('hook failed');
      },
    })(asProducer(raw));
    await producer.send({ topic: 'one', messages: [{ value: 'boom' }] });
    await producer.send({ topic: 'two', messages: [{ value: 'a' }, { value: 'b' }] });
    expect(seen).toEqual(['one:boom', 'two:a', 'two:b']);
    expect(raw.sent).toHaveLength(2);
    expect(findSpan(recorder.spans(), 'send one').attributes['app.value']).toBe('boom');
    expect(recorder.spans().filter((span) => span.name === 'create two').map((span) => span.attributes['app.value'])).toEqual(['a', 'b']);
  });

  it("semconv 'legacy' and 'both' use the names of semconv 1.27–1.44 for the renamed attributes", async () => {
    await traceProducer({ semconv: 'legacy' })(asProducer(raw)).send({ topic: 'legacy', messages: [{ key: 'k', value: null }] });
    await traceProducer({ semconv: 'both' })(asProducer(raw)).send({ topic: 'both', messages: [{ key: 'k', value: 'v' }] });
    const legacy = findSpan(recorder.spans(), 'send legacy').attributes;
    expect(legacy).toMatchObject({ 'messaging.system': 'kafka', 'messaging.kafka.message.key': 'k', 'messaging.kafka.message.tombstone': true });
    expect(legacy).not.toHaveProperty('messaging.system.name');
    expect(findSpan(recorder.spans(), 'send both').attributes).toMatchObject({ 'messaging.system': 'kafka', 'messaging.system.name': 'kafka', 'kafka.message.key': 'k', 'messaging.kafka.message.key': 'k' });
  });

  it('with no SDK registered, the active context still goes into every message', async () => {
    await recorder.shutdown();
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    try {
      const producer = traceProducer()(asProducer(raw));
      const incoming = propagation.extract(ROOT_CONTEXT, { traceparent: SAMPLED });
      await context.with(incoming, async () => {
        await producer.send({ topic: 'a', messages: [{ value: '1' }] });
        await producer.send({ topic: 'b', messages: [{ value: '1' }, { value: '2' }] });
        await traceProducer({ createSpans: false })(asProducer(new FakeProducer())).send({ topic: 'c', messages: [{ value: '1' }] });
      });
      expect(raw.sent.flatMap(messagesOf).map((message) => message.headers?.traceparent)).toEqual([SAMPLED, SAMPLED, SAMPLED]);
    } finally {
      // What this test registered, which a recorder sets aside but does not remove.
      context.disable();
      propagation.disable();
      recorder = recordSpans();
    }
  });
});

describe('traceProducer with nothing registered (no SDK, no propagator, no metrics)', () => {
  it('sends straight through, dropping trace headers the messages carried from elsewhere', async () => {
    await recorder.shutdown();
    try {
      const producer = traceProducer()(asProducer(raw));
      const stale = { traceparent: SAMPLED, 'x-app': 'kept' };
      await producer.send({ topic: 'a', messages: [{ value: '1', headers: stale }, { value: '2' }] });
      await producer.sendBatch({ topicMessages: [{ topic: 'b', messages: [{ value: '3', headers: { TraceState: 'a=1' } }] }] });
      expect(raw.sent.flatMap(messagesOf).map((message) => [message.value, message.headers])).toEqual([
        ['1', { 'x-app': 'kept' }],
        ['2', undefined],
        ['3', {}],
      ]);
      expect(stale).toEqual({ traceparent: SAMPLED, 'x-app': 'kept' });
    } finally {
      recorder = recordSpans();
    }
  });
});

describe('traceProducer around kafkajs itself, not connected (it answers these calls before any request)', () => {
  /** How a call ended: what it resolved, the error it rejected with, or the error it threw. */
  async function outcome(call: () => Promise<unknown>): Promise<string> {
    try {
      return await call().then(
        () => 'resolved',
        (error: Error) => `rejected with ${error.constructor.name}: ${error.message}`,
      );
    } catch (error) {
      return `threw ${(error as Error).constructor.name}: ${(error as Error).message}`;
    }
  }
  const kafkajs = () => new Kafka({ clientId: 'unit', brokers: ['127.0.0.1:1'], logLevel: logLevel.NOTHING }).producer({ createPartitioner: Partitioners.DefaultPartitioner });

  it('a record class behind a Proxy reaches kafkajs as the Proxy answers, its get trap included', async () => {
    class Routed {
      topic = 'raw-topic';
      messages: Message[] = [{ value: 'x' }];
      acks = 1;
    }
    const routed = new Proxy(new Routed(), { get: (target, key, receiver) => (key === 'topic' ? 'routed-topic' : key === 'acks' ? -1 : Reflect.get(target, key, receiver)) });
    await traceProducer()(asProducer(raw)).send(routed as unknown as ProducerRecord);
    const sent = raw.sent[0]!.arg as unknown as Record<string, unknown>;
    expect([sent.topic, sent.acks]).toEqual(['routed-topic', -1]);
    expect(recorder.spans().map((span) => span.name)).toEqual(['send routed-topic']);
  });

  it('a message or record whose getter throws: the send rejects as kafkajs rejects it untraced, instead of throwing; the span ends with the error', async () => {
    class LazyEvent {
      readonly key = 'k-1';
      readonly payload: unknown;
      constructor(payload: unknown) {
        this.payload = payload;
      }
      get value() {
        return JSON.stringify(this.payload);
      }
    }
    class UnnamedRecord {
      messages = [{ value: 'x' }];
      get topic(): string {
        throw new RangeError('no topic configured');
      }
    }
    const lazy = new LazyEvent({ amount: 1n }) as unknown as Message;
    const calls: Array<[string, (producer: Producer) => Promise<unknown>]> = [
      ['single', (producer) => producer.send({ topic: 't', messages: [lazy] })],
      ['bulk', (producer) => producer.send({ topic: 't', messages: [{ value: 'fine' }, lazy] })],
      ['batch', (producer) => producer.sendBatch({ topicMessages: [{ topic: 't', messages: [lazy] }] })],
      ['record', (producer) => producer.send(new UnnamedRecord() as unknown as ProducerRecord)],
    ];
    const raw = kafkajs();
    const untraced: string[] = [];
    for (const [, call] of calls) untraced.push(await outcome(() => call(raw)));
    expect(untraced).toEqual([
      'rejected with TypeError: Do not know how to serialize a BigInt',
      'rejected with TypeError: Do not know how to serialize a BigInt',
      'rejected with TypeError: Do not know how to serialize a BigInt',
      'rejected with RangeError: no topic configured',
    ]);
    const traced = traceProducer({ bodySize: true })(raw);
    const withoutCreateSpans = traceProducer({ createSpans: false })(raw);
    for (const producer of [traced, withoutCreateSpans]) {
      const seen: string[] = [];
      for (const [, call] of calls) seen.push(await outcome(() => call(producer)));
      expect(seen).toEqual(untraced);
    }
    const sends = recorder.spans().filter((span) => span.name === 'send t');
    expect(sends.map((span) => [span.status.code, span.attributes['error.type']])).toEqual(Array(6).fill([SpanStatusCode.ERROR, 'TypeError']));
    // The value cannot be read: neither a tombstone nor a size; the key can.
    expect(sends[0]!.attributes).toEqual({ 'messaging.system.name': 'kafka', 'messaging.operation.type': 'send', 'messaging.operation.name': 'send', 'messaging.destination.name': 't', 'kafka.message.key': 'k-1', 'error.type': 'TypeError' });
    const creates = recorder.spans().filter((span) => span.name === 'create t');
    expect(creates.map((span) => [span.attributes['kafka.message.tombstone'], span.attributes['messaging.message.body.size']])).toEqual([
      [undefined, 4],
      [undefined, undefined],
      [undefined, undefined],
    ]);
    expect(recorder.openSpans()).toEqual([]);

    // The same with nothing registered.
    await recorder.shutdown();
    try {
      const idle: string[] = [];
      for (const [, call] of calls) idle.push(await outcome(() => call(traceProducer()(raw))));
      expect(idle).toEqual(untraced);
    } finally {
      recorder = recordSpans();
    }
  });

  it('sendBatch({ topicMessages: null }) rejects as kafkajs rejects it untraced', async () => {
    const raw = kafkajs();
    const batch = { topicMessages: null } as unknown as ProducerBatch;
    const untraced = await outcome(() => raw.sendBatch(batch));
    expect(untraced).toBe("rejected with TypeError: Cannot read properties of null (reading 'some')");
    expect(await outcome(() => traceProducer()(raw).sendBatch(batch))).toBe(untraced);
  });
});

describe('traceProducer: transactions', () => {
  it('a transaction is a span from transaction() to commit(); sends made where it began are its children', async () => {
    const producer = traceProducer({ clientId: 'payments' })(asProducer(raw));
    await app().startActiveSpan('settle', async (job) => {
      const transaction = await producer.transaction();
      await transaction.send({ topic: 'ledger', messages: [{ value: 'debit' }] });
      await transaction.sendBatch({ topicMessages: [{ topic: 'ledger', messages: [{ value: 'credit' }, { value: 'fee' }] }] });
      expect(transaction.isActive()).toBe(true);
      await transaction.commit();
      expect(transaction.isActive()).toBe(false);
      job.end();
    });
    const spans = recorder.spans();
    const span = findSpan(spans, 'transaction');
    assertChildOf(span, findSpan(spans, 'settle'), spans);
    expect(span.kind).toBe(SpanKind.INTERNAL);
    expect(span.attributes).toEqual({ 'messaging.system.name': 'kafka', 'messaging.client.id': 'payments', 'tracebus.kafka.transaction.outcome': 'committed' });
    const sends = spans.filter((candidate) => candidate.name === 'send ledger');
    expect(sends).toHaveLength(2);
    for (const send of sends) assertChildOf(send, span, spans);
    for (const create of spans.filter((candidate) => candidate.name === 'create ledger')) assertChildOf(create, span, spans);
    expect(raw.sent.flatMap(messagesOf).map((message) => headerGetter.get(message.headers, 'traceparent'))).toHaveLength(3);
  });

  it('disconnect() while a commit is in flight leaves the outcome to the commit; one that fails then ends abandoned, not open', async () => {
    const producer = traceProducer()(asProducer(raw));
    const first = await producer.transaction();
    const committing = first.commit();
    const disconnecting = producer.disconnect();
    await Promise.all([committing, disconnecting]);
    // A commit that fails while the producer disconnects: the transaction stays active (as Confluent's does), but nothing can go on with it.
    const second = await producer.transaction();
    raw.transactions[1]!.commitError = new Error('fenced');
    raw.transactions[1]!.stayActiveOnError = true;
    const failing = second.commit();
    const disconnectingAgain = producer.disconnect();
    await expect(failing).rejects.toThrow('fenced');
    await disconnectingAgain;
    const outcomes = recorder.spans().filter((span) => span.name === 'transaction').map((span) => span.attributes['tracebus.kafka.transaction.outcome']);
    expect(outcomes).toEqual(['committed', 'abandoned']);
    expect(recorder.openSpans()).toEqual([]);
  });

  it('abort() ends it as aborted; sendOffsets is an event on it', async () => {
    const producer = traceProducer()(asProducer(raw));
    const transaction = await producer.transaction();
    await transaction.sendOffsets({ consumerGroupId: 'copier', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '5' }] }] });
    await transaction.abort();
    const span = findSpan(recorder.spans(), 'transaction');
    expect(span.attributes['tracebus.kafka.transaction.outcome']).toBe('aborted');
    expect(span.events.map((event) => [event.name, event.attributes])).toEqual([['kafka.transaction.send_offsets', { 'messaging.consumer.group.name': 'copier' }]]);
    expect(raw.transactions[0]!.offsets).toHaveLength(1);
  });

  it('a send made in another context stays in that trace and links to the transaction', async () => {
    const producer = traceProducer()(asProducer(raw));
    const transaction = await producer.transaction();
    await app().startActiveSpan('message work', async (work) => {
      await transaction.send({ topic: 'derived', messages: [{ value: 'x' }] });
      work.end();
    });
    await transaction.commit();
    const spans = recorder.spans();
    const send = findSpan(spans, 'send derived');
    assertChildOf(send, findSpan(spans, 'message work'), spans);
    assertLinkedTo(send, findSpan(spans, 'transaction'), spans);
  });

  it('the link to the transaction counts against maxLinks, in the place of the last create span\'s', async () => {
    const producer = traceProducer({ maxLinks: 2 })(asProducer(raw));
    const transaction = await producer.transaction();
    await app().startActiveSpan('message work', async (work) => {
      await transaction.send({ topic: 'derived', messages: [{ value: '1' }, { value: '2' }, { value: '3' }] });
      work.end();
    });
    await transaction.commit();
    const spans = recorder.spans();
    const send = findSpan(spans, 'send derived');
    const creates = spans.filter((span) => span.name === 'create derived');
    expect(send.links.map((link) => link.context.spanId)).toEqual([findSpan(spans, 'transaction').spanContext().spanId, creates[0]!.spanContext().spanId]);
    expect(send.attributes['tracebus.links.dropped_count']).toBe(2);

    recorder.reset();
    const none = await traceProducer({ maxLinks: 0 })(asProducer(new FakeProducer())).transaction();
    await app().startActiveSpan('other work', async (work) => {
      await none.send({ topic: 'single', messages: [{ value: '1' }] });
      await none.send({ topic: 'bulk', messages: [{ value: '1' }, { value: '2' }] });
      work.end();
    });
    await none.commit();
    expect(recorder.spans().filter((span) => span.name.startsWith('send')).map((span) => [span.name, span.links.length, span.attributes['tracebus.links.dropped_count']])).toEqual([
      ['send single', 0, 1],
      ['send bulk', 0, 3],
    ]);
  });

  it('a failed commit is recorded; the span stays open while the transaction can still be aborted', async () => {
    const producer = traceProducer()(asProducer(raw));
    const transaction = await producer.transaction();
    const failure = new Error('coordinator moved');
    raw.transactions[0]!.commitError = failure;
    raw.transactions[0]!.stayActiveOnError = true;
    await expect(transaction.commit()).rejects.toBe(failure);
    expect(recorder.spans()).toEqual([]);
    await transaction.abort();
    const span = findSpan(recorder.spans(), 'transaction');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['tracebus.kafka.transaction.outcome']).toBe('aborted');

    const second = await producer.transaction();
    raw.transactions[1]!.commitError = failure;
    await expect(second.commit()).rejects.toBe(failure);
    expect(recorder.spans().filter((candidate) => candidate.name === 'transaction').map((candidate) => candidate.attributes['tracebus.kafka.transaction.outcome'])).toEqual(['aborted', 'abandoned']);
  });

  it('a commit that fails and ends the transaction, as kafkajs does, ends its span as abandoned, with the error; the abort kafkajs then refuses adds nothing', async () => {
    const producer = traceProducer()(asProducer(raw));
    const transaction = await producer.transaction();
    const fenced = new Error('Producer attempted an operation with an old epoch');
    raw.transactions[0]!.commitError = fenced;
    await expect(transaction.commit()).rejects.toBe(fenced);
    expect(transaction.isActive()).toBe(false);
    const refused = new Error('Cannot continue to use transaction once ended');
    raw.transactions[0]!.abort = () => Promise.reject(refused);
    await expect(transaction.abort()).rejects.toBe(refused);
    const span = findSpan(recorder.spans(), 'transaction');
    expect(span.attributes['tracebus.kafka.transaction.outcome']).toBe('abandoned');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: fenced.message });
    expect(span.events.map((event) => [event.name, event.attributes?.['exception.message']])).toEqual([['exception', fenced.message]]);
    expect(recorder.openSpans()).toEqual([]);
  });

  it('sendOffsets is an event only once kafkajs took the offsets: a refused call adds none and rejects with the same error', async () => {
    const producer = traceProducer()(asProducer(raw));
    const transaction = await producer.transaction();
    const refusal = new Error('The coordinator is loading');
    const fake = raw.transactions[0]!;
    const taken = fake.sendOffsets.bind(fake);
    fake.sendOffsets = () => Promise.reject(refusal);
    const offsets = { consumerGroupId: 'copier', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '5' }] }] };
    await expect(transaction.sendOffsets(offsets)).rejects.toBe(refusal);
    fake.sendOffsets = taken;
    await expect(transaction.sendOffsets({ ...offsets, consumerGroupId: 'retried' })).resolves.toBeUndefined();
    await transaction.commit();
    const span = findSpan(recorder.spans(), 'transaction');
    expect(span.events.map((event) => [event.name, event.attributes])).toEqual([['kafka.transaction.send_offsets', { 'messaging.consumer.group.name': 'retried' }]]);
    expect(span.attributes['tracebus.kafka.transaction.outcome']).toBe('committed');
  });

  it('two wrappers of one producer share its transaction: disconnecting through either ends the one the other began', async () => {
    // Two modules may each wrap a shared producer; the transaction is the producer's.
    const first = traceProducer()(asProducer(raw));
    const second = traceProducer()(asProducer(raw));
    await first.transaction();
    await second.disconnect();
    expect(recorder.spans().map((span) => [span.name, span.attributes['tracebus.kafka.transaction.outcome']])).toEqual([['transaction', 'abandoned']]);
    expect(recorder.openSpans()).toEqual([]);
  });

  it('disconnecting with a transaction open ends its span as abandoned; a refused transaction() is recorded', async () => {
    const producer = traceProducer()(asProducer(raw));
    await producer.transaction();
    await producer.disconnect();
    expect(findSpan(recorder.spans(), 'transaction').attributes['tracebus.kafka.transaction.outcome']).toBe('abandoned');
    recorder.reset();
    const refusal = new Error('Must provide transactional id for transactional producer');
    raw.transactionError = refusal;
    await expect(producer.transaction()).rejects.toBe(refusal);
    const refused = findSpan(recorder.spans(), 'transaction');
    expect(refused.status).toEqual({ code: SpanStatusCode.ERROR, message: refusal.message });
    expect(recorder.openSpans()).toEqual([]);
  });
});

describe('traceProducer: metrics', () => {
  it('count every message a send attempted, batch or not, failed or not, and time each send', async () => {
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    try {
      const producer = traceProducer({ meterProvider })(asProducer(raw));
      await producer.send({ topic: 'm', messages: [{ value: '1' }] });
      await producer.send({ topic: 'm', messages: [{ value: '1' }, { value: '2' }, { value: '3' }] });
      raw.failWith = new Error('down');
      await producer.send({ topic: 'm', messages: [{ value: '1' }] }).catch(() => undefined);
      const collected = await reader.byName();
      const sent = collected.get('messaging.client.sent.messages') as SumMetricData;
      // Every message attempted, the failed send's with its error.type (semconv).
      expect(sent.dataPoints.map((point) => [point.attributes['error.type'], point.value])).toEqual([
        [undefined, 4],
        ['Error', 1],
      ]);
      expect(sent.dataPoints[0]!.attributes).toEqual({ 'messaging.system.name': 'kafka', 'messaging.operation.name': 'send', 'messaging.destination.name': 'm' });
      const durations = (collected.get('messaging.client.operation.duration') as HistogramMetricData).dataPoints;
      expect(durations.map((point) => [point.attributes['error.type'], point.value.count])).toEqual([
        [undefined, 2],
        ['Error', 1],
      ]);
    } finally {
      metrics.disable();
      await meterProvider.shutdown();
    }
  });
});
