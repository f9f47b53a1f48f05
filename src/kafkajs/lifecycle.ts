import { context, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { recordError, errorType, type MessagingTracer } from '../core/messaging-tracer.ts';
import { metricAttributes } from '../core/metrics.ts';
import { ATTR_ERROR_TYPE, ATTR_MESSAGING_BATCH_MESSAGE_COUNT, ATTR_MESSAGING_OPERATION_TYPE } from '../core/semconv.ts';

/** Called once an operation has ended, with its error if it failed. */
export type OnEnd = (error: unknown, failed: boolean) => void;

/**
 * Calls `fn.call(thisArg, a, b)` with `ctx` active and ends `span` when it returns, throws
 * or settles, recording a failure on the span before the error goes on unchanged.
 * Arguments are passed through rather than captured: this runs once per send and per
 * processed message.
 */
export function runInSpan<T, A, B, R>(span: Span, ctx: Context, fn: (this: T, a: A, b: B) => R, thisArg: T, a: A, b: B, onEnd: OnEnd | undefined): R {
  let result: R;
  try {
    result = context.with(ctx, fn, thisArg, a, b);
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

export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function';
}

// The span attributes metrics keep: the low-cardinality ones semconv lists for metrics.
const METRIC_ATTRIBUTES = [
  'messaging.system.name',
  'messaging.system',
  'messaging.operation.name',
  'messaging.destination.name',
  'messaging.consumer.group.name',
  'messaging.destination.partition.id',
  'server.address',
  'server.port',
];

/**
 * Records `messaging.client.operation.duration` and `messaging.client.sent.messages` for a
 * send whose span has `spanAttributes`; `undefined` while metrics are off.
 */
export function measureSend(tracer: MessagingTracer, spanAttributes: Attributes, count: number): OnEnd | undefined {
  const instruments = tracer.instruments();
  if (instruments === undefined) return undefined;
  const started = performance.now();
  return function recordSend(error, failed) {
    const attributes = metricAttributes(spanAttributes, METRIC_ATTRIBUTES);
    if (!failed) instruments.sent.add(count, attributes);
    const duration: Attributes = { ...attributes, [ATTR_MESSAGING_OPERATION_TYPE]: spanAttributes[ATTR_MESSAGING_OPERATION_TYPE] };
    if (failed) duration[ATTR_ERROR_TYPE] = errorType(error);
    instruments.operationDuration.record((performance.now() - started) / 1e3, duration);
  };
}

/**
 * Records `messaging.client.consumed.messages` now and `messaging.process.duration` when
 * the batch's processing ends; `undefined` while metrics are off.
 */
export function measureBatch(tracer: MessagingTracer, spanAttributes: Attributes): OnEnd | undefined {
  const instruments = tracer.instruments();
  if (instruments === undefined) return undefined;
  const started = performance.now();
  const attributes = metricAttributes(spanAttributes, METRIC_ATTRIBUTES);
  instruments.consumed.add(Number(spanAttributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] ?? 0), attributes);
  return function recordBatch(error, failed) {
    instruments.processDuration.record((performance.now() - started) / 1e3, failed ? { ...attributes, [ATTR_ERROR_TYPE]: errorType(error) } : attributes);
  };
}
