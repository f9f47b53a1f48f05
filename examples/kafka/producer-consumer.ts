/**
 * A Kafka producer and consumer in two services. The producer is decorated with
 * `traceProducer`, the consumer with `traceConsumer`: one line each.
 *
 * Run: KAFKA_BROKERS=127.0.0.1:9092 npm run example -- examples/kafka/producer-consumer.ts
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { traceConsumer, traceProducer } from 'tracebus/kafkajs';
import { formatTraceTree } from 'tracebus/testing';
import { ensureTopic } from '../support/kafka.ts';
import { exported, setUpTracing } from '../support/tracing.ts';

export async function main(brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')): Promise<ReadableSpan[]> {
  const tracing = setUpTracing();
  const kafka = new Kafka({ clientId: 'shop', brokers, logLevel: logLevel.WARN });
  const topic = `orders.${process.pid}.${Date.now()}`;
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopic(admin, topic);

  const producer = traceProducer({ tracerProvider: tracing.provider('orders'), brokers, clientId: 'shop' })(kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner }));
  const consumer = traceConsumer({ tracerProvider: tracing.provider('billing'), brokers })(kafka.consumer({ groupId: `billing.${topic}` }));
  try {
    await Promise.all([producer.connect(), consumer.connect()]);
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const billed = Promise.withResolvers<void>();
    await consumer.run({
      eachMessage: async ({ message }, trace) => {
        console.log(`[billing] trace_id=${trace.traceId} charging ${message.value?.toString()}`);
        billed.resolve();
      },
    });

    await tracing.provider('orders').getTracer('orders').startActiveSpan('POST /orders', async (request) => {
      await producer.send({ topic, messages: [{ key: 'o-7', value: '{"orderId":"o-7"}' }] });
      request.end();
    });
    await billed.promise;
    return await tracing.spans();
  } finally {
    await Promise.all([consumer.disconnect(), producer.disconnect()]);
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
    await tracing.shutdown();
  }
}

if (import.meta.main) {
  console.log(formatTraceTree(await main()));
  await exported();
}
