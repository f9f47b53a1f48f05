export { ATTR_RABBITMQ_QUEUE_LENGTH, ATTR_RABBITMQ_QUEUED_WHILE_DISCONNECTED, EVENT_RABBITMQ_QUEUED } from './attributes.ts';
export { traceChannelWrapper } from './publisher.ts';
export type { ChannelWrapperOptions, TracedChannelWrapper } from './publisher.ts';
export type { WrapperOnMessage } from './consumer.ts';
