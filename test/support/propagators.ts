import { trace, type Context, type TextMapPropagator, type TextMapSetter } from '@opentelemetry/api';

/**
 * A propagator of another format than W3C's, to register beside it: it writes `x-span-id`, the
 * span id of the context it is given (`none` without one), so that a test can tell which span's
 * context reached it.
 */
export function spanIdPropagator(): TextMapPropagator {
  return {
    inject: (ctx: Context, carrier: unknown, setter: TextMapSetter) => setter.set(carrier, 'x-span-id', trace.getSpanContext(ctx)?.spanId ?? 'none'),
    extract: (ctx: Context) => ctx,
    fields: () => ['x-span-id'],
  };
}
