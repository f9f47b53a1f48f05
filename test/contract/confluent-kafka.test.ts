import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { Kafka, logLevel } from 'kafkajs';
import { describe } from 'vitest';
import { traceConfluentConsumer, traceConfluentProducer, type ConfluentConsumerOptions } from '../../src/confluent-kafka/index.ts';
import { assigned, confluentKafka, confluentUnavailable } from '../support/confluent-kafka.ts';
import { kafkaBrokers } from '../support/integration.ts';
import { createTopic } from '../support/kafka-topics.ts';
import { contractSuite } from './suite.ts';
import type { ContractTransport } from './transport.ts';

type ContractPolicy = NonNullable<Parameters<ContractTransport['subscribe']>[2]>['policy'];

// The transport-agnostic contract suite through @confluentinc/kafka-javascript's KafkaJS API
// and a real Kafka broker; skipped when no broker or no built client could be had (which
// fails the run in CI). Topics are made with a kafkajs admin, which waits for their leaders.

const brokers = kafkaBrokers();
const run = `${process.pid}.${Date.now().toString(36)}`;
let counter = 0;
const textOf = (message: KafkaJS.KafkaMessage) => message.value?.toString() ?? '';
/** One text message with exactly `headers`, through `producer`. */
const sendText = async (producer: KafkaJS.Producer, topic: string, value: string, headers?: Record<string, unknown>) => void (await producer.send({ topic, messages: [{ value, headers: headers as KafkaJS.IHeaders }] }));
/** The suite's policy (whose functions look at the payload as text) as a consumer option. */
const policyOf = (policy: ContractPolicy): ConfluentConsumerOptions['policy'] => (typeof policy === 'function' ? ({ message }) => policy({ payload: textOf(message), headers: message.headers }) : policy);

describe.skipIf(brokers === undefined || confluentUnavailable !== undefined)('Kafka (@confluentinc/kafka-javascript)', () => {
  contractSuite({
    name: 'Kafka (@confluentinc/kafka-javascript)',
    // librdkafka sends Buffer header values as they are, and an array as a repeated header,
    // which consumers get back as an array of Buffers in wire order.
    features: { bufferHeaders: true, repeatedHeaders: true },
    timeoutMs: 30_000,
    async connect(): Promise<ContractTransport> {
      const kafka = confluentKafka('tracebus-contract', brokers!);
      const admin = new Kafka({ clientId: 'tracebus-contract-admin', brokers: brokers!, logLevel: logLevel.NOTHING }).admin();
      const raw = kafka.producer({ 'linger.ms': 0 });
      await Promise.all([admin.connect(), raw.connect()]);
      const producer = traceConfluentProducer({ brokers, clientId: 'tracebus-contract' })(raw);
      const consumers = new Set<{ disconnect(): Promise<void> }>();
      return {
        destination: (label) => createTopic(admin, `tracebus.contract-ckjs.${label}.${run}.${++counter}`, { numPartitions: 1 }),
        publish: (topic, payload, headers) => sendText(producer, topic, payload, headers),
        publishRaw: (topic, payload, headers) => sendText(raw, topic, payload, headers),
        async subscribe(topic, handler, options) {
          const consumer = traceConfluentConsumer({ policy: policyOf(options?.policy) })(kafka.consumer({ kafkaJS: { groupId: `${topic}.group`, fromBeginning: true, maxWaitTimeInMs: 100 } }));
          consumers.add(consumer);
          await consumer.connect();
          await consumer.subscribe({ topics: [topic] });
          await consumer.run({ eachMessage: ({ message }, trace) => handler({ payload: textOf(message), headers: message.headers ?? {} }, trace) });
          await assigned(consumer);
          return {
            async close() {
              consumers.delete(consumer);
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
