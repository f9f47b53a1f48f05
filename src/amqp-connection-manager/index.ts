export { ATTR_RABBITMQ_QUEUE_LENGTH, ATTR_RABBITMQ_QUEUED_WHILE_DISCONNECTED, ATTR_RABBITMQ_SEND_ATTEMPT, EVENT_RABBITMQ_QUEUED, EVENT_RABBITMQ_SENT } from './attributes.ts';
export { traceChannelWrapper } from './publisher.ts';
export type { ChannelWrapperOptions, TracedChannelWrapper } from './publisher.ts';
export type { WrapperOnMessage } from './consumer.ts';
