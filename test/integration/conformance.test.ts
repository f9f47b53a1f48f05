import amqp, { type ConsumeMessage } from 'amqplib';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerGetter } from '../../src/index.ts';
import { traceChannel } from '../../src/amqplib/index.ts';
import { traceConsumer, traceProducer } from '../../src/kafkajs/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { checkCase, headerMap, W3C_CASES, type W3CCase } from '../conformance/w3c-cases.ts';
import { amqpUrl, kafkaBrokers } from '../support/integration.ts';
import { waitFor } from '../support/wait.ts';

/**
 * The W3C Trace Context suite through the real header paths of Kafka and RabbitMQ. Each
 * case's headers go on a message from an untraced producer, exactly as given (a repeated
 * header as an array: repeated headers on Kafka, a field array on AMQP); a traced consumer's
 * handler publishes onward through a traced producer; an untraced consumer collects the
 * onward messages, whose headers are checked as they arrived (Buffers on Kafka).
 */
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const CASE = 'x-w3c-case';
const run = `${process.pid}.${Date.now().toString(36)}`;
const expected = W3C_CASES.reduce((total, testCase) => total + (testCase.callbacks ?? 1), 0);
const caseOf = (headers: Record<string, unknown> | undefined) => String(headerGetter.get(headers ?? {}, CASE));

/** Collects onward headers per case name. */
function collector() {
  const byCase = new Map<string, Record<string, unknown>[]>();
  let count = 0;
  return {
    add(headers: Record<string, unknown>) {
      const name = caseOf(headers);
      byCase.set(name, [...(byCase.get(name) ?? []), headers]);
      count++;
    },
    get count() {
      return count;
    },
    of: (testCase: W3CCase) => byCase.get(testCase.name) ?? [],
  };
}

const brokers = kafkaBrokers();
describe.skipIf(brokers === undefined)('W3C Trace Context test suite: Kafka headers (Buffers, repeated headers as arrays)', () => {
  let recorder: SpanRecorder;
  let admin: Admin;
  const cleanup: Array<() => Promise<unknown>> = [];
  const onward = collector();

  beforeAll(async () => {
    recorder = recordSpans();
    const kafka = new Kafka({ clientId: 'tracebus-w3c', brokers: brokers!, logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
    admin = kafka.admin();
    await admin.connect();
    const [incoming, outgoing] = [`tracebus.w3c.in.${run}`, `tracebus.w3c.out.${run}`];
    await admin.createTopics({ topics: [{ topic: incoming }, { topic: outgoing }], waitForLeaders: false });
    for (let attempt = 0; ; attempt++) {
      try {
        const { topics } = await admin.fetchTopicMetadata({ topics: [incoming, outgoing] });
        if (topics.every((topic) => topic.partitions.length > 0 && topic.partitions.every((partition) => partition.leader >= 0))) break;
      } catch {
        // not visible yet
      }
      if (attempt > 100) throw new Error('topics have no leader');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const raw = kafka.producer();
    await raw.connect();
    const producer = traceProducer()(raw);
    const relay = traceConsumer(kafka.consumer({ groupId: `tracebus.w3c.relay.${run}`, maxWaitTimeInMs: 100 }));
    const sink = kafka.consumer({ groupId: `tracebus.w3c.sink.${run}`, maxWaitTimeInMs: 100 });
    cleanup.push(() => relay.disconnect(), () => sink.disconnect(), () => raw.disconnect());
    for (const [consumer, topic] of [[relay, incoming], [sink, outgoing]] as const) {
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
    }
    await relay.run({
      eachMessage: async ({ message }) => {
        const name = caseOf(message.headers as Record<string, unknown>);
        const callbacks = W3C_CASES.find((testCase) => testCase.name === name)?.callbacks ?? 1;
        for (let index = 0; index < callbacks; index++) await producer.send({ topic: outgoing, messages: [{ value: String(index), headers: { [CASE]: name } }] });
      },
    });
    await sink.run({ eachMessage: async ({ message }) => onward.add(message.headers as Record<string, unknown>) });
    await raw.send({ topic: incoming, messages: W3C_CASES.map((testCase) => ({ value: testCase.name, headers: { ...headerMap(testCase), [CASE]: testCase.name } })) });
    await waitFor(() => onward.count >= expected, `${expected} onward messages`, 60_000);
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(cleanup.map((step) => step()));
    await admin?.disconnect();
    await recorder?.shutdown();
  });

  it.each(W3C_CASES.map((testCase) => [testCase.name, testCase] as const))('%s', (_name, testCase) => {
    const delivered = onward.of(testCase);
    expect(delivered).toHaveLength(testCase.callbacks ?? 1);
    for (const headers of delivered) expect(Object.values(headers).every((value) => Buffer.isBuffer(value))).toBe(true);
    expect(checkCase(testCase, delivered)).toEqual([]);
  });
});

const url = amqpUrl();
for (const encoding of ['string', 'Buffer'] as const) {
  describe.skipIf(url === undefined)(`W3C Trace Context test suite: AMQP headers as ${encoding === 'string' ? 'strings (type S)' : 'byte arrays (type x)'}`, () => {
    let recorder: SpanRecorder;
    let connection: amqp.ChannelModel;
    const onward = collector();
    const encode = (value: string | string[]): unknown => (encoding === 'string' ? value : Array.isArray(value) ? value.map((item) => Buffer.from(item)) : Buffer.from(value));

    beforeAll(async () => {
      recorder = recordSpans();
      connection = await amqp.connect(url!);
      const raw = await connection.createConfirmChannel();
      const traced = traceChannel()(await connection.createChannel());
      const [incoming, outgoing] = [`tracebus.w3c.in.${encoding}.${run}`, `tracebus.w3c.out.${encoding}.${run}`];
      await raw.assertQueue(incoming, { exclusive: true });
      await raw.assertQueue(outgoing, { exclusive: true });
      await traced.consume(incoming, (message) => {
        if (message === null) return;
        const name = caseOf(message.properties.headers);
        const callbacks = W3C_CASES.find((testCase) => testCase.name === name)?.callbacks ?? 1;
        for (let index = 0; index < callbacks; index++) traced.sendToQueue(outgoing, Buffer.from(String(index)), { headers: { [CASE]: name } });
        traced.ack(message);
      });
      await raw.consume(outgoing, (message: ConsumeMessage | null) => {
        if (message === null) return;
        onward.add(message.properties.headers ?? {});
      }, { noAck: true });
      for (const testCase of W3C_CASES) {
        const headers: Record<string, unknown> = { [CASE]: testCase.name };
        for (const [name, value] of Object.entries(headerMap(testCase))) headers[name] = encode(value);
        raw.sendToQueue(incoming, Buffer.from(testCase.name), { headers });
      }
      await raw.waitForConfirms();
      await waitFor(() => onward.count >= expected, `${expected} onward messages`, 60_000);
    }, 120_000);

    afterAll(async () => {
      await connection?.close();
      await recorder?.shutdown();
    });

    it.each(W3C_CASES.map((testCase) => [testCase.name, testCase] as const))('%s', (_name, testCase) => {
      const delivered = onward.of(testCase);
      expect(delivered).toHaveLength(testCase.callbacks ?? 1);
      expect(checkCase(testCase, delivered)).toEqual([]);
    });
  });
}
