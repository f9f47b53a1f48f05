import { EventEmitter } from 'node:events';
import { context, metrics, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type SpanContext } from '@opentelemetry/api';
import { MeterProvider, type HistogramMetricData, type SumMetricData } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Consumer, ConsumerRunConfig, EachBatchPayload, EachMessagePayload, IHeaders, KafkaMessage } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activeMessageTrace } from '../../src/adapter/index.ts';
import { compose, type Handler, type HandlerMiddleware, type MessageTrace } from '../../src/index.ts';
import { traceConsumer, traceEachBatch, traceEachMessage, type BatchMessageTrace } from '../../src/kafkajs/index.ts';
import { assertChildOf, assertLinkedTo, findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { asConsumer, FakeConsumer } from '../support/fakes/kafkajs.ts';
import { captureDiag } from '../support/diag.ts';
import { CollectingReader } from '../support/metrics.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const SAMPLED = `00-${TRACE_ID}-${PARENT_ID}-01`;
/** A producer context per index: trace `0000…0i`, span `…0i`. */
const producerContext = (index: number) => `00-${String(index + 1).padStart(32, '0')}-${String(index + 1).padStart(16, '0')}-01`;

function kafkaMessage(offset: number | string, fields: { headers?: IHeaders; key?: Buffer | null; value?: Buffer | null; timestamp?: string } = {}): KafkaMessage {
  return {
    key: fields.key === undefined ? null : fields.key,
    value: fields.value === undefined ? Buffer.from(`value ${offset}`) : fields.value,
    timestamp: fields.timestamp ?? String(Date.now()),
    attributes: 0,
    offset: String(offset),
    headers: fields.headers ?? {},
  };
}

function eachMessagePayload(message: KafkaMessage, topic = 'orders', partition = 0): EachMessagePayload {
  return { topic, partition, message, heartbeat: async () => undefined, pause: () => () => undefined };
}

/** An eachBatch payload that records what the handler did with it. */
function eachBatchPayload(messages: KafkaMessage[], topic = 'orders', partition = 0) {
  const calls = { resolved: [] as string[], heartbeats: 0, running: true, stale: false };
  const payload: EachBatchPayload = {
    batch: {
      topic,
      partition,
      highWatermark: String(messages.length),
      messages,
      isEmpty: () => messages.length === 0,
      firstOffset: () => messages[0]?.offset ?? null,
      lastOffset: () => messages.at(-1)?.offset ?? '-1',
      offsetLag: () => '0',
      offsetLagLow: () => '0',
    },
    resolveOffset: (offset) => void calls.resolved.push(offset),
    heartbeat: async () => void calls.heartbeats++,
    pause: () => () => undefined,
    commitOffsetsIfNecessary: async () => undefined,
    uncommittedOffsets: () => ({ topics: [] }),
    isRunning: () => calls.running,
    isStale: () => calls.stale,
  };
  return { payload, calls };
}

const spansNamed = (name: string) => recorder.spans().filter((span) => span.name === name);
const isBatchSpan = (span: ReadableSpan) => span.attributes['messaging.batch.message_count'] !== undefined;

let recorder: SpanRecorder;
beforeEach(() => {
  recorder = recordSpans();
});
afterEach(async () => {
  await recorder.shutdown();
});

describe('traceEachMessage', () => {
  it('runs the handler in a CONSUMER span process <topic>, a child of the context in the Buffer headers', async () => {
    const payload = eachMessagePayload(kafkaMessage(42, { headers: { traceparent: Buffer.from(SAMPLED), 'x-app': Buffer.from('a') }, key: Buffer.from('order-7') }), 'orders', 3);
    const seen: Array<{ payload: EachMessagePayload; trace: MessageTrace; active: string | undefined }> = [];
    const eachMessage = traceEachMessage({ groupId: 'billing', brokers: '[::1]:9092', clientId: 'billing-1' })(async (received, handlerTrace) => {
      seen.push({ payload: received, trace: handlerTrace, active: trace.getActiveSpan()?.spanContext().spanId });
    });
    await eachMessage(payload);

    const span = findSpan(recorder.spans(), 'process orders');
    expect(span.kind).toBe(SpanKind.CONSUMER);
    expect(span.spanContext().traceId).toBe(TRACE_ID);
    expect(span.parentSpanContext?.spanId).toBe(PARENT_ID);
    expect(span.attributes).toEqual({
      'messaging.system.name': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'orders',
      'messaging.destination.partition.id': '3',
      'messaging.consumer.group.name': 'billing',
      'kafka.offset': 42,
      'kafka.message.key': 'order-7',
      'messaging.client.id': 'billing-1',
      'server.address': '::1',
      'server.port': 9092,
    });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.payload).toBe(payload);
    expect(seen[0]!.trace.spanId).toBe(span.spanContext().spanId);
    expect(seen[0]!.active).toBe(span.spanContext().spanId);
  });

  it('a repeated traceparent (an array) or a malformed one starts a new trace; the message is handled all the same', async () => {
    const handled: string[] = [];
    const eachMessage = traceEachMessage()(async ({ message }) => void handled.push(message.offset));
    await eachMessage(eachMessagePayload(kafkaMessage(0, { headers: { traceparent: [Buffer.from(SAMPLED), Buffer.from(producerContext(1))] } })));
    await eachMessage(eachMessagePayload(kafkaMessage(1, { headers: { traceparent: Buffer.from('garbage'), tracestate: Buffer.from('a=1') } })));
    await eachMessage(eachMessagePayload(kafkaMessage(2, { headers: { traceparent: undefined } })));
    expect(handled).toEqual(['0', '1', '2']);
    for (const span of spansNamed('process orders')) {
      expect(span.parentSpanContext).toBeUndefined();
      expect(span.spanContext().traceId).not.toBe(TRACE_ID);
    }
  });

  it('a handler error is recorded and comes back unchanged, as a rejection even when thrown synchronously', async () => {
    class OutOfStock extends Error {}
    const failure = new OutOfStock('none left');
    await expect(traceEachMessage()(async () => Promise.reject(failure))(eachMessagePayload(kafkaMessage(0)))).rejects.toBe(failure);
    const synchronous = traceEachMessage()(() => {
      throw failure;
    });
    let returned: unknown;
    expect(() => (returned = synchronous(eachMessagePayload(kafkaMessage(1))))).not.toThrow();
    await expect(returned).rejects.toBe(failure);
    const [first, second] = spansNamed('process orders') as [ReadableSpan, ReadableSpan];
    for (const span of [first, second]) {
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'none left' });
      expect(span.attributes['error.type']).toBe('OutOfStock');
      expect(span.events.map((event) => event.name)).toEqual(['exception']);
    }
    // A synchronous handler that succeeds still gives kafkajs a promise.
    await expect(traceEachMessage()(() => undefined)(eachMessagePayload(kafkaMessage(2)))).resolves.toBeUndefined();
  });

  it('the same offset again after its handler failed is attempt 2, 3, …; after a success, or another offset or partition, it starts over', async () => {
    // What each delivery's handler does: reject, throw at once, or succeed.
    const outcomes = ['reject', 'throw', 'ok', 'ok', 'reject', 'ok', 'ok'];
    const eachMessage = traceEachMessage()(() => {
      const outcome = outcomes.shift();
      if (outcome === 'throw') throw new Error('at once');
      return outcome === 'reject' ? Promise.reject(new Error('retry me')) : Promise.resolve();
    });
    for (const [offset, partition] of [[5, 0], [5, 0], [5, 0], [5, 0], [6, 0], [5, 1], [6, 0]] as const) {
      await eachMessage(eachMessagePayload(kafkaMessage(offset), 'orders', partition)).catch(() => undefined);
    }
    // The fourth is offset 5 once more after a success, as a consumer given the partition anew may see it.
    expect(spansNamed('process orders').map((span) => span.attributes['tracebus.kafka.attempt'])).toEqual([undefined, 2, 3, undefined, undefined, undefined, 2]);
  });

  it('one traced handler given to two consumers counts the attempts of each apart, their deliveries interleaved', async () => {
    // Consumer A's handler fails on offset 5 twice, B's succeeds at once; kafkajs calls the
    // handler on each consumer's own runner.
    const eachMessage = traceEachMessage()(function (this: { name: string }) {
      return this.name === 'a' ? Promise.reject(new Error('retry me')) : Promise.resolve();
    });
    const a = { name: 'a' };
    const b = { name: 'b' };
    for (const runner of [a, b, a, b, a]) await eachMessage.call(runner, eachMessagePayload(kafkaMessage(5))).catch(() => undefined);
    const spans = spansNamed('process orders');
    // Interleaved with B's, A's deliveries are still its attempts 1, 2 and 3, and B's are first ones.
    expect(spans.map((span) => [span.status.code, span.attributes['tracebus.kafka.attempt']])).toEqual([
      [SpanStatusCode.ERROR, undefined],
      [SpanStatusCode.UNSET, undefined],
      [SpanStatusCode.ERROR, 2],
      [SpanStatusCode.UNSET, undefined],
      [SpanStatusCode.ERROR, 3],
    ]);
  });

  it('the count goes on across a kafkajs restart after a crash, which calls the handler on a new runner of the same consumer', async () => {
    const failing = async () => Promise.reject(new Error('retry me'));
    // kafkajs's runners of one consumer share its instrumentation emitter.
    const emitter = new EventEmitter();
    const runners = [{ instrumentationEmitter: emitter }, { instrumentationEmitter: emitter }, { instrumentationEmitter: emitter }];
    const middleware = traceEachMessage()(failing);
    for (const runner of runners) await middleware.call(runner, eachMessagePayload(kafkaMessage(5))).catch(() => undefined);
    // The consumer decorator's handler serves its one consumer, whatever runner calls it.
    const raw = new FakeConsumer();
    await traceConsumer()(asConsumer(raw)).run({ eachMessage: failing });
    const decorated = raw.runs[0]!.eachMessage!;
    for (const runner of [{}, {}, {}]) await decorated.call(runner, eachMessagePayload(kafkaMessage(5), 'payments')).catch(() => undefined);
    expect(spansNamed('process orders').map((span) => span.attributes['tracebus.kafka.attempt'])).toEqual([undefined, 2, 3]);
    expect(spansNamed('process payments').map((span) => span.attributes['tracebus.kafka.attempt'])).toEqual([undefined, 2, 3]);
  });

  it('tombstones are marked; null keys and offsets beyond 2^53 are left out; the body size is opt-in', async () => {
    await traceEachMessage()(async () => undefined)(eachMessagePayload(kafkaMessage('9007199254740993', { value: null })));
    await traceEachMessage({ bodySize: true })(async () => undefined)(eachMessagePayload(kafkaMessage(1, { value: Buffer.from('héllo'), key: Buffer.from('k') })));
    const [tombstone, sized] = spansNamed('process orders') as [ReadableSpan, ReadableSpan];
    expect(tombstone.attributes['kafka.message.tombstone']).toBe(true);
    expect(tombstone.attributes).not.toHaveProperty('kafka.offset');
    expect(tombstone.attributes).not.toHaveProperty('kafka.message.key');
    expect(tombstone.attributes).not.toHaveProperty('messaging.consumer.group.name');
    expect(sized.attributes).toMatchObject({ 'messaging.message.body.size': 6, 'kafka.offset': 1, 'kafka.message.key': 'k' });
  });

  it("policies: 'link' starts a new trace linked to the producer, 'root' ignores it, a function chooses per record", async () => {
    const headers = { traceparent: Buffer.from(SAMPLED) };
    await traceEachMessage({ policy: 'link' })(async () => undefined)(eachMessagePayload(kafkaMessage(0, { headers }), 'linked'));
    await traceEachMessage({ policy: 'root' })(async () => undefined)(eachMessagePayload(kafkaMessage(0, { headers }), 'rooted'));
    const chosen: string[] = [];
    const byTopic = traceEachMessage({ policy: ({ topic, partition, message }) => (chosen.push(`${topic}/${partition}/${message.offset}`), topic === 'trusted' ? 'parent' : 'root') });
    await byTopic(async () => undefined)(eachMessagePayload(kafkaMessage(3, { headers }), 'trusted', 1));
    const spans = recorder.spans();
    const linked = findSpan(spans, 'process linked');
    expect(linked.parentSpanContext).toBeUndefined();
    expect(linked.links.map((link) => link.context.spanId)).toEqual([PARENT_ID]);
    const rooted = findSpan(spans, 'process rooted');
    expect([rooted.parentSpanContext, rooted.links]).toEqual([undefined, []]);
    expect(findSpan(spans, 'process trusted').parentSpanContext?.spanId).toBe(PARENT_ID);
    expect(chosen).toEqual(['trusted/1/3']);
  });

  it('takes plain single-argument kafkajs handlers and composes with other middleware', async () => {
    const order: string[] = [];
    const plain = async ({ message }: EachMessagePayload) => void order.push(`handled ${message.offset}`);
    await traceEachMessage()(plain)(eachMessagePayload(kafkaMessage(0)));
    const logging = (next: Handler<EachMessagePayload>): Handler<EachMessagePayload> =>
      function logged(payload, handlerTrace) {
        order.push(`logged in ${handlerTrace.traceId === trace.getActiveSpan()?.spanContext().traceId ? 'the span' : 'no span'}`);
        return next(payload, handlerTrace);
      };
    // Tracing goes outermost, applied last: what it returns is what kafkajs' types accept.
    const eachMessage: ConsumerRunConfig['eachMessage'] = traceEachMessage()(compose(logging)(plain));
    await eachMessage!(eachMessagePayload(kafkaMessage(1)));
    // It is an ordinary HandlerMiddleware too, for compose() chains.
    const middleware: HandlerMiddleware<EachMessagePayload, Promise<void>> = traceEachMessage();
    await middleware(plain)(eachMessagePayload(kafkaMessage(2)), activeMessageTrace(ROOT_CONTEXT));
    expect(order).toEqual(['handled 0', 'logged in the span', 'handled 1', 'handled 2']);
  });
});

describe('traceEachBatch', () => {
  it('one CONSUMER span for the batch: no parent, a link to each message context, the message count', async () => {
    const messages = [
      kafkaMessage(0, { headers: { traceparent: Buffer.from(producerContext(0)) } }),
      kafkaMessage(1),
      kafkaMessage(2, { headers: { traceparent: producerContext(2) } }),
    ];
    const { payload } = eachBatchPayload(messages, 'orders', 4);
    const seen: Array<{ payload: EachBatchPayload; trace: BatchMessageTrace; active: string | undefined }> = [];
    const eachBatch = traceEachBatch({ groupId: 'indexer' })(async (received, batchTrace) => {
      seen.push({ payload: received, trace: batchTrace, active: trace.getActiveSpan()?.spanContext().spanId });
    });
    // kafkajs runs handlers in the context consumer.run() was called in: not their parent.
    await trace.getTracer('app').startActiveSpan('startup', async (startup) => {
      await eachBatch(payload);
      startup.end();
    });

    const batch = findSpan(recorder.spans(), 'process orders');
    expect(batch.kind).toBe(SpanKind.CONSUMER);
    expect(batch.parentSpanContext).toBeUndefined();
    expect(batch.links.map((link) => link.context.spanId)).toEqual([producerContext(0).slice(36, 52), producerContext(2).slice(36, 52)]);
    expect(batch.attributes).toEqual({
      'messaging.system.name': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'orders',
      'messaging.destination.partition.id': '4',
      'messaging.consumer.group.name': 'indexer',
      'messaging.batch.message_count': 3,
    });
    expect(seen[0]!.payload).toBe(payload);
    expect([seen[0]!.trace.spanId, seen[0]!.active]).toEqual([batch.spanContext().spanId, batch.spanContext().spanId]);
    expect(JSON.parse(JSON.stringify(seen[0]!.trace))).toEqual({ traceId: batch.spanContext().traceId, spanId: batch.spanContext().spanId, sampled: true, baggage: {} });
  });

  it('maxLinks caps the batch span’s links and records how many were dropped', async () => {
    const messages = Array.from({ length: 5 }, (_, index) => kafkaMessage(index, { headers: { traceparent: producerContext(index) } }));
    await traceEachBatch({ maxLinks: 2 })(async () => undefined)(eachBatchPayload(messages).payload);
    const batch = findSpan(recorder.spans(), 'process orders');
    expect(batch.links).toHaveLength(2);
    expect(batch.attributes['tracebus.links.dropped_count']).toBe(3);
  });

  it('maxLinks 0 holds for the spans of each message too: no link to the batch span', async () => {
    const messages = [0, 1].map((index) => kafkaMessage(index, { headers: { traceparent: producerContext(index) } }));
    await traceEachBatch({ maxLinks: 0 })((_payload, batchTrace) => batchTrace.forEachMessage(() => undefined))(eachBatchPayload(messages).payload);
    const spans = recorder.spans().filter((span) => span.name === 'process orders');
    expect(spans.map((span) => [isBatchSpan(span), span.links.length, span.attributes['tracebus.links.dropped_count'], span.parentSpanContext?.spanId])).toEqual([
      [false, 0, 1, producerContext(0).slice(36, 52)],
      [false, 0, 1, producerContext(1).slice(36, 52)],
      [true, 0, 2, undefined],
    ]);
  });

  it("forEachMessage runs each message's work in its own span, a child of its producer, linked to the batch; offsets are resolved as it goes", async () => {
    const messages = [0, 1, 2].map((index) => kafkaMessage(index, { headers: { traceparent: producerContext(index) }, key: Buffer.from(`k${index}`) }));
    const { payload, calls } = eachBatchPayload(messages);
    const work: Array<{ offset: string; traceId: string; active: string | undefined; resolvedBefore: number }> = [];
    await traceEachBatch()(async (_payload, batchTrace) => {
      await batchTrace.forEachMessage(async (message, messageTrace) => {
        await Promise.resolve();
        work.push({ offset: message.offset, traceId: messageTrace.traceId, active: trace.getActiveSpan()?.spanContext().spanId, resolvedBefore: calls.resolved.length });
      });
    })(payload);

    const spans = recorder.spans();
    const batch = spans.find(isBatchSpan)!;
    const perMessage = spans.filter((span) => span.name === 'process orders' && !isBatchSpan(span));
    expect(perMessage.map((span) => span.attributes['kafka.offset'])).toEqual([0, 1, 2]);
    for (const [index, span] of perMessage.entries()) {
      expect(span.kind).toBe(SpanKind.CONSUMER);
      expect(`00-${span.spanContext().traceId}-${span.parentSpanContext?.spanId}-01`).toBe(producerContext(index));
      assertLinkedTo(span, batch, spans);
      expect(span.attributes['kafka.message.key']).toBe(`k${index}`);
      expect(work[index]).toEqual({ offset: String(index), traceId: span.spanContext().traceId, active: span.spanContext().spanId, resolvedBefore: index });
    }
    expect(calls.resolved).toEqual(['0', '1', '2']);
    expect(calls.heartbeats).toBe(3);
    expect(recorder.openSpans()).toEqual([]);
  });

  it('the batch helpers fail at once on misuse, with a sentence that names the fix, and the batch span still ends', async () => {
    const misuses: [string, (trace: BatchMessageTrace) => unknown, RegExp][] = [
      ['no message', (batchTrace) => batchTrace.processMessage(undefined as never, () => 1), /^tracebus: trace\.processMessage\(message, work\) needs a message of the batch, such as one of payload\.batch\.messages$/],
      ['null options', (batchTrace) => batchTrace.forEachMessage(() => 1, null as never), /^tracebus: trace\.forEachMessage\(work, options\) takes options as an object such as \{ resolveOffsets: false \}, or none$/],
      ['a string for a boolean', (batchTrace) => batchTrace.forEachMessage(() => 1, { resolveOffsets: 'no' as never }), /^tracebus: trace\.forEachMessage\(work, \{ resolveOffsets, heartbeat \}\) takes true or false for each$/],
    ];
    for (const [, misuse, message] of misuses) {
      const { payload, calls } = eachBatchPayload([kafkaMessage(0)]);
      await expect(traceEachBatch()(async (_payload, batchTrace) => misuse(batchTrace))(payload)).rejects.toThrow(message);
      expect(calls.resolved).toEqual([]);
    }
    expect(recorder.openSpans()).toEqual([]);
  });

  it("forEachMessage resolves each offset with the message's leader epoch where it has one (Confluent commits it), as a method of the payload", async () => {
    const withEpoch = Object.assign(kafkaMessage(0), { leaderEpoch: 4 });
    const { payload } = eachBatchPayload([withEpoch, kafkaMessage(1)]);
    const resolved: unknown[][] = [];
    payload.resolveOffset = function resolveOffset(this: unknown, ...args: unknown[]) {
      resolved.push([this === payload, ...args]);
    };
    await traceEachBatch()((_payload, batchTrace) => batchTrace.forEachMessage(() => undefined))(payload);
    expect(resolved).toEqual([
      [true, '0', 4],
      [true, '1'],
    ]);
  });

  it('forEachMessage stops when the consumer stops or the batch goes stale, and on a failure, which it records and rethrows', async () => {
    const stopping = eachBatchPayload([kafkaMessage(0), kafkaMessage(1), kafkaMessage(2)]);
    const done: string[] = [];
    await traceEachBatch()((_payload, batchTrace) =>
      batchTrace.forEachMessage((message) => {
        done.push(message.offset);
        if (message.offset === '0') stopping.calls.stale = true;
      }),
    )(stopping.payload);
    expect(done).toEqual(['0']);

    recorder.reset();
    const failing = eachBatchPayload([kafkaMessage(0), kafkaMessage(1), kafkaMessage(2)]);
    class IndexUnavailable extends Error {}
    const failure = new IndexUnavailable('index is read-only');
    const eachBatch = traceEachBatch()((_payload, batchTrace) =>
      batchTrace.forEachMessage(async (message) => {
        if (message.offset === '1') throw failure;
      }),
    );
    await expect(eachBatch(failing.payload)).rejects.toBe(failure);
    expect(failing.calls.resolved).toEqual(['0']);
    const spans = recorder.spans();
    expect(spans.map((span) => [isBatchSpan(span) ? 'batch' : span.attributes['kafka.offset'], span.status.code, span.attributes['error.type']])).toEqual([
      [0, SpanStatusCode.UNSET, undefined],
      [1, SpanStatusCode.ERROR, 'IndexUnavailable'],
      ['batch', SpanStatusCode.ERROR, 'IndexUnavailable'],
    ]);

    const quiet = eachBatchPayload([kafkaMessage(0), kafkaMessage(1)]);
    quiet.calls.running = true;
    await traceEachBatch()((_payload, batchTrace) => batchTrace.forEachMessage(() => undefined, { resolveOffsets: false, heartbeat: false }))(quiet.payload);
    expect([quiet.calls.resolved, quiet.calls.heartbeats]).toEqual([[], 0]);
  });

  it('processMessage runs messages in any order or concurrently, each in its own context; a message from elsewhere is placed on its own', async () => {
    const messages = [0, 1, 2].map((index) => kafkaMessage(index, { headers: { traceparent: producerContext(index) } }));
    const stranger = kafkaMessage(9, { headers: { traceparent: SAMPLED } });
    await traceEachBatch()(async (_payload, batchTrace) => {
      const traced = await Promise.all([...messages].reverse().map((message) => batchTrace.processMessage(message, async (_message, messageTrace) => messageTrace.traceId)));
      traced.push(batchTrace.processMessage(stranger, (_message, messageTrace) => messageTrace.traceId));
      expect(traced).toEqual([producerContext(2).slice(3, 35), producerContext(1).slice(3, 35), producerContext(0).slice(3, 35), TRACE_ID]);
    })(eachBatchPayload(messages).payload);
    const batch = recorder.spans().find(isBatchSpan)!;
    expect(batch.links).toHaveLength(3);
    expect(recorder.spans().filter((span) => !isBatchSpan(span))).toHaveLength(4);
  });

  it("policy 'link': each message's span is a child of the batch span, linked to its producer, with its baggage; 'root': no links at all", async () => {
    const message = kafkaMessage(0, { headers: { traceparent: Buffer.from(SAMPLED), baggage: Buffer.from('tenant=acme') } });
    const baggage: Array<Readonly<Record<string, string>>> = [];
    await traceEachBatch({ policy: 'link' })((_payload, batchTrace) => batchTrace.forEachMessage((_message, messageTrace) => void baggage.push(messageTrace.baggage)))(
      eachBatchPayload([message], 'linked').payload,
    );
    await traceEachBatch({ policy: 'root' })((_payload, batchTrace) => batchTrace.forEachMessage(() => undefined))(eachBatchPayload([message], 'rooted').payload);

    const spans = recorder.spans();
    const linkedBatch = spans.find((span) => span.name === 'process linked' && isBatchSpan(span))!;
    const linked = spans.find((span) => span.name === 'process linked' && !isBatchSpan(span))!;
    assertChildOf(linked, linkedBatch, spans);
    expect(linked.links.map((link) => link.context.spanId)).toEqual([PARENT_ID]);
    expect(linkedBatch.links.map((link) => link.context.spanId)).toEqual([PARENT_ID]);
    expect(baggage).toEqual([{ tenant: 'acme' }]);
    const rootedBatch = spans.find((span) => span.name === 'process rooted' && isBatchSpan(span))!;
    const rooted = spans.find((span) => span.name === 'process rooted' && !isBatchSpan(span))!;
    expect(rootedBatch.links).toEqual([]);
    assertChildOf(rooted, rootedBatch, spans);
    expect(rooted.links).toEqual([]);
  });

  it('a batch handler error is recorded on the batch span and rethrown unchanged', async () => {
    const failure = new Error('bulk insert failed');
    await expect(
      traceEachBatch()(() => {
        throw failure;
      })(eachBatchPayload([kafkaMessage(0)]).payload),
    ).rejects.toBe(failure);
    expect(findSpan(recorder.spans(), 'process orders').status).toEqual({ code: SpanStatusCode.ERROR, message: 'bulk insert failed' });
  });

  it('counts consumed messages per batch and times the batch', async () => {
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    try {
      await traceEachBatch({ meterProvider, groupId: 'g' })((_payload, batchTrace) => batchTrace.forEachMessage(() => undefined))(eachBatchPayload([kafkaMessage(0), kafkaMessage(1)]).payload);
      const byName = await reader.byName();
      const consumed = byName.get('messaging.client.consumed.messages') as SumMetricData;
      expect(consumed.dataPoints.map((point) => [point.value, point.attributes['messaging.consumer.group.name']])).toEqual([[2, 'g']]);
      expect((byName.get('messaging.process.duration') as HistogramMetricData).dataPoints.map((point) => point.value.count)).toEqual([1]);
    } finally {
      metrics.disable();
      await meterProvider.shutdown();
    }
  });
});

describe('traceConsumer', () => {
  it("run() passes settings a class or a prototype provides, getters included, as the client reads them untraced", async () => {
    const raw = new FakeConsumer();
    const consumer = traceConsumer()(asConsumer(raw));
    class BatchConfig {
      readonly eachBatch = async () => undefined;
      get eachBatchAutoResolve() {
        return false;
      }
    }
    const inherited = Object.assign(Object.create({ autoCommit: false, partitionsConsumedConcurrently: 3 }) as ConsumerRunConfig, { eachMessage: async () => undefined });
    const frozen = Object.freeze({ autoCommitInterval: 500, eachMessage: async () => undefined });
    for (const config of [new BatchConfig() as ConsumerRunConfig, inherited, frozen]) await consumer.run(config);
    // kafkajs destructures its argument, which reads inherited properties and getters.
    const read = raw.runs.map(({ autoCommit = true, autoCommitInterval = null, eachBatchAutoResolve = true, partitionsConsumedConcurrently = 1 }) => ({ autoCommit, autoCommitInterval, eachBatchAutoResolve, partitionsConsumedConcurrently }));
    expect(read).toEqual([
      { autoCommit: true, autoCommitInterval: null, eachBatchAutoResolve: false, partitionsConsumedConcurrently: 1 },
      { autoCommit: false, autoCommitInterval: null, eachBatchAutoResolve: true, partitionsConsumedConcurrently: 3 },
      { autoCommit: true, autoCommitInterval: 500, eachBatchAutoResolve: true, partitionsConsumedConcurrently: 1 },
    ]);
    // Confluent's KafkaJS API reads only own properties: those stay own, and inherited ones inherited.
    expect(raw.runs.map((config) => Object.keys(config).sort())).toEqual([['eachBatch'], ['eachMessage'], ['autoCommitInterval', 'eachMessage']]);
    expect(Object.hasOwn(raw.runs[1]!, 'autoCommit')).toBe(false);
    // The handlers are traced ones.
    expect(raw.runs[0]!.eachBatch).not.toBe(new BatchConfig().eachBatch);
    expect(raw.runs[1]!.eachMessage).not.toBe(inherited.eachMessage);
    await raw.runs[1]!.eachMessage!(eachMessagePayload(kafkaMessage(3)));
    expect(recorder.spans().map((span) => span.name)).toEqual(['process orders']);
  });

  it('handlers get the `this` the client calls them with (Confluent: the run configuration; kafkajs: its runner), traced or idle', async () => {
    const raw = new FakeConsumer();
    const consumer = traceConsumer()(asConsumer(raw));
    const seen: unknown[] = [];
    await consumer.run({
      tag: 'message config',
      async eachMessage(this: { tag: string }) {
        seen.push(this?.tag);
      },
    } as ConsumerRunConfig);
    await consumer.run({
      tag: 'batch config',
      async eachBatch(this: { tag: string }) {
        seen.push(this?.tag);
      },
    } as ConsumerRunConfig);
    // As the clients call them: as a method of the configuration (or of kafkajs's runner).
    await raw.runs[0]!.eachMessage!(eachMessagePayload(kafkaMessage(1)));
    await raw.runs[1]!.eachBatch!(eachBatchPayload([kafkaMessage(2)]).payload);
    const runner = { tag: 'runner' };
    await traceEachMessage()(async function (this: { tag: string }) {
      seen.push(this?.tag);
    }).call(runner, eachMessagePayload(kafkaMessage(3)));
    await recorder.shutdown();
    await traceEachMessage()(async function (this: { tag: string }) {
      seen.push(this?.tag);
    }).call(runner, eachMessagePayload(kafkaMessage(4)));
    expect(seen).toEqual(['message config', 'batch config', 'runner', 'runner']);
  });

  it('run() traces eachMessage and eachBatch as given and passes the rest of the configuration on', async () => {
    const raw = new FakeConsumer();
    const consumer = traceConsumer({ groupId: 'explicit' })(asConsumer(raw));
    // Usable wherever a kafkajs Consumer is expected.
    const kafkajsConsumer: Consumer = consumer;
    expect(kafkajsConsumer.run).toBe(consumer.run);
    const handled: Array<[string, string]> = [];
    await consumer.run({ autoCommit: false, partitionsConsumedConcurrently: 2, eachMessage: async ({ message }, handlerTrace) => void handled.push([message.offset, handlerTrace.spanId]) });
    await consumer.run({ eachBatch: async (_payload, batchTrace) => batchTrace.forEachMessage((message) => void handled.push([message.offset, 'batch'])) });
    const [messageRun, batchRun] = raw.runs as [ConsumerRunConfig, ConsumerRunConfig];
    expect(messageRun).toMatchObject({ autoCommit: false, partitionsConsumedConcurrently: 2 });
    expect(messageRun).not.toHaveProperty('eachBatch');
    await messageRun.eachMessage!(eachMessagePayload(kafkaMessage(7, { headers: { traceparent: SAMPLED } })));
    await batchRun.eachBatch!(eachBatchPayload([kafkaMessage(8)]).payload);

    const processed = recorder.spans().find((span) => span.attributes['kafka.offset'] === 7)!;
    expect(processed.parentSpanContext?.spanId).toBe(PARENT_ID);
    expect(processed.attributes['messaging.consumer.group.name']).toBe('explicit');
    expect(handled).toEqual([
      ['7', processed.spanContext().spanId],
      ['8', 'batch'],
    ]);
    await consumer.subscribe({ topics: ['orders'] });
    expect(raw.subscribed).toEqual([{ topics: ['orders'] }]);
    expect(consumer.events).toBe(raw.events);
  });

  it('learns the consumer group when the consumer joins it', async () => {
    const raw = new FakeConsumer();
    const consumer = traceConsumer()(asConsumer(raw));
    await consumer.run({ eachMessage: async () => undefined });
    await raw.runs[0]!.eachMessage!(eachMessagePayload(kafkaMessage(0)));
    raw.emit(raw.events.GROUP_JOIN, { groupId: 'learnt', memberId: 'm', isLeader: true });
    await raw.runs[0]!.eachMessage!(eachMessagePayload(kafkaMessage(1)));
    expect(spansNamed('process orders').map((span) => span.attributes['messaging.consumer.group.name'])).toEqual([undefined, 'learnt']);
  });

  it('one decorator wrapping the consumers of two groups gives each consumer its own group', async () => {
    const tracing = traceConsumer({ brokers: ['127.0.0.1:9092'] });
    const [billing, audit] = [new FakeConsumer(), new FakeConsumer()];
    for (const raw of [billing, audit]) await tracing(asConsumer(raw)).run({ eachMessage: async () => undefined });
    billing.emit(billing.events.GROUP_JOIN, { groupId: 'billing', memberId: 'm', isLeader: true });
    audit.emit(audit.events.GROUP_JOIN, { groupId: 'audit', memberId: 'm', isLeader: true });
    await billing.runs[0]!.eachMessage!(eachMessagePayload(kafkaMessage(0)));
    await audit.runs[0]!.eachMessage!(eachMessagePayload(kafkaMessage(1)));
    expect(spansNamed('process orders').map((span) => [span.attributes['kafka.offset'], span.attributes['messaging.consumer.group.name']])).toEqual([
      [0, 'billing'],
      [1, 'audit'],
    ]);
  });

  it('does not trace a handler twice, and passes a run() without handlers through', async () => {
    const raw = new FakeConsumer();
    const consumer = traceConsumer()(asConsumer(raw));
    const alreadyTraced = traceEachMessage()(async () => undefined);
    await consumer.run({ eachMessage: alreadyTraced });
    expect(raw.runs[0]!.eachMessage).toBe(alreadyTraced);
    await raw.runs[0]!.eachMessage!(eachMessagePayload(kafkaMessage(0)));
    expect(spansNamed('process orders')).toHaveLength(1);
    await consumer.run();
    expect(raw.runs[1]).toBeUndefined();
  });

  it('misuse fails at once with a sentence that names the fix', () => {
    expect(() => traceConsumer()(null as never)).toThrow(/^tracebus: traceConsumer\(options\)\(consumer\) needs a kafkajs consumer, e\.g\. traceConsumer\(options\)\(kafka\.consumer\(\{ groupId: 'billing' \}\)\); got null$/);
    const raw = asConsumer(new FakeConsumer());
    traceConsumer()(raw);
    expect(() => traceConsumer()(traceConsumer()(asConsumer(new FakeConsumer())) as Consumer)).toThrow(/traced already/);
    expect(() => traceEachMessage({ policy: 'child' as never })).toThrow(/policy must be 'parent', 'link', 'root'/);
    expect(() => traceEachMessage({ groupId: 7 as never })).toThrow(/groupId.*string/);
    expect(() => traceEachBatch({ consumerHook: {} as never })).toThrow(/consumerHook.*function/);
    expect(() => traceEachMessage()('handler' as never)).toThrow(/traceEachMessage\(options\)\(handler\) needs a handler function/);
    expect(() => traceEachBatch()(undefined as never)).toThrow(/traceEachBatch\(options\)\(handler\) needs a handler function/);
  });

  it('consumerHook sees each message; a hook that throws does not stop the handler', async () => {
    const seen: string[] = [];
    const options = {
      consumerHook(span: { setAttribute(key: string, value: string): unknown }, { topic, message }: { topic: string; message: KafkaMessage }) {
        seen.push(`${topic}@${message.offset}`);
        span.setAttribute('app.offset', message.offset);
        throw new Error('hook failed');
      },
    };
    await traceEachMessage(options)(async () => undefined)(eachMessagePayload(kafkaMessage(1)));
    await traceEachBatch(options)((_payload, batchTrace) => batchTrace.forEachMessage(() => undefined))(eachBatchPayload([kafkaMessage(2)]).payload);
    expect(seen).toEqual(['orders@1', 'orders@2']);
    expect(recorder.spans().filter((span) => !isBatchSpan(span)).map((span) => span.attributes['app.offset'])).toEqual(['1', '2']);
  });

  it('a traced handler given the other kind of payload rejects with a TypeError that says how to pass it', async () => {
    const handled: unknown[] = [];
    const eachMessage = traceEachMessage()(async (payload) => void handled.push(payload));
    const eachBatch = traceEachBatch()(async (payload) => void handled.push(payload));
    await expect(eachMessage(eachBatchPayload([kafkaMessage(1)]).payload as never)).rejects.toThrow(
      new TypeError('tracebus: a traced eachMessage handler was given an eachBatch payload: pass it to run() as eachMessage, or wrap eachBatch handlers with the eachBatch middleware'),
    );
    await expect(eachBatch(eachMessagePayload(kafkaMessage(2)) as never)).rejects.toThrow(
      new TypeError('tracebus: a traced eachBatch handler was given an eachMessage payload: pass it to run() as eachBatch, or wrap eachMessage handlers with the eachMessage middleware'),
    );
    expect(handled).toEqual([]);
    expect(recorder.spans()).toEqual([]);
  });

  it('an async consumerHook that rejects and an async policy function are reported, never an unhandled rejection', async () => {
    const diagnostics = captureDiag();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const handled: string[] = [];
      const hooked = traceEachMessage({ consumerHook: async () => Promise.reject(new Error('lookup failed')) })(async ({ message }) => void handled.push(message.offset));
      // An async function is refused when the middleware is made; one that returns a promise is only known per message.
      expect(() => traceEachMessage({ policy: (async () => 'link') as never })).toThrow("tracebus: policy must choose synchronously, a function (message) => 'parent' | 'link' | 'root'; got an async function");
      const asyncPolicy = traceEachMessage({ policy: (() => Promise.reject(new Error('policy lookup failed'))) as never })(async ({ message }) => void handled.push(message.offset));
      await hooked(eachMessagePayload(kafkaMessage(1, { headers: { traceparent: Buffer.from(SAMPLED) } })));
      await asyncPolicy(eachMessagePayload(kafkaMessage(2, { headers: { traceparent: Buffer.from(SAMPLED) } })));
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(handled).toEqual(['1', '2']);
      expect(unhandled).toEqual([]);
      // In the order the rejections arrive, which is not the order of the messages.
      expect([...diagnostics.logged].sort()).toEqual([
        'error: tracebus: consumerHook threw; the span goes on without its attributes',
        'error: tracebus: the policy function rejected',
        "error: tracebus: the policy function returned a promise; a policy must be chosen synchronously; using 'parent'",
      ]);
      // The policy fell back to 'parent'.
      expect(spansNamed('process orders').map((span) => span.parentSpanContext?.spanId)).toEqual([PARENT_ID, PARENT_ID]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      diagnostics.stop();
    }
  });

  it('with nothing registered the handler runs in the root context with an empty trace, and its error comes back unchanged', async () => {
    await recorder.shutdown();
    try {
      const seen: string[] = [];
      const failure = new Error('retry me');
      const handler = traceEachMessage()(async (payload, handlerTrace) => {
        seen.push(handlerTrace.traceId);
        if (payload.message.offset === '1') throw failure;
      });
      await handler(eachMessagePayload(kafkaMessage(0, { headers: { traceparent: Buffer.from(SAMPLED) } })));
      await expect(handler(eachMessagePayload(kafkaMessage(1)))).rejects.toBe(failure);
      expect(seen).toEqual(['00000000000000000000000000000000', '00000000000000000000000000000000']);
    } finally {
      recorder = recordSpans();
    }
  });

  it('with no SDK registered the handler still runs in the incoming context', async () => {
    await recorder.shutdown();
    const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
    const { W3CTraceContextPropagator } = await import('@opentelemetry/core');
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    try {
      // What each handler sees: its trace, and the span context active while it runs.
      const seen: Array<{ trace: SpanContext; active: SpanContext | undefined }> = [];
      const record = (handlerTrace: MessageTrace) => void seen.push({ trace: handlerTrace.spanContext, active: trace.getSpanContext(context.active()) });
      await traceEachMessage()(async (_payload, handlerTrace) => record(handlerTrace))(eachMessagePayload(kafkaMessage(0, { headers: { traceparent: Buffer.from(SAMPLED) } })));
      await traceEachBatch()((_payload, batchTrace) => batchTrace.forEachMessage((_message, messageTrace) => record(messageTrace)))(
        eachBatchPayload([kafkaMessage(0, { headers: { traceparent: Buffer.from(SAMPLED) } })]).payload,
      );
      // The no-op tracer's span is the extracted remote context itself: the handler runs in
      // the producer's trace, under the producer's span, both for eachMessage and eachBatch.
      const incoming = { traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: 1, isRemote: true };
      expect(seen).toHaveLength(2);
      for (const { trace: handlerSpanContext, active } of seen) {
        expect(active).toMatchObject(incoming);
        expect(handlerSpanContext).toMatchObject(incoming);
      }
    } finally {
      recorder = recordSpans();
    }
  });
});
