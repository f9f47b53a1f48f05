/**
 * The Kafka broker is killed (SIGKILL) and restarted on its data in the middle of a stream
 * that @confluentinc/kafka-javascript sends and consumes. The test runs a broker of its own
 * (test/support/kafka-node.ts, on a port other than the kafkajs fault test's), never the
 * shared one. In CI it must run; elsewhere it is skipped, with the reason, when the broker
 * or the client cannot be had on this machine.
 */
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceConfluentConsumer, traceConfluentProducer } from '../../src/confluent-kafka/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { assigned, confluentKafka, confluentUnavailable } from '../support/confluent-kafka.ts';
import { recoveredStreamProblems } from '../support/fault-checks.ts';
import { KafkaNode, kafkaNodeUnavailable } from '../support/kafka-node.ts';
import { createTopic } from '../support/kafka-topics.ts';
import { waitFor } from '../support/wait.ts';

const inCi = process.env.CI === 'true' || process.env.CI === '1';
const noBroker = confluentUnavailable ?? (inCi ? undefined : kafkaNodeUnavailable());
if (noBroker !== undefined) console.warn(`[faults-confluent-kafka] Kafka crash test skipped: ${noBroker}`);

const TOTAL = 150;
const run = `${process.pid}.${Date.now().toString(36)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(noBroker !== undefined)('Kafka broker killed and restarted mid-stream (@confluentinc/kafka-javascript)', () => {
  let broker: KafkaNode;
  let admin: Admin;
  let recorder: SpanRecorder;

  beforeAll(async () => {
    broker = new KafkaNode(Number(process.env.TRACEBUS_FAULT_CKJS_KAFKA_PORT ?? 29_396));
    await broker.start();
    admin = new Kafka({ clientId: 'tracebus-faults-admin', brokers: [broker.address], logLevel: logLevel.NOTHING, retry: { initialRetryTime: 200, retries: 20 } }).admin();
    await admin.connect();
    recorder = recordSpans();
  }, 600_000);
  afterAll(async () => {
    await admin?.disconnect().catch(() => undefined);
    await recorder?.shutdown();
    await broker?.stop();
  }, 120_000);

  it('every message is processed at least once after recovery, each processing span a child of its send span', async () => {
    const topic = await createTopic(admin, `tracebus.faults.ckjs.${run}`);
    const ids = Array.from({ length: TOTAL }, (_, index) => `k-${String(index).padStart(3, '0')}`);
    const processed = new Map<string, number>();
    const handlerTraces = new Map<string, Set<string>>();
    const kafka = confluentKafka('tracebus-faults', [broker.address]);
    // librdkafka reconnects and retries on its own; a short backoff makes recovery quick.
    const reconnect = { 'reconnect.backoff.ms': 100, 'reconnect.backoff.max.ms': 1_000 };
    const raw = kafka.producer({ ...reconnect, 'linger.ms': 0 });
    const producer = traceConfluentProducer({ brokers: [broker.address], clientId: 'tracebus-faults' })(raw);
    const consumer = traceConfluentConsumer()(kafka.consumer({ ...reconnect, kafkaJS: { groupId: `${topic}.group`, fromBeginning: true, maxWaitTimeInMs: 100 } }));
    await Promise.all([raw.connect(), consumer.connect()]);
    try {
      await consumer.subscribe({ topics: [topic] });
      await consumer.run({
        eachMessage: async ({ message }, trace) => {
          const id = message.key!.toString();
          processed.set(id, (processed.get(id) ?? 0) + 1);
          handlerTraces.set(id, (handlerTraces.get(id) ?? new Set()).add(trace.traceId));
          // Slower than the producer, so that a backlog waits in the topic when the broker dies.
          await sleep(25);
        },
      });
      await assigned(consumer);

      let sent = 0;
      let failedSends = 0;
      const sending = (async () => {
        for (const id of ids) {
          // A send that fails after librdkafka's own retries is sent again by the application.
          for (;;) {
            try {
              await producer.send({ topic, messages: [{ key: id, value: id }] });
              break;
            } catch {
              failedSends++;
              await sleep(200);
            }
          }
          sent++;
          await sleep(10);
        }
      })();
      await waitFor(() => processed.size >= 30, 'the first 30 messages', 60_000);
      const atCrash = { sent, processed: processed.size };
      await broker.crashAndResume();
      await sending;
      await waitFor(() => ids.every((id) => processed.has(id)), `all ${TOTAL} messages`, 180_000).catch((error: Error) => {
        throw new Error(`${error.message}: ${processed.size} processed`);
      });
      // The last handler may still be running: its span ends when it returns.
      await waitFor(() => recorder.openSpans().length === 0, 'every span to end');

      const spans = recorder.spans();
      const sends = spans.filter((span) => span.name === `send ${topic}`);
      const processes = spans.filter((span) => span.name === `process ${topic}`);
      console.log(
        `[faults-confluent-kafka] broker killed with ${atCrash.sent} messages sent and ${atCrash.processed} processed: ${TOTAL} messages, ${sends.length} send spans ` +
          `(${failedSends} sends failed and were sent again), ${processes.length} process spans, ${[...processed.values()].filter((count) => count > 1).length} messages processed more than once`,
      );
      expect(atCrash.sent).toBeLessThan(TOTAL);
      expect(atCrash.processed).toBeLessThan(TOTAL);
      expect(recoveredStreamProblems(ids, processed, handlerTraces, sends, processes)).toEqual([]);
    } finally {
      await Promise.allSettled([consumer.disconnect(), raw.disconnect()]);
    }
    expect(recorder.openSpans()).toEqual([]);
  }, 360_000);
});
