import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceChannel } from '../../src/amqplib/index.ts';
import { traceConsumer, traceEachBatch, traceProducer, type TracedConsumer } from '../../src/kafkajs/index.ts';
import { amqpUrl, kafkaBrokers } from '../support/integration.ts';
import { createTopic } from '../support/kafka-topics.ts';
import { CountingProcessor } from '../support/span-counter.ts';
import { waitFor } from '../support/wait.ts';

/**
 * 100,000 messages through each broker adapter: every span that started has ended, and the
 * heap after GC is where it was after a warm-up. Spans are counted, not kept, so the heap
 * shows tracebus and the clients, not a recorder. Some messages fail once, so that the
 * error paths (recording, settlement, redelivery) run too: every 100th on RabbitMQ, every
 * 10,000th on Kafka, where each retry costs a pause and a fetch.
 * (The in-process bus: test/unit/hygiene.test.ts.)
 */
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const MESSAGES = 100_000;
// The clients keep buffers and pools whose size varies with timing (about 1 MiB either way
// from run to run). A span is over 1 KiB; 100,000 of them kept alive would take 100 MiB, and
// even 64 bytes kept per message (one small object in a Map) would be 6 MiB: the bound
// catches any per-message leak that size or larger.
const HEAP_BOUND = 6 * 2 ** 20;
const failsOnce = (index: number, every: number) => index % every === 0;
class Declined extends Error {}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
// An idle kafkajs consumer keeps polling, and while a fetch response is in hand the heap
// holds about 4 MiB more: the smallest of five readings, 100 ms apart, is the heap without it.
const heapAfterGc = async () => {
  let smallest = Number.POSITIVE_INFINITY;
  for (let reading = 0; reading < 5; reading++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    gc();
    gc();
    smallest = Math.min(smallest, process.memoryUsage().heapUsed);
  }
  return smallest;
};
const run = `${process.pid}.${Date.now().toString(36)}`;

const counter = new CountingProcessor();
const provider = new TracerProvider({ spanProcessors: [counter] });
beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

function report(name: string, before: number, after: number, extra = '') {
  console.log(
    `hygiene ${name}: ${counter.started} spans started, ${counter.ended} ended${extra}; heap after GC ${(before / 2 ** 20).toFixed(1)} MiB → ${(after / 2 ** 20).toFixed(1)} MiB ` +
      `(${((after - before) / 2 ** 20).toFixed(2)} MiB, bound ${HEAP_BOUND / 2 ** 20} MiB) over ${MESSAGES.toLocaleString('en')} messages`,
  );
}

describe.skipIf(amqpUrl() === undefined)('span hygiene: RabbitMQ', () => {
  it(`after ${MESSAGES.toLocaleString('en')} messages (1% failing once, nacked and redelivered) no span is open and the heap is stable`, async () => {
    const connection = await amqp.connect(amqpUrl()!);
    try {
      const publisher = traceChannel()(await connection.createConfirmChannel());
      const consumer = traceChannel()(await connection.createChannel());
      const queue = `tracebus.hygiene.${run}`;
      await consumer.assertQueue(queue, { exclusive: true });
      await consumer.prefetch(500);
      let received = 0;
      let failed = 0;
      await consumer.consume(queue, (message) => {
        if (message === null) return;
        if (failsOnce(Number(message.content.toString()), 100) && !message.fields.redelivered) {
          failed++;
          // tracebus records it and nacks with requeue; the broker delivers it again.
          throw new Declined('declined once');
        }
        received++;
        consumer.ack(message);
      });
      let next = 0;
      const pump = async (count: number) => {
        const target = received + count;
        for (let sent = 0; sent < count; sent += 1_000) {
          for (let index = 0; index < 1_000; index++) publisher.sendToQueue(queue, Buffer.from(String(next++)));
          await publisher.waitForConfirms();
        }
        await waitFor(() => received >= target, `${target} messages`, 120_000);
      };
      await pump(10_000);
      await waitFor(() => counter.ended === counter.started, 'the warm-up spans to end');
      counter.started = counter.ended = 0;
      failed = 0;
      const before = await heapAfterGc();
      await pump(MESSAGES);
      await waitFor(() => counter.ended === counter.started, 'every span to end');
      const after = await heapAfterGc();
      report('RabbitMQ', before, after, ` (${failed} deliveries failed)`);
      expect(failed).toBe(MESSAGES / 100);
      // A send span per message, a process span per delivery.
      expect(counter.started).toBe(MESSAGES * 2 + failed);
      expect(counter.ended).toBe(counter.started);
      expect(after - before).toBeLessThan(HEAP_BOUND);
    } finally {
      await connection.close();
    }
  }, 240_000);
});

describe.skipIf(kafkaBrokers() === undefined)('span hygiene: Kafka', () => {
  let kafka: Kafka;
  beforeAll(() => {
    kafka = new Kafka({ clientId: 'tracebus-hygiene', brokers: kafkaBrokers()!, logLevel: logLevel.NOTHING });
  });

  /**
   * Sends 10,000 messages to warm up, then 100,000 in sends of 500 through `producer`,
   * while `consume` runs; returns the heap after each phase. `received()` counts messages
   * handled successfully.
   */
  async function measure(label: string, createSpans: boolean, start: (consumer: TracedConsumer, topic: string) => Promise<void>, received: () => number, warmedUp = () => {}) {
    const admin = kafka.admin();
    await admin.connect();
    const topic = await createTopic(admin, `tracebus.hygiene.${label}.${run}`);
    const producer = traceProducer({ createSpans })(kafka.producer());
    const consumer = traceConsumer()(kafka.consumer({ groupId: `${topic}.group`, maxWaitTimeInMs: 100, retry: { initialRetryTime: 20, retries: 10 } }));
    try {
      await Promise.all([producer.connect(), consumer.connect()]);
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await start(consumer, topic);
      let next = 0;
      const pump = async (count: number) => {
        const target = received() + count;
        for (let sent = 0; sent < count; sent += 500) {
          await producer.send({ topic, messages: Array.from({ length: 500 }, () => ({ value: String(next++) })) });
        }
        await waitFor(() => received() >= target, `${target} messages`, 120_000);
      };
      await pump(10_000);
      await waitFor(() => counter.ended === counter.started, 'the warm-up spans to end');
      counter.started = counter.ended = 0;
      warmedUp();
      const before = await heapAfterGc();
      await pump(MESSAGES);
      await waitFor(() => counter.ended === counter.started, 'every span to end');
      const after = await heapAfterGc();
      return { before, after };
    } finally {
      await Promise.allSettled([consumer.disconnect(), producer.disconnect()]);
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  }

  it(`eachMessage, a create span per message: after ${MESSAGES.toLocaleString('en')} messages (0.01% failing once, retried by kafkajs) no span is open and the heap is stable`, async () => {
    let received = 0;
    let failed = 0;
    const retried = new Set<string>();
    const { before, after } = await measure(
      'each',
      true,
      (consumer) =>
        consumer.run({
          eachMessage: async ({ message }) => {
            const value = message.value!.toString();
            if (failsOnce(Number(value), 10_000) && !retried.has(value)) {
              retried.add(value);
              failed++;
              throw new Declined('declined once');
            }
            received++;
          },
        }),
      () => received,
    );
    const failedAfterWarmUp = [...retried].filter((value) => Number(value) >= 10_000).length;
    report('Kafka eachMessage', before, after, ` (${failedAfterWarmUp} deliveries failed)`);
    expect(failed).toBe((10_000 + MESSAGES) / 10_000);
    // Per send of 500: one send span and a create span per message; a process span per delivery.
    expect(counter.started).toBe(MESSAGES / 500 + MESSAGES + MESSAGES + failedAfterWarmUp);
    expect(counter.ended).toBe(counter.started);
    expect(after - before).toBeLessThan(HEAP_BOUND);
  }, 240_000);

  it(`eachBatch, one send span per call: after ${MESSAGES.toLocaleString('en')} messages no span is open and the heap is stable`, async () => {
    let received = 0;
    let batches = 0;
    const { before, after } = await measure(
      'batch',
      false,
      (consumer) =>
        consumer.run({
          eachBatch: traceEachBatch()(async (_payload, batch) => {
            batches++;
            await batch.forEachMessage(() => {
              received++;
            });
          }),
        }),
      () => received,
      () => (batches = 0),
    );
    report('Kafka eachBatch', before, after, ` (${batches} batches)`);
    // Per send of 500 one send span; a span per batch and one per message in it.
    expect(counter.started).toBe(MESSAGES / 500 + batches + MESSAGES);
    expect(counter.ended).toBe(counter.started);
    expect(after - before).toBeLessThan(HEAP_BOUND);
  }, 240_000);
});
