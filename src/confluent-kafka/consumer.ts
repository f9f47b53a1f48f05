import type { KafkaJS } from '@confluentinc/kafka-javascript';
import type { Handler } from '../core/compose.ts';
import type { BatchMessageTraceOf } from '../kafka/batch.ts';
import type { ConfiguredClient } from '../kafka/attributes.ts';
import type { ConsumerBinding } from '../kafka/client.ts';
import { consumerDecorator, eachBatchMiddleware, eachMessageMiddleware, type ConsumerOptionsOf, type EachBatchHandlerOf, type KafkaRecordOf, type TracedConsumerOf, type TracedEachBatchOf, type TracedEachMessageOf, type TracedRunConfigOf } from '../kafka/consumer.ts';
import type { ConfluentClientOptions } from './attributes.ts';
import { configuredClient, librdkafkaConfig, setting } from './config.ts';

type Payload = KafkaJS.EachMessagePayload;
type BatchPayload = KafkaJS.EachBatchPayload;

/** One consumed message with where it came from: what policy functions and consumer hooks receive. */
export interface ConfluentRecord extends KafkaRecordOf<KafkaJS.KafkaMessage> {}

/**
 * Options of {@link traceConfluentConsumer}, {@link traceConfluentEachMessage} and
 * {@link traceConfluentEachBatch}: the tracing options, `brokers`/`clientId`/`bodySize`,
 * `groupId` (`traceConfluentConsumer` reads it, the brokers and the client id from the
 * consumer's configuration when `run()` is called; the middleware needs them given),
 * `policy` (default `parent`) and `consumerHook`.
 */
export interface ConfluentConsumerOptions extends Omit<ConsumerOptionsOf<KafkaJS.KafkaMessage>, 'brokers'>, ConfluentClientOptions {}

/** An `eachMessage` handler that also receives the trace of its `process` span. Plain handlers fit. */
export type ConfluentEachMessageHandler = Handler<Payload>;

/** An `eachBatch` handler that also receives the batch's trace and per-message helpers. Plain handlers fit. */
export type ConfluentEachBatchHandler = EachBatchHandlerOf<BatchPayload, KafkaJS.KafkaMessage>;

/** The traced handler to give the consumer as `eachMessage`; the optional second argument makes it a {@link Handler} too. */
export type TracedConfluentEachMessage = TracedEachMessageOf<Payload>;

/** The traced handler to give the consumer as `eachBatch`. */
export type TracedConfluentEachBatch = TracedEachBatchOf<BatchPayload>;

/** `consumer.run()`'s configuration, with handlers that may take the trace as a second argument. */
export type TracedConfluentRunConfig = TracedRunConfigOf<KafkaJS.ConsumerRunConfig, Payload, BatchPayload, KafkaJS.KafkaMessage>;

/** A `Consumer` of the KafkaJS API whose `run()` traces its handlers; usable wherever that `Consumer` is. */
export type TracedConfluentConsumer = TracedConsumerOf<KafkaJS.Consumer, TracedConfluentRunConfig>;

/**
 * What an `eachBatch` handler gets besides the client's payload: the batch span's trace, and
 * `forEachMessage(work, options?)` and `processMessage(message, work)`, which run each
 * message's work inside *that message's own* context, in a `process` span of its own.
 */
export interface ConfluentBatchMessageTrace extends BatchMessageTraceOf<KafkaJS.KafkaMessage> {}

const CONFLUENT_CONSUMER: ConsumerBinding<KafkaJS.Consumer> = {
  factories: { consumer: 'traceConfluentConsumer', eachMessage: 'traceConfluentEachMessage', eachBatch: 'traceConfluentEachBatch' },
  expects: "a consumer of @confluentinc/kafka-javascript's KafkaJS API, e.g. traceConfluentConsumer(options)(kafka.consumer({ kafkaJS: { groupId: 'billing' } }))",
  // No isRunning: this client tells no one whether run() was called (pause() works on any
  // connected consumer, and `on`/`events` throw "Not implemented").
  watchGroup: readGroupId,
  watchClient: readClient,
  // 1.10: the payload's isRunning() stays true after disconnect() (and stop() rejects with
  // "Not implemented").
  runsOnAfterDisconnect: true,
};

/**
 * `eachMessage` middleware: `traceConfluentEachMessage(options)(handler)` returns the
 * function to pass to `consumer.run({ eachMessage })`. Each message runs in a CONSUMER span
 * `process <topic>` with the consumer group (the `groupId` option), partition, offset, key
 * and tombstone, placed in the trace by `policy`. The handler runs in the span's context and
 * gets its `MessageTrace` as a second argument. A handler error is recorded and rethrown:
 * the client then seeks back and delivers the message again, a new span in the same trace
 * with `tracebus.kafka.attempt` (2, 3, …).
 *
 * @example
 * await consumer.run({
 *   eachMessage: traceConfluentEachMessage({ groupId: 'billing' })(async ({ message }, trace) => {
 *     log.info({ trace_id: trace.traceId }, 'charging');
 *   }),
 * });
 */
export function traceConfluentEachMessage(options?: ConfluentConsumerOptions): (handler: ConfluentEachMessageHandler) => TracedConfluentEachMessage {
  return eachMessageMiddleware(options, CONFLUENT_CONSUMER);
}

/**
 * `eachBatch` middleware: `traceConfluentEachBatch(options)(handler)` returns the function
 * to pass to `consumer.run({ eachBatch })`. Each batch (this client makes batches of up to
 * `js.consumer.max.batch.size` messages of one partition, 32 by default) runs in a CONSUMER
 * span `process <topic>` with no parent and a link to each message's producer context; the
 * handler's second argument runs each message's work in that message's own context
 * (`forEachMessage`, `processMessage`). A handler error is recorded and rethrown. This
 * client's batches answer `isRunning()` true after `disconnect()`, and the middleware never
 * sees the consumer: its `forEachMessage` goes on through the batch after a `disconnect()`, also
 * when the handler is passed to {@link traceConfluentConsumer}'s `run()`, which takes it as it
 * is. Some of the offsets it resolves then may be committed, the rest are not, and those
 * messages are delivered again (docs/kafkajs.md).
 *
 * @example
 * await consumer.run({
 *   eachBatch: traceConfluentEachBatch({ groupId: 'indexer' })(async ({ batch }, trace) => {
 *     await trace.forEachMessage(async (message, messageTrace) => index(message.value, messageTrace.traceId));
 *   }),
 * });
 */
export function traceConfluentEachBatch(options?: ConfluentConsumerOptions): (handler: ConfluentEachBatchHandler) => TracedConfluentEachBatch {
  return eachBatchMiddleware(options, CONFLUENT_CONSUMER);
}

/**
 * A consumer decorator for the KafkaJS API of `@confluentinc/kafka-javascript`:
 * `traceConfluentConsumer(options)(consumer)` returns an object that behaves like `consumer`
 * (every method delegates to it) whose `run({ eachMessage })` and `run({ eachBatch })` trace
 * the handlers as {@link traceConfluentEachMessage} and {@link traceConfluentEachBatch} do.
 * Handlers written for the plain client keep working; they may take the trace as a second
 * argument. The consumer group is read from the consumer's configuration (`kafkaJS.groupId`
 * or `group.id`) when `run()` is called, unless the `groupId` option sets it; so are the
 * bootstrap brokers (`kafkaJS.brokers` or `bootstrap.servers`, the first of which becomes
 * `server.address` and `server.port`) and the client id (`kafkaJS.clientId` or `client.id`,
 * `messaging.client.id`), unless the `brokers` and `clientId` options set them. Wrap the
 * consumer before calling `run()`: this client cannot tell whether it runs already, and
 * handlers given to an earlier `run()` are not traced.
 *
 * This client's batches answer `isRunning()` true after `disconnect()`, so the traced consumer
 * tells `forEachMessage` itself, for a `run()` given `eachBatchAutoResolve: false` (any falsy
 * value of the object's own property, as the client reads it): once `disconnect()` is called on
 * the traced consumer, the loop of each `eachBatch` handler it wrapped for such a run stops
 * before the next message, and only what it resolved is committed; the rest is delivered again.
 * Otherwise the loop goes on through the batch, as untraced: with the client's default the
 * client resolves the batch's last offset when the handler returns and may commit it, so
 * stopping early would skip the messages not reached. It goes on too for a handler already
 * wrapped with {@link traceConfluentEachBatch}, which is taken as it is, and for a
 * `disconnect()` called on the consumer itself. The traced consumer's `disconnect()` calls the
 * consumer's, as it is at the call, and returns what it returns.
 *
 * @example
 * const consumer = traceConfluentConsumer()(kafka.consumer({ kafkaJS: { groupId: 'billing', fromBeginning: true } }));
 * await consumer.connect();
 * await consumer.subscribe({ topics: ['orders'] });
 * await consumer.run({
 *   eachMessage: async ({ message }, trace) => charge(message, trace.traceId),
 * });
 */
export function traceConfluentConsumer(options?: ConfluentConsumerOptions): (consumer: KafkaJS.Consumer) => TracedConfluentConsumer {
  return consumerDecorator(options, CONFLUENT_CONSUMER);
}

/** The consumer's `group.id`, read when `run()` is called (after `connect()`, which made the configuration). */
function readGroupId(consumer: KafkaJS.Consumer, learn: (groupId: string) => void, when: 'wrapped' | 'run'): void {
  if (when !== 'run') return;
  const config = librdkafkaConfig(consumer);
  const groupId = config == null ? undefined : setting(config, 'group.id');
  if (groupId !== undefined) learn(groupId);
}

/**
 * The consumer's bootstrap brokers and `client.id`, read when `run()` is called, as the group is:
 * spans get `server.*` and `messaging.client.id` without the `brokers` and `clientId` options.
 */
function readClient(consumer: KafkaJS.Consumer, learn: (configured: ConfiguredClient) => void, when: 'wrapped' | 'run'): void {
  if (when !== 'run') return;
  const config = librdkafkaConfig(consumer);
  if (config != null) learn(configuredClient(config));
}
