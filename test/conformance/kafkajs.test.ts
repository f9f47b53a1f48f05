import { AlwaysOnSampler } from '@opentelemetry/sdk-trace';
import { Kafka, logLevel, type Admin, type Consumer, type EachMessagePayload, type IHeaders, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceEachMessage, traceProducer } from '../../src/kafkajs/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { checkCase, checkHop, encodedHeaderMap, headerMap, W3C_CASES } from '../conformance/w3c-cases.ts';
import { kafkaBrokers } from '../support/integration.ts';
import { createTopic } from '../support/kafka-topics.ts';
import { waitFor } from '../support/wait.ts';

/**
 * The W3C Trace Context suite through Kafka's real header path, every case of the table:
 *
 * 1. an untraced kafkajs producer sends a message with exactly the case's headers (a
 *    repeated header as an array value, which kafkajs puts on the wire as repeated
 *    headers) and the case's index as its key;
 * 2. `traceEachMessage` runs the handler for it, which sends the case's onward messages
 *    (same key) through a `traceProducer`;
 * 3. the onward messages are read untraced and their headers checked as kafkajs delivers
 *    them: Buffers, a repeated header as an array of Buffers.
 *
 * One topic pair and one consumer (one group) carry the whole table: the consumer reads
 * the incoming topic through `traceEachMessage` and the onward topic with a plain
 * handler. The global propagator is the one `recordSpans()` registers (W3C trace context
 * and baggage), which tracebus handles conformantly by default.
 */
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

const brokers = kafkaBrokers();
const run = `${process.pid}.${Date.now().toString(36)}`;
const clientId = 'tracebus-w3c';
const incoming = `tracebus.w3c-kafkajs.in.${run}`;
const outgoing = `tracebus.w3c-kafkajs.out.${run}`;
const groupId = `tracebus.w3c-kafkajs.${run}`;
const onwardCount = W3C_CASES.reduce((total, testCase) => total + (testCase.callbacks ?? 1), 0);

describe.skipIf(brokers === undefined)('W3C Trace Context test suite: Kafka (kafkajs), headers as Buffers', () => {
  let recorder: SpanRecorder;
  let admin: Admin | undefined;
  let producer: Producer | undefined;
  let consumer: Consumer | undefined;
  /** Per case key: the headers the traced handler got and the id of its `process` span. */
  const relayed = new Map<string, { headers: IHeaders | undefined; processSpanId: string }>();
  /** Per case key: the headers of each onward message, as delivered. */
  const onward = new Map<string, IHeaders[]>();
  let onwardReceived = 0;

  beforeAll(async () => {
    // The harness's unsampled cases are about propagation: record every span, whatever the flags.
    recorder = recordSpans({ sampler: new AlwaysOnSampler() });
    const kafka = new Kafka({ clientId, brokers: brokers!, logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
    admin = kafka.admin();
    await admin.connect();
    await createTopic(admin, incoming);
    await createTopic(admin, outgoing);
    producer = kafka.producer();
    await producer.connect();
    // The decorator delegates to `producer`, which itself stays untraced.
    const traced = traceProducer({ brokers, clientId })(producer);

    const relay = traceEachMessage({ groupId, brokers, clientId })(async ({ message }, trace) => {
      const key = message.key!.toString();
      relayed.set(key, { headers: message.headers, processSpanId: trace!.spanId });
      const callbacks = W3C_CASES[Number(key)]!.callbacks ?? 1;
      for (let index = 0; index < callbacks; index++) await traced.send({ topic: outgoing, messages: [{ key, value: String(index) }] });
    });
    const collect = ({ message }: EachMessagePayload): void => {
      const key = message.key!.toString();
      onward.set(key, [...(onward.get(key) ?? []), message.headers ?? {}]);
      onwardReceived++;
    };
    consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topics: [incoming, outgoing], fromBeginning: true });
    await consumer.run({ eachMessage: async (payload) => (payload.topic === incoming ? relay(payload) : collect(payload)) });

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
    // kafkajs delivered exactly the case's headers as Buffers, a repeated one as an array in wire order.
    expect(seen!.headers).toEqual(encodedHeaderMap(testCase, (value) => Buffer.from(value)));
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
