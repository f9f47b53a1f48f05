import { diag, type Span } from '@opentelemetry/api';
import type { WritableHeaders } from '../core/headers.ts';
import { fitTraceHeaders } from './header-budget.ts';

// Reading: amqplib hands headers over as `message.properties.headers`, with strings (`S`)
// and byte arrays (`x`) as values; the core's headerGetter reads both. Writing: tracebus
// injects into a copy of `options.headers`, then fits the copy to RabbitMQ's limits here.

/**
 * `headers` (a copy tracebus owns, trace headers injected) fitted to the channel's
 * header budget (see header-budget.ts): tracing problems never stop a publish.
 */
export function traceHeaders(headers: WritableHeaders, budget: number, span: Span, measureAlways = false): WritableHeaders {
  try {
    return fitTraceHeaders(headers, budget, span, measureAlways);
  } catch (problem) {
    diag.error('tracebus: could not measure the headers of a message; it is sent as is', problem);
    return headers;
  }
}
