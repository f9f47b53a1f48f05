export { MemoryBus } from './bus.ts';
export type { DeadLetter, MemoryBusOptions, MemoryHandler, MemoryMessage, MemoryPublisher, OutgoingMessage, SubscribeOptions, Subscription } from './bus.ts';
export { ATTR_MEMORY_ATTEMPT, MEMORY_SYSTEM } from './attributes.ts';
export { traceMemoryPublisher } from './publisher.ts';
export type { MemoryPublish, MemoryPublisherOptions } from './publisher.ts';
export { traceMemoryHandler } from './consumer.ts';
export type { MemoryHandlerOptions } from './consumer.ts';
