import type { MessageTrace } from './message-trace.ts';

/**
 * Handles one message. `trace` describes the consumer span the handler runs in; the
 * span's context is also the active OpenTelemetry context during the call.
 */
export type Handler<M, R = unknown> = (message: M, trace: MessageTrace) => R;

/** Wraps a handler: `(next) => handler`. Tracing is one; retries, logging and metrics are others. */
export type HandlerMiddleware<M, R = unknown> = (next: Handler<M, R>) => Handler<M, R>;

/** Wraps a publisher and returns one of the same type: `(publisher) => publisher`. */
export type PublisherDecorator<P> = (publisher: P) => P;

/**
 * Composes middleware or decorators into one, right to left, as in mathematics:
 * `compose(a, b, c)(x)` is `a(b(c(x)))`. The **first** argument is the **outermost**
 * wrapper (it sees the message first and the result last); the **last** one is
 * innermost, closest to the handler or the transport. Put tracing first, so that the
 * spans cover the work of every other middleware.
 *
 * @example
 * const handle = compose(traceMemoryHandler({ policy: 'link' }), retry(3), logErrors)(myHandler);
 */
export function compose<T>(...wrappers: ReadonlyArray<(inner: T) => T>): (inner: T) => T {
  wrappers.forEach((wrapper, index) => {
    if (typeof wrapper !== 'function') {
      throw new TypeError(`tracebus: compose() argument ${index} is ${wrapper === null ? 'null' : typeof wrapper}, not a function; pass middleware such as traceMemoryHandler(), not its result`);
    }
  });
  return function composed(inner: T): T {
    let result = inner;
    for (let index = wrappers.length - 1; index >= 0; index--) result = wrappers[index]!(result);
    return result;
  };
}
