import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceConfluentEachMessage, traceConfluentProducer } from '../../src/confluent-kafka/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { checkCase, checkHop, encodedHeaderMap, headerMap, W3C_CASES } from '../conformance/w3c-cases.ts';
import { assigned, confluentKafka, confluentUnavailable } from '../support/confluent-kafka.ts';
import { kafkaBrokers } from '../support/integration.ts';
import { createTopic } from '../support/kafka-topics.ts';
import { waitFor } from '../support/wait.ts';

/**
 * The W3C Trace Context suite through @confluentinc/kafka-javascript's real header path
 * (librdkafka's header list), every case of the table:
 *
 * 1. an untraced producer of the KafkaJS API sends a message with exactly the case's
 *    headers (a repeated header as an array value, which the client puts on the wire as
 *    repeated headers) and the case's index as its key;
 * 2. `traceConfluentEachMessage` runs the handler for it, which sends the case's onward
 *    messages (same key) through a `traceConfluentProducer`;
 * 3. the onward messages are read untraced and their headers checked as this client
 *    delivers them: Buffers, a repeated header as an array of Buffers, no `headers` at all
 *    for a message without any.
 *
 * One topic pair and one consumer (one group) carry the whole table. The global propagator
 * is the one `recordSpans()` registers, which tracebus handles conformantly by default.
 */
const brokers = kafkaBrokers();
const run = `${process.pid}.${Date.now().toString(36)}`;
const clientId = 'tracebus-w3c-ckjs';
const incoming = `tracebus.w3c-ckjs.in.${run}`;
const outgoing = `tracebus.w3c-ckjs.out.${run}`;
const groupId = `tracebus.w3c-ckjs.${run}`;
const onwardCount = W3C_CASES.reduce((total, testCase) => total + (testCase.callbacks ?? 1), 0);

describe.skipIf(brokers === undefined || confluentUnavailable !== undefined)('W3C Trace Context test suite: Kafka (@confluentinc/kafka-javascript), headers as Buffers', () => {
  let recorder: SpanRecorder;
  let admin: Admin | undefined;
  let producer: KafkaJS.Producer | undefined;
  let consumer: KafkaJS.Consumer | undefined;
  /** Per case key: the headers the traced handler got and the id of its `process` span. */
  const relayed = new Map<string, { headers: KafkaJS.IHeaders | undefined; processSpanId: string }>();
  /** Per case key: the headers of each onward message, as delivered. */
  const onward = new Map<string, KafkaJS.IHeaders[]>();
  let onwardReceived = 0;

  beforeAll(async () => {
    recorder = recordSpans();
    const kafka = confluentKafka(clientId, brokers!);
    admin = new Kafka({ clientId, brokers: brokers!, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await createTopic(admin, incoming);
    await createTopic(admin, outgoing);
    producer = kafka.producer({ 'linger.ms': 0 });
    await producer.connect();
    // The decorator delegates to `producer`, which itself stays untraced.
    const traced = traceConfluentProducer({ brokers, clientId })(producer);

    const relay = traceConfluentEachMessage({ groupId, brokers, clientId })(async ({ message }, trace) => {
      const key = message.key!.toString();
      relayed.set(key, { headers: message.headers, processSpanId: trace.spanId });
      const callbacks = W3C_CASES[Number(key)]!.callbacks ?? 1;
      for (let index = 0; index < callbacks; index++) await traced.send({ topic: outgoing, messages: [{ key, value: String(index) }] });
    });
    const collect = ({ message }: KafkaJS.EachMessagePayload): void => {
      const key = message.key!.toString();
      onward.set(key, [...(onward.get(key) ?? []), message.headers ?? {}]);
      onwardReceived++;
    };
    consumer = kafka.consumer({ kafkaJS: { groupId, fromBeginning: true, maxWaitTimeInMs: 100 } });
    await consumer.connect();
    await consumer.subscribe({ topics: [incoming, outgoing] });
    await consumer.run({ eachMessage: async (payload) => (payload.topic === incoming ? relay(payload) : collect(payload)) });
    await assigned(consumer);

    await producer.send({ topic: incoming, messages: W3C_CASES.map((testCase, index) => ({ key: String(index), value: testCase.name, headers: headerMap(testCase) })) });
    await waitFor(() => onwardReceived >= onwardCount, `${onwardCount} onward messages`, 60_000);
    await waitFor(() => recorder.openSpans().length === 0, 'every span to end');
  });

  afterAll(async () => {
    await consumer?.disconnect();
    await producer?.disconnect();
    if (admin !== undefined) {
      await admin.deleteTopics({ topics: [incoming, outgoing] }).catch(() => undefined);
      await admin.disconnect();
    }
    await recorder?.shutdown();
  });

  it.each(W3C_CASES.map((testCase, index) => [testCase.name, testCase, String(index)] as const))('%s', (_name, testCase, key) => {
    const seen = relayed.get(key);
    expect(seen, 'the traced handler ran').toBeDefined();
    // The client delivered exactly the case's headers as Buffers, a repeated one as an array
    // in wire order; a message without headers has none (`undefined`, not `{}`).
    const expected = encodedHeaderMap(testCase, (value) => Buffer.from(value));
    expect(seen!.headers).toEqual(Object.keys(expected).length === 0 ? undefined : expected);
    const delivered = onward.get(key) ?? [];
    for (const headers of delivered) expect(Object.values(headers).every((value) => Buffer.isBuffer(value))).toBe(true);
    expect(checkCase(testCase, delivered)).toEqual([]);
    expect(checkHop(testCase, delivered, seen!.processSpanId, `send ${outgoing}`, recorder.spans())).toEqual([]);
  });

  it('processes every case once and relays exactly the onward messages', () => {
    expect(relayed.size).toBe(W3C_CASES.length);
    expect(onwardReceived).toBe(onwardCount);
    expect(recorder.spans().filter((span) => span.name === `process ${incoming}`)).toHaveLength(W3C_CASES.length);
  });
});
