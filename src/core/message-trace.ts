import { propagation, trace, type Context, type Span, type SpanContext } from '@opentelemetry/api';
import { defineHeader } from './headers.ts';

/**
 * What a handler gets to know about the trace it runs in. The handler also runs with
 * {@link MessageTrace.context} active, so spans it starts and messages it publishes
 * join the trace without extra code.
 */
export interface MessageTrace {
  /** Hex trace id, for log correlation (`00000000000000000000000000000000` when there is none). */
  readonly traceId: string;
  /** Hex span id of the consumer span. */
  readonly spanId: string;
  /** Whether the trace is sampled. */
  readonly sampled: boolean;
  /** The consumer span (a non-recording span when no SDK is registered). */
  readonly span: Span;
  readonly spanContext: SpanContext;
  /** Baggage entries that arrived with the message, as plain key/value pairs. */
  readonly baggage: Readonly<Record<string, string>>;
  /** The OpenTelemetry context the handler runs in. */
  readonly context: Context;
}

class HandlerMessageTrace implements MessageTrace {
  readonly span: Span;
  readonly spanContext: SpanContext;
  readonly context: Context;
  #baggage: Record<string, string> | undefined;

  constructor(span: Span, context: Context) {
    this.span = span;
    this.spanContext = span.spanContext();
    this.context = context;
  }

  get traceId(): string {
    return this.spanContext.traceId;
  }

  get spanId(): string {
    return this.spanContext.spanId;
  }

  get sampled(): boolean {
    return (this.spanContext.traceFlags & 1) === 1;
  }

  // Built on first read: most handlers never look at baggage.
  get baggage(): Readonly<Record<string, string>> {
    if (this.#baggage === undefined) {
      const entries: Record<string, string> = {};
      // Defined as headers are: `__proto__` is a valid baggage key too.
      for (const [key, entry] of propagation.getBaggage(this.context)?.getAllEntries() ?? []) defineHeader(entries, key, entry.value);
      this.#baggage = entries;
    }
    return this.#baggage;
  }

  toJSON() {
    return { traceId: this.traceId, spanId: this.spanId, sampled: this.sampled, baggage: this.baggage };
  }
}

/** The {@link MessageTrace} of `span` running in `context`. */
export function messageTraceOf(span: Span, context: Context): MessageTrace {
  return new HandlerMessageTrace(span, context);
}

/** The {@link MessageTrace} of whatever span is active in `context` (an invalid one if none). */
export function activeMessageTrace(context: Context): MessageTrace {
  return new HandlerMessageTrace(trace.getSpan(context) ?? trace.wrapSpanContext(INVALID), context);
}

const INVALID: SpanContext = { traceId: '00000000000000000000000000000000', spanId: '0000000000000000', traceFlags: 0 };
