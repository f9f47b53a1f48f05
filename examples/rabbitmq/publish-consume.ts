/**
 * RabbitMQ publisher and consumer in two services, with a topic exchange between them.
 *
 * Run: AMQP_URL=amqp://guest:guest@127.0.0.1:5672 npm run example -- examples/rabbitmq/publish-consume.ts
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import amqp from 'amqplib';
import { traceChannel } from 'tracebus/amqplib';
import { formatTraceTree } from 'tracebus/testing';
import { exported, setUpTracing } from '../support/tracing.ts';

export async function main(url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'): Promise<ReadableSpan[]> {
  const tracing = setUpTracing();
  const connection = await amqp.connect(url);
  const suffix = `${process.pid}.${Date.now()}`;
  const exchange = `shop.events.${suffix}`;
  const queue = `billing.orders.${suffix}`;
  try {
    // The orders service publishes; the billing service consumes. Each has its own tracer provider.
    const orders = traceChannel({ tracerProvider: tracing.provider('orders') })(await connection.createConfirmChannel());
    const billing = traceChannel({ tracerProvider: tracing.provider('billing') })(await connection.createChannel());
    await billing.assertExchange(exchange, 'topic', { autoDelete: true });
    await billing.assertQueue(queue, { exclusive: true });
    await billing.bindQueue(queue, exchange, 'order.*');

    const billed = Promise.withResolvers<void>();
    await billing.consume(queue, async (message, trace) => {
      if (message === null) return;
      console.log(`[billing] trace_id=${trace.traceId} charging ${message.content.toString()}`);
      billing.ack(message);
      billed.resolve();
    });

    await tracing.provider('orders').getTracer('orders').startActiveSpan('POST /orders', async (request) => {
      orders.publish(exchange, 'order.placed', Buffer.from('{"orderId":"o-7"}'), { messageId: 'o-7', contentType: 'application/json', persistent: false });
      await orders.waitForConfirms();
      request.end();
    });
    await billed.promise;
    return await tracing.spans();
  } finally {
    await connection.close();
    await tracing.shutdown();
  }
}

if (import.meta.main) {
  console.log(formatTraceTree(await main()));
  await exported();
}
