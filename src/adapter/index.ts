// The pieces tracebus's own adapters are built from, for adapters of other transports.
export { checkHandler, checkOptions, checkTarget, isTraced, markTraced, optionKeys } from '../core/checks.ts';
export { TRACING_OPTION_KEYS } from '../core/options.ts';
export { delegateTo } from '../core/delegate.ts';
export { copyWithoutTraceHeaders, headerGetter, headerSetter } from '../core/headers.ts';
export type { HeaderValue, MessageHeaders, WritableHeaders } from '../core/headers.ts';
export { endSpan, errorType, measureReceive, measureSend, recordError, runHook, runInSpan } from '../core/lifecycle.ts';
export type { OnEnd } from '../core/lifecycle.ts';
export { activeMessageTrace, messageTraceOf } from '../core/message-trace.ts';
export { ATTR_LINKS_DROPPED, MessagingTracer } from '../core/messaging-tracer.ts';
export type { OpenPublish, Placement } from '../core/messaging-tracer.ts';
export type { PropagationState } from '../core/propagation.ts';
export {
  ATTR_PROPAGATION_OUTCOME,
  DURATION_BUCKETS,
  TIME_IN_QUEUE_BUCKETS,
  METRIC_CONSUMED_MESSAGES,
  METRIC_OPERATION_DURATION,
  METRIC_PROCESS_DURATION,
  METRIC_PROPAGATION,
  METRIC_SENT_MESSAGES,
  METRIC_TIME_IN_QUEUE,
} from '../core/metrics.ts';
export type { Instruments, PropagationOutcome } from '../core/metrics.ts';
export type { OperationInfo, SpanHook } from '../core/operation.ts';
// The types an adapter's own signatures use, also exported by `tracebus`.
export type { MessageTrace } from '../core/message-trace.ts';
export type { TracingOptions } from '../core/options.ts';
export type { PolicyOption } from '../core/policy.ts';
export { assertPolicyOption } from '../core/policy.ts';
export { semconvModeFromEnv } from '../core/semconv.ts';
export type { OperationType } from '../core/semconv.ts';
export { VERSION } from '../core/version.ts';
