/**
 * The Kafka broker is killed (SIGKILL) and restarted on its data in the middle of a
 * stream. The test runs a broker of its own (test/support/kafka-node.ts), never the shared
 * one. In CI it must run; elsewhere it is skipped, with the reason, only when the broker
 * cannot be had on this machine (no Java, or no jars and no Maven).
 */
import { Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { traceConsumer, traceProducer, type TracedConsumer } from '../../src/kafkajs/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { recoveredStreamProblems } from '../support/fault-checks.ts';
import { KafkaNode, kafkaNodeUnavailable } from '../support/kafka-node.ts';
import { createTopic, groupJoined } from '../support/kafka-topics.ts';
import { waitFor } from '../support/wait.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const noBroker = inCi ? undefined : kafkaNodeUnavailable();
if (noBroker !== undefined) console.warn(`[faults-kafkajs] Kafka crash test skipped: ${noBroker}`);

const TOTAL = 200;
const run = `${process.pid}.${Date.now().toString(36)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(noBroker !== undefined)('Kafka broker killed and restarted mid-stream', () => {
  let broker: KafkaNode;
  let kafka: Kafka;
  let admin: Admin;
  let raw: Producer;
  let recorder: SpanRecorder;
  const consumers: Consumer[] = [];

  beforeAll(async () => {
    broker = new KafkaNode();
    await broker.start();
    // Retries that outlast a broker restart: up to 60 attempts, at most 2 s apart.
    const retry = { initialRetryTime: 200, maxRetryTime: 2_000, retries: 60 };
    kafka = new Kafka({ clientId: 'tracebus-faults', brokers: [broker.address], logLevel: logLevel.NOTHING, retry });
    admin = kafka.admin();
    raw = kafka.producer({ retry });
    await Promise.all([admin.connect(), raw.connect()]);
  }, 600_000);
  afterAll(async () => {
    await Promise.allSettled([raw?.disconnect(), admin?.disconnect()]);
    await broker?.stop();
  }, 120_000);
  beforeEach(() => {
    recorder = recordSpans();
  });
  afterEach(async () => {
    await Promise.allSettled(consumers.splice(0).map((consumer) => consumer.disconnect()));
    await recorder.shutdown();
  });

  it('every message is processed at least once after recovery, each processing span a child of its send span', async () => {
    const topic = await createTopic(admin, `tracebus.faults.crash.${run}`);
    const groupId = `${topic}.group`;
    const ids = Array.from({ length: TOTAL }, (_, index) => `k-${String(index).padStart(3, '0')}`);
    const processed = new Map<string, number>();
    const handlerTraces = new Map<string, Set<string>>();
    const crashes: Array<{ error: string; restart: boolean }> = [];
    let consumerStarts = 0;

    /**
     * Starts a traced consumer. kafkajs reconnects on its own and restarts a consumer
     * that crashed on a retriable error (`restart: true`); after any other crash the
     * application has to start a new one, as this does.
     */
    async function startConsumer(): Promise<TracedConsumer> {
      const consumer = traceConsumer()(kafka.consumer({ groupId, maxWaitTimeInMs: 200, retry: { initialRetryTime: 200, maxRetryTime: 2_000, retries: 60 } }));
      consumers.push(consumer as unknown as Consumer);
      consumerStarts++;
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        crashes.push({ error: `${payload.error.name}: ${payload.error.message}`, restart: payload.restart });
        if (!payload.restart) void consumer.disconnect().then(startConsumer, startConsumer);
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }, trace) => {
          const id = message.key!.toString();
          processed.set(id, (processed.get(id) ?? 0) + 1);
          handlerTraces.set(id, (handlerTraces.get(id) ?? new Set()).add(trace.traceId));
          // Slower than the producer, so that a backlog waits in the topic when the broker dies.
          await sleep(25);
        },
      });
      return consumer;
    }

    const producer = traceProducer({ brokers: [broker.address], clientId: 'tracebus-faults' })(raw);
    let failedSends = 0;
    /** Sends one message; a send that fails after kafkajs' own retries is sent again by the application. */
    async function send(id: string): Promise<void> {
      for (;;) {
        try {
          await producer.send({ topic, messages: [{ key: id, value: id }] });
          return;
        } catch {
          failedSends++;
          await sleep(200);
        }
      }
    }

    const first = await startConsumer();
    await groupJoined(first).catch(() => undefined);
    // One message every 10 ms, from before the crash to after the recovery.
    let sent = 0;
    const sending = (async () => {
      for (const id of ids) {
        await send(id);
        sent++;
        await sleep(10);
      }
    })();
    await waitFor(() => processed.size >= 40, 'the first 40 messages', 60_000);
    const atCrash = { sent, processed: processed.size };
    await broker.crashAndResume();
    await sending;
    await waitFor(() => ids.every((id) => processed.has(id)), `all ${TOTAL} messages`, 180_000).catch((error: Error) => {
      throw new Error(`${error.message}: ${processed.size} processed; crashes ${JSON.stringify(crashes)}`);
    });
    await Promise.allSettled(consumers.splice(0).map((consumer) => consumer.disconnect()));

    const spans = recorder.spans();
    const sends = spans.filter((span) => span.name === `send ${topic}`);
    const processes = spans.filter((span) => span.name === `process ${topic}`);
    const duplicates = [...processed.values()].filter((count) => count > 1).length;
    console.log(
      `[faults-kafkajs] broker killed with ${atCrash.sent} messages sent and ${atCrash.processed} processed: ${TOTAL} messages, ${sends.length} send spans ` +
        `(${failedSends} sends failed after kafkajs' retries and were sent again), ${processes.length} process spans, ${duplicates} messages processed more than once; ` +
        `consumer crashes ${JSON.stringify(crashes)}, consumers started ${consumerStarts}`,
    );
    // The crash came mid-stream: messages were still to be sent and to be processed.
    expect(atCrash.sent).toBeLessThan(TOTAL);
    expect(atCrash.processed).toBeLessThan(TOTAL);
    // Every message processed, every processing span a child of the send span of that very
    // message, in its trace, and the handler ran in that trace.
    expect(recoveredStreamProblems(ids, processed, handlerTraces, sends, processes)).toEqual([]);
    expect(recorder.openSpans()).toEqual([]);
  }, 360_000);
});
