import { context, ROOT_CONTEXT, type Attributes } from '@opentelemetry/api';
import type { Consumer, ConsumerRunConfig, EachBatchPayload, EachMessagePayload, KafkaMessage } from 'kafkajs';
import { checkHandler, checkOptions, checkTarget, isTraced, markTraced } from '../core/checks.ts';
import type { Handler } from '../core/compose.ts';
import { delegateTo } from '../core/delegate.ts';
import type { MessageHeaders } from '../core/headers.ts';
import { isPromiseLike } from '../core/lifecycle.ts';
import { activeMessageTrace, type MessageTrace } from '../core/message-trace.ts';
import { IDLE_MESSAGE_TRACE, MessagingTracer, type Placement } from '../core/messaging-tracer.ts';
import { originalOf } from '../core/overlap.ts';
import type { OperationInfo, SpanHook } from '../core/operation.ts';
import type { TracingOptions } from '../core/options.ts';
import { assertPolicyOption, type PolicyOption } from '../core/policy.ts';
import { ATTR_KAFKA_ATTEMPT, clientAttributes, consumedAttributes, KAFKA_SYSTEM, timestampOf, type ClientAttributes, type KafkaClientOptions } from './attributes.ts';
import { processBatch, type BatchMessageTrace } from './batch.ts';

/** One consumed message with where it came from: what policy functions and consumer hooks receive. */
export interface KafkaRecord {
  readonly topic: string;
  readonly partition: number;
  readonly message: KafkaMessage;
}

/** Options of {@link traceConsumer}, {@link traceEachMessage} and {@link traceEachBatch}. */
export interface KafkaConsumerOptions extends TracingOptions, KafkaClientOptions {
  /**
   * `messaging.consumer.group.name`: the consumer's `groupId`. `traceConsumer` learns it
   * when the consumer joins its group, so there it is needed only to override that.
   */
  groupId?: string;
  /**
   * Where each `process` span goes in the trace: `parent` (default: a child of the
   * producer's span), `link` (a new trace linked to it, keeping the message's baggage),
   * `root` (ignore the incoming context), or a function of the {@link KafkaRecord}.
   */
  policy?: PolicyOption<KafkaRecord>;
  /** Adds attributes to each span about one message. A hook that throws is reported to `diag`. */
  consumerHook?: SpanHook<KafkaRecord>;
}

/** An `eachMessage` handler that also receives the trace of its `process` span. Plain kafkajs handlers fit. */
export type EachMessageTracedHandler = Handler<EachMessagePayload>;

/** An `eachBatch` handler that also receives the batch's trace and per-message helpers. Plain kafkajs handlers fit. */
export type EachBatchTracedHandler = (payload: EachBatchPayload, trace: BatchMessageTrace) => unknown;

/**
 * The traced handler to give kafkajs as `eachMessage`. The optional second argument makes
 * it a {@link Handler} too, so it composes with other middleware; tracing ignores it.
 */
export type TracedEachMessage = (payload: EachMessagePayload, trace?: MessageTrace) => Promise<void>;

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
  const spans = consumerSpans(options, 'traceEachMessage', 'handler');
  return function traceHandler(handler) {
    checkHandler(handler, 'traceEachMessage', '(payload, trace) => …');
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
  const spans = consumerSpans(options, 'traceEachBatch', 'handler');
  return function traceHandler(handler) {
    checkHandler(handler, 'traceEachBatch', '(payload, trace) => …');
    return eachBatchOf(spans, handler);
  };
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
  const spans = consumerSpans(options, 'traceConsumer', 'consumer');
  const learn = options?.groupId === undefined;
  return function decorateConsumer(consumer) {
    checkTarget(consumer, ['run', 'subscribe'], 'traceConsumer', 'consumer', "a kafkajs consumer, e.g. traceConsumer(options)(kafka.consumer({ groupId: 'billing' }))");
    if (isRunning(consumer)) {
      throw new TypeError('tracebus: traceConsumer(options)(consumer) got a consumer whose run() was called already, so its handlers cannot be traced; wrap the consumer before calling run()');
    }
    if (learn) learnGroupId(consumer, spans);
    return delegateTo(consumer, {
      run: function run(config?: TracedRunConfig) {
        // The consumer's own run(): an instrumentation's patch would give each message a second span.
        const run = originalOf(consumer.run);
        if (config === null || typeof config !== 'object') return run.call(consumer, config);
        const traced: ConsumerRunConfig = { ...(config as ConsumerRunConfig) };
        const { eachMessage, eachBatch } = config;
        if (typeof eachMessage === 'function' && !isTraced(eachMessage)) traced.eachMessage = eachMessageOf(spans, eachMessage);
        if (typeof eachBatch === 'function' && !isTraced(eachBatch)) traced.eachBatch = eachBatchOf(spans, eachBatch);
        return run.call(consumer, traced);
      },
    }) as TracedConsumer;
  };
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

function consumerSpans(options: KafkaConsumerOptions | undefined, factory: string, target: string): ConsumerSpans {
  const checked = checkOptions(options, factory, target);
  const { groupId, consumerHook } = checked;
  if (groupId !== undefined && typeof groupId !== 'string') throw new TypeError(`tracebus: ${factory}({ groupId }) must be the consumer's groupId, a string`);
  if (consumerHook !== undefined && typeof consumerHook !== 'function') throw new TypeError(`tracebus: ${factory}({ consumerHook }) must be a function (span, { topic, partition, message }) => void`);
  assertPolicyOption(checked.policy);
  return new ConsumerSpans(new MessagingTracer(KAFKA_SYSTEM, checked), clientAttributes(checked, factory), checked);
}

function eachMessageOf(spans: ConsumerSpans, handler: EachMessageTracedHandler): TracedEachMessage {
  const attempts = new Attempts();
  return markTraced(function tracedEachMessage(payload: EachMessagePayload): Promise<void> {
    return settled(spans.processMessage, spans, payload, handler, attempts);
  });
}

function eachBatchOf(spans: ConsumerSpans, handler: EachBatchTracedHandler): TracedEachBatch {
  return markTraced(function tracedEachBatch(payload: EachBatchPayload): Promise<void> {
    return settled(processBatch, spans, payload, handler, undefined);
  });
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

/**
 * The consumer side: spans for `eachMessage` and `eachBatch`, shared by the middleware of
 * one `traceEachMessage()`, `traceEachBatch()` or `traceConsumer()` call.
 */
export class ConsumerSpans {
  readonly tracer: MessagingTracer;
  readonly client: ClientAttributes;
  /** Mutable: `traceConsumer` learns the group when the consumer joins it. */
  groupId: string | undefined;
  readonly #policy: PolicyOption<KafkaRecord> | undefined;
  /** The consumer hook, also run by the batch spans of each message. */
  readonly hook: SpanHook<KafkaRecord> | undefined;

  constructor(tracer: MessagingTracer, client: ClientAttributes, options: KafkaConsumerOptions) {
    this.tracer = tracer;
    this.client = client;
    this.groupId = options.groupId;
    this.#policy = options.policy;
    this.hook = options.consumerHook;
  }

  /** Runs `handler` for one `eachMessage` payload inside its `process` span. */
  processMessage(payload: EachMessagePayload, handler: (payload: EachMessagePayload, trace: MessageTrace) => unknown, attempts: Attempts): unknown {
    if (payload?.message == null) return handler(payload, activeMessageTrace(context.active()));
    // With nothing registered, skip even the attributes (see MessagingTracer.idle).
    if (this.tracer.idle()) return context.with(ROOT_CONTEXT, handler, undefined, payload, IDLE_MESSAGE_TRACE);
    const { topic, partition, message } = payload;
    const attributes = consumedAttributes(this.groupId, partition, message, this.client);
    const attempt = attempts.seen(topic, partition, message.offset);
    if (attempt > 1) attributes[ATTR_KAFKA_ATTEMPT] = attempt;
    const info: OperationInfo = { type: 'process', destination: topic, attributes, publishedAt: timestampOf(message) };
    return this.tracer.traceProcess(info, message.headers as MessageHeaders | undefined, payload, this.#policy, this.hook, function handle(trace) {
      return handler(payload, trace);
    });
  }

  /** Parent and links of one message's span under the policy. */
  place(topic: string, partition: number, message: KafkaMessage, attributes: Attributes | undefined): Placement {
    const policy = this.#policy;
    // Only a policy function reads the record: one is built for it alone.
    const record = typeof policy === 'function' ? { topic, partition, message } : (message as unknown as KafkaRecord);
    return this.tracer.placement(message.headers as MessageHeaders | undefined, record, policy, topic, attributes);
  }


}

/**
 * Counts how often a handler sees the same offset of a partition in a row, which is how
 * kafkajs redelivers a message after its handler failed (it seeks back to it).
 */
export class Attempts {
  readonly #topics = new Map<string, Array<{ offset: string; attempt: number } | undefined>>();

  /** The attempt number of this delivery: 1, or more when the partition's last delivery was the same offset. */
  seen(topic: string, partition: number, offset: string): number {
    let partitions = this.#topics.get(topic);
    if (partitions === undefined) this.#topics.set(topic, (partitions = []));
    const last = partitions[partition];
    if (last === undefined) {
      partitions[partition] = { offset, attempt: 1 };
      return 1;
    }
    if (last.offset === offset) return ++last.attempt;
    last.offset = offset;
    last.attempt = 1;
    return 1;
  }
}
