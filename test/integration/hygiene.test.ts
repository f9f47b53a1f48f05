import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { TracerProvider, type ReadableSpan, type Span, type SpanProcessor } from '@opentelemetry/sdk-trace';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceChannel } from '../../src/amqplib/index.ts';
import { traceConsumer, traceProducer } from '../../src/kafkajs/index.ts';
import { amqpUrl, kafkaBrokers } from '../support/integration.ts';
import { waitFor } from '../support/wait.ts';

/**
 * 100,000 messages through each broker adapter: every span that started has ended, and the
 * heap after GC is where it was after a warm-up. Spans are counted, not kept, so the heap
 * shows tracebus and the clients, not a recorder.
 */
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const MESSAGES = 100_000;
// The clients keep buffers and pools whose size varies with timing; 100,000 messages kept
// alive by tracing would take tens of MiB, so a few MiB separates the two.
const HEAP_BOUND = 6 * 2 ** 20;

class CountingProcessor implements SpanProcessor {
  started = 0;
  ended = 0;
  onStart(_span: Span): void {
    this.started++;
  }
  onEnd(_span: ReadableSpan): void {
    this.ended++;
  }
  forceFlush = () => Promise.resolve();
  shutdown = () => Promise.resolve();
}

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = async () => {
  await new Promise((resolve) => setTimeout(resolve, 50));
  gc();
  gc();
  return process.memoryUsage().heapUsed;
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

function report(name: string, before: number, after: number) {
  console.log(`hygiene ${name}: ${counter.started} spans started, ${counter.ended} ended; heap after GC ${(before / 2 ** 20).toFixed(1)} MiB → ${(after / 2 ** 20).toFixed(1)} MiB over ${MESSAGES.toLocaleString('en')} messages`);
}

describe.skipIf(amqpUrl() === undefined)('span hygiene: RabbitMQ', () => {
  it(`after ${MESSAGES.toLocaleString('en')} messages no span is open and the heap is stable`, async () => {
    const connection = await amqp.connect(amqpUrl()!);
    try {
      const publisher = traceChannel()(await connection.createConfirmChannel());
      const consumer = traceChannel()(await connection.createChannel());
      const queue = `tracebus.hygiene.${run}`;
      await consumer.assertQueue(queue, { exclusive: true });
      await consumer.prefetch(500);
      let received = 0;
      await consumer.consume(queue, (message) => {
        if (message === null) return;
        received++;
        consumer.ack(message);
      });
      const pump = async (count: number) => {
        const target = received + count;
        for (let sent = 0; sent < count; sent += 1_000) {
          for (let index = 0; index < 1_000; index++) publisher.sendToQueue(queue, Buffer.from('x'));
          await publisher.waitForConfirms();
        }
        await waitFor(() => received >= target, `${target} messages`, 120_000);
      };
      await pump(10_000);
      counter.started = counter.ended = 0;
      const before = await heapAfterGc();
      await pump(MESSAGES);
      await waitFor(() => counter.ended === counter.started, 'every span to end');
      const after = await heapAfterGc();
      report('RabbitMQ', before, after);
      expect(counter.started).toBe(MESSAGES * 2);
      expect(counter.ended).toBe(counter.started);
      expect(after - before).toBeLessThan(HEAP_BOUND);
    } finally {
      await connection.close();
    }
  }, 240_000);
});

describe.skipIf(kafkaBrokers() === undefined)('span hygiene: Kafka', () => {
  it(`after ${MESSAGES.toLocaleString('en')} messages no span is open and the heap is stable`, async () => {
    const kafka = new Kafka({ clientId: 'tracebus-hygiene', brokers: kafkaBrokers()!, logLevel: logLevel.NOTHING });
    const topic = `tracebus.hygiene.${run}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic }], waitForLeaders: true });
    const producer = traceProducer({ createSpans: false })(kafka.producer());
    const consumer = traceConsumer(kafka.consumer({ groupId: `${topic}.group`, maxWaitTimeInMs: 100 }));
    try {
      await Promise.all([producer.connect(), consumer.connect()]);
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      let received = 0;
      await consumer.run({ eachMessage: async () => void received++ });
      const pump = async (count: number) => {
        const target = received + count;
        for (let sent = 0; sent < count; sent += 500) {
          await producer.send({ topic, messages: Array.from({ length: 500 }, () => ({ value: 'x' })) });
        }
        await waitFor(() => received >= target, `${target} messages`, 120_000);
      };
      await pump(10_000);
      counter.started = counter.ended = 0;
      const before = await heapAfterGc();
      await pump(MESSAGES);
      await waitFor(() => counter.ended === counter.started, 'every span to end');
      const after = await heapAfterGc();
      report('Kafka', before, after);
      // One send span per call of 500 messages, one process span per message.
      expect(counter.started).toBe(MESSAGES / 500 + MESSAGES);
      expect(counter.ended).toBe(counter.started);
      expect(after - before).toBeLessThan(HEAP_BOUND);
    } finally {
      await Promise.allSettled([consumer.disconnect(), producer.disconnect()]);
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    }
  }, 240_000);
});
