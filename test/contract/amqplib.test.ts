import amqp from 'amqplib';
import { describe } from 'vitest';
import { traceChannel, traceConsume } from '../../src/amqplib/index.ts';
import { contractSuite } from '../contract/suite.ts';
import type { ContractTransport } from '../contract/transport.ts';
import { amqpUrl } from '../support/integration.ts';

const url = amqpUrl();

describe.skipIf(url === undefined)('RabbitMQ (amqplib)', () => {
  contractSuite({
    name: 'RabbitMQ (amqplib)',
    // AMQP tables carry Buffers as type `x` and arrays as field arrays `A`: both arrive as sent.
    features: { bufferHeaders: true, repeatedHeaders: true },
    async connect(): Promise<ContractTransport> {
      const connection = await amqp.connect(url!);
      // Publishing through a ConfirmChannel: each publish resolves on the broker's confirm.
      const rawPublisher = await connection.createConfirmChannel();
      const publisher = traceChannel()(rawPublisher);
      const consumer = traceChannel()(await connection.createChannel());
      await consumer.prefetch(250);
      let counter = 0;
      const run = `${process.pid}.${Date.now().toString(36)}`;
      const confirmed = (send: (done: (error: unknown) => void) => void) =>
        new Promise<void>((resolve, reject) => send((error) => (error == null ? resolve() : reject(error))));
      return {
        async destination(label) {
          const queue = `tracebus.contract.${label}.${run}.${++counter}`;
          await consumer.assertQueue(queue, { exclusive: true });
          return queue;
        },
        publish: (queue, payload, headers) => confirmed((done) => publisher.sendToQueue(queue, Buffer.from(payload), { headers }, done)),
        publishRaw: (queue, payload, headers) => confirmed((done) => rawPublisher.sendToQueue(queue, Buffer.from(payload), { headers }, done)),
        async subscribe(queue, handler, options) {
          const policy = options?.policy;
          // The suite's policy functions look at the payload as text.
          const adapted = typeof policy === 'function' ? (message: amqp.ConsumeMessage) => policy({ payload: message.content.toString(), headers: message.properties.headers }) : policy;
          const { consumerTag } = await consumer.consume(
            queue,
            traceConsume({ channel: consumer, queue, policy: adapted })(async (message, trace) => {
              await handler({ payload: message.content.toString(), headers: message.properties.headers ?? {}, attempt: message.fields.redelivered ? 2 : 1 }, trace);
              consumer.ack(message);
            }),
          );
          return { close: async () => void (await consumer.cancel(consumerTag)) };
        },
        close: () => connection.close(),
      };
    },
  });
});
