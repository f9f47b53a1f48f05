import { context, diag, type Context } from '@opentelemetry/api';
import { suppressTracing } from './suppression.ts';

// OpenTelemetry's monkeypatching instrumentations (@opentelemetry/instrumentation-kafkajs and
// -amqplib, which getNodeAutoInstrumentations() turns on) wrap a client's methods with
// shimmer, which marks each wrapper `__wrapped` and keeps the method it wrapped as
// `__original`. On a client that tracebus traces, that would give every message two spans
// a side, and on RabbitMQ the patch's `traceparent` would replace tracebus's. So tracebus
// calls the client's own method and, on the sending side, does so with tracing suppressed,
// so that patched methods the client calls internally record nothing and inject nothing.
// Clients that tracebus does not wrap keep the patches' tracing.

type Patched = ((...args: any[]) => unknown) & { __wrapped?: unknown; __original?: unknown };

let noticed = false;

/** Whether `method` is another instrumentation's wrapper around a client's method. */
export function isPatched(method: unknown): boolean {
  return typeof method === 'function' && (method as Patched).__wrapped === true && typeof (method as Patched).__original === 'function';
}

/** The client's own method behind any instrumentation wrappers around `method`. */
export function originalOf<F extends (...args: any[]) => unknown>(method: F): F {
  let found = method as Patched;
  if (!isPatched(found)) return method;
  while (isPatched(found)) found = found.__original as Patched;
  if (!noticed) {
    noticed = true;
    diag.info('tracebus: another instrumentation patches a client that tracebus traces (such as @opentelemetry/instrumentation-kafkajs or -amqplib); tracebus calls the client itself, so each message gets one span a side');
  }
  return found as F;
}

/**
 * Calls `method` on `target` as the client's own method: straight through when nothing
 * patches it, else its original with tracing suppressed for the call.
 */
export function callOwn<R>(target: object, method: (...args: any[]) => R, ...args: unknown[]): R {
  if (!isPatched(method)) return method.apply(target, args);
  return context.with(suppressTracing(context.active()), originalOf(method), target, ...args) as R;
}

/** The context to call a client's `method` in: `ctx`, with tracing suppressed when another instrumentation patches it. */
export function callContext(ctx: Context, method: unknown): Context {
  return isPatched(method) ? suppressTracing(ctx) : ctx;
}
