/**
 * RPC over RabbitMQ with direct reply-to: the client sends a request with `replyTo` and
 * `correlationId`, the server answers from inside its handler, and the whole exchange is one
 * trace: send → process → send (reply) → process (reply).
 *
 * Run: AMQP_URL=amqp://guest:guest@127.0.0.1:5672 npm run example -- examples/rabbitmq/rpc.ts
 */
import { randomUUID } from 'node:crypto';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import amqp from 'amqplib';
import { traceChannel } from 'tracebus/amqplib';
import { formatTraceTree } from 'tracebus/testing';
import { exported, setUpTracing } from '../support/tracing.ts';

const REPLY_TO = 'amq.rabbitmq.reply-to';

export async function main(url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672'): Promise<{ spans: ReadableSpan[]; price: string }> {
  const tracing = setUpTracing();
  const connection = await amqp.connect(url);
  const queue = `rpc.prices.${process.pid}.${Date.now()}`;
  try {
    const server = traceChannel({ tracerProvider: tracing.provider('pricing') })(await connection.createChannel());
    await server.assertQueue(queue, { exclusive: true });
    await server.consume(queue, (request) => {
      if (request === null) return;
      const price = request.content.toString() === 'sku-1' ? '9.99' : 'unknown';
      // Published inside the handler: the reply is a child of the server's process span.
      server.sendToQueue(request.properties.replyTo, Buffer.from(price), { correlationId: request.properties.correlationId });
      server.ack(request);
    });

    const client = traceChannel({ tracerProvider: tracing.provider('storefront') })(await connection.createChannel());
    const pending = new Map<string, (price: string) => void>();
    await client.consume(REPLY_TO, (reply) => {
      if (reply === null) return;
      pending.get(reply.properties.correlationId)?.(reply.content.toString());
    }, { noAck: true });

    const price = await tracing.provider('storefront').getTracer('storefront').startActiveSpan('GET /price', async (span) => {
      const correlationId = randomUUID();
      const answer = new Promise<string>((resolve) => pending.set(correlationId, resolve));
      client.sendToQueue(queue, Buffer.from('sku-1'), { replyTo: REPLY_TO, correlationId });
      const result = await answer;
      span.end();
      return result;
    });
    return { spans: await tracing.spans(), price };
  } finally {
    await connection.close();
    await tracing.shutdown();
  }
}

if (import.meta.main) {
  const { spans, price } = await main();
  console.log(`price: ${price}\n${formatTraceTree(spans)}`);
  await exported();
}
