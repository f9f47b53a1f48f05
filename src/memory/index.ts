export { MemoryBus } from './bus.ts';
export type { DeadLetter, MemoryBusOptions, MemoryHandler, MemoryMessage, MemoryPublisher, OutgoingMessage, SubscribeOptions, Subscription } from './bus.ts';
export { ATTR_MEMORY_ATTEMPT, MEMORY_SYSTEM, traceMemoryHandler, traceMemoryPublisher } from './tracing.ts';
export type { MemoryHandlerTracingOptions, MemoryPublish, MemoryPublisherTracingOptions } from './tracing.ts';
