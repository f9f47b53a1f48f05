import { types } from 'node:util';
import { context, diag, INVALID_SPAN_CONTEXT, SpanStatusCode, trace, type Attributes, type Context, type Span, type SpanOptions, type Tracer } from '@opentelemetry/api';
import { reportProblem } from './warnings.ts';
import { METRIC_ATTRIBUTES, metricAttributes, type Instruments } from './metrics.ts';
import type { OperationInfo, SpanHook } from './operation.ts';
import { ATTR_ERROR_TYPE, ATTR_MESSAGING_BATCH_MESSAGE_COUNT, ATTR_MESSAGING_OPERATION_TYPE } from './semconv.ts';

/**
 * Called once an operation has ended, with its error if it failed. `type` names the
 * failure for `error.type` where the error's class would not (a broker nack).
 */
export type OnEnd = (error: unknown, failed: boolean, type?: string) => void;

/**
 * Times a send (`undefined` while metrics are off): on its end, `messaging.client.operation.duration`
 * and `messaging.client.sent.messages` (one per message of a batch), both with `error.type` when
 * it failed: semconv counts the messages a producer attempted to send.
 */
export function measureSend(instruments: Instruments | undefined, spanAttributes: Attributes, count = Number(spanAttributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] ?? 1)): OnEnd | undefined {
  if (instruments === undefined) return undefined;
  const started = performance.now();
  return function recordSend(error, failed, type) {
    const attributes = metricAttributes(spanAttributes);
    attributes[ATTR_MESSAGING_OPERATION_TYPE] = spanAttributes[ATTR_MESSAGING_OPERATION_TYPE];
    const sent = metricAttributes(spanAttributes);
    if (failed) attributes[ATTR_ERROR_TYPE] = sent[ATTR_ERROR_TYPE] = type ?? errorType(error);
    instruments.operationDuration.record((performance.now() - started) / 1e3, attributes);
    instruments.sent.add(count, sent);
  };
}

/**
 * Counts a delivery, or a batch of them (`undefined` while metrics are off), and its time in queue when `publishedAt` is known) now, and on its end
 * records `messaging.process.duration`, or the operation duration for a `receive`.
 */
export function measureReceive(instruments: Instruments | undefined, spanAttributes: Attributes, info: Pick<OperationInfo, 'type' | 'publishedAt'>): OnEnd | undefined {
  if (instruments === undefined) return undefined;
  const started = performance.now();
  const attributes = metricAttributes(spanAttributes);
  instruments.consumed.add(Number(spanAttributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] ?? 1), attributes);
  if (info.publishedAt !== undefined) instruments.timeInQueue.record(Math.max(0, Date.now() - info.publishedAt) / 1e3, attributes);
  return function recordReceive(error, failed, type) {
    const ended = failed ? { ...attributes, [ATTR_ERROR_TYPE]: type ?? errorType(error) } : attributes;
    const seconds = (performance.now() - started) / 1e3;
    if (info.type === 'process') instruments.processDuration.record(seconds, ended);
    else instruments.operationDuration.record(seconds, { ...ended, [ATTR_MESSAGING_OPERATION_TYPE]: info.type });
  };
}

/**
 * Records an operation whose attributes are known only at its end (a `receive` learns
 * its message then): `messaging.client.operation.duration` since `started`, with
 * `error.type` when `failure` names one, and, for a message received, a consumed message.
 */
export function recordOperation(instruments: Instruments, spanAttributes: Attributes, started: number, failure: string | undefined, received: boolean): void {
  const attributes = metricAttributes(spanAttributes);
  if (received) instruments.consumed.add(1, attributes);
  const duration: Attributes = { ...attributes, [ATTR_MESSAGING_OPERATION_TYPE]: spanAttributes[ATTR_MESSAGING_OPERATION_TYPE] };
  if (failure !== undefined) duration[ATTR_ERROR_TYPE] = failure;
  instruments.operationDuration.record((performance.now() - started) / 1e3, duration);
}

/**
 * Calls `fn.call(thisArg, a, b)` with `ctx` active (or in the current context when `ctx` is
 * undefined) and ends `span` when it returns, throws or settles, recording a failure on the
 * span before the error goes on unchanged; then calls `onEnd`. A span that is not recording,
 * without `onEnd`, ends as soon as `fn` returns a promise, which is returned as it is: nothing
 * waits for it to settle. Arguments are passed through rather than captured in a closure:
 * this runs for every message. Every adapter's span lifecycle goes through here.
 */
export function runInSpan<T, A, B, R>(span: Span, ctx: Context | undefined, fn: (this: T, a: A, b: B) => R, thisArg: T, a: A, b: B, onEnd: OnEnd | undefined): R {
  let result: R;
  try {
    if (ctx === undefined) result = fn.call(thisArg, a, b);
    else result = thisArg === undefined ? context.with(ctx, fn, undefined, a, b) : context.with(ctx, callMethod<T, A, B, R>, undefined, fn, thisArg, a, b);
  } catch (error) {
    endSpan(span, onEnd, error, true);
    throw error;
  }
  if (!isPromiseLike(result)) {
    endSpan(span, onEnd, undefined, false);
    return result;
  }
  // The caller then gets `result` itself rather than a promise chained to it for every message.
  if (endsUnawaited(span, onEnd)) return result;
  return endWhenSettled(result, span, onEnd) as R;
}

/**
 * Ends `span` now, and says so, when nothing needs the end of the work it covers: a span that
 * records nothing (sampled out: most of production traffic) keeps no end time and no error,
 * and with metrics off (`onEnd` undefined) nothing else waits for the settle or the confirm.
 */
export function endsUnawaited(span: Span, onEnd: OnEnd | undefined): boolean {
  if (onEnd !== undefined || span.isRecording()) return false;
  closeSpan(span);
  return true;
}

/**
 * Calls `fn` with `thisArg` as `this`. A context manager's `with(ctx, fn, thisArg)` binds `fn`
 * to `thisArg` anew on every call (AsyncLocalStorageContextManager's `fn.bind(thisArg)`): a
 * method called through this, with no `this` to bind, costs no bound function per message.
 */
function callMethod<T, A, B, R>(fn: (this: T, a: A, b: B) => R, thisArg: T, a: A, b: B): R {
  return fn.call(thisArg, a, b);
}

/**
 * Ends `span` once `pending` settles, then resolves or rejects as it did. Two callbacks on
 * `then` rather than an async function that awaits: measured side by side, the async
 * function's suspended frame costs more per message than the two closures.
 */
function endWhenSettled<V>(pending: PromiseLike<V>, span: Span, onEnd: OnEnd | undefined): Promise<V> {
  return Promise.resolve(pending).then(
    (value) => {
      endSpan(span, onEnd, undefined, false);
      return value;
    },
    (error: unknown) => {
      endSpan(span, onEnd, error, true);
      throw error;
    },
  );
}

/** Ends `span`, recording `error` on it first when `failed`, then calls `onEnd` (the operation's metrics). */
export function endSpan(span: Span, onEnd: OnEnd | undefined, error: unknown, failed: boolean, type?: string): void {
  if (failed) {
    // The span ends even if recording fails in a way nothing foresaw: the error goes on unchanged.
    try {
      recordError(span, error, type);
    } catch (problem) {
      diag.error('tracebus: could not record an error on a span', problem);
    }
  }
  closeSpan(span);
  onEnd?.(error, failed, type);
}

/**
 * `tracer.startSpan(name, options, parent)`, which never throws. The SDK runs every span
 * processor's `onStart` inside it; when one throws, the operation goes on in a span that
 * records nothing and carries the parent's context, so that the trace still propagates.
 */
export function openSpan(tracer: Tracer, name: string, options: SpanOptions, parent: Context): Span {
  try {
    return tracer.startSpan(name, options, parent);
  } catch (problem) {
    reportProblem('TRACEBUS_TELEMETRY_FAILED', 'tracebus: the OpenTelemetry SDK threw while starting a span (a span processor?); the message goes on without it', problem, 'error');
    return trace.wrapSpanContext(trace.getSpanContext(parent) ?? INVALID_SPAN_CONTEXT);
  }
}

/**
 * `span.end()`, which never throws. The SDK runs every span processor's `onEnd` inside it: one
 * that throws must not turn a message's success into a failure, nor keep a confirm or the rest
 * of a send from the caller.
 */
export function closeSpan(span: Span): void {
  try {
    span.end();
  } catch (problem) {
    reportProblem('TRACEBUS_TELEMETRY_FAILED', 'tracebus: the OpenTelemetry SDK threw while ending a span (a span processor?); the message goes on', problem, 'error');
  }
}

/**
 * Whether `value` is a promise or another thenable. Never throws: a value whose `then` cannot be
 * read (a strict Proxy) is a plain value, so that a span whose end depends on it still ends.
 */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return false;
  try {
    return typeof (value as PromiseLike<unknown>).then === 'function';
  } catch {
    return false;
  }
}

/** The spans tracebus recorded a failure on, for {@link hasFailed}. */
const failedSpans = new WeakSet<Span>();

/** Whether tracebus recorded a failure on `span` (its operation threw or rejected). */
export function hasFailed(span: Span): boolean {
  return failedSpans.has(span);
}

/**
 * Records `error` on `span`: status ERROR, `error.type` (`type`, else the error's class) and an
 * exception event, each on its own, so that a thrown value that resists being read (one without
 * a prototype, or with throwing getters) still marks the span as failed.
 */
export function recordError(span: Span, error: unknown, type?: string): void {
  failedSpans.add(span);
  const message = describeError(error);
  guarded(() => span.setStatus({ code: SpanStatusCode.ERROR, message }));
  guarded(() => span.setAttribute(ATTR_ERROR_TYPE, type ?? errorType(error)));
  guarded(() => span.recordException(isErrorLike(error) ? error : message));
}

/**
 * Text for a thrown value: an Error's message (of any realm), a plain object's string `message`,
 * else `String(value)`. Never throws, whatever was thrown.
 */
export function describeError(error: unknown): string {
  return isErrorLike(error) ? safeString(() => error.message) : describeThrown(error);
}

function guarded(record: () => void): void {
  try {
    record();
  } catch (problem) {
    diag.error('tracebus: could not record an error on a span', problem);
  }
}

/** A low-cardinality name for `error`: its class name, else `_OTHER`. Never throws. */
export function errorType(error: unknown): string {
  if (!isErrorLike(error)) return '_OTHER';
  try {
    const name = error.constructor?.name;
    return name && name !== 'Object' ? name : error.name || '_OTHER';
  } catch {
    return '_OTHER';
  }
}

/**
 * Whether `error` is an Error, from this realm or another (a `vm` context, a test runner's
 * sandbox), where `instanceof Error` is false. Never throws: `instanceof` does, on a revoked
 * Proxy or one whose `getPrototypeOf` trap throws, which is then no Error.
 */
function isErrorLike(error: unknown): error is Error {
  try {
    return error instanceof Error || isAnyRealmError(error);
  } catch {
    return false;
  }
}

// `Error.isError` where the runtime has it (Node.js 24); `util.types.isNativeError` before, which
// Node.js documents as superseded by it.
const isAnyRealmError: (value: unknown) => boolean = (Error as { isError?: (value: unknown) => boolean }).isError ?? types.isNativeError;

/** Text for a thrown value that is not an Error: its `message` when it has a string one, else `String(value)`, never a throw. */
function describeThrown(value: unknown): string {
  return safeString(() => {
    const message = value !== null && typeof value === 'object' ? (value as { message?: unknown }).message : undefined;
    return typeof message === 'string' ? message : String(value);
  });
}

function safeString(read: () => unknown): string {
  try {
    const text = read();
    return typeof text === 'string' ? text : String(text);
  } catch {
    return '(a thrown value that cannot be read)';
  }
}


/**
 * Runs a user hook; a hook that throws goes to `diag` and never to the caller. So does an async
 * hook's rejection, which would otherwise be an unhandled rejection, and end the process.
 */
export function runHook<M>(hook: SpanHook<M>, span: Span, message: M, which: 'producerHook' | 'consumerHook'): void {
  try {
    const result: unknown = hook(span, message);
    if (isPromiseLike(result)) Promise.resolve(result).then(undefined, HOOK_FAILED[which]);
  } catch (error) {
    HOOK_FAILED[which](error);
  }
}

const hookFailed = (which: string) => (error: unknown) => reportProblem('TRACEBUS_HOOK_FAILED', `tracebus: ${which} threw; the span goes on without its attributes`, error, 'error');
const HOOK_FAILED = { producerHook: hookFailed('producerHook'), consumerHook: hookFailed('consumerHook') };
