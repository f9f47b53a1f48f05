// kafkajs spans carry the attributes of the Kafka core (src/kafka/attributes.ts): the
// client tells nothing of its own beyond what the `brokers` and `clientId` options give.
export { ATTR_KAFKA_ATTEMPT, ATTR_KAFKA_TRANSACTION_OUTCOME, KAFKA_SYSTEM } from '../kafka/attributes.ts';
export type { KafkaClientOptions } from '../kafka/attributes.ts';
