import { createContextKey, type Context } from '@opentelemetry/api';

// The SDK's suppress-tracing flag, read and written without `@opentelemetry/core`: a
// dependency on core would pin one SDK line (core 3.x needs api 1.10, core 2.x api < 1.10),
// and the flag is only a context key. `createContextKey` makes a `Symbol.for` of its
// description, so this is the very key every copy of core uses.
const SUPPRESS_TRACING_KEY = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

/** Whether `context` asks instrumentations not to trace (`suppressTracing` of `@opentelemetry/core`). */
export function isTracingSuppressed(context: Context): boolean {
  return context.getValue(SUPPRESS_TRACING_KEY) === true;
}

/** `context` with tracing suppressed, as `suppressTracing` of `@opentelemetry/core` makes it. */
export function suppressTracing(context: Context): Context {
  return context.setValue(SUPPRESS_TRACING_KEY, true);
}
