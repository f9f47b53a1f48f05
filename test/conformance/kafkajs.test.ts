import { Kafka, logLevel, type EachMessagePayload } from 'kafkajs';
import { traceEachMessage, traceProducer } from '../../src/kafkajs/index.ts';
import { kafkaBrokers } from '../support/integration.ts';
import { createTopic } from '../support/kafka-topics.ts';
import { kafkaConformanceSuite } from './kafka-suite.ts';

// The W3C Trace Context table through kafkajs and a real broker (kafka-suite.ts says how).
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

const brokers = kafkaBrokers();
const clientId = 'tracebus-w3c';

kafkaConformanceSuite('kafkajs', brokers === undefined, () => ({
  name: 'Kafka (kafkajs), headers as Buffers',
  noHeaders: {},
  async start({ incoming, outgoing, groupId }, hooks) {
    const kafka = new Kafka({ clientId, brokers: brokers!, logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
    const admin = kafka.admin();
    await admin.connect();
    await createTopic(admin, incoming);
    await createTopic(admin, outgoing);
    const producer = kafka.producer();
    await producer.connect();
    // The decorator delegates to `producer`, which itself stays untraced.
    const traced = traceProducer({ brokers, clientId })(producer);
    const relay = traceEachMessage({ groupId, brokers, clientId })(async ({ message }, trace) => {
      const key = message.key!.toString();
      const callbacks = hooks.relayed(key, message.headers, trace.spanId);
      for (let index = 0; index < callbacks; index++) await traced.send({ topic: outgoing, messages: [{ key, value: String(index) }] });
    });
    const collect = ({ message }: EachMessagePayload) => hooks.collected(message.key!.toString(), message.headers);
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
    await consumer.connect();
    await consumer.subscribe({ topics: [incoming, outgoing], fromBeginning: true });
    await consumer.run({ eachMessage: async (payload) => (payload.topic === incoming ? relay(payload) : collect(payload)) });
    return {
      sendIncoming: async (messages) => void (await producer.send({ topic: incoming, messages })),
      async close() {
        await consumer.disconnect();
        await producer.disconnect();
        await admin.deleteTopics({ topics: [incoming, outgoing] }).catch(() => undefined);
        await admin.disconnect();
      },
    };
  },
}));
