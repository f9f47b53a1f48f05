import type { Consumer, ConsumerRunConfig, EachBatchPayload, EachMessagePayload } from 'kafkajs';
import type { Handler } from '../core/compose.ts';
import { assertPolicyOption, MessagingTracer } from '../core/messaging-tracer.ts';
import type { TraceContext } from '../core/trace-context.ts';
import { clientAttributes, KAFKA_SYSTEM } from './attributes.ts';
import { delegateTo } from './delegate.ts';
import { isPromiseLike } from '../core/lifecycle.ts';
import { Attempts, ConsumerSpans, type BatchTraceContext, type ConsumerTracingOptions } from './process.ts';

/** An `eachMessage` handler that also receives the trace of its `process` span. Plain kafkajs handlers fit. */
export type EachMessageTracedHandler = Handler<EachMessagePayload>;

/** An `eachBatch` handler that also receives the batch's trace and per-message helpers. Plain kafkajs handlers fit. */
export type EachBatchTracedHandler = (payload: EachBatchPayload, trace: BatchTraceContext) => unknown;

/**
 * The traced handler to give kafkajs as `eachMessage`. The optional second argument makes
 * it a {@link Handler} too, so it composes with other middleware; tracing ignores it.
 */
export type TracedEachMessage = (payload: EachMessagePayload, trace?: TraceContext) => Promise<void>;

/** The traced handler to give kafkajs as `eachBatch`. */
export type TracedEachBatch = (payload: EachBatchPayload) => Promise<void>;

/** `consumer.run()`'s configuration, with handlers that may take the trace as a second argument. */
export type TracedRunConfig = Omit<ConsumerRunConfig, 'eachMessage' | 'eachBatch'> & {
  eachMessage?: EachMessageTracedHandler;
  eachBatch?: EachBatchTracedHandler;
};

/** A kafkajs `Consumer` whose `run()` traces its handlers; usable wherever a `Consumer` is. */
export type TracedConsumer = Omit<Consumer, 'run'> & {
  run(config?: TracedRunConfig): Promise<void>;
};

const RESOLVED: Promise<void> = Promise.resolve();
const tracedHandlers = new WeakSet<object>();
const tracedConsumers = new WeakSet<object>();

/**
 * `eachMessage` middleware: `traceEachMessage(options)(handler)` returns the function to
 * pass to `consumer.run({ eachMessage })`.
 *
 * Each message runs in a CONSUMER span `process <topic>` with `messaging.consumer.group.name`
 * (the `groupId` option), the partition, `kafka.offset`, `kafka.message.key` (not for
 * `null` keys) and `kafka.message.tombstone`, placed in the trace by `policy` (default: a
 * child of the producer's span). Trace headers are read whether kafkajs hands them over
 * as Buffers or strings; a repeated `traceparent` (an array) or a malformed one starts a
 * new trace, and the message is processed as usual. The handler runs with the span's
 * context active and gets its {@link TraceContext} as a second argument.
 *
 * A handler error is recorded on the span (exception, status ERROR, `error.type`) and
 * rethrown unchanged, so kafkajs retries and commits offsets exactly as it would without
 * tracing. The retry is a new span in the same trace; it carries `tracebus.kafka.attempt`
 * (2, 3, …) when the handler sees the same offset again right after.
 *
 * @example
 * await consumer.run({
 *   eachMessage: traceEachMessage({ groupId: 'billing' })(async ({ message }, trace) => {
 *     log.info({ trace_id: trace.traceId }, 'charging');
 *     await charge(JSON.parse(message.value!.toString()));
 *   }),
 * });
 */
export function traceEachMessage(options: ConsumerTracingOptions = {}): (handler: EachMessageTracedHandler) => TracedEachMessage {
  const spans = consumerSpans(options, 'traceEachMessage');
  return function traceHandler(handler) {
    if (typeof handler !== 'function') throw new TypeError('tracebus: traceEachMessage(options)(handler) needs a handler function (payload, trace) => …');
    return eachMessageOf(spans, handler);
  };
}

/**
 * `eachBatch` middleware: `traceEachBatch(options)(handler)` returns the function to pass
 * to `consumer.run({ eachBatch })`.
 *
 * Each batch runs in a CONSUMER span `process <topic>` with `messaging.batch.message_count`,
 * the partition and the consumer group. Following semconv for batches it has no parent
 * and links to each message's producer context (at most `maxLinks`; the number left out
 * is `tracebus.links.dropped_count`). The handler gets kafkajs' payload untouched and, as
 * its second argument, a {@link BatchTraceContext} whose `forEachMessage(work)` and
 * `processMessage(message, work)` run each message's work inside *that message's own*
 * context, in a `process` span of its own. A handler error is recorded and rethrown.
 *
 * @example
 * await consumer.run({
 *   eachBatch: traceEachBatch({ groupId: 'indexer' })(async ({ batch }, trace) => {
 *     await trace.forEachMessage(async (message, messageTrace) => {
 *       await index(message.value, { traceId: messageTrace.traceId });
 *     });
 *   }),
 * });
 */
export function traceEachBatch(options: ConsumerTracingOptions = {}): (handler: EachBatchTracedHandler) => TracedEachBatch {
  const spans = consumerSpans(options, 'traceEachBatch');
  return function traceHandler(handler) {
    if (typeof handler !== 'function') throw new TypeError('tracebus: traceEachBatch(options)(handler) needs a handler function (payload, trace) => …');
    return eachBatchOf(spans, handler);
  };
}

/**
 * Traces a consumer in one line: returns an object that behaves like `consumer` (every
 * method delegates to it) whose `run({ eachMessage })` and `run({ eachBatch })` trace the
 * handlers as {@link traceEachMessage} and {@link traceEachBatch} do. Handlers written for
 * plain kafkajs keep working; they may take the trace as a second argument. The consumer
 * group is learnt when the consumer joins it, unless the `groupId` option sets it.
 *
 * @example
 * const consumer = traceConsumer(kafka.consumer({ groupId: 'billing' }));
 * await consumer.connect();
 * await consumer.subscribe({ topics: ['orders'] });
 * await consumer.run({
 *   eachMessage: async ({ message }, trace) => charge(message, trace.traceId),
 * });
 */
export function traceConsumer(consumer: Consumer, options: ConsumerTracingOptions = {}): TracedConsumer {
  if (consumer === null || typeof consumer !== 'object' || typeof consumer.run !== 'function') {
    throw new TypeError("tracebus: traceConsumer(consumer) needs a kafkajs consumer, e.g. traceConsumer(kafka.consumer({ groupId: 'billing' }))");
  }
  if (tracedConsumers.has(consumer)) throw new TypeError('tracebus: this consumer is traced already; call traceConsumer() once per consumer');
  const spans = consumerSpans(options, 'traceConsumer');
  if (options.groupId === undefined) learnGroupId(consumer, spans);
  return delegateTo(
    consumer,
    {
      run: function run(config?: TracedRunConfig) {
        if (config === null || typeof config !== 'object') return consumer.run(config);
        const traced: ConsumerRunConfig = { ...(config as ConsumerRunConfig) };
        const { eachMessage, eachBatch } = config;
        if (typeof eachMessage === 'function' && !tracedHandlers.has(eachMessage)) traced.eachMessage = eachMessageOf(spans, eachMessage);
        if (typeof eachBatch === 'function' && !tracedHandlers.has(eachBatch)) traced.eachBatch = eachBatchOf(spans, eachBatch);
        return consumer.run(traced);
      },
    },
    tracedConsumers,
  ) as TracedConsumer;
}

function consumerSpans(options: ConsumerTracingOptions, factory: string): ConsumerSpans {
  if (options === null || typeof options !== 'object') throw new TypeError(`tracebus: ${factory}(options) takes an options object (or nothing)`);
  const { groupId, consumerHook } = options;
  if (groupId !== undefined && typeof groupId !== 'string') throw new TypeError(`tracebus: ${factory}({ groupId }) must be the consumer's groupId, a string`);
  if (consumerHook !== undefined && typeof consumerHook !== 'function') throw new TypeError(`tracebus: ${factory}({ consumerHook }) must be a function (span, { topic, partition, message }) => void`);
  assertPolicyOption(options.policy);
  return new ConsumerSpans(new MessagingTracer(KAFKA_SYSTEM, options), clientAttributes(options, factory), options);
}

function eachMessageOf(spans: ConsumerSpans, handler: EachMessageTracedHandler): TracedEachMessage {
  const attempts = new Attempts();
  return markTraced(function tracedEachMessage(payload: EachMessagePayload): Promise<void> {
    return settled(spans.processMessage, spans, payload, handler, attempts);
  });
}

function eachBatchOf(spans: ConsumerSpans, handler: EachBatchTracedHandler): TracedEachBatch {
  return markTraced(function tracedEachBatch(payload: EachBatchPayload): Promise<void> {
    return settled(spans.processBatch, spans, payload, handler, undefined);
  });
}

function markTraced<F extends object>(handler: F): F {
  tracedHandlers.add(handler);
  return handler;
}

/**
 * `fn.call(thisArg, a, b, c)` as the promise kafkajs expects: a synchronous throw becomes
 * a rejection, a synchronous result a resolved promise (one shared, not one per message).
 */
function settled<T, A, B, C>(fn: (this: T, a: A, b: B, c: C) => unknown, thisArg: T, a: A, b: B, c: C): Promise<void> {
  let result: unknown;
  try {
    result = fn.call(thisArg, a, b, c);
  } catch (error) {
    return Promise.reject(error);
  }
  return isPromiseLike(result) ? (result as Promise<void>) : RESOLVED;
}

/** Listens for the consumer's group join, which names the group, so spans can carry it. */
function learnGroupId(consumer: Consumer, spans: ConsumerSpans): void {
  const event = consumer.events?.GROUP_JOIN;
  if (typeof consumer.on !== 'function' || typeof event !== 'string') return;
  consumer.on(event, function groupJoined(joined) {
    const groupId = joined?.payload?.groupId;
    if (typeof groupId === 'string') spans.groupId = groupId;
  });
}
