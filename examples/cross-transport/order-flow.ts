/**
 * One trace across three transports:
 *
 *   orders ──Kafka──▶ payments ──RabbitMQ──▶ notifier ──in-process bus──▶ email
 *                                                                   └──▶ sms
 *
 * Each service wraps its own client with tracebus; nothing else carries the context.
 *
 * Run: KAFKA_BROKERS=127.0.0.1:9092 AMQP_URL=amqp://guest:guest@127.0.0.1:5672 npm run example -- examples/cross-transport/order-flow.ts
 * With OTEL_TRACES_EXPORTER=zipkin the trace goes to Zipkin too (`bash scripts/zipkin/zipkin.sh start`,
 * then http://localhost:9411); with OTEL_EXPORTER_OTLP_ENDPOINT, to an OTLP collector.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import amqp from 'amqplib';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { traceChannel } from 'tracebus/amqplib';
import { traceConsumer, traceProducer } from 'tracebus/kafkajs';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from 'tracebus/memory';
import { formatTraceTree } from 'tracebus/testing';
import { ensureTopic } from '../support/kafka.ts';
import { exported, setUpTracing } from '../support/tracing.ts';

export interface OrderFlowOptions {
  brokers?: string[];
  amqpUrl?: string;
}

export async function main(options: OrderFlowOptions = {}): Promise<ReadableSpan[]> {
  const { brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), amqpUrl = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672' } = options;
  const tracing = setUpTracing();
  const run = `${process.pid}.${Date.now()}`;
  const topic = `orders.placed.${run}`;
  const queue = `payments.captured.${run}`;

  const kafka = new Kafka({ clientId: 'order-flow', brokers, logLevel: logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopic(admin, topic);
  const connection = await amqp.connect(amqpUrl);
  const bus = new MemoryBus();

  // orders: a Kafka producer.
  const orders = traceProducer({ tracerProvider: tracing.provider('orders'), brokers })(kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner }));
  // payments: consumes Kafka, publishes to RabbitMQ.
  const paymentsChannel = traceChannel({ tracerProvider: tracing.provider('payments') })(await connection.createChannel());
  await paymentsChannel.assertQueue(queue, { exclusive: true });
  const payments = traceConsumer({ tracerProvider: tracing.provider('payments'), brokers })(kafka.consumer({ groupId: `payments.${run}` }));
  // notifier: consumes RabbitMQ, fans out in-process to email and sms.
  const notifierChannel = traceChannel({ tracerProvider: tracing.provider('notifier') })(await connection.createChannel());
  const notifierBus = traceMemoryPublisher({ tracerProvider: tracing.provider('notifier') })(bus);
  const delivered = { email: Promise.withResolvers<void>(), sms: Promise.withResolvers<void>() };
  for (const channel of ['email', 'sms'] as const) {
    bus.subscribe<{ orderId: string }>(
      'notify',
      traceMemoryHandler({ tracerProvider: tracing.provider('notifier') })(async (message, trace) => {
        console.log(`[notifier/${channel}] trace_id=${trace.traceId} order ${message.payload.orderId}`);
        delivered[channel].resolve();
      }),
      { group: channel },
    );
  }

  try {
    await Promise.all([orders.connect(), payments.connect()]);
    await payments.subscribe({ topics: [topic], fromBeginning: true });
    await payments.run({
      eachMessage: async ({ message }, trace) => {
        console.log(`[payments] trace_id=${trace.traceId} capturing ${message.key?.toString()}`);
        paymentsChannel.sendToQueue(queue, Buffer.from(message.key ?? ''), { messageId: message.key?.toString() });
      },
    });
    await notifierChannel.consume(queue, async (message, trace) => {
      if (message === null) return;
      console.log(`[notifier] trace_id=${trace.traceId} captured ${message.content.toString()}`);
      await notifierBus.publish('notify', { payload: { orderId: message.content.toString() } });
      notifierChannel.ack(message);
    });

    await tracing.provider('orders').getTracer('orders').startActiveSpan('POST /orders', async (request) => {
      await orders.send({ topic, messages: [{ key: 'o-9', value: '{"orderId":"o-9","amount":42}' }] });
      request.end();
    });
    await Promise.all([delivered.email.promise, delivered.sms.promise]);
    await bus.close();
    return await tracing.spans();
  } finally {
    await Promise.all([payments.disconnect(), orders.disconnect()]);
    await connection.close();
    await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
    await admin.disconnect();
    await tracing.shutdown();
  }
}

if (import.meta.main) {
  console.log(formatTraceTree(await main()));
  await exported();
}
