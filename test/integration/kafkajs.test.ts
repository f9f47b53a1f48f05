import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Kafka, logLevel, type Admin, type Consumer, type EachBatchPayload, type EachMessagePayload, type KafkaMessage, type Producer, type ProducerRecord } from 'kafkajs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { headerGetter } from '../../src/adapter/index.ts';
import { type MessageTrace } from '../../src/index.ts';
import { traceConsumer, traceEachBatch, traceEachMessage, traceProducer, type BatchMessageTrace } from '../../src/kafkajs/index.ts';
import { assertChildOf, assertLinkedTo, findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { kafkaBrokers } from '../support/integration.ts';
import { createTopic } from '../support/kafka-topics.ts';
import { waitFor } from '../support/wait.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

const brokers = kafkaBrokers();
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const SAMPLED = `00-${TRACE_ID}-${PARENT_ID}-01`;
const run = `${process.pid}.${Date.now().toString(36)}`;
let counter = 0;

const wire = (span: ReadableSpan) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;
const traceparentOf = (message: KafkaMessage) => headerGetter.get(message.headers, 'traceparent');
const textOf = (message: KafkaMessage) => message.value?.toString() ?? '';

/** A Kafka client for the tests, quiet unless TRACEBUS_KAFKA_LOG is set. */
function kafkaClient(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: brokers!, logLevel: process.env.TRACEBUS_KAFKA_LOG ? logLevel.INFO : logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
}

/** A topic name no other test uses. */
const unique = (label: string) => `tracebus.${label}.${run}.${++counter}`;

/** Connects `consumer`, subscribes it to `topic` from the beginning, runs it and waits until it has joined its group. */
async function startConsumer<C extends Pick<Consumer, 'connect' | 'subscribe' | 'on' | 'events'>>(consumer: C, topic: string, start: (consumer: C) => Promise<void>): Promise<C> {
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await start(consumer);
  await Promise.race([joined, new Promise((_, reject) => setTimeout(() => reject(new Error(`no group join for ${topic} within 30 s`)), 30_000).unref())]);
  return consumer;
}

describe.skipIf(brokers === undefined)('kafkajs adapter against a real broker', () => {
  const [address, port] = (brokers?.[0] ?? ':').split(':') as [string, string];
  let kafka: Kafka;
  let admin: Admin;
  let raw: Producer;
  let producer: Producer;
  let recorder: SpanRecorder;
  const running: Array<{ disconnect(): Promise<void> }> = [];
  const app = () => trace.getTracer('app');
  const spansNamed = (name: string) => recorder.spans().filter((span) => span.name === name);
  const batchSpans = (topic: string) => spansNamed(`process ${topic}`).filter((span) => span.attributes['messaging.batch.message_count'] !== undefined);
  const messageSpans = (topic: string) => spansNamed(`process ${topic}`).filter((span) => span.attributes['messaging.batch.message_count'] === undefined);
  const group = (label: string) => `tracebus.group.${label}.${run}.${++counter}`;
  /** A consumer that afterEach disconnects; short fetch waits so that disconnecting is quick. */
  function consumer(label: string): Consumer {
    const created = kafka.consumer({ groupId: group(label), maxWaitTimeInMs: 250, retry: { initialRetryTime: 100, retries: 20 } });
    running.push(created);
    return created;
  }

  beforeAll(async () => {
    kafka = kafkaClient('tracebus-it');
    admin = kafka.admin();
    raw = kafka.producer();
    await Promise.all([admin.connect(), raw.connect()]);
    producer = traceProducer({ brokers, clientId: 'tracebus-it' })(raw);
  });
  afterAll(async () => {
    await Promise.allSettled([raw?.disconnect(), admin?.disconnect()]);
  });
  beforeEach(() => {
    recorder = recordSpans();
  });
  afterEach(async () => {
    await Promise.allSettled(running.splice(0).map((client) => client.disconnect()));
    await recorder.shutdown();
  });

  it('A → topic 1 → B → topic 2 → C is one trace; B sending the consumed message on replaces its trace headers', async () => {
    const first = await createTopic(admin, unique('hop1'));
    const second = await createTopic(admin, unique('hop2'));
    const groupC = group('c');
    await startConsumer(traceConsumer({ brokers, clientId: 'service-b' })(consumer('b')), first, (b) =>
      b.run({
        // Sends the consumed message on as it came: key, value and Buffer headers, old traceparent included.
        eachMessage: async ({ message }) => void (await producer.send({ topic: second, messages: [{ key: message.key, value: message.value, headers: message.headers }] })),
      }),
    );
    const received: Array<{ message: KafkaMessage; trace: MessageTrace }> = [];
    const c = kafka.consumer({ groupId: groupC, maxWaitTimeInMs: 250 });
    running.push(c);
    await startConsumer(traceConsumer({ brokers, clientId: 'service-c' })(c), second, (started) =>
      started.run({ eachMessage: async ({ message }, trace) => void received.push({ message, trace }) }),
    );

    await app().startActiveSpan('POST /orders', async (request) => {
      await producer.send({ topic: first, messages: [{ key: 'order-1', value: 'placed', headers: { 'x-app': 'kept' } }] });
      request.end();
    });
    // C having processed the message does not mean B's spans have ended: B's process span ends
    // when its handler returns, after the broker acknowledged its send to topic 2 (which ends
    // that send span), and C's fetch of the message can be answered and handled first.
    await waitFor(() => received.length === 1 && spansNamed(`process ${first}`).length === 1 && spansNamed(`process ${second}`).length === 1, 'the second and third hops', 20_000);

    const spans = recorder.spans();
    const request = findSpan(spans, 'POST /orders');
    const send1 = findSpan(spans, `send ${first}`);
    const process1 = findSpan(spans, `process ${first}`);
    const send2 = findSpan(spans, `send ${second}`);
    const process2 = findSpan(spans, `process ${second}`);
    assertChildOf(send1, request, spans);
    assertChildOf(process1, send1, spans);
    assertChildOf(send2, process1, spans);
    assertChildOf(process2, send2, spans);
    const traceId = request.spanContext().traceId;
    expect(new Set([send1, process1, send2, process2].map((span) => span.spanContext().traceId))).toEqual(new Set([traceId]));
    expect([send1.kind, process1.kind, send2.kind, process2.kind]).toEqual([SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.PRODUCER, SpanKind.CONSUMER]);

    const { message, trace: handlerTrace } = received[0]!;
    // One traceparent, the second producer's: the first hop's was replaced, not repeated.
    expect(Object.keys(message.headers ?? {}).filter((name) => name.toLowerCase() === 'traceparent')).toEqual(['traceparent']);
    expect(message.headers?.traceparent).toBeInstanceOf(Buffer);
    expect(traceparentOf(message)).toBe(wire(send2));
    expect(headerGetter.get(message.headers, 'x-app')).toBe('kept');
    expect(textOf(message)).toBe('placed');
    expect(handlerTrace.traceId).toBe(traceId);
    expect(handlerTrace.spanId).toBe(process2.spanContext().spanId);

    expect(send1.attributes).toMatchObject({
      'messaging.system.name': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': first,
      'kafka.message.key': 'order-1',
      'messaging.client.id': 'tracebus-it',
      'server.address': address,
      'server.port': Number(port),
    });
    expect(send1.attributes['messaging.batch.message_count']).toBeUndefined();
    expect(process2.attributes).toMatchObject({
      'messaging.system.name': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.destination.name': second,
      'messaging.destination.partition.id': '0',
      'messaging.consumer.group.name': groupC,
      'kafka.offset': 0,
      'kafka.message.key': 'order-1',
      'messaging.client.id': 'service-c',
    });
    expect(recorder.openSpans()).toEqual([]);
  });

  it('a multi-message send gets a create span per message; eachBatch runs each message in its own context', async () => {
    const topic = await createTopic(admin, unique('batch'));
    const onward = await createTopic(admin, unique('batch.onward'));
    const seen: Array<{ offset: string; text: string; traceId: string; spanId: string; active: string | undefined }> = [];
    const batches: BatchMessageTrace[] = [];
    await startConsumer(traceConsumer({ brokers })(consumer('batch')), topic, (started) =>
      started.run({
        eachBatch: async (payload: EachBatchPayload, batchTrace) => {
          batches.push(batchTrace);
          await batchTrace.forEachMessage(async (message, messageTrace) => {
            seen.push({ offset: message.offset, text: textOf(message), traceId: messageTrace.traceId, spanId: messageTrace.spanId, active: trace.getActiveSpan()?.spanContext().spanId });
            await producer.send({ topic: onward, messages: [{ value: `derived from ${textOf(message)}` }] });
          });
        },
      }),
    );
    await producer.send({ topic, messages: ['a', 'b', 'c'].map((value) => ({ key: `k-${value}`, value })) });
    await waitFor(() => seen.length === 3 && messageSpans(topic).length === 3 && spansNamed(`send ${onward}`).length === 3, 'three messages', 20_000);
    await waitFor(() => batchSpans(topic).reduce((sum, span) => sum + Number(span.attributes['messaging.batch.message_count']), 0) === 3, 'the batch spans');

    const spans = recorder.spans();
    const creates = spansNamed(`create ${topic}`);
    expect(creates.map((span) => span.attributes['kafka.message.key'])).toEqual(['k-a', 'k-b', 'k-c']);
    for (const create of creates) {
      expect(create.kind).toBe(SpanKind.PRODUCER);
      expect(create.parentSpanContext).toBeUndefined();
      expect(create.attributes['messaging.operation.type']).toBe('create');
      expect(create.attributes['messaging.client.id']).toBeUndefined();
    }
    expect(new Set(creates.map((span) => span.spanContext().traceId)).size).toBe(3);
    const send = findSpan(spans, `send ${topic}`);
    expect(send.kind).toBe(SpanKind.CLIENT);
    expect(send.attributes['messaging.batch.message_count']).toBe(3);
    for (const create of creates) assertLinkedTo(send, create, spans);

    // The batch spans: no parent, one link per message's creation context.
    const batchLinks = batchSpans(topic).flatMap((span) => {
      expect(span.parentSpanContext).toBeUndefined();
      expect(span.kind).toBe(SpanKind.CONSUMER);
      return span.links.map((link) => link.context.spanId);
    });
    expect(batchLinks.sort()).toEqual(creates.map((span) => span.spanContext().spanId).sort());
    expect(batches.every((batchTrace) => batchSpans(topic).some((span) => span.spanContext().spanId === batchTrace.spanId))).toBe(true);

    // Each message's work ran in its own process span, a child of its create span.
    expect(seen.map((entry) => [entry.offset, entry.text])).toEqual([['0', 'a'], ['1', 'b'], ['2', 'c']]);
    for (const [index, create] of creates.entries()) {
      const processed = messageSpans(topic).find((span) => span.attributes['kafka.offset'] === index)!;
      assertChildOf(processed, create, spans);
      expect(processed.links.some((link) => batchSpans(topic).some((batch) => batch.spanContext().spanId === link.context.spanId))).toBe(true);
      expect(seen[index]).toMatchObject({ traceId: create.spanContext().traceId, spanId: processed.spanContext().spanId, active: processed.spanContext().spanId });
      const derived = spansNamed(`send ${onward}`).find((span) => span.parentSpanContext?.spanId === processed.spanContext().spanId);
      expect(derived?.spanContext().traceId).toBe(create.spanContext().traceId);
    }
    expect(recorder.openSpans()).toEqual([]);
  });

  it('sendBatch across topics with createSpans off: one send span whose context every message carries', async () => {
    const left = await createTopic(admin, unique('left'));
    const right = await createTopic(admin, unique('right'));
    const bulk = traceProducer({ createSpans: false, brokers })(kafka.producer());
    running.push(bulk);
    await bulk.connect();
    const received: KafkaMessage[] = [];
    const middleware = traceEachMessage({ groupId: 'explicit-group' });
    for (const topic of [left, right]) {
      await startConsumer(consumer(topic), topic, (started) => started.run({ eachMessage: middleware(async ({ message }: EachMessagePayload) => void received.push(message)) }));
    }
    await bulk.sendBatch({
      topicMessages: [
        { topic: left, messages: [{ value: 'l1' }, { value: 'l2' }] },
        { topic: right, messages: [{ value: 'r1' }] },
      ],
    });
    await waitFor(() => received.length === 3 && spansNamed(`process ${left}`).length + spansNamed(`process ${right}`).length === 3, 'three messages', 20_000);

    const spans = recorder.spans();
    const send = findSpan(spans, 'send');
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.attributes['messaging.destination.name']).toBeUndefined();
    expect(send.attributes['messaging.batch.message_count']).toBe(3);
    expect(spans.filter((span) => span.name.startsWith('create'))).toEqual([]);
    expect(received.map(traceparentOf)).toEqual([wire(send), wire(send), wire(send)]);
    for (const processed of [...spansNamed(`process ${left}`), ...spansNamed(`process ${right}`)]) {
      assertChildOf(processed, send, spans);
      expect(processed.attributes['messaging.consumer.group.name']).toBe('explicit-group');
    }
  });

  it('a send kafkajs refuses (a numeric key) fails with kafkajs\'s own error, as untraced, recorded on an ended span', async () => {
    const topic = await createTopic(admin, unique('refused'));
    const record = { topic, messages: [{ key: 42, value: 'x' }] } as unknown as ProducerRecord;
    const untraced = await raw.send(record).then(() => undefined, (error: unknown) => error);
    expect(untraced).toBeInstanceOf(TypeError);
    const traced = await producer.send(record).then(() => undefined, (error: unknown) => error);
    expect(traced).toBeInstanceOf(TypeError);
    expect((traced as Error).message).toBe((untraced as Error).message);
    const send = findSpan(recorder.spans(), `send ${topic}`);
    expect(send.status.code).toBe(SpanStatusCode.ERROR);
    expect(send.attributes['error.type']).toBe('TypeError');
    expect(recorder.openSpans()).toEqual([]);
  });

  it('transactions: sends are children of the transaction span, which ends on commit or abort; aborted messages are never processed', async () => {
    const topic = await createTopic(admin, unique('tx'));
    const transactional = traceProducer({ brokers })(kafka.producer({ transactionalId: `tracebus.tx.${run}.${++counter}`, idempotent: true, maxInFlightRequests: 1 }));
    running.push(transactional);
    await transactional.connect();
    const received: string[] = [];
    await startConsumer(traceConsumer()(consumer('tx')), topic, (started) => started.run({ eachMessage: async ({ message }) => void received.push(textOf(message)) }));

    await app().startActiveSpan('nightly job', async (job) => {
      const aborted = await transactional.transaction();
      await aborted.send({ topic, messages: [{ value: 'aborted' }] });
      await aborted.abort();
      const committed = await transactional.transaction();
      await committed.send({ topic, messages: [{ value: 'committed' }] });
      await committed.commit();
      job.end();
    });
    await waitFor(() => received.length === 1 && spansNamed(`process ${topic}`).length === 1, 'the committed message', 20_000);

    // The log holds the aborted message before the committed one: had it been delivered, it would have come first.
    expect(received).toEqual(['committed']);
    const spans = recorder.spans();
    const job = findSpan(spans, 'nightly job');
    const transactions = spansNamed('transaction');
    expect(transactions.map((span) => span.attributes['tracebus.kafka.transaction.outcome'])).toEqual(['aborted', 'committed']);
    const [abortedSend, committedSend] = spansNamed(`send ${topic}`) as [ReadableSpan, ReadableSpan];
    for (const [index, send] of [abortedSend, committedSend].entries()) {
      assertChildOf(transactions[index]!, job, spans);
      assertChildOf(send, transactions[index]!, spans);
      expect(transactions[index]!.attributes['messaging.system.name']).toBe('kafka');
    }
    assertChildOf(findSpan(spans, `process ${topic}`), committedSend, spans);
    expect(recorder.openSpans()).toEqual([]);
  });

  it('transactions: a commit refused because a newer producer fenced this one ends the span as abandoned, with the error; kafkajs refuses the abort', async () => {
    const topic = await createTopic(admin, unique('fenced'));
    const transactionalId = `tracebus.fenced.${run}.${++counter}`;
    const fenced = traceProducer({ brokers })(kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 }));
    const newer = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
    running.push(fenced, newer);
    await Promise.all([fenced.connect(), newer.connect()]);

    const transaction = await fenced.transaction();
    await transaction.send({ topic, messages: [{ value: 'never committed' }] });
    // The newer producer's first transaction takes the transactionalId over, at a newer epoch.
    const replacing = await newer.transaction();
    const refused = await transaction.commit().then(() => undefined, (error: unknown) => error as Error & { type?: string });
    expect([refused?.constructor.name, refused?.type]).toEqual(['KafkaJSProtocolError', 'INVALID_PRODUCER_EPOCH']);
    expect(transaction.isActive()).toBe(false);
    const abort = await transaction.abort().then(() => undefined, (error: unknown) => (error as Error).message);
    expect(abort).toBe('Cannot continue to use transaction once ended');
    await replacing.abort();

    const spans = recorder.spans();
    const span = findSpan(spans, 'transaction');
    expect(span.attributes).toEqual({ 'messaging.system.name': 'kafka', 'server.address': address, 'server.port': Number(port), 'error.type': 'KafkaJSProtocolError', 'tracebus.kafka.transaction.outcome': 'abandoned' });
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: refused!.message });
    expect(span.events.map((event) => [event.name, event.attributes?.['exception.message']])).toEqual([['exception', refused!.message]]);
    assertChildOf(findSpan(spans, `send ${topic}`), span, spans);
    expect(recorder.openSpans()).toEqual([]);
  });

  it('a record class (its topic a getter reading a private field, acks inherited) reaches kafkajs as it does untraced', async () => {
    const topic = await createTopic(admin, unique('record-class'));
    class FireAndForget {
      readonly #topic: string;
      messages: Array<{ value: string }>;
      constructor(topic: string, value: string) {
        this.#topic = topic;
        this.messages = [{ value }];
      }
      get topic() {
        return this.#topic;
      }
      // No acknowledgement: kafkajs then resolves with no metadata at all.
      get acks() {
        return 0;
      }
    }
    const untraced = await raw.send(new FireAndForget(topic, 'untraced') as unknown as ProducerRecord);
    const traced = await producer.send(new FireAndForget(topic, 'traced') as unknown as ProducerRecord);
    expect([untraced, traced]).toEqual([[], []]);
    const received: KafkaMessage[] = [];
    await startConsumer(traceConsumer()(consumer('record-class')), topic, (started) => started.run({ eachMessage: async ({ message }) => void received.push(message) }));
    await waitFor(() => received.length === 2 && spansNamed(`process ${topic}`).length === 2, 'both messages', 20_000);

    expect(received.map(textOf)).toEqual(['untraced', 'traced']);
    const spans = recorder.spans();
    const send = findSpan(spans, `send ${topic}`);
    expect(send.status.code).toBe(SpanStatusCode.UNSET);
    expect(received.map(traceparentOf)).toEqual([undefined, wire(send)]);
    assertChildOf(spansNamed(`process ${topic}`)[1]!, send, spans);
    expect(recorder.openSpans()).toEqual([]);
  });

  it('a failing handler: kafkajs retries, the retry is a new span in the same trace, the error is on the first attempt', async () => {
    const topic = await createTopic(admin, unique('retry'));
    class InventoryUnavailable extends Error {}
    let calls = 0;
    const handled: MessageTrace[] = [];
    await startConsumer(traceConsumer()(consumer('retry')), topic, (started) =>
      started.run({
        eachMessage: async (_payload, handlerTrace) => {
          handled.push(handlerTrace);
          if (++calls === 1) throw new InventoryUnavailable('out of stock');
        },
      }),
    );
    await producer.send({ topic, messages: [{ value: 'reserve' }] });
    await waitFor(() => spansNamed(`process ${topic}`).length === 2, 'the retry', 20_000);

    const spans = recorder.spans();
    const send = findSpan(spans, `send ${topic}`);
    const [failed, retried] = spansNamed(`process ${topic}`) as [ReadableSpan, ReadableSpan];
    assertChildOf(failed, send, spans);
    assertChildOf(retried, send, spans);
    expect(retried.spanContext().spanId).not.toBe(failed.spanContext().spanId);
    expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'out of stock' });
    expect(failed.attributes['error.type']).toBe('InventoryUnavailable');
    expect(failed.events.map((event) => [event.name, event.attributes?.['exception.message']])).toEqual([['exception', 'out of stock']]);
    expect(failed.attributes['tracebus.kafka.attempt']).toBeUndefined();
    expect(retried.status.code).toBe(SpanStatusCode.UNSET);
    expect(retried.attributes['tracebus.kafka.attempt']).toBe(2);
    expect([failed.attributes['kafka.offset'], retried.attributes['kafka.offset']]).toEqual([0, 0]);
    expect(handled.map((entry) => entry.traceId)).toEqual([send.spanContext().traceId, send.spanContext().traceId]);
  });

  it('one traceEachMessage handler run by consumers of two groups: each fails the message once, and each retry is its own attempt 2', async () => {
    const topic = await createTopic(admin, unique('sharedretry'));
    // The handler fails the first delivery to each consumer (kafkajs calls it on the consumer's
    // runner), once both first deliveries have begun: the two consumers' deliveries interleave.
    const firsts = new Set<object>();
    const eachMessage = traceEachMessage()(async function (this: object) {
      if (firsts.has(this)) return;
      firsts.add(this);
      await waitFor(() => firsts.size === 2, 'the other consumer\'s first delivery', 20_000);
      throw new Error('retry me');
    });
    for (const label of ['shared-a', 'shared-b']) await startConsumer(consumer(label), topic, (started) => started.run({ eachMessage }));
    await producer.send({ topic, messages: [{ value: 'reserve' }] });
    await waitFor(() => spansNamed(`process ${topic}`).length >= 4, 'two deliveries to each group', 30_000);

    const outcome = (span: ReadableSpan) => `${span.status.code === SpanStatusCode.ERROR ? 'failed' : 'ok'} attempt ${span.attributes['tracebus.kafka.attempt'] ?? 1}`;
    expect(spansNamed(`process ${topic}`).map(outcome).sort()).toEqual(['failed attempt 1', 'failed attempt 1', 'ok attempt 2', 'ok attempt 2']);
  });

  it('a traceEachMessage handler whose failures crash the consumer: kafkajs restarts it on a new runner, and the attempts count on', async () => {
    const topic = await createTopic(admin, unique('crashretry'));
    const runners: object[] = [];
    const eachMessage = traceEachMessage()(async function (this: object) {
      runners.push(this);
      if (runners.length < 3) throw new Error('retry me');
    });
    // No retries in place: each failure crashes the consumer, and kafkajs restarts it.
    const crashing = kafka.consumer({ groupId: group('crash'), maxWaitTimeInMs: 250, retry: { initialRetryTime: 100, retries: 0 } });
    running.push(crashing);
    await startConsumer(crashing, topic, (started) => started.run({ eachMessage }));
    await producer.send({ topic, messages: [{ value: 'reserve' }] });
    await waitFor(() => spansNamed(`process ${topic}`).length >= 3, 'two restarts and a success', 60_000);

    expect(new Set(runners).size).toBe(3);
    expect(spansNamed(`process ${topic}`).map((span) => [span.status.code, span.attributes['tracebus.kafka.attempt']])).toEqual([
      [SpanStatusCode.ERROR, undefined],
      [SpanStatusCode.ERROR, 2],
      [SpanStatusCode.UNSET, 3],
    ]);
  });

  it('eachBatch: a message that fails is retried from that message on; the messages before it are not processed again', async () => {
    const topic = await createTopic(admin, unique('batchretry'));
    const processed: string[] = [];
    let failures = 0;
    await startConsumer(consumer('batchretry'), topic, (started) =>
      started.run({
        eachBatch: traceEachBatch()(async (_payload, batchTrace) => {
          await batchTrace.forEachMessage(async (message) => {
            processed.push(textOf(message));
            if (textOf(message) === 'second' && failures++ === 0) throw new Error('flaky');
          });
        }),
      }),
    );
    await producer.send({ topic, messages: [{ value: 'first' }, { value: 'second' }, { value: 'third' }] });
    await waitFor(() => processed.filter((text) => text === 'third').length === 1 && messageSpans(topic).length === 4, 'the retried batch', 20_000);

    expect(processed).toEqual(['first', 'second', 'second', 'third']);
    const spans = recorder.spans();
    const creates = spansNamed(`create ${topic}`);
    const perMessage = messageSpans(topic);
    const failed = perMessage.filter((span) => span.status.code === SpanStatusCode.ERROR);
    expect(failed).toHaveLength(1);
    expect(failed[0]!.attributes['kafka.offset']).toBe(1);
    // Both attempts at the second message are children of its create span.
    for (const span of perMessage.filter((candidate) => candidate.attributes['kafka.offset'] === 1)) assertChildOf(span, creates[1]!, spans);
    const failedBatch = batchSpans(topic).find((span) => span.status.code === SpanStatusCode.ERROR);
    expect(failedBatch?.attributes['error.type']).toBe('Error');
  });

  it('messages with no, malformed or repeated trace headers are processed normally in a batch', async () => {
    const topic = await createTopic(admin, unique('bad'));
    const processed: Array<{ text: string; traceId: string }> = [];
    await startConsumer(traceConsumer()(consumer('bad')), topic, (started) =>
      started.run({
        eachBatch: async (_payload, batchTrace) =>
          batchTrace.forEachMessage(async (message, messageTrace) => void processed.push({ text: textOf(message), traceId: messageTrace.traceId })),
      }),
    );
    const other = `00-${'1'.repeat(32)}-${PARENT_ID}-01`;
    await raw.send({
      topic,
      messages: [
        { value: 'none' },
        { value: 'malformed', headers: { traceparent: 'not-a-traceparent' } },
        { value: 'repeated', headers: { traceparent: [SAMPLED, other] } },
        { value: 'valid', headers: { traceparent: Buffer.from(SAMPLED), baggage: 'tenant=acme' } },
      ],
    });
    await waitFor(() => processed.length === 4 && messageSpans(topic).length === 4, 'four messages', 20_000);
    // The last message's span having ended does not mean its batch span has: forEachMessage
    // heartbeats after each message, a request to the group coordinator whenever one is due, and
    // the batch span ends only once that is answered and the handler has returned.
    await waitFor(() => batchSpans(topic).reduce((sum, span) => sum + Number(span.attributes['messaging.batch.message_count']), 0) === 4, 'the batch spans');

    expect(processed.map((entry) => entry.text)).toEqual(['none', 'malformed', 'repeated', 'valid']);
    const spans = recorder.spans();
    const batches = batchSpans(topic);
    expect(batches.flatMap((span) => span.links.map((link) => `${link.context.traceId}-${link.context.spanId}`))).toEqual([`${TRACE_ID}-${PARENT_ID}`]);
    for (const span of messageSpans(topic)) {
      if (span.attributes['kafka.offset'] === 3) {
        expect(span.spanContext().traceId).toBe(TRACE_ID);
        expect(span.parentSpanContext?.spanId).toBe(PARENT_ID);
      } else {
        // Without a usable context the message's span is a child of its batch span.
        expect(span.spanContext().traceId).not.toBe(TRACE_ID);
        expect(batches.some((batch) => batch.spanContext().spanId === span.parentSpanContext?.spanId)).toBe(true);
      }
    }
    expect(processed[3]!.traceId).toBe(TRACE_ID);
  });

  it("policy 'link' in a batch: each message's span is a child of the batch span, linked to its producer, with its baggage", async () => {
    const topic = await createTopic(admin, unique('batchlink'));
    const baggage: Array<Readonly<Record<string, string>>> = [];
    await startConsumer(traceConsumer({ policy: 'link' })(consumer('batchlink')), topic, (started) =>
      started.run({ eachBatch: async (_payload, batchTrace) => batchTrace.forEachMessage((_message, messageTrace) => void baggage.push(messageTrace.baggage)) }),
    );
    const withBaggage = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }));
    await context.with(withBaggage, () => producer.send({ topic, messages: [{ value: 'one' }] }));
    await waitFor(() => messageSpans(topic).length === 1 && batchSpans(topic).length === 1, 'the message', 20_000);

    const spans = recorder.spans();
    const send = findSpan(spans, `send ${topic}`);
    const batch = batchSpans(topic)[0]!;
    const processed = messageSpans(topic)[0]!;
    assertLinkedTo(batch, send, spans);
    assertChildOf(processed, batch, spans);
    assertLinkedTo(processed, send, spans);
    expect(processed.spanContext().traceId).not.toBe(send.spanContext().traceId);
    expect(baggage).toEqual([{ tenant: 'acme' }]);
  });
});
