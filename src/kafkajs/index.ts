export { ATTR_KAFKA_ATTEMPT, ATTR_KAFKA_TRANSACTION_OUTCOME, KAFKA_SYSTEM } from './attributes.ts';
export type { KafkaClientOptions } from './attributes.ts';
export { traceConsumer, traceEachBatch, traceEachMessage } from './consumer.ts';
export type { EachBatchTracedHandler, EachMessageTracedHandler, TracedConsumer, TracedEachBatch, TracedEachMessage, TracedRunConfig } from './consumer.ts';
export type { BatchTraceContext, ConsumedRecord, ConsumerTracingOptions, ForEachMessageOptions } from './process.ts';
export { traceProducer } from './producer.ts';
export type { ProducedMessage, ProducerTracingOptions } from './producer.ts';
