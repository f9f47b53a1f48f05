import { context, ROOT_CONTEXT, type Attributes, type Span } from '@opentelemetry/api';
import { checkHandler, checkOptions, checkTarget, isTraced, markTraced, optionKeys } from '../core/checks.ts';
import type { Handler } from '../core/compose.ts';
import { delegateTo } from '../core/delegate.ts';
import type { MessageHeaders } from '../core/headers.ts';
import { hasFailed, isPromiseLike } from '../core/lifecycle.ts';
import { activeMessageTrace, type MessageTrace } from '../core/message-trace.ts';
import { IDLE_MESSAGE_TRACE, MessagingTracer, type Placement } from '../core/messaging-tracer.ts';
import { originalOf } from '../core/overlap.ts';
import type { OperationInfo, SpanHook } from '../core/operation.ts';
import { TRACING_OPTION_KEYS, type TracingOptions } from '../core/options.ts';
import { assertPolicyOption, type PolicyOption } from '../core/policy.ts';
import { consumerGroupAttributes } from '../core/semconv.ts';
import { ATTR_KAFKA_ATTEMPT, clientAttributes, consumedAttributes, KAFKA_SYSTEM, timestampOf, withConfiguredClient, type ClientAttributes, type ConfiguredClient, type KafkaClientOptions } from './attributes.ts';
import { processBatch, RUNS_ON, WRONG_PAYLOAD, type BatchMessageTraceOf, type RunSignal } from './batch.ts';
import { copyWith, registerGroup, type ConsumedMessage, type ConsumerBinding, type ConsumerShape, type EachBatchShape, type EachMessageShape } from './client.ts';

// The consumer side of both Kafka bindings: `eachMessage` and `eachBatch` middleware and
// the consumer decorator, over the client shapes of client.ts. The bindings give their
// client's types and a ConsumerBinding (names for messages, what the client can tell).

/** One consumed message (`M`, the client's message type) with where it came from: what policy functions and consumer hooks receive. */
export interface KafkaRecordOf<M> {
  readonly topic: string;
  readonly partition: number;
  readonly message: M;
}

/** Options of the consumer wrappers of a client whose consumed messages are `M`. */
export interface ConsumerOptionsOf<M> extends TracingOptions, KafkaClientOptions {
  /**
   * `messaging.consumer.group.name`: the consumer's `groupId`. The consumer decorator
   * learns it from the consumer where the client tells it, so there it is needed only to
   * override that; the middleware needs it.
   */
  groupId?: string;
  /**
   * Where each `process` span goes in the trace: `parent` (default: a child of the
   * producer's span), `link` (a new trace linked to it, keeping the message's baggage),
   * `root` (ignore the incoming context), or a function of the record.
   */
  policy?: PolicyOption<KafkaRecordOf<M>>;
  /** Adds attributes to each span about one message. A hook that throws is reported to `diag`. */
  consumerHook?: SpanHook<KafkaRecordOf<M>>;
}

/** An `eachBatch` handler (payload `P`, messages `M`) that also receives the batch's trace and per-message helpers. */
export type EachBatchHandlerOf<P, M> = (payload: P, trace: BatchMessageTraceOf<M>) => unknown;

/**
 * The traced handler to give the client as `eachMessage`. The optional second argument
 * makes it a {@link Handler} too, so it composes with other middleware; tracing ignores it.
 */
export type TracedEachMessageOf<P> = (payload: P, trace?: MessageTrace) => Promise<void>;

/** The traced handler to give the client as `eachBatch`. */
export type TracedEachBatchOf<P> = (payload: P) => Promise<void>;

/** A `run()` configuration `RC` whose handlers may take the trace as a second argument. */
export type TracedRunConfigOf<RC, P, BP, M> = Omit<RC, 'eachMessage' | 'eachBatch'> & {
  eachMessage?: Handler<P>;
  eachBatch?: EachBatchHandlerOf<BP, M>;
};

/** A consumer `C` whose `run()` traces its handlers; usable wherever a `C` is. */
export type TracedConsumerOf<C, RC> = Omit<C, 'run'> & {
  run(config?: RC): Promise<void>;
};

const RESOLVED: Promise<void> = Promise.resolve();

/** The `eachMessage` middleware of a binding: `eachMessageMiddleware(options, binding)(handler)`. */
export function eachMessageMiddleware<P>(options: ConsumerOptionsOf<never> | undefined, binding: ConsumerBinding<never>): (handler: Handler<P>) => TracedEachMessageOf<P> {
  const factory = binding.factories.eachMessage;
  const spans = consumerSpans(options, factory, 'handler');
  return function traceHandler(handler) {
    checkHandler(handler, factory, '(payload, trace) => …');
    return eachMessageOf(spans, handler as unknown as Handler<EachMessageShape>, true) as TracedEachMessageOf<P>;
  };
}

/** The `eachBatch` middleware of a binding: `eachBatchMiddleware(options, binding)(handler)`. */
export function eachBatchMiddleware<P, M>(options: ConsumerOptionsOf<never> | undefined, binding: ConsumerBinding<never>): (handler: EachBatchHandlerOf<P, M>) => TracedEachBatchOf<P> {
  const factory = binding.factories.eachBatch;
  const spans = consumerSpans(options, factory, 'handler');
  return function traceHandler(handler) {
    checkHandler(handler, factory, '(payload, trace) => …');
    return eachBatchOf(spans, handler as unknown as EachBatchHandlerOf<EachBatchShape, ConsumedMessage>) as TracedEachBatchOf<P>;
  };
}

/**
 * The consumer decorator of a binding: given a consumer, an object that behaves like it
 * (every method delegates to it) whose `run({ eachMessage })` and `run({ eachBatch })` trace
 * the handlers. A consumer the binding knows to be running already throws.
 */
export function consumerDecorator<C extends object, T>(options: ConsumerOptionsOf<never> | undefined, binding: ConsumerBinding<C>): (consumer: C) => T {
  const factory = binding.factories.consumer;
  const shared = consumerSpans(options, factory, 'consumer');
  const learnsGroup = options?.groupId === undefined && binding.watchGroup !== undefined;
  const given: KafkaClientOptions = options ?? {};
  const learnsClient = (given.brokers === undefined || given.clientId === undefined) && binding.watchClient !== undefined;
  return function decorateConsumer(consumer) {
    checkTarget(consumer, ['run', 'subscribe'], factory, 'consumer', binding.expects);
    const other = binding.otherClient?.(consumer);
    if (other !== undefined) throw new TypeError(other);
    if (binding.isRunning?.(consumer) === true) {
      throw new TypeError(`tracebus: ${factory}(options)(consumer) got a consumer whose run() was called already, so its handlers cannot be traced; wrap the consumer before calling run()`);
    }
    // Each consumer its own group and client: one decorator may wrap the consumers of several
    // groups, each configured with its own brokers and client id.
    const spans = shared.forConsumer();
    const learnGroup = learnsGroup ? (groupId: string) => void (spans.groupId = groupId) : undefined;
    // From the options' attributes each time, so that what the options set stays as they set it.
    const learnClient = learnsClient ? (configured: ConfiguredClient) => void (spans.client = withConfiguredClient(shared.client, given, configured)) : undefined;
    const watch = (when: 'wrapped' | 'run') => {
      if (learnGroup !== undefined) binding.watchGroup!(consumer, learnGroup, when);
      if (learnClient !== undefined) binding.watchClient!(consumer, learnClient, when);
    };
    watch('wrapped');
    const raw = consumer as unknown as ConsumerShape;
    // Where the client's batches cannot tell that the consumer stops, its disconnect() tells them.
    const runs = binding.runsOnAfterDisconnect === true && typeof raw.disconnect === 'function' ? new DisconnectSignals() : undefined;
    const overrides: Record<string, (...args: any[]) => unknown> = {
      run: function run(config?: Record<string, unknown>) {
        watch('run');
        // The consumer's own run(): an instrumentation's patch would give each message a second span.
        const run = originalOf(raw.run);
        if (config === null || typeof config !== 'object') return run.call(raw, config);
        const { eachMessage, eachBatch } = config;
        const handlers: Record<string, unknown> = {};
        if (typeof eachMessage === 'function' && !isTraced(eachMessage)) handlers.eachMessage = eachMessageOf(spans, eachMessage as Handler<EachMessageShape>, false);
        if (typeof eachBatch === 'function' && !isTraced(eachBatch)) {
          // A signal for this run alone: a second run() the client refuses never runs its handler.
          handlers.eachBatch = eachBatchOf(spans, eachBatch as EachBatchHandlerOf<EachBatchShape, ConsumedMessage>, runs?.forRun(config) ?? RUNS_ON);
        }
        // A copy with its prototype and every own property as it is (copyWith): kafkajs reads
        // settings a class or a prototype provides too (an inherited `autoCommit: false`),
        // Confluent's KafkaJS API only the object's own.
        return run.call(raw, copyWith(config, handlers, []));
      },
    };
    if (runs !== undefined) overrides.disconnect = disconnectOf(raw, runs);
    const traced = delegateTo(consumer, overrides);
    registerGroup([consumer, traced], () => spans.groupId);
    return traced as unknown as T;
  };
}

/**
 * The signals of one consumer's runs whose `forEachMessage` stops once the traced consumer's
 * `disconnect()` is called (see ConsumerBinding.runsOnAfterDisconnect).
 */
class DisconnectSignals {
  readonly #live = new Set<{ disconnects: number }>();

  /**
   * The signal of a `run(config)`: one of its own, which each `disconnect()` counts in, when
   * the client reads its `eachBatchAutoResolve` as off; else one that never changes. With it
   * on, the client resolves the batch's last offset when the handler returns and may commit it
   * before it has disconnected, so a loop that stopped early would have the messages it did
   * not reach skipped for good; going on has them handled twice at worst.
   */
  forRun(config: object): RunSignal {
    if (!autoResolveOff(config)) return RUNS_ON;
    const signal = { disconnects: 0 };
    this.#live.add(signal);
    return signal;
  }

  /** Tells every run's batches in flight to stop before their next message. */
  disconnected(): void {
    for (const signal of this.#live) signal.disconnects++;
  }
}

/**
 * Whether the client reads `run(config)`'s `eachBatchAutoResolve` as off: it takes the object's
 * own property only, defaults to on, and tests it for truthiness.
 */
function autoResolveOff(config: object): boolean {
  try {
    return Object.hasOwn(config, 'eachBatchAutoResolve') && !(config as { eachBatchAutoResolve?: unknown }).eachBatchAutoResolve;
  } catch {
    // A Proxy or a getter that throws: on, the side that skips no message.
    return false;
  }
}

/**
 * The traced consumer's `disconnect()`: it calls the consumer's method as it is now, not as it
 * was when the consumer was wrapped, so that another instrumentation's patch of it still runs,
 * then tells the batches in flight of the runs that may stop early. A call that throws tells
 * them nothing: the consumer goes on. What the method returns or throws goes back as it is,
 * with nothing attached: a rejection the caller leaves unhandled is reported as it would be
 * untraced. The client does its part of the call before the handler's loop goes on, so the
 * loop still stops before its next message.
 */
function disconnectOf(raw: ConsumerShape, runs: DisconnectSignals): (...args: unknown[]) => unknown {
  return function disconnect(...args: unknown[]): unknown {
    const result = Reflect.apply(raw.disconnect!, raw, args);
    runs.disconnected();
    return result;
  };
}

/** Every option of the consumer wrappers and middleware. */
const CONSUMER_OPTIONS = [...TRACING_OPTION_KEYS, ...optionKeys<Omit<ConsumerOptionsOf<never>, keyof TracingOptions>>({ brokers: 1, clientId: 1, bodySize: 1, groupId: 1, policy: 1, consumerHook: 1 })];

function consumerSpans(options: ConsumerOptionsOf<never> | undefined, factory: string, target: string): ConsumerSpans {
  const checked = checkOptions(options, factory, target, CONSUMER_OPTIONS) as ConsumerOptionsOf<ConsumedMessage>;
  const { groupId, consumerHook } = checked;
  if (groupId !== undefined && typeof groupId !== 'string') throw new TypeError(`tracebus: ${factory}({ groupId }) must be the consumer's groupId, a string`);
  if (consumerHook !== undefined && typeof consumerHook !== 'function') throw new TypeError(`tracebus: ${factory}({ consumerHook }) must be a function (span, { topic, partition, message }) => void`);
  assertPolicyOption(checked.policy);
  return new ConsumerSpans(new MessagingTracer(KAFKA_SYSTEM, checked), clientAttributes(checked, factory), checked);
}

function eachMessageOf(spans: ConsumerSpans, handler: Handler<EachMessageShape>, perConsumer: boolean): TracedEachMessageOf<EachMessageShape> {
  const attempts = new ConsumerAttempts(perConsumer);
  // `this` goes on to the handler: the clients call it on their runner (kafkajs) or the run
  // configuration (Confluent), and a handler written for them may use it.
  return markTraced(function tracedEachMessage(this: unknown, payload: EachMessageShape): Promise<void> {
    return settled(spans.processMessage, spans, payload, handler, attempts.of(this), this);
  });
}

/**
 * The {@link Attempts} of each consumer a traced handler serves. A consumer decorator's handler
 * serves one consumer (`perConsumer` false). Middleware may be given to several, of one group
 * or of several: each sees its own deliveries of an offset, and one's failure is no retry of
 * another's. The clients call the handler on something of the consumer's own, which tells
 * them apart (see {@link consumerOf}); a handler called without one (by hand) has attempts of
 * its own.
 */
class ConsumerAttempts {
  readonly #perConsumer: boolean;
  readonly #byConsumer = new WeakMap<object, Attempts>();
  readonly #unbound = new Attempts();
  // The `this` of the last call and its attempts: a handler mostly serves one consumer in a
  // row. Held weakly, so that a handler kept for good does not keep a stopped consumer alive.
  #lastSelf: WeakRef<object> | undefined;
  #last: Attempts = this.#unbound;

  constructor(perConsumer: boolean) {
    this.#perConsumer = perConsumer;
  }

  of(self: unknown): Attempts {
    if (!this.#perConsumer || (typeof self !== 'object' && typeof self !== 'function') || self === null) return this.#unbound;
    if (this.#lastSelf?.deref() === self) return this.#last;
    const consumer = consumerOf(self);
    let attempts = this.#byConsumer.get(consumer);
    if (attempts === undefined) this.#byConsumer.set(consumer, (attempts = new Attempts()));
    this.#lastSelf = new WeakRef(self);
    return (this.#last = attempts);
  }
}

/**
 * The consumer that calls a handler on `self`. Confluent's client calls it on its copy of the
 * run configuration, one for the run. kafkajs calls it on the consumer's runner, which it
 * makes anew when the consumer restarts after a crash (where a message that keeps failing
 * leads): the runner's instrumentation emitter, made once with the consumer, keeps the count
 * of such a message going across the restart, as for a handler the consumer decorator traced.
 */
function consumerOf(self: object): object {
  try {
    const emitter = (self as { instrumentationEmitter?: unknown }).instrumentationEmitter;
    if (typeof emitter === 'object' && emitter !== null) return emitter;
  } catch {
    // A getter that throws: `self` itself tells the consumer.
  }
  return self;
}

function eachBatchOf(spans: ConsumerSpans, handler: EachBatchHandlerOf<EachBatchShape, ConsumedMessage>, run: RunSignal = RUNS_ON): TracedEachBatchOf<EachBatchShape> {
  return markTraced(function tracedEachBatch(this: unknown, payload: EachBatchShape): Promise<void> {
    return settled(processBatch, spans, payload, handler, this, run);
  });
}

/**
 * `fn.call(thisArg, a, b, c, d)` as the promise the clients expect: a synchronous throw becomes
 * a rejection, a synchronous result a resolved promise (one shared, not one per message).
 */
function settled<T, A, B, C, D>(fn: (this: T, a: A, b: B, c: C, d: D) => unknown, thisArg: T, a: A, b: B, c: C, d: D): Promise<void> {
  let result: unknown;
  try {
    result = fn.call(thisArg, a, b, c, d);
  } catch (error) {
    return Promise.reject(error);
  }
  return isPromiseLike(result) ? (result as Promise<void>) : RESOLVED;
}

/**
 * The consumer side: spans for `eachMessage` and `eachBatch`, shared by the middleware of
 * one middleware or consumer decorator call.
 */
export class ConsumerSpans {
  readonly tracer: MessagingTracer;
  /** Mutable: the consumer decorator learns what the options leave unset from the consumer (see ConsumerBinding.watchClient). */
  client: ClientAttributes;
  /** Mutable: the consumer decorator learns the group from the consumer (see ConsumerBinding.watchGroup). */
  groupId: string | undefined;
  readonly #policy: PolicyOption<KafkaRecordOf<ConsumedMessage>> | undefined;
  /** The consumer hook, also run by the batch spans of each message. */
  readonly hook: SpanHook<KafkaRecordOf<ConsumedMessage>> | undefined;

  constructor(tracer: MessagingTracer, client: ClientAttributes, options: ConsumerOptionsOf<ConsumedMessage>) {
    this.tracer = tracer;
    this.client = client;
    this.groupId = options.groupId;
    this.#policy = options.policy;
    this.hook = options.consumerHook;
  }

  /** Spans for one more consumer: the same tracer, client, policy and hook, and a group of its own, the one configured until it learns its own. */
  forConsumer(): ConsumerSpans {
    return new ConsumerSpans(this.tracer, this.client, { groupId: this.groupId, policy: this.#policy, consumerHook: this.hook });
  }

  /** Runs `handler` for one `eachMessage` payload inside its `process` span, with `self` as its `this`. */
  processMessage(payload: EachMessageShape, handler: (payload: EachMessageShape, trace: MessageTrace) => unknown, attempts: Attempts, self?: unknown): unknown {
    if (payload?.message == null) {
      if (typeof (payload as { batch?: unknown } | undefined)?.batch === 'object') throw new TypeError(WRONG_PAYLOAD.batchToMessage);
      return handler.call(self, payload, activeMessageTrace(context.active()));
    }
    // With nothing registered, skip even the attributes (see MessagingTracer.idle).
    const state = this.tracer.prepare();
    if (state === undefined) return context.with(ROOT_CONTEXT, callHandler, undefined, handler, self, payload, IDLE_MESSAGE_TRACE);
    const { topic, partition, message } = payload;
    const attributes = consumedAttributes(partition, message, this.client);
    const delivery = attempts.seen(topic, partition, message.offset);
    if (delivery.attempt > 1) attributes[ATTR_KAFKA_ATTEMPT] = delivery.attempt;
    // The publish time feeds only the time-in-queue metric: parsed only while metrics are on.
    const publishedAt = this.tracer.instruments() === undefined ? undefined : timestampOf(message);
    const info: OperationInfo = { type: 'process', destination: topic, sampling: consumerGroupAttributes(this.groupId), attributes, publishedAt };
    return this.tracer.traceProcess(
      info,
      message.headers as MessageHeaders | undefined,
      payload,
      this.#policy,
      this.hook,
      function handle(trace) {
        delivery.span = trace.span;
        return handler.call(self, payload, trace);
      },
      state,
    );
  }

  /** Parent and links of one message's span under the policy. */
  place(topic: string, partition: number, message: ConsumedMessage, attributes: Attributes | undefined): Placement {
    const policy = this.#policy;
    // Only a policy function reads the record: one is built for it alone.
    const record = typeof policy === 'function' ? { topic, partition, message } : (message as unknown as KafkaRecordOf<ConsumedMessage>);
    return this.tracer.placement(message.headers as MessageHeaders | undefined, record, policy, topic, attributes);
  }
}

/** `handler.call(self, payload, trace)`, for a context manager's `with`, which would bind `handler` anew to give it a `this`. */
function callHandler<P>(handler: (payload: P, trace: MessageTrace) => unknown, self: unknown, payload: P, trace: MessageTrace): unknown {
  return handler.call(self, payload, trace);
}

/** The last delivery of a partition that a handler saw: its offset, its attempt and its span. */
interface Delivery {
  offset: string;
  attempt: number;
  span: Span | undefined;
}

/**
 * Counts how often one consumer's handler sees the same offset of a partition after it failed
 * on it, which is how both clients redeliver a message after its handler failed (they seek
 * back to it). A failure is known from the span tracebus recorded it on: one that recorded
 * nothing (sampled out) does not count. The same offset again after a success is a first
 * attempt (a consumer given a partition anew may start at an offset it handled already).
 */
export class Attempts {
  readonly #topics = new Map<string, Array<Delivery | undefined>>();
  // The topic of the last delivery and its partitions: a consumer mostly sees one topic in a row.
  #lastTopic: string | undefined;
  #lastPartitions: Array<Delivery | undefined> = [];

  /** This delivery of the partition: attempt 1, or one more than the last when that was the same offset and failed. Set its `span` once it starts. */
  seen(topic: string, partition: number, offset: string): Delivery {
    let partitions = topic === this.#lastTopic ? this.#lastPartitions : this.#topics.get(topic);
    if (partitions === undefined) this.#topics.set(topic, (partitions = []));
    this.#lastTopic = topic;
    this.#lastPartitions = partitions;
    const last = partitions[partition];
    if (last === undefined) return (partitions[partition] = { offset, attempt: 1, span: undefined });
    if (last.offset === offset && last.span !== undefined && hasFailed(last.span)) last.attempt++;
    else {
      last.offset = offset;
      last.attempt = 1;
    }
    last.span = undefined;
    return last;
  }
}
