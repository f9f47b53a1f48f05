/**
 * A handler that throws on a share of deliveries, on each transport: every message is
 * still processed (at least once), every error is on a span, every processing span is in
 * its producer's trace, and no span is left open.
 *
 * The share is deterministic: of every 20 messages, 6 fail on their first delivery and
 * one on its first two (35%, 80 errors for 200 messages). Each error message names the
 * message and the attempt, so each can be found on exactly one span.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import amqp, { type ChannelModel } from 'amqplib';
import { Kafka, logLevel, type Admin, type Consumer, type KafkaMessage, type Producer } from 'kafkajs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { traceChannel } from '../../src/amqplib/index.ts';
import { traceConsumer, traceEachBatch, traceProducer } from '../../src/kafkajs/index.ts';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher, type MemoryMessage } from '../../src/memory/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { notInProducersTrace, unrecordedErrors, type Thrown } from '../support/fault-checks.ts';
import { amqpUrl, kafkaBrokers } from '../support/integration.ts';
import { createTopic, groupJoined } from '../support/kafka-topics.ts';
import { waitFor } from '../support/wait.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

const COUNT = 200;
const DEADLINE_MS = 60_000;
// kafkajs pauses before each retry and fetches again: about a third of a second per failure.
const KAFKA_DEADLINE_MS = 120_000;
const run = `${process.pid}.${Date.now().toString(36)}`;
let counter = 0;
const unique = (label: string) => `tracebus.faults.${label}.${run}.${++counter}`;

class FlakyDownstream extends Error {
  override name = 'FlakyDownstream';
}

/** How many deliveries of message `index` fail before one succeeds. */
const failuresOf = (index: number) => (index % 20 < 6 ? 1 : index % 20 === 6 ? 2 : 0);
const idOf = (index: number) => `m-${String(index).padStart(3, '0')}`;
const ids = Array.from({ length: COUNT }, (_, index) => idOf(index));
const EXPECTED_ERRORS = ids.reduce((sum, _, index) => sum + failuresOf(index), 0);

/** The flaky handler's bookkeeping: deliveries per message id, what it threw, what succeeded. */
class FlakyHandler {
  readonly deliveries = new Map<string, number>();
  readonly thrown: Thrown[] = [];
  readonly succeeded = new Set<string>();
  calls = 0;

  /** Runs one delivery of message `id`; throws when this delivery is one that fails. */
  handle(id: string): void {
    this.calls++;
    const attempt = (this.deliveries.get(id) ?? 0) + 1;
    this.deliveries.set(id, attempt);
    if (attempt <= failuresOf(Number(id.slice(2)))) {
      const message = `downstream refused ${id} on delivery ${attempt}`;
      this.thrown.push({ message, type: 'FlakyDownstream' });
      throw new FlakyDownstream(message);
    }
    this.succeeded.add(id);
  }

  get done(): boolean {
    return this.succeeded.size === COUNT;
  }
}

/** The assertions every transport shares, on the spans of one run. */
function expectAllProcessedAndRecorded(recorder: SpanRecorder, flaky: FlakyHandler, producers: ReadableSpan[], processes: ReadableSpan[], idAttribute: string): void {
  expect([...flaky.succeeded].sort()).toEqual(ids);
  expect(flaky.thrown).toHaveLength(EXPECTED_ERRORS);
  // One span per delivery the handler saw, no more, no less.
  expect(processes).toHaveLength(flaky.calls);
  expect(unrecordedErrors(processes, flaky.thrown)).toEqual([]);
  expect(notInProducersTrace(producers, processes, idAttribute)).toEqual([]);
  expect(recorder.openSpans()).toEqual([]);
}

describe('a handler that fails on 35% of deliveries', () => {
  let recorder: SpanRecorder;
  beforeEach(() => {
    recorder = recordSpans();
  });
  afterEach(async () => {
    await recorder.shutdown();
  });
  const spansNamed = (name: string) => recorder.spans().filter((span) => span.name === name);

  it(`in-process bus: ${COUNT} messages all processed, ${EXPECTED_ERRORS} errors each on its span, none open`, async () => {
    const bus = new MemoryBus({ maxAttempts: 3, onDeadLetter: ({ message }) => deadLettered.push(message.id) });
    const deadLettered: string[] = [];
    const topic = unique('memory');
    const flaky = new FlakyHandler();
    bus.subscribe(
      topic,
      traceMemoryHandler()(async (message: MemoryMessage<string>) => {
        await Promise.resolve();
        flaky.handle(message.payload);
      }),
      { group: 'workers', concurrency: 8 },
    );
    const publisher = traceMemoryPublisher()(bus);
    for (const id of ids) await publisher.publish(topic, { payload: id, id });
    await waitFor(() => flaky.done, `${COUNT} messages`, DEADLINE_MS);
    await bus.close();

    expect(deadLettered).toEqual([]);
    expectAllProcessedAndRecorded(recorder, flaky, spansNamed(`send ${topic}`), spansNamed(`process ${topic}`), 'messaging.message.id');
  }, DEADLINE_MS);

  describe.skipIf(amqpUrl() === undefined)('RabbitMQ', () => {
    let connection: ChannelModel;
    beforeAll(async () => {
      connection = await amqp.connect(amqpUrl()!);
    });
    afterAll(async () => {
      await connection?.close();
    });

    it(`${COUNT} messages all processed (failed ones nacked and requeued), ${EXPECTED_ERRORS} errors each on its span, none open`, async () => {
      const consumer = traceChannel()(await connection.createChannel());
      const publisher = traceChannel()(await connection.createConfirmChannel());
      try {
        const { queue } = await consumer.assertQueue(unique('amqp'), { exclusive: true });
        await consumer.prefetch(20);
        const flaky = new FlakyHandler();
        // A failure is recorded, then tracebus nacks with requeue (the default `onError`).
        await consumer.consume(queue, async (message) => {
          if (message === null) return;
          await Promise.resolve();
          flaky.handle(message.properties.messageId as string);
          consumer.ack(message);
        });
        for (const id of ids) publisher.sendToQueue(queue, Buffer.from(id), { messageId: id, persistent: false });
        await publisher.waitForConfirms();
        await waitFor(() => flaky.done, `${COUNT} messages`, DEADLINE_MS);

        const processes = spansNamed(`process ${queue}`);
        expectAllProcessedAndRecorded(recorder, flaky, spansNamed(`send ${queue}`), processes, 'messaging.message.id');
        // Each failed delivery was settled by tracebus; each redelivery is flagged.
        const failed = processes.filter((span) => span.status.code === 2);
        expect(new Set(failed.map((span) => `${span.attributes['tracebus.rabbitmq.settlement']} requeue=${span.attributes['tracebus.rabbitmq.settlement.requeue']}`))).toEqual(new Set(['nack requeue=true']));
        expect(processes.filter((span) => span.attributes['tracebus.rabbitmq.redelivered'] === true).length).toBeGreaterThanOrEqual(EXPECTED_ERRORS);
      } finally {
        await consumer.close().catch(() => undefined);
        await publisher.close().catch(() => undefined);
      }
    }, DEADLINE_MS);
  });

  describe.skipIf(kafkaBrokers() === undefined)('Kafka', () => {
    let kafka: Kafka;
    let admin: Admin;
    let raw: Producer;
    let producer: Producer;
    const consumers: Consumer[] = [];
    beforeAll(async () => {
      kafka = new Kafka({ clientId: 'tracebus-faults', brokers: kafkaBrokers()!, logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
      admin = kafka.admin();
      raw = kafka.producer();
      await Promise.all([admin.connect(), raw.connect()]);
      producer = traceProducer({ brokers: kafkaBrokers(), clientId: 'tracebus-faults' })(raw);
    });
    afterEach(async () => {
      await Promise.allSettled(consumers.splice(0).map((consumer) => consumer.disconnect()));
    });
    afterAll(async () => {
      await Promise.allSettled([raw?.disconnect(), admin?.disconnect()]);
    });

    /** Sends the messages in sends of 20: each message gets its own `create` span, whose context it carries. */
    async function produce(topic: string): Promise<void> {
      for (let at = 0; at < COUNT; at += 20) {
        await producer.send({ topic, messages: ids.slice(at, at + 20).map((id) => ({ key: id, value: id })) });
      }
    }

    /**
     * Runs `consumer` (retrying a failed handler quickly: kafkajs seeks back to the failed
     * offset) on a new topic with `config`, sends the messages and waits until every one
     * has succeeded. Returns the topic.
     */
    async function consumeAll(label: string, trace: (consumer: Consumer) => Pick<Consumer, 'run'>, config: Parameters<Consumer['run']>[0], flaky: FlakyHandler): Promise<string> {
      const topic = await createTopic(admin, unique(label));
      const consumer = kafka.consumer({ groupId: `${topic}.group`, maxWaitTimeInMs: 100, retry: { initialRetryTime: 50, maxRetryTime: 500, retries: 10 } });
      consumers.push(consumer);
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const joined = groupJoined(consumer);
      await trace(consumer).run(config);
      await joined;
      await produce(topic);
      await waitFor(() => flaky.done, `${COUNT} messages`, KAFKA_DEADLINE_MS);
      await consumer.disconnect();
      return topic;
    }

    const keyOf = (message: KafkaMessage) => message.key!.toString();

    it(`eachMessage: ${COUNT} messages all processed (kafkajs retries the failed offset), ${EXPECTED_ERRORS} errors each on its span, none open`, async () => {
      const flaky = new FlakyHandler();
      const eachMessage = async ({ message }: { message: KafkaMessage }) => {
        await Promise.resolve();
        flaky.handle(keyOf(message));
      };
      const topic = await consumeAll('kafka.each', (consumer) => traceConsumer()(consumer) as Pick<Consumer, 'run'>, { eachMessage }, flaky);

      expectAllProcessedAndRecorded(recorder, flaky, spansNamed(`create ${topic}`), spansNamed(`process ${topic}`), 'kafka.message.key');
    }, KAFKA_DEADLINE_MS + 30_000);

    it(`eachBatch: ${COUNT} messages all processed, each error on its message's span and on the batch span it failed, none open`, async () => {
      const flaky = new FlakyHandler();
      const eachBatch = traceEachBatch()(async (_payload, batch) => {
        await batch.forEachMessage(async (message) => {
          await Promise.resolve();
          flaky.handle(keyOf(message));
        });
      });
      const topic = await consumeAll('kafka.batch', (consumer) => consumer, { eachBatchAutoResolve: false, eachBatch }, flaky);

      const all = spansNamed(`process ${topic}`);
      const batches = all.filter((span) => span.attributes['messaging.batch.message_count'] !== undefined);
      const perMessage = all.filter((span) => span.attributes['messaging.batch.message_count'] === undefined);
      expectAllProcessedAndRecorded(recorder, flaky, spansNamed(`create ${topic}`), perMessage, 'kafka.message.key');
      // A failure stops the batch: its span records the same error, rethrown to kafkajs.
      expect(unrecordedErrors(batches, flaky.thrown)).toEqual([]);
    }, KAFKA_DEADLINE_MS + 30_000);
  });
});
