export {
  ATTR_MESSAGING_DESTINATION_TEMPLATE,
  ATTR_MESSAGING_DESTINATION_TEMPORARY,
  ATTR_RABBITMQ_DEAD_LETTER_EXCHANGE,
  ATTR_RABBITMQ_DEATH_COUNT,
  ATTR_RABBITMQ_DEATH_EXCHANGE,
  ATTR_RABBITMQ_DEATH_QUEUE,
  ATTR_RABBITMQ_DEATH_REASON,
  ATTR_RABBITMQ_DROPPED_HEADERS,
  ATTR_RABBITMQ_EMPTY,
  ATTR_RABBITMQ_REDELIVERED,
  ATTR_RABBITMQ_SETTLEMENT,
  ATTR_RABBITMQ_SETTLEMENT_MULTIPLE,
  ATTR_RABBITMQ_SETTLEMENT_ON_ERROR,
  ATTR_RABBITMQ_SETTLEMENT_REQUEUE,
  RABBITMQ_SYSTEM,
} from './attributes.ts';
export { traceChannel } from './publisher.ts';
export type { AmqpChannelOptions, AmqpPublish, ChannelDecorator, TracedChannel, TracedOnMessage } from './publisher.ts';
export { traceConsume } from './consumer.ts';
export type { AmqpChannel, AmqpConsumeOptions, AmqpConsumerOptions, AmqpHandler, ErrorSettlement, OnErrorOption, TracedConsumeCallback } from './consumer.ts';
