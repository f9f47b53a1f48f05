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
  consumeDestination,
  publishDestination,
  RABBITMQ_SYSTEM,
} from './attributes.ts';
export type { Destination } from './attributes.ts';
export { traceChannel } from './channel.ts';
export type { AmqpPublish, ChannelDecorator, ChannelTracingOptions, TracedChannel, TracedOnMessage } from './channel.ts';
export { traceConsume } from './consume.ts';
export type { AmqpChannel, AmqpHandler, ConsumerTracingOptions, ConsumeTracingOptions, ErrorSettlement, OnErrorOption, TracedConsumer } from './consume.ts';
export { encodedTableSize, headerBudget } from './header-budget.ts';
