export { compose } from './core/compose.ts';
export type { Handler, HandlerMiddleware, PublisherDecorator } from './core/compose.ts';
export { copyWithoutFields, copyWithoutTraceHeaders, headerGetter, headerSetter } from './core/headers.ts';
export type { HeaderValue, MessageHeaders, WritableHeaders } from './core/headers.ts';
export { ATTR_LINKS_DROPPED, errorType, MessagingTracer, recordError } from './core/messaging-tracer.ts';
export type { OperationInfo, SpanHook, TracingOptions } from './core/messaging-tracer.ts';
export { assertPolicyOption } from './core/policy.ts';
export type { IncomingContextPolicy, PolicyOption } from './core/policy.ts';
export { LEGACY_NAMES, semconvModeFromEnv } from './core/semconv.ts';
export type { OperationType, SemconvMode } from './core/semconv.ts';
export { activeTraceContext, traceContextOf } from './core/trace-context.ts';
export type { TraceContext } from './core/trace-context.ts';
export { BaggagePropagator, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS } from './core/w3c/baggage.ts';
export { w3cConformant } from './core/w3c/conformant.ts';
export { parseTraceparent, RANDOM_TRACE_ID_KEY, TraceContextPropagator } from './core/w3c/trace-context.ts';
export type { Traceparent } from './core/w3c/trace-context.ts';
export { MAX_TRACESTATE_LENGTH, MAX_TRACESTATE_MEMBERS, W3CTraceState } from './core/w3c/trace-state.ts';
export {
  ATTR_PROPAGATION_OUTCOME,
  DURATION_BUCKETS,
  METRIC_CONSUMED_MESSAGES,
  METRIC_OPERATION_DURATION,
  METRIC_PROCESS_DURATION,
  METRIC_PROPAGATION,
  METRIC_SENT_MESSAGES,
  METRIC_TIME_IN_QUEUE,
} from './core/metrics.ts';
export type { PropagationOutcome } from './core/metrics.ts';
export { isPromiseLike, measureReceive, measureSend, METRIC_ATTRIBUTES, runInSpan } from './core/lifecycle.ts';
export type { OnEnd } from './core/lifecycle.ts';
