export { ATTR_KAFKA_ATTEMPT, ATTR_KAFKA_TRANSACTION_OUTCOME, KAFKA_SYSTEM } from '../kafka/attributes.ts';
export type { ForEachMessageOptions } from '../kafka/batch.ts';
export type { ConfluentClientOptions } from './attributes.ts';
export { traceConfluentProducer } from './publisher.ts';
export type { ConfluentProducedMessage, ConfluentProducerOptions } from './publisher.ts';
export { traceConfluentConsumer, traceConfluentEachBatch, traceConfluentEachMessage } from './consumer.ts';
export type {
  ConfluentBatchMessageTrace,
  ConfluentConsumerOptions,
  ConfluentEachBatchHandler,
  ConfluentEachMessageHandler,
  ConfluentRecord,
  TracedConfluentConsumer,
  TracedConfluentEachBatch,
  TracedConfluentEachMessage,
  TracedConfluentRunConfig,
} from './consumer.ts';
