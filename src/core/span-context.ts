import { isValidSpanId, isValidTraceId, type SpanContext, type TraceState } from '@opentelemetry/api';

/**
 * A span context read from a `traceparent` that passed tracebus's W3C parser, whose ids
 * are therefore known to be valid. The placement of a received message asks whether its
 * remote context is valid; for one of these it need not scan the 48 hex digits again.
 */
export class ParsedSpanContext implements SpanContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly isRemote = true;
  traceState?: TraceState;

  constructor(traceId: string, spanId: string, traceFlags: number) {
    this.traceId = traceId;
    this.spanId = spanId;
    this.traceFlags = traceFlags;
  }
}

// The trace id last found valid. The spans a process injects or links come in runs of one
// trace (the create spans of a batch, the sends of one request), so most checks find the
// same trace id here and scan only the span id. It starts as an id that is valid itself, so
// that no invalid one (an empty string, `undefined` from JavaScript) can ever match it.
let validTraceId: unknown = '0af7651916cd43dd8448eb211c80319c';

/** `trace.isSpanContextValid(spanContext)`, answered without a scan where it is already known. */
export function isValidSpanContext(spanContext: SpanContext): boolean {
  if (spanContext instanceof ParsedSpanContext) return true;
  const traceId = spanContext.traceId;
  if (traceId !== validTraceId) {
    if (!isValidTraceId(traceId)) return false;
    validTraceId = traceId;
  }
  return isValidSpanId(spanContext.spanId);
}
