import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SpanStatusCode } from '@opentelemetry/api';
import { Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceConsumer, traceProducer } from '../../src/kafkajs/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { waitFor } from '../support/wait.ts';

/**
 * The Kafka broker is killed (SIGKILL) and restarted on its data in the middle of a stream.
 * This needs a broker the test may kill, so it runs its own (scripts/kafka/kafka.sh on a
 * port of its own), never the shared one. It needs Java and Maven, as the local broker does.
 */
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const run = promisify(execFile);
const PORT = Number(process.env.TRACEBUS_FAULT_KAFKA_PORT ?? 29392);
const kafkaSh = (command: string) => run('bash', ['scripts/kafka/kafka.sh', command], { env: { ...process.env, KAFKA_PORT: String(PORT) }, timeout: 300_000, maxBuffer: 16 << 20 });
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const java = await run('java', ['-version']).then(() => true, () => false);

describe.skipIf(!java && !inCi)('Kafka broker killed and restarted mid-stream', () => {
  let recorder: SpanRecorder;
  let admin: Admin;
  let raw: Producer;
  let consumer: Consumer;
  const topic = `tracebus.faults.${process.pid}.${Date.now().toString(36)}`;

  beforeAll(async () => {
    await kafkaSh('start');
    recorder = recordSpans();
    const kafka = new Kafka({ clientId: 'tracebus-faults', brokers: [`127.0.0.1:${PORT}`], logLevel: logLevel.NOTHING, retry: { initialRetryTime: 200, maxRetryTime: 2_000, retries: 60 } });
    admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
    raw = kafka.producer();
    consumer = kafka.consumer({ groupId: `${topic}.group`, maxWaitTimeInMs: 200, retry: { initialRetryTime: 200, maxRetryTime: 2_000, retries: 60 } });
  }, 300_000);

  afterAll(async () => {
    await Promise.allSettled([consumer?.disconnect(), raw?.disconnect(), admin?.disconnect()]);
    await recorder?.shutdown();
    await kafkaSh('stop');
  }, 120_000);

  it('every message is processed at least once, each processing span in its producer’s trace', async () => {
    const producer = traceProducer({ brokers: [`127.0.0.1:${PORT}`] })(raw);
    const traced = traceConsumer(consumer);
    const processed = new Map<string, number>();
    await raw.connect();
    await traced.connect();
    await traced.subscribe({ topics: [topic], fromBeginning: true });
    await traced.run({ eachMessage: async ({ message }) => void processed.set(String(message.value), (processed.get(String(message.value)) ?? 0) + 1) });

    const send = (value: string) => producer.send({ topic, messages: [{ value }] });
    for (let index = 0; index < 10; index++) await send(`before-${index}`);
    await waitFor(() => processed.size === 10, 'the messages sent before the crash', 60_000);

    await kafkaSh('crash');
    // Sent while the broker is down: kafkajs retries them until it is back.
    const during = Array.from({ length: 10 }, (_, index) => send(`during-${index}`));
    await kafkaSh('resume');
    await Promise.all(during);
    for (let index = 0; index < 10; index++) await send(`after-${index}`);
    await waitFor(() => processed.size === 30, 'every message after recovery', 120_000).catch((error: Error) => {
      throw new Error(`${error.message}: processed ${[...processed.keys()].sort().join(', ')}`);
    });

    const spans = recorder.spans();
    const sends = spans.filter((span) => span.name === `send ${topic}` && span.status.code !== SpanStatusCode.ERROR);
    const processes = spans.filter((span) => span.name === `process ${topic}`);
    expect(sends).toHaveLength(30);
    expect(processes.length).toBeGreaterThanOrEqual(30);
    const sendIds = new Set(sends.map((span) => `${span.spanContext().traceId}/${span.spanContext().spanId}`));
    for (const span of processes) expect(sendIds.has(`${span.parentSpanContext?.traceId}/${span.parentSpanContext?.spanId}`)).toBe(true);
    // Each message's processing is in the trace of its own send: one trace per message.
    expect(new Set(processes.map((span) => span.spanContext().traceId)).size).toBe(30);
    expect(recorder.openSpans()).toEqual([]);
  }, 300_000);
});
