import { context, diag, SpanStatusCode, type Attributes, type Context, type Span } from '@opentelemetry/api';
import type { OperationInfo } from './messaging-tracer.ts';
import { metricAttributes, type Instruments } from './metrics.ts';
import {
  ATTR_ERROR_TYPE,
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from './semconv.ts';

/** Called once an operation has ended, with its error if it failed. */
export type OnEnd = (error: unknown, failed: boolean) => void;

/** Span attributes that metrics keep: the low-cardinality ones semconv lists for metrics (both system names, for the legacy and dual semconv modes). */
export const METRIC_ATTRIBUTES: readonly string[] = [
  'messaging.system.name',
  'messaging.system',
  'messaging.operation.name',
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
];

/**
 * Times a send (`undefined` while metrics are off): on its end, `messaging.client.operation.duration` (with `error.type` when it
 * failed) and, on success, `messaging.client.sent.messages` — one per message of a batch.
 */
export function measureSend(instruments: Instruments | undefined, spanAttributes: Attributes, count = Number(spanAttributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] ?? 1)): OnEnd | undefined {
  if (instruments === undefined) return undefined;
  const started = performance.now();
  return function recordSend(error, failed) {
    const attributes = metricAttributes(spanAttributes, METRIC_ATTRIBUTES);
    attributes[ATTR_MESSAGING_OPERATION_TYPE] = spanAttributes[ATTR_MESSAGING_OPERATION_TYPE];
    if (failed) attributes[ATTR_ERROR_TYPE] = errorType(error);
    instruments.operationDuration.record((performance.now() - started) / 1e3, attributes);
    if (!failed) instruments.sent.add(count, metricAttributes(spanAttributes, METRIC_ATTRIBUTES));
  };
}

/**
 * Counts a delivery, or a batch of them (`undefined` while metrics are off), and its time in queue when `publishedAt` is known) now, and on its end
 * records `messaging.process.duration`, or the operation duration for a `receive`.
 */
export function measureReceive(instruments: Instruments | undefined, spanAttributes: Attributes, info: Pick<OperationInfo, 'type' | 'publishedAt'>): OnEnd | undefined {
  if (instruments === undefined) return undefined;
  const started = performance.now();
  const attributes = metricAttributes(spanAttributes, METRIC_ATTRIBUTES);
  instruments.consumed.add(Number(spanAttributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] ?? 1), attributes);
  if (info.publishedAt !== undefined) instruments.timeInQueue.record(Math.max(0, Date.now() - info.publishedAt) / 1e3, attributes);
  return function recordReceive(error, failed) {
    const ended = failed ? { ...attributes, [ATTR_ERROR_TYPE]: errorType(error) } : attributes;
    const seconds = (performance.now() - started) / 1e3;
    if (info.type === 'process') instruments.processDuration.record(seconds, ended);
    else instruments.operationDuration.record(seconds, { ...ended, [ATTR_MESSAGING_OPERATION_TYPE]: info.type });
  };
}

/**
 * Calls `fn.call(thisArg, a, b)` with `ctx` active (or in the current context when `ctx` is
 * undefined) and ends `span` when it returns, throws or settles, recording a failure on the
 * span before the error goes on unchanged; then calls `onEnd`. Arguments are passed through
 * rather than captured in a closure: this runs for every message. Every adapter's span
 * lifecycle goes through here.
 */
export function runInSpan<T, A, B, R>(span: Span, ctx: Context | undefined, fn: (this: T, a: A, b: B) => R, thisArg: T, a: A, b: B, onEnd: OnEnd | undefined): R {
  let result: R;
  try {
    result = ctx === undefined ? fn.call(thisArg, a, b) : context.with(ctx, fn, thisArg, a, b);
  } catch (error) {
    ended(span, onEnd, error, true);
    throw error;
  }
  if (!isPromiseLike(result)) {
    ended(span, onEnd, undefined, false);
    return result;
  }
  return result.then(
    function settled(value) {
      ended(span, onEnd, undefined, false);
      return value;
    },
    function failed(error: unknown) {
      ended(span, onEnd, error, true);
      throw error;
    },
  ) as R;
}

function ended(span: Span, onEnd: OnEnd | undefined, error: unknown, failed: boolean): void {
  if (failed) recordError(span, error);
  span.end();
  onEnd?.(error, failed);
}

/** Whether `value` is a promise or another thenable. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}

/** Records `error` on `span`: exception event, status ERROR and `error.type`. */
export function recordError(span: Span, error: unknown): void {
  try {
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    span.setAttribute(ATTR_ERROR_TYPE, errorType(error));
  } catch (problem) {
    diag.error('tracebus: could not record an error on a span', problem);
  }
}

/** A low-cardinality name for `error`: its class name, else `_OTHER`. */
export function errorType(error: unknown): string {
  if (error instanceof Error) {
    const name = error.constructor?.name;
    return name && name !== 'Object' ? name : error.name || '_OTHER';
  }
  return '_OTHER';
}

