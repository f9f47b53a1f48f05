import type { Channel, ConsumeMessage, Message } from 'amqplib';
import amqp, { type ChannelWrapper } from 'amqp-connection-manager';
import { describe } from 'vitest';
import { traceChannelWrapper } from '../../src/amqp-connection-manager/index.ts';
import { traceChannel } from '../../src/amqplib/index.ts';
import type { MessageTrace } from '../../src/index.ts';
import { contractSuite } from '../contract/suite.ts';
import type { ContractHandler, ContractTransport } from '../contract/transport.ts';
import { amqpUrl } from '../support/integration.ts';

const url = amqpUrl();

type Policy = NonNullable<Parameters<ContractTransport['subscribe']>[2]>["policy"];

/**
 * The suite through amqp-connection-manager: publishing through a traced ChannelWrapper
 * (each publish resolves on the broker's confirm), consuming either with the wrapper's own
 * `consume` or with a consumer that a setup function starts on the channel it receives.
 */
function transport(consumeWith: 'consume' | 'setup') {
  return async function connect(): Promise<ContractTransport> {
    const connection = amqp.connect([url!]);
    const rawPublisher = connection.createChannel();
    const publisher = traceChannelWrapper()(rawPublisher);
    await publisher.waitForConnect();
    let counter = 0;
    const run = `${process.pid}.${Date.now().toString(36)}.${consumeWith}`;
    const toContract = (message: ConsumeMessage) => ({ payload: message.content.toString(), headers: message.properties.headers ?? {}, attempt: message.fields.redelivered ? 2 : 1 });
    // The suite's policy functions look at the payload as text.
    const adapt = (policy: Policy) => (typeof policy === 'function' ? (message: Message) => policy({ payload: message.content.toString(), headers: message.properties.headers }) : policy);

    async function subscribe(queue: string, handler: ContractHandler, policy: Policy) {
      const wrapper: ChannelWrapper = connection.createChannel({ confirm: false });
      if (consumeWith === 'consume') {
        const consumer = traceChannelWrapper({ policy: adapt(policy) })(wrapper);
        await consumer.addSetup((channel: Channel) => channel.prefetch(250));
        await consumer.consume(queue, async (message: ConsumeMessage, trace: MessageTrace) => {
          await handler(toContract(message), trace);
          consumer.ack(message);
        });
        return { close: () => consumer.close() };
      }
      const consumer = traceChannelWrapper({ policy: adapt(policy) })(wrapper);
      await consumer.addSetup(async (raw: Channel) => {
        // The channel is traced already; traceChannel() gives it back as it is, typed as traced.
        const channel = traceChannel()(raw);
        await channel.prefetch(250);
        await channel.consume(queue, async (message, trace) => {
          if (message === null) return;
          await handler(toContract(message), trace);
          channel.ack(message);
        });
      });
      return { close: () => consumer.close() };
    }

    return {
      async destination(label) {
        const queue = `tracebus.contract.acm.${label}.${run}.${++counter}`;
        await publisher.assertQueue(queue, { exclusive: true });
        return queue;
      },
      publish: async (queue, payload, headers) => void (await publisher.sendToQueue(queue, Buffer.from(payload), { headers })),
      publishRaw: async (queue, payload, headers) => void (await rawPublisher.sendToQueue(queue, Buffer.from(payload), { headers })),
      subscribe: (queue, handler, options) => subscribe(queue, handler, options?.policy),
      close: () => connection.close(),
    };
  };
}

describe.skipIf(url === undefined)('RabbitMQ (amqp-connection-manager)', () => {
  // AMQP tables carry Buffers as type `x` and arrays as field arrays `A`: both arrive as sent.
  const features = { bufferHeaders: true, repeatedHeaders: true };
  contractSuite({ name: 'RabbitMQ (amqp-connection-manager, consume)', features, connect: transport('consume') });
  contractSuite({ name: 'RabbitMQ (amqp-connection-manager, setup)', features, connect: transport('setup') });
});
