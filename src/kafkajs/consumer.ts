import type { Consumer, ConsumerRunConfig, EachBatchPayload, EachMessagePayload, KafkaMessage } from 'kafkajs';
import type { Handler } from '../core/compose.ts';
import type { BatchMessageTraceOf } from '../kafka/batch.ts';
import type { ConsumerBinding } from '../kafka/client.ts';
import { consumerDecorator, eachBatchMiddleware, eachMessageMiddleware, type ConsumerOptionsOf, type EachBatchHandlerOf, type KafkaRecordOf, type TracedConsumerOf, type TracedEachBatchOf, type TracedEachMessageOf, type TracedRunConfigOf } from '../kafka/consumer.ts';

/** One consumed message with where it came from: what policy functions and consumer hooks receive. */
export interface KafkaRecord extends KafkaRecordOf<KafkaMessage> {}

/**
 * Options of {@link traceConsumer}, {@link traceEachMessage} and {@link traceEachBatch}: the
 * tracing options, `brokers`/`clientId`/`bodySize`, `groupId` (`traceConsumer` learns it
 * when the consumer joins its group), `policy` (default `parent`) and `consumerHook`.
 */
export interface KafkaConsumerOptions extends ConsumerOptionsOf<KafkaMessage> {}

/** An `eachMessage` handler that also receives the trace of its `process` span. Plain kafkajs handlers fit. */
export type EachMessageTracedHandler = Handler<EachMessagePayload>;

/** An `eachBatch` handler that also receives the batch's trace and per-message helpers. Plain kafkajs handlers fit. */
export type EachBatchTracedHandler = EachBatchHandlerOf<EachBatchPayload, KafkaMessage>;

/**
 * The traced handler to give kafkajs as `eachMessage`. The optional second argument makes
 * it a {@link Handler} too, so it composes with other middleware; tracing ignores it.
 */
export type TracedEachMessage = TracedEachMessageOf<EachMessagePayload>;

/** The traced handler to give kafkajs as `eachBatch`. */
export type TracedEachBatch = TracedEachBatchOf<EachBatchPayload>;

/** `consumer.run()`'s configuration, with handlers that may take the trace as a second argument. */
export type TracedRunConfig = TracedRunConfigOf<ConsumerRunConfig, EachMessagePayload, EachBatchPayload, KafkaMessage>;

/** A kafkajs `Consumer` whose `run()` traces its handlers; usable wherever a `Consumer` is. */
export type TracedConsumer = TracedConsumerOf<Consumer, TracedRunConfig>;

/**
 * What an `eachBatch` handler gets besides kafkajs' payload: the batch span's trace, and
 * `forEachMessage(work, options?)` and `processMessage(message, work)`, which run each
 * message's work inside *that message's own* context, in a `process` span of its own.
 */
export interface BatchMessageTrace extends BatchMessageTraceOf<KafkaMessage> {}

const KAFKAJS_CONSUMER: ConsumerBinding<Consumer> = {
  factories: { consumer: 'traceConsumer', eachMessage: 'traceEachMessage', eachBatch: 'traceEachBatch' },
  expects: "a kafkajs consumer, e.g. traceConsumer(options)(kafka.consumer({ groupId: 'billing' }))",
  otherClient: confluentConsumer,
  isRunning,
  watchGroup,
};

/**
 * A consumer of @confluentinc/kafka-javascript's KafkaJS API, told by the methods kafkajs has
 * not: it looks like a kafkajs consumer, but throws on `events` and answers `pause([])` at any
 * time, which would read as a consumer running already.
 */
function confluentConsumer(consumer: Consumer): string | undefined {
  const candidate = consumer as unknown as { _getInternalClient?: unknown; dependentAdmin?: unknown };
  if (typeof candidate._getInternalClient !== 'function' || typeof candidate.dependentAdmin !== 'function') return undefined;
  return "tracebus: traceConsumer(options)(consumer) is for kafkajs; this is a consumer of @confluentinc/kafka-javascript: trace it with traceConfluentConsumer(options)(consumer) from 'tracebus/confluent-kafka'";
}

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
 * context active and gets its {@link MessageTrace} as a second argument.
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
export function traceEachMessage(options?: KafkaConsumerOptions): (handler: EachMessageTracedHandler) => TracedEachMessage {
  return eachMessageMiddleware(options, KAFKAJS_CONSUMER);
}

/**
 * `eachBatch` middleware: `traceEachBatch(options)(handler)` returns the function to pass
 * to `consumer.run({ eachBatch })`.
 *
 * Each batch runs in a CONSUMER span `process <topic>` with `messaging.batch.message_count`,
 * the partition and the consumer group. Following semconv for batches it has no parent
 * and links to each message's producer context (at most `maxLinks`; the number left out
 * is `tracebus.links.dropped_count`). The handler gets kafkajs' payload untouched and, as
 * its second argument, a {@link BatchMessageTrace} whose `forEachMessage(work)` and
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
export function traceEachBatch(options?: KafkaConsumerOptions): (handler: EachBatchTracedHandler) => TracedEachBatch {
  return eachBatchMiddleware(options, KAFKAJS_CONSUMER);
}

/**
 * A consumer decorator: `traceConsumer(options)(consumer)` returns an object that behaves
 * like `consumer` (every method delegates to it) whose `run({ eachMessage })` and
 * `run({ eachBatch })` trace the handlers as {@link traceEachMessage} and
 * {@link traceEachBatch} do. Handlers written for plain kafkajs keep working; they may
 * take the trace as a second argument. The consumer group is learnt when the consumer
 * joins it, unless the `groupId` option sets it. Wrap the consumer before `run()`: a
 * consumer that is running already throws, as its handlers could not be traced.
 *
 * @example
 * const consumer = traceConsumer()(kafka.consumer({ groupId: 'billing' }));
 * await consumer.connect();
 * await consumer.subscribe({ topics: ['orders'] });
 * await consumer.run({
 *   eachMessage: async ({ message }, trace) => charge(message, trace.traceId),
 * });
 */
export function traceConsumer(options?: KafkaConsumerOptions): (consumer: Consumer) => TracedConsumer {
  return consumerDecorator(options, KAFKAJS_CONSUMER);
}

/**
 * Whether `consumer.run()` was called and the consumer not stopped since. kafkajs has no
 * public flag for it; `pause([])` is the one call that throws before `run()` and does
 * nothing after it (no topic is paused).
 */
function isRunning(consumer: Consumer): boolean {
  if (typeof consumer.pause !== 'function') return false;
  try {
    consumer.pause([]);
    return true;
  } catch {
    return false;
  }
}

/** Listens for the consumer's group join, which names the group, so spans can carry it. */
function watchGroup(consumer: Consumer, learn: (groupId: string) => void, when: 'wrapped' | 'run'): void {
  const event = consumer.events?.GROUP_JOIN;
  if (when !== 'wrapped' || typeof consumer.on !== 'function' || typeof event !== 'string') return;
  consumer.on(event, function groupJoined(joined) {
    const groupId = joined?.payload?.groupId;
    if (typeof groupId === 'string') learn(groupId);
  });
}
