import { Kafka, logLevel, type Consumer, type KafkaMessage } from 'kafkajs';
import { describe } from 'vitest';
import { traceConsumer, traceProducer, type KafkaConsumerOptions } from '../../src/kafkajs/index.ts';
import { kafkaBrokers } from '../support/integration.ts';
import { createTopic, groupJoined } from '../support/kafka-topics.ts';
import { contractSuite } from './suite.ts';
import type { ContractTransport } from './transport.ts';

// The transport-agnostic contract suite through kafkajs and a real Kafka broker; skipped
// when no broker could be had (which fails the run in CI).

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

const brokers = kafkaBrokers();
const run = `${process.pid}.${Date.now().toString(36)}`;
let counter = 0;
const textOf = (message: KafkaMessage) => message.value?.toString() ?? '';

function kafkaClient(clientId: string): Kafka {
  return new Kafka({ clientId, brokers: brokers!, logLevel: process.env.TRACEBUS_KAFKA_LOG ? logLevel.INFO : logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
}

describe.skipIf(brokers === undefined)('Kafka (kafkajs)', () => {
  contractSuite({
    name: 'Kafka (kafkajs)',
    // kafkajs sends Buffer header values as they are, and an array as a repeated header,
    // which consumers get back as an array in wire order.
    features: { bufferHeaders: true, repeatedHeaders: true },
    timeoutMs: 30_000,
    async connect(): Promise<ContractTransport> {
      const kafka = kafkaClient('tracebus-contract');
      const admin = kafka.admin();
      const raw = kafka.producer();
      await Promise.all([admin.connect(), raw.connect()]);
      const producer = traceProducer({ brokers, clientId: 'tracebus-contract' })(raw);
      const consumers = new Set<Consumer>();
      return {
        destination: (label) => createTopic(admin, `tracebus.contract.${label}.${run}.${++counter}`, { numPartitions: 1 }),
        publish: async (topic, payload, headers) => void (await producer.send({ topic, messages: [{ value: payload, headers: headers as never }] })),
        publishRaw: async (topic, payload, headers) => void (await raw.send({ topic, messages: [{ value: payload, headers: headers as never }] })),
        async subscribe(topic, handler, options) {
          const policy = options?.policy;
          // The suite's policy functions look at the payload as text.
          const adapted: KafkaConsumerOptions['policy'] =
            typeof policy === 'function' ? ({ message }) => policy({ payload: textOf(message), headers: message.headers }) : policy;
          const consumer = traceConsumer({ policy: adapted })(kafka.consumer({ groupId: `${topic}.group`, maxWaitTimeInMs: 250, retry: { initialRetryTime: 100, retries: 20 } }));
          consumers.add(consumer as Consumer);
          await consumer.connect();
          await consumer.subscribe({ topics: [topic], fromBeginning: true });
          const joined = groupJoined(consumer);
          await consumer.run({ eachMessage: ({ message }, trace) => handler({ payload: textOf(message), headers: message.headers ?? {} }, trace) });
          await joined;
          return {
            async close() {
              consumers.delete(consumer as Consumer);
              await consumer.disconnect();
            },
          };
        },
        async close() {
          await Promise.allSettled([...consumers].map((consumer) => consumer.disconnect()));
          await Promise.allSettled([raw.disconnect(), admin.disconnect()]);
        },
      };
    },
  });
});

