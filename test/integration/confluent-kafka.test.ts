import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Kafka, logLevel, type Admin, type Consumer, type KafkaMessage, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerGetter } from '../../src/adapter/index.ts';
import { traceConfluentConsumer, traceConfluentEachMessage, traceConfluentProducer, type ConfluentBatchMessageTrace } from '../../src/confluent-kafka/index.ts';
import { traceConsumer, traceProducer } from '../../src/kafkajs/index.ts';
import { assertChildOf, assertLinkedTo, findSpan } from '../../src/testing/index.ts';
import { assigned, confluent as confluentApi, confluentKafka, confluentUnavailable } from '../support/confluent-kafka.ts';
import { captureDiagEachTest } from '../support/diag.ts';
import { kafkaBrokers, perTest } from '../support/integration.ts';
import { createTopic, groupJoined } from '../support/kafka-topics.ts';
import { CollectingReader } from '../support/metrics.ts';
import { waitFor } from '../support/wait.ts';

// @confluentinc/kafka-javascript's KafkaJS API against a real broker: one trace across the
// two clients both ways, with exact parents, and what the binding adds over the contract
// suite (bulk sends, eachBatch, transactions, redelivery, attributes, metrics, diagnostics,
// the header types this client really delivers).

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

const brokers = kafkaBrokers();
const run = `${process.pid}.${Date.now().toString(36)}`;
let counter = 0;
const unique = (label: string) => `tracebus.ckjs.${label}.${run}.${++counter}`;
const wire = (span: ReadableSpan) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;
const textOf = (message: { value: Buffer | null }) => message.value?.toString() ?? '';

describe.skipIf(brokers === undefined || confluentUnavailable !== undefined)('@confluentinc/kafka-javascript against a real broker', () => {
  const [address, port] = (brokers?.[0] ?? ':').split(':') as [string, string];
  let confluent: KafkaJS.Kafka;
  let kafkajs: Kafka;
  let admin: Admin;
  let raw: KafkaJS.Producer;
  let producer: KafkaJS.Producer;
  const each = perTest();
  const diagnostics = captureDiagEachTest();
  const app = () => trace.getTracer('app');
  const spansNamed = (name: string) => each.recorder.spans().filter((span) => span.name === name);

  /** A Confluent consumer of a fresh group, reading `topics` from the beginning, disconnected after the test. */
  async function confluentConsumer<C extends Pick<KafkaJS.Consumer, 'connect' | 'disconnect' | 'subscribe' | 'assignment'>>(
    topics: string[],
    wrap: (consumer: KafkaJS.Consumer) => C,
    start: (consumer: C) => Promise<void>,
    groupId = unique('group'),
  ): Promise<C> {
    const consumer = wrap(confluent.consumer({ kafkaJS: { groupId, fromBeginning: true, maxWaitTimeInMs: 100 } }));
    each.track(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics });
    await start(consumer);
    await assigned(consumer);
    return consumer;
  }

  beforeAll(async () => {
    confluent = confluentKafka('tracebus-ckjs', brokers!);
    kafkajs = new Kafka({ clientId: 'tracebus-kafkajs', brokers: brokers!, logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
    admin = kafkajs.admin();
    raw = confluent.producer({ 'linger.ms': 0 });
    await Promise.all([admin.connect(), raw.connect()]);
    producer = traceConfluentProducer({ brokers, clientId: 'tracebus-ckjs' })(raw);
  });
  afterAll(async () => {
    await Promise.allSettled([raw?.disconnect(), admin?.disconnect()]);
  });

  it('kafkajs producer → Confluent consumer is one trace: the process span is a child of the send span', async () => {
    const topic = await createTopic(admin, unique('kafkajs-to-ckjs'));
    const groupId = unique('group');
    const sender = traceProducer({ brokers, clientId: 'orders' })(kafkajs.producer());
    each.track(sender);
    await sender.connect();
    const received: Array<{ message: KafkaJS.KafkaMessage; traceId: string; spanId: string }> = [];
    await confluentConsumer([topic], traceConfluentConsumer({ brokers, clientId: 'billing' }), (consumer) =>
      consumer.run({ eachMessage: async ({ message }, messageTrace) => void received.push({ message, traceId: messageTrace.traceId, spanId: messageTrace.spanId }) }),
      groupId,
    );

    await app().startActiveSpan('POST /orders', async (request) => {
      await sender.send({ topic, messages: [{ key: 'order-1', value: 'placed', headers: { 'x-app': 'kept' } }] });
      request.end();
    });
    await waitFor(() => received.length === 1 && spansNamed(`process ${topic}`).length === 1, 'the message', 20_000);

    const spans = each.recorder.spans();
    const request = findSpan(spans, 'POST /orders');
    const send = findSpan(spans, `send ${topic}`);
    const processed = findSpan(spans, `process ${topic}`);
    assertChildOf(send, request, spans);
    assertChildOf(processed, send, spans);
    expect(processed.kind).toBe(SpanKind.CONSUMER);
    expect(received[0]).toMatchObject({ traceId: request.spanContext().traceId, spanId: processed.spanContext().spanId });
    // On the wire as this client delivers it: every value a Buffer.
    const { headers } = received[0]!.message;
    expect(Object.values(headers ?? {}).every((value) => Buffer.isBuffer(value))).toBe(true);
    expect(headerGetter.get(headers, 'traceparent')).toBe(wire(send));
    expect(headerGetter.get(headers, 'x-app')).toBe('kept');
    expect(processed.attributes).toMatchObject({
      'messaging.system.name': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.destination.name': topic,
      'messaging.destination.partition.id': '0',
      // Read from the consumer's configuration: no groupId option was given.
      'messaging.consumer.group.name': groupId,
      'kafka.offset': 0,
      'kafka.message.key': 'order-1',
      'messaging.client.id': 'billing',
      'server.address': address,
      'server.port': Number(port),
    });
    expect(each.recorder.openSpans()).toEqual([]);
  });

  it('Confluent producer → kafkajs consumer is one trace: the process span is a child of the send span', async () => {
    const topic = await createTopic(admin, unique('ckjs-to-kafkajs'));
    const received: Array<{ message: KafkaMessage; traceId: string }> = [];
    const consumer = traceConsumer({ brokers })(kafkajs.consumer({ groupId: unique('group'), maxWaitTimeInMs: 250 }));
    each.track(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const joined = groupJoined(consumer as unknown as Consumer);
    await consumer.run({ eachMessage: async ({ message }, messageTrace) => void received.push({ message, traceId: messageTrace.traceId }) });
    await joined;

    await app().startActiveSpan('POST /refunds', async (request) => {
      await producer.send({ topic, messages: [{ key: 'refund-1', value: 'requested', headers: { 'x-count': 3 as never, 'x-none': null as never } }] });
      request.end();
    });
    await waitFor(() => received.length === 1 && spansNamed(`process ${topic}`).length === 1, 'the message', 20_000);

    const spans = each.recorder.spans();
    const request = findSpan(spans, 'POST /refunds');
    const send = findSpan(spans, `send ${topic}`);
    const processed = findSpan(spans, `process ${topic}`);
    assertChildOf(send, request, spans);
    assertChildOf(processed, send, spans);
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.attributes).toMatchObject({ 'messaging.system.name': 'kafka', 'messaging.destination.name': topic, 'kafka.message.key': 'refund-1', 'messaging.client.id': 'tracebus-ckjs', 'server.address': address, 'server.port': Number(port) });
    expect(received[0]!.traceId).toBe(request.spanContext().traceId);
    const { headers } = received[0]!.message;
    expect(headerGetter.get(headers, 'traceparent')).toBe(wire(send));
    // A number librdkafka would have refused became text; a null header was left out.
    expect(headerGetter.get(headers, 'x-count')).toBe('3');
    expect(Object.keys(headers ?? {})).not.toContain('x-none');
    expect(each.recorder.openSpans()).toEqual([]);
  });

  it("a consumer traced without brokers or clientId gets server.* and messaging.client.id from its configuration: the kafkaJS block, or librdkafka's keys beside it", async () => {
    const topic = await createTopic(admin, unique('configured'));
    const processed: string[] = [];
    const handler = async ({ message }: KafkaJS.EachMessagePayload) => void processed.push(textOf(message));
    // The shared client's kafkaJS block: clientId 'tracebus-ckjs' and the brokers.
    await confluentConsumer([topic], traceConfluentConsumer(), (consumer) => consumer.run({ eachMessage: handler }));
    // librdkafka's own keys, on the Kafka object and on the consumer, beside a kafkaJS block without them.
    const { Kafka, logLevel } = confluentApi!;
    const rawKeys = new Kafka({ 'bootstrap.servers': brokers!.join(',') });
    const consumer = each.track(
      traceConfluentConsumer()(rawKeys.consumer({ 'client.id': 'tracebus-ckjs-raw', kafkaJS: { groupId: unique('group'), fromBeginning: true, maxWaitTimeInMs: 100, logLevel: logLevel.NOTHING } })),
    );
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({ eachMessage: handler });
    await assigned(consumer);
    await producer.send({ topic, messages: [{ value: 'configured' }] });
    await waitFor(() => spansNamed(`process ${topic}`).length === 2, 'the message in both groups', 20_000);

    const clients = spansNamed(`process ${topic}`).map((span) => [span.attributes['server.address'], span.attributes['server.port'], span.attributes['messaging.client.id']]);
    expect(clients.sort()).toEqual([
      [address, Number(port), 'tracebus-ckjs'],
      [address, Number(port), 'tracebus-ckjs-raw'],
    ]);
    expect(processed).toEqual(['configured', 'configured']);
  });

  it("a producer traced without brokers or clientId gets server.* and messaging.client.id from its configuration; its create spans no client id", async () => {
    const topic = await createTopic(admin, unique('configured-producer'));
    // The shared client's kafkaJS block: clientId 'tracebus-ckjs' and the brokers.
    const configured = each.track(traceConfluentProducer()(confluent.producer({ 'linger.ms': 0 })));
    await configured.connect();
    await configured.send({ topic, messages: [{ value: 'one' }] });
    await configured.send({ topic, messages: [{ value: 'two' }, { value: 'three' }] });

    const clients = each.recorder.spans().map((span) => [span.name, span.attributes['server.address'], span.attributes['server.port'], span.attributes['messaging.client.id']]);
    expect(clients).toEqual([
      [`send ${topic}`, address, Number(port), 'tracebus-ckjs'],
      [`create ${topic}`, address, Number(port), undefined],
      [`create ${topic}`, address, Number(port), undefined],
      [`send ${topic}`, address, Number(port), 'tracebus-ckjs'],
    ]);
  });

  it('the header types this client delivers: Buffers, a repeated header as an array of Buffers, no headers as undefined', async () => {
    const topic = await createTopic(admin, unique('wire'));
    const received: KafkaJS.KafkaMessage[] = [];
    await confluentConsumer([topic], (consumer) => consumer, (consumer) => consumer.run({ eachMessage: async ({ message }) => void received.push(message) }));
    await raw.send({ topic, messages: [{ key: 'headers', value: 'a', headers: { text: 'x', bytes: Buffer.from('y'), repeated: ['1', Buffer.from('2')], empty: '' } }, { key: 'none', value: 'b' }, { key: 'empty object', value: 'c', headers: {} }] });
    await waitFor(() => received.length === 3, 'three messages', 20_000);

    const [withHeaders, none, emptyObject] = received as [KafkaJS.KafkaMessage, KafkaJS.KafkaMessage, KafkaJS.KafkaMessage];
    expect(withHeaders.headers).toEqual({ text: Buffer.from('x'), bytes: Buffer.from('y'), repeated: [Buffer.from('1'), Buffer.from('2')], empty: Buffer.alloc(0) });
    expect(none.headers).toBeUndefined();
    expect(emptyObject.headers).toBeUndefined();
    // What the binding makes of them: the repeated header in wire order.
    expect(headerGetter.get(withHeaders.headers, 'repeated')).toEqual(['1', '2']);
  });

  it('only a null value is a tombstone: the client refuses a missing value, and that span records the refusal', async () => {
    const topic = await createTopic(admin, unique('tombstone'));
    const received: KafkaJS.KafkaMessage[] = [];
    await confluentConsumer([topic], (consumer) => consumer, (consumer) => consumer.run({ eachMessage: async ({ message }) => void received.push(message) }));
    const refused = await producer.send({ topic, messages: [{ key: 'missing', value: undefined } as never] }).then(
      () => undefined,
      (error: unknown) => error as Error,
    );
    await producer.send({ topic, messages: [{ key: 'null', value: null }] });
    await waitFor(() => received.length === 1, 'the tombstone', 20_000);

    expect(refused?.message).toBe('Message must be a buffer or null');
    // Nothing of the refused send reached the topic: the one message there is the tombstone.
    expect(received.map((message) => [message.key?.toString(), message.value])).toEqual([['null', null]]);
    const [missing, tombstone] = spansNamed(`send ${topic}`) as [ReadableSpan, ReadableSpan];
    expect(missing.attributes).toMatchObject({ 'kafka.message.key': 'missing', 'error.type': 'Error' });
    expect(missing.attributes).not.toHaveProperty('kafka.message.tombstone');
    expect(missing.status).toEqual({ code: SpanStatusCode.ERROR, message: 'Message must be a buffer or null' });
    expect(tombstone.attributes).toMatchObject({ 'kafka.message.key': 'null', 'kafka.message.tombstone': true });
    expect(tombstone.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('a multi-message send gets a create span per message; eachBatch runs each message in its own context', async () => {
    const topic = await createTopic(admin, unique('batch'));
    const seen: Array<{ offset: string; traceId: string; spanId: string; active: string | undefined }> = [];
    const batches: ConfluentBatchMessageTrace[] = [];
    await confluentConsumer([topic], traceConfluentConsumer({ brokers }), (consumer) =>
      consumer.run({
        eachBatch: async (_payload, batchTrace) => {
          batches.push(batchTrace);
          await batchTrace.forEachMessage(async (message, messageTrace) => {
            seen.push({ offset: message.offset, traceId: messageTrace.traceId, spanId: messageTrace.spanId, active: trace.getActiveSpan()?.spanContext().spanId });
          });
        },
      }),
    );
    await producer.send({ topic, messages: ['a', 'b', 'c'].map((value) => ({ key: `k-${value}`, value })) });
    const batchSpans = () => spansNamed(`process ${topic}`).filter((span) => span.attributes['messaging.batch.message_count'] !== undefined);
    const messageSpans = () => spansNamed(`process ${topic}`).filter((span) => span.attributes['messaging.batch.message_count'] === undefined);
    await waitFor(() => seen.length === 3 && messageSpans().length === 3, 'three messages', 20_000);
    await waitFor(() => batchSpans().reduce((sum, span) => sum + Number(span.attributes['messaging.batch.message_count']), 0) === 3, 'the batch spans');

    const spans = each.recorder.spans();
    const creates = spansNamed(`create ${topic}`);
    expect(creates.map((span) => span.attributes['kafka.message.key'])).toEqual(['k-a', 'k-b', 'k-c']);
    const send = findSpan(spans, `send ${topic}`);
    expect(send.kind).toBe(SpanKind.CLIENT);
    expect(send.attributes['messaging.batch.message_count']).toBe(3);
    for (const create of creates) assertLinkedTo(send, create, spans);
    for (const batch of batchSpans()) expect(batch.parentSpanContext).toBeUndefined();
    expect(batchSpans().flatMap((span) => span.links.map((link) => link.context.spanId)).sort()).toEqual(creates.map((span) => span.spanContext().spanId).sort());
    expect(batches.every((batchTrace) => batchSpans().some((span) => span.spanContext().spanId === batchTrace.spanId))).toBe(true);
    expect(seen.map((entry) => entry.offset)).toEqual(['0', '1', '2']);
    for (const [index, create] of creates.entries()) {
      const processed = messageSpans().find((span) => span.attributes['kafka.offset'] === index)!;
      assertChildOf(processed, create, spans);
      expect(seen[index]).toMatchObject({ traceId: create.spanContext().traceId, spanId: processed.spanContext().spanId, active: processed.spanContext().spanId });
    }
    expect(each.recorder.openSpans()).toEqual([]);
  });

  /**
   * Sends ten messages to a fresh topic and consumes them with an eachBatch handler run with
   * `settings`, whose forEachMessage calls the traced consumer's disconnect() during the first
   * message that is not its batch's last; once disconnected, the offsets handled, that message's
   * offset and the group's committed offset.
   */
  async function disconnectMidBatch(settings: { eachBatchAutoResolve?: boolean }): Promise<{ handled: number[]; stoppedAt: number; committed: number }> {
    const topic = await createTopic(admin, unique('disconnect-mid-batch'));
    const groupId = unique('group');
    await raw.send({ topic, messages: Array.from({ length: 10 }, (_, index) => ({ value: `m${index}` })) });
    const handled: number[] = [];
    let disconnected: Promise<void> | undefined;
    let stoppedAt: number | undefined;
    const consumer = traceConfluentConsumer()(confluent.consumer({ kafkaJS: { groupId, fromBeginning: true, maxWaitTimeInMs: 100 } }));
    each.track(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({
      ...settings,
      eachBatch: async ({ batch }, batchTrace) => {
        await batchTrace.forEachMessage((message) => {
          handled.push(Number(message.offset));
          if (disconnected === undefined && message !== batch.messages.at(-1)) {
            stoppedAt = Number(message.offset);
            disconnected = consumer.disconnect();
          }
        });
      },
    });
    await waitFor(() => disconnected !== undefined, 'a batch of several messages', 20_000);
    await disconnected;
    // Time for the client to run the rest of the batch, had it gone on.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const [partition] = (await admin.fetchOffsets({ groupId, topics: [topic] }))[0]!.partitions;
    return { handled, stoppedAt: stoppedAt!, committed: Number(partition!.offset) };
  }

  it('disconnect() mid-batch: under eachBatchAutoResolve: false forEachMessage stops before the next message and the rest is delivered again; with the default it goes on', async () => {
    const [off, byDefault] = await Promise.all([disconnectMidBatch({ eachBatchAutoResolve: false }), disconnectMidBatch({})]);

    // Only what the loop resolved is committed: the rest is delivered again.
    expect(off.handled).toEqual(Array.from({ length: off.stoppedAt + 1 }, (_, offset) => offset));
    expect(off.committed).toBe(off.stoppedAt + 1);
    // Stopping early here would let the client resolve the batch's last offset over the
    // messages not reached. How much of what the loop resolves after the disconnect gets
    // committed depends on how far it has got when the client commits on disconnecting
    // (measured: offset 5 of 10, after a disconnect during offset 2), so only the offsets
    // handled are asserted.
    expect(byDefault.handled).toEqual(Array.from({ length: 10 }, (_, offset) => offset));
  });

  it('sendBatch across topics with createSpans off: one send span whose context every message carries', async () => {
    const left = await createTopic(admin, unique('left'));
    const right = await createTopic(admin, unique('right'));
    const bulk = traceConfluentProducer({ createSpans: false, brokers: brokers!.join(',') })(raw);
    const received: KafkaJS.KafkaMessage[] = [];
    const middleware = traceConfluentEachMessage({ groupId: 'explicit-group' });
    await confluentConsumer([left, right], (consumer) => consumer, (consumer) => consumer.run({ eachMessage: middleware(async ({ message }) => void received.push(message)) }));
    await bulk.sendBatch({ topicMessages: [{ topic: left, messages: [{ value: 'l1' }, { value: 'l2' }] }, { topic: right, messages: [{ value: 'r1' }] }] });
    await waitFor(() => received.length === 3 && spansNamed(`process ${left}`).length + spansNamed(`process ${right}`).length === 3, 'three messages', 20_000);

    const spans = each.recorder.spans();
    const send = findSpan(spans, 'send');
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(send.attributes).toMatchObject({ 'messaging.batch.message_count': 3, 'server.address': address, 'server.port': Number(port) });
    expect(spans.filter((span) => span.name.startsWith('create'))).toEqual([]);
    expect(received.map((message) => headerGetter.get(message.headers, 'traceparent'))).toEqual([wire(send), wire(send), wire(send)]);
    for (const processed of [...spansNamed(`process ${left}`), ...spansNamed(`process ${right}`)]) {
      assertChildOf(processed, send, spans);
      expect(processed.attributes['messaging.consumer.group.name']).toBe('explicit-group');
    }
  });

  it('transactions: the transaction is the producer; its sends are children of the transaction span, which ends on commit or abort', async () => {
    const topic = await createTopic(admin, unique('tx'));
    const rawTransactional = confluent.producer({ 'linger.ms': 0, kafkaJS: { transactionalId: unique('tx-id'), idempotent: true, maxInFlightRequests: 1 } });
    const transactional = traceConfluentProducer({ brokers })(rawTransactional);
    each.track(transactional);
    await transactional.connect();
    const received: string[] = [];
    await confluentConsumer([topic], traceConfluentConsumer(), (consumer) => consumer.run({ eachMessage: async ({ message }) => void received.push(textOf(message)) }));

    await app().startActiveSpan('nightly job', async (job) => {
      const aborted = await transactional.transaction();
      await aborted.send({ topic, messages: [{ value: 'aborted' }] });
      await aborted.abort();
      await transactional.transaction();
      // This client's transaction is the producer: the producer's own calls belong to it.
      await transactional.send({ topic, messages: [{ value: 'committed' }] });
      await transactional.commit();
      job.end();
    });
    await waitFor(() => received.length === 1 && spansNamed(`process ${topic}`).length === 1, 'the committed message', 20_000);

    expect(received).toEqual(['committed']);
    const spans = each.recorder.spans();
    const job = findSpan(spans, 'nightly job');
    const transactions = spansNamed('transaction');
    expect(transactions.map((span) => span.attributes['tracebus.kafka.transaction.outcome'])).toEqual(['aborted', 'committed']);
    const [abortedSend, committedSend] = spansNamed(`send ${topic}`) as [ReadableSpan, ReadableSpan];
    for (const [index, send] of [abortedSend, committedSend].entries()) {
      assertChildOf(transactions[index]!, job, spans);
      assertChildOf(send, transactions[index]!, spans);
    }
    assertChildOf(findSpan(spans, `process ${topic}`), committedSend, spans);
    expect(each.recorder.openSpans()).toEqual([]);
  });

  it('a record class (topic getter, inherited acks), a message whose value getter throws and a batch without topicMessages are answered as untraced', async () => {
    const topic = await createTopic(admin, unique('record-class'));
    class OrderRecord {
      readonly #topic: string;
      messages: Array<{ value: string }>;
      constructor(topic: string, value: string) {
        this.#topic = topic;
        this.messages = [{ value }];
      }
      get topic() {
        return this.#topic;
      }
      // This client refuses a record whose own acks is set; one its class provides is not its own.
      get acks() {
        return -1;
      }
    }
    class LazyEvent {
      readonly payload: unknown;
      constructor(payload: unknown) {
        this.payload = payload;
      }
      get value() {
        return JSON.stringify(this.payload);
      }
    }
    /** How a call ended: its result, the error it rejected with, or the error it threw. */
    const outcome = async (call: () => Promise<unknown>): Promise<unknown> => {
      try {
        return await call().then(
          (result) => result,
          (error: Error) => `rejected with ${error.constructor.name}: ${error.message}`,
        );
      } catch (error) {
        return `threw ${(error as Error).message}`;
      }
    };
    const received: KafkaJS.KafkaMessage[] = [];
    await confluentConsumer([topic], traceConfluentConsumer(), (consumer) => consumer.run({ eachMessage: async ({ message }) => void received.push(message) }));
    const calls: Array<(producer: KafkaJS.Producer) => Promise<unknown>> = [
      (producer) => producer.send(new OrderRecord(topic, producer === raw ? 'untraced' : 'traced') as unknown as KafkaJS.ProducerRecord),
      (producer) => producer.send({ topic, messages: [new LazyEvent({ amount: 1n }) as unknown as KafkaJS.Message] }),
      (producer) => producer.sendBatch({} as KafkaJS.ProducerBatch),
    ];
    const untraced: unknown[] = [];
    for (const call of calls) untraced.push(await outcome(() => call(raw)));
    const traced: unknown[] = [];
    for (const call of calls) traced.push(await outcome(() => call(producer)));
    const metadata = (baseOffset: string) => [{ topicName: topic, partition: 0, errorCode: 0, baseOffset, logAppendTime: '-1', logStartOffset: '0' }];
    expect(untraced.slice(1)).toEqual(traced.slice(1));
    expect([untraced[0], traced[0], traced[1]]).toEqual([metadata('0'), metadata('1'), 'rejected with TypeError: Do not know how to serialize a BigInt']);
    expect(traced[2]).toMatch(/^rejected with KafkaJSError: The argument passed to sendbatch must be an object, and must contain the 'topicMessages' property/);
    await waitFor(() => received.length === 2 && spansNamed(`process ${topic}`).length === 2, 'both records', 20_000);

    expect(received.map(textOf)).toEqual(['untraced', 'traced']);
    const spans = each.recorder.spans();
    const [sent, lazy] = spansNamed(`send ${topic}`) as [ReadableSpan, ReadableSpan];
    expect([sent.status.code, lazy.status.code, lazy.attributes['error.type']]).toEqual([SpanStatusCode.UNSET, SpanStatusCode.ERROR, 'TypeError']);
    expect(headerGetter.get(received[1]!.headers, 'traceparent')).toBe(wire(sent));
    assertChildOf(spansNamed(`process ${topic}`)[1]!, sent, spans);
    expect(spansNamed('send').map((span) => [span.attributes['messaging.batch.message_count'], span.attributes['error.type']])).toEqual([[0, 'KafkaJSError']]);
    expect(each.recorder.openSpans()).toEqual([]);
  });

  it('a failing handler: the client delivers the message again, a new span in the same trace with tracebus.kafka.attempt', async () => {
    const topic = await createTopic(admin, unique('retry'));
    let calls = 0;
    await confluentConsumer([topic], traceConfluentConsumer(), (consumer) =>
      consumer.run({
        eachMessage: async () => {
          if (++calls === 1) throw new TypeError('inventory unavailable');
        },
      }),
    );
    await producer.send({ topic, messages: [{ key: 'sku-1', value: 'reserve' }] });
    await waitFor(() => spansNamed(`process ${topic}`).length === 2, 'the redelivery', 20_000);

    const spans = each.recorder.spans();
    const send = findSpan(spans, `send ${topic}`);
    const [first, second] = spansNamed(`process ${topic}`) as [ReadableSpan, ReadableSpan];
    assertChildOf(first, send, spans);
    assertChildOf(second, send, spans);
    expect(first.status.code).toBe(SpanStatusCode.ERROR);
    expect(first.attributes['error.type']).toBe('TypeError');
    expect(first.events.map((event) => event.name)).toEqual(['exception']);
    expect(first.attributes['tracebus.kafka.attempt']).toBeUndefined();
    expect(second.status.code).toBe(SpanStatusCode.UNSET);
    expect(second.attributes['tracebus.kafka.attempt']).toBe(2);
  });

  it('one traceConfluentEachMessage handler run by consumers of two groups: each fails the message once, and each retry is its own attempt 2', async () => {
    const topic = await createTopic(admin, unique('sharedretry'));
    // The handler fails the first delivery to each consumer (the client calls it on its copy of
    // the run configuration, one per consumer), once both first deliveries have begun: the two
    // consumers' deliveries interleave.
    const firsts = new Set<object>();
    const eachMessage = traceConfluentEachMessage()(async function (this: object) {
      if (firsts.has(this)) return;
      firsts.add(this);
      await waitFor(() => firsts.size === 2, "the other consumer's first delivery", 20_000);
      throw new Error('retry me');
    });
    for (let index = 0; index < 2; index++) await confluentConsumer([topic], (consumer) => consumer, (consumer) => consumer.run({ eachMessage }));
    await producer.send({ topic, messages: [{ value: 'reserve' }] });
    await waitFor(() => spansNamed(`process ${topic}`).length >= 4, 'two deliveries to each group', 30_000);

    const outcome = (span: ReadableSpan) => `${span.status.code === SpanStatusCode.ERROR ? 'failed' : 'ok'} attempt ${span.attributes['tracebus.kafka.attempt'] ?? 1}`;
    expect(spansNamed(`process ${topic}`).map(outcome).sort()).toEqual(['failed attempt 1', 'failed attempt 1', 'ok attempt 2', 'ok attempt 2']);
  });

  it('metrics and diagnostics: sends and processing are measured; messages without context are reported', async () => {
    const topic = await createTopic(admin, unique('metrics'));
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const measured = traceConfluentProducer({ meterProvider })(raw);
    let processed = 0;
    await confluentConsumer([topic], traceConfluentConsumer({ meterProvider, reportMissingContext: true }), (consumer) => consumer.run({ eachMessage: async () => void processed++ }));
    await measured.send({ topic, messages: [{ value: 'traced' }] });
    await raw.send({ topic, messages: [{ value: 'untraced' }] });
    await waitFor(() => processed === 2, 'two messages', 20_000);

    expect(await reader.points('messaging.client.sent.messages')).toEqual([{ attributes: expect.objectContaining({ 'messaging.system.name': 'kafka', 'messaging.destination.name': topic }), value: 1 }]);
    const consumed = await reader.points('messaging.client.consumed.messages');
    expect(consumed.reduce((sum, point) => sum + Number(point.value), 0)).toBe(2);
    const propagation = await reader.points('tracebus.propagation.messages');
    expect(propagation.map((point) => [point.attributes['tracebus.propagation.outcome'], point.value]).sort()).toEqual([['missing', 1], ['valid', 1]]);
    expect(diagnostics.warnings.some((warning) => warning.includes(`on kafka '${topic}' arrived with no trace headers`))).toBe(true);
    await meterProvider.shutdown();
  });
});
