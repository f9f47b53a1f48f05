// What an application imports. Adapters for other transports: 'tracebus/adapter';
// the conformant W3C propagators: 'tracebus/w3c'.
export { compose } from './core/compose.ts';
export type { Handler, HandlerMiddleware, PublisherDecorator } from './core/compose.ts';
export type { MessageTrace } from './core/message-trace.ts';
export type { SpanHook } from './core/operation.ts';
export type { TracingOptions } from './core/options.ts';
export type { IncomingContextPolicy, PolicyOption } from './core/policy.ts';
export type { SemconvMode } from './core/semconv.ts';
