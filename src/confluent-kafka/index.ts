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
