export { ATTR_KAFKA_ATTEMPT, ATTR_KAFKA_TRANSACTION_OUTCOME, KAFKA_SYSTEM } from '../kafka/attributes.ts';
export type { KafkaClientOptions } from '../kafka/attributes.ts';
export { traceProducer } from './publisher.ts';
export type { KafkaProducedMessage, KafkaProducerOptions } from './publisher.ts';
export { traceConsumer, traceEachBatch, traceEachMessage } from './consumer.ts';
export type { BatchMessageTrace, EachBatchTracedHandler, EachMessageTracedHandler, KafkaConsumerOptions, KafkaRecord, TracedConsumer, TracedEachBatch, TracedEachMessage, TracedRunConfig } from './consumer.ts';
export type { ForEachMessageOptions } from '../kafka/batch.ts';
