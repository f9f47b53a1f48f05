import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { Kafka, logLevel } from 'kafkajs';
import { traceConfluentEachMessage, traceConfluentProducer } from '../../src/confluent-kafka/index.ts';
import { assigned, confluentKafka, confluentUnavailable } from '../support/confluent-kafka.ts';
import { kafkaBrokers } from '../support/integration.ts';
import { createTopic } from '../support/kafka-topics.ts';
import { kafkaConformanceSuite } from './kafka-suite.ts';

// The W3C Trace Context table through @confluentinc/kafka-javascript's real header path
// (librdkafka's header list) and a real broker (kafka-suite.ts says how). This client
// delivers no `headers` at all for a message without any. Topics are made with a kafkajs
// admin, which waits for their leaders.

const brokers = kafkaBrokers();
const clientId = 'tracebus-w3c-ckjs';

kafkaConformanceSuite('ckjs', brokers === undefined || confluentUnavailable !== undefined, () => ({
  name: 'Kafka (@confluentinc/kafka-javascript), headers as Buffers',
  noHeaders: undefined,
  async start({ incoming, outgoing, groupId }, hooks) {
    const kafka = confluentKafka(clientId, brokers!);
    const admin = new Kafka({ clientId, brokers: brokers!, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await Promise.all([createTopic(admin, incoming), createTopic(admin, outgoing)]);
    const producer = kafka.producer({ 'linger.ms': 0 });
    await producer.connect();
    const traced = traceConfluentProducer({ brokers, clientId })(producer);
    const relay = traceConfluentEachMessage({ groupId, brokers, clientId })(async ({ message }, trace) => {
      const key = message.key!.toString();
      for (let index = hooks.relayed(key, message.headers, trace.spanId); index > 0; index--) await traced.send({ topic: outgoing, messages: [{ key, value: String(index) }] });
    });
    const consumer = kafka.consumer({ kafkaJS: { groupId, fromBeginning: true, maxWaitTimeInMs: 100 } });
    await consumer.connect();
    await consumer.subscribe({ topics: [incoming, outgoing] });
    await consumer.run({
      eachMessage: async (payload: KafkaJS.EachMessagePayload) => (payload.topic === incoming ? relay(payload) : hooks.collected(payload.message.key!.toString(), payload.message.headers)),
    });
    await assigned(consumer);
    return {
      sendIncoming: async (messages) => void (await producer.send({ topic: incoming, messages })),
      close: async () => {
        await Promise.allSettled([consumer.disconnect(), producer.disconnect()]);
        await admin.deleteTopics({ topics: [incoming, outgoing] }).catch(() => undefined);
        await admin.disconnect();
      },
    };
  },
}));
