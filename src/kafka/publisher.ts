import { context, SpanKind, trace, type Attributes, type Context, type Span, type SpanContext } from '@opentelemetry/api';
import { checkOptions, checkTarget, optionKeys } from '../core/checks.ts';
import type { PublisherDecorator } from '../core/compose.ts';
import { delegateTo } from '../core/delegate.ts';
import { copyWithoutContext, copyWithoutFields, headerSetter, type MessageHeaders, type WritableHeaders } from '../core/headers.ts';
import { closeSpan, openSpan, runHook, runInSpan } from '../core/lifecycle.ts';
import { ATTR_LINKS_DROPPED, MessagingTracer } from '../core/messaging-tracer.ts';
import type { PropagationState } from '../core/propagation.ts';
import { isValidSpanContext } from '../core/span-context.ts';
import { callContext, callOwn, originalOf } from '../core/overlap.ts';
import type { OperationInfo, SpanHook } from '../core/operation.ts';
import { TRACING_OPTION_KEYS, type TracingOptions } from '../core/options.ts';
import { ATTR_MESSAGING_BATCH_MESSAGE_COUNT, withSemconvNames } from '../core/semconv.ts';
import { addClient, clientAttributes, KAFKA_SYSTEM, producedAttributes, systemAttributes, withConfiguredClient, type ClientAttributes, type ConfiguredClient, type KafkaClientOptions } from './attributes.ts';
import { copyWith, type MessageField, type ProducedMessage, type ProducerBatchShape, type ProducerBinding, type ProducerShape, type Sender, type TopicMessagesShape, type TransactionShape } from './client.ts';
import { TransactionSpan, tracedTransaction } from './transaction.ts';

// The producer side of both Kafka bindings: `send`, `sendBatch` and transactions, traced
// the same way whichever client sends. The bindings give the client's types and a
// ProducerBinding (names for messages, how its headers are encoded).

/** What a producer hook receives: one message (`M`, the client's message type) and the topic it goes to. */
export interface ProducedMessageOf<M> {
  readonly topic: string;
  readonly message: M;
}

/** Options of a Kafka producer decorator whose client's messages are `M`. */
export interface ProducerOptionsOf<M> extends TracingOptions, KafkaClientOptions {
  /**
   * Give each message of a multi-message `send` or a `sendBatch` its own `create <topic>`
   * PRODUCER span, whose context goes into that message (semconv's recommendation for
   * batch APIs). Default `true`. With `false`, bulk senders get one span per call: the
   * `send` span (then PRODUCER) and its context goes into every message of the call.
   */
  createSpans?: boolean;
  /**
   * Adds attributes to each span that stands for one message: the `send` span of a
   * single-message `send`, and each `create` span. A hook that throws is reported to `diag`.
   */
  producerHook?: SpanHook<ProducedMessageOf<M>>;
}

/** Every option of the producer wrappers. */
const PRODUCER_OPTIONS = [...TRACING_OPTION_KEYS, ...optionKeys<Omit<ProducerOptionsOf<never>, keyof TracingOptions>>({ brokers: 1, clientId: 1, bodySize: 1, createSpans: 1, producerHook: 1 })];

/**
 * The producer decorator of a binding: checks `options` now and, given a producer, returns
 * an object of the same type that delegates every method to it and traces what it sends.
 */
export function producerDecorator<P extends object>(options: ProducerOptionsOf<never> | undefined, binding: ProducerBinding): PublisherDecorator<P> {
  const { factory } = binding;
  const { createSpans = true, producerHook } = checkOptions(options, factory, 'producer', PRODUCER_OPTIONS);
  if (typeof createSpans !== 'boolean') throw new TypeError(`tracebus: ${factory}({ createSpans }) must be true or false`);
  if (producerHook !== undefined && typeof producerHook !== 'function') throw new TypeError(`tracebus: ${factory}({ producerHook }) must be a function (span, { topic, message }) => void`);
  const given: KafkaClientOptions = options ?? {};
  const sends = new SendTracer(new MessagingTracer(KAFKA_SYSTEM, options), clientAttributes(given, factory), given, createSpans, producerHook as SpanHook<ProducedMessageOf<ProducedMessage>> | undefined, binding);
  return function decorateProducer(producer) {
    checkTarget(producer, ['send', 'sendBatch'], factory, 'producer', binding.expects);
    return tracedProducer(producer as unknown as ProducerShape, sends.forProducer(producer)) as unknown as P;
  };
}

/** What every traced object of one producer shares: the transaction open on it, if any. */
interface ProducerState {
  open: TransactionSpan | undefined;
}

// Keyed on the client's producer: two modules may each wrap one shared producer, and a
// transaction one of them begins is the producer's, whichever commits it or disconnects.
const producers = new WeakMap<object, ProducerState>();

function tracedProducer(raw: ProducerShape, sends: SendTracer): ProducerShape {
  let state = producers.get(raw);
  if (state === undefined) producers.set(raw, (state = { open: undefined }));
  const shared = state;
  // In @confluentinc/kafka-javascript a transaction is the producer itself: while one is
  // open, the producer's own send, sendBatch, commit, abort and sendOffsets belong to it.
  const ownTransaction = (): TransactionSpan | undefined => {
    const open = shared.open;
    return open !== undefined && open.isProducer && !open.ended ? open : undefined;
  };
  const overrides: Record<string, (...args: any[]) => unknown> = {
    send: function send(record: TopicMessagesShape) {
      return sends.send(raw, record, ownTransaction());
    },
    sendBatch: function sendBatch(batch: ProducerBatchShape) {
      return sends.sendBatch(raw, batch, ownTransaction());
    },
  };
  if (typeof raw.transaction === 'function') {
    overrides.transaction = function transaction(): Promise<TransactionShape> {
      const begun = sends.beginTransaction();
      let pending: Promise<TransactionShape>;
      try {
        pending = callOwn(raw, raw.transaction!);
      } catch (error) {
        begun.failed(error);
        throw error;
      }
      return Promise.resolve(pending).then(
        function transactionBegun(transaction) {
          // One transaction at a time: one still open here was ended behind the traced object's back.
          shared.open?.end('abandoned');
          shared.open = begun;
          begun.isProducer = transaction === (raw as unknown);
          // Confluent's transaction is the producer: so is the traced one, whose own calls
          // (sends, commit, abort, disconnect, the next transaction) then act on it.
          return begun.isProducer ? (traced as unknown as TransactionShape) : tracedTransaction(transaction, begun, sends);
        },
        function transactionRefused(error: unknown) {
          begun.failed(error);
          throw error;
        },
      );
    };
  }
  for (const [method, outcome] of [['commit', 'committed'], ['abort', 'aborted']] as const) {
    if (typeof raw[method] !== 'function') continue;
    overrides[method] = function settle() {
      const transaction = ownTransaction();
      return transaction === undefined ? callOwn(raw, raw[method]!) : transaction.settle(raw as TransactionShape, method, outcome);
    };
  }
  if (typeof raw.sendOffsets === 'function') {
    overrides.sendOffsets = function sendOffsets(offsets: object) {
      const transaction = ownTransaction();
      const sent = callOwn(raw, raw.sendOffsets!, offsets);
      return transaction === undefined ? sent : transaction.offsetsSent(offsets, sent);
    };
  }
  if (typeof raw.disconnect === 'function') {
    overrides.disconnect = function disconnect() {
      // A commit or abort in flight still gives the transaction its outcome.
      shared.open?.disconnected();
      shared.open = undefined;
      return raw.disconnect!();
    };
  }
  const traced = delegateTo(raw, overrides);
  return traced;
}

/**
 * Traces `send` and `sendBatch` calls: one per producer decorator, shared by its producers, or
 * one per producer where each learns its own client from its configuration (forProducer).
 */
export class SendTracer {
  readonly #tracer: MessagingTracer;
  #client: ClientAttributes;
  readonly #given: KafkaClientOptions;
  readonly #createSpans: boolean;
  readonly #hook: SpanHook<ProducedMessageOf<ProducedMessage>> | undefined;
  readonly #binding: ProducerBinding;
  readonly #encode: (headers: WritableHeaders) => object;
  readonly #inherited: readonly MessageField[];
  /** Reads the producer's configuration until that is done; then `undefined`, so that a call checks no more than that. */
  #unread: (() => ConfiguredClient | 'not yet' | 'unknown') | undefined;

  /** `client`: the attributes of the `given` options. */
  constructor(tracer: MessagingTracer, client: ClientAttributes, given: KafkaClientOptions, createSpans: boolean, hook: SpanHook<ProducedMessageOf<ProducedMessage>> | undefined, binding: ProducerBinding) {
    this.#tracer = tracer;
    this.#client = client;
    this.#given = given;
    this.#createSpans = createSpans;
    this.#hook = hook;
    this.#binding = binding;
    this.#encode = binding.encodeHeaders;
    this.#inherited = binding.inheritedFields;
  }

  /**
   * The tracer of one producer: this one, or, where the binding reads the client from the
   * producer's configuration and an option leaves it unset, one of its own that learns it (one
   * decorator may wrap producers of several clients).
   */
  forProducer(producer: object): SendTracer {
    const read = this.#binding.readClient;
    const given = this.#given;
    if (read === undefined || (given.brokers !== undefined && given.clientId !== undefined)) return this;
    const own = new SendTracer(this.#tracer, this.#client, given, this.#createSpans, this.#hook, this.#binding);
    own.#unread = () => read(producer);
    return own;
  }

  /**
   * Learns the client from the producer's configuration, once there is one: the client makes it
   * at `connect()` and never changes it, so it is read once.
   */
  #learnClient(): void {
    const configured = this.#unread!();
    if (configured === 'not yet') return;
    this.#unread = undefined;
    if (configured !== 'unknown') this.#client = withConfiguredClient(this.#client, this.#given, configured);
  }

  beginTransaction(): TransactionSpan {
    if (this.#unread !== undefined) this.#learnClient();
    const active = context.active();
    const attributes = systemAttributes(this.#tracer);
    addClient(attributes, this.#client);
    const span = openSpan(this.#tracer.tracer, 'transaction', { kind: SpanKind.INTERNAL, attributes }, active);
    return new TransactionSpan(span, trace.getSpan(active));
  }

  send(sink: Sender, record: TopicMessagesShape, transaction: TransactionSpan | undefined): Promise<unknown> {
    let topic: unknown;
    let messages: unknown;
    try {
      topic = record?.topic;
      messages = record?.messages;
    } catch {
      // A getter of the record that throws: the client reads it too, and rejects its own way.
      return callOwn(sink, sink.send, record);
    }
    // Malformed calls go to the client untouched, for its own error.
    if (typeof topic !== 'string' || !Array.isArray(messages)) return callOwn(sink, sink.send, record);
    const state = this.#tracer.prepare();
    if (state === undefined) return callOwn(sink, sink.send, withMessages(record, messages.map(this.#withoutTraceHeaders, this)));
    if (this.#unread !== undefined) this.#learnClient();
    if (messages.length === 1 && isMessage(messages[0])) return this.#sendOne(sink, record, topic, messages[0], transaction, state);
    return this.#sendMany(sink, record, undefined, [record], topic, transaction, state);
  }

  sendBatch(sink: Sender, batch: ProducerBatchShape, transaction: TransactionSpan | undefined): Promise<unknown> {
    // Malformed calls go to the client untouched, for its own error.
    if (batch === null || typeof batch !== 'object') return callOwn(sink, sink.sendBatch, batch);
    let groups: readonly TopicMessagesShape[] | undefined;
    let destination: string | undefined;
    try {
      groups = batch.topicMessages;
      // Anything but an array or nothing (null, say) goes untouched: kafkajs rejects null, Confluent's client takes it for none.
      if (groups !== undefined && !Array.isArray(groups)) return callOwn(sink, sink.sendBatch, batch);
      for (let index = 0; groups !== undefined && index < groups.length; index++) {
        const group = groups[index];
        if (group === null || typeof group !== 'object' || typeof group.topic !== 'string' || !Array.isArray(group.messages)) return callOwn(sink, sink.sendBatch, batch);
        if (index === 0) destination = group.topic;
        else if (group.topic !== destination) destination = undefined;
      }
    } catch {
      // A getter that throws: the client reads it too, and rejects its own way.
      return callOwn(sink, sink.sendBatch, batch);
    }
    const state = this.#tracer.prepare();
    // No topicMessages at all: kafkajs sends nothing, Confluent's client refuses the batch;
    // either answers the batch as it is.
    if (state === undefined) return callOwn(sink, sink.sendBatch, groups === undefined ? batch : withTopicMessages(batch, groups.map(this.#withoutTraceHeadersAll, this)));
    if (this.#unread !== undefined) this.#learnClient();
    return this.#sendMany(sink, undefined, batch, groups ?? NO_GROUPS, destination, transaction, state);
  }

  // Not tracePublish: a send inside a transaction takes the transaction as parent or link,
  // and a bulk send injects each message's own `create` span; the spans go through the
  // core's startSpan and runInSpan.
  #sendOne(sink: Sender, record: TopicMessagesShape, topic: string, message: ProducedMessage, transaction: TransactionSpan | undefined, state: PropagationState): Promise<unknown> {
    const tracer = this.#tracer;
    const active = context.active();
    const parent = transaction === undefined ? active : transaction.parentFor(active);
    const info: OperationInfo = { type: 'send', destination: topic, attributes: attributesOf(message, this.#client, true) };
    const span = tracer.startSpan(info, SpanKind.PRODUCER, parent, transaction?.linksFor(active));
    if (this.#hook !== undefined) runHook(this.#hook, span, { topic, message }, 'producerHook');
    const ctx = trace.setSpan(parent, span);
    const sent = withMessages(record, [this.#carrying(message, ctx, state)]);
    return runInSpan(span, callContext(ctx, sink.send), originalOf(sink.send), sink, sent, undefined, tracer.measureSend(info, 1));
  }

  /** A multi-message `send` (`record` set) or a `sendBatch` (`batch` set), whose messages are in `groups`. */
  #sendMany(
    sink: Sender,
    record: TopicMessagesShape | undefined,
    batch: ProducerBatchShape | undefined,
    groups: readonly TopicMessagesShape[],
    destination: string | undefined,
    transaction: TransactionSpan | undefined,
    state: PropagationState,
  ): Promise<unknown> {
    const tracer = this.#tracer;
    const active = context.active();
    const parent = transaction === undefined ? active : transaction.parentFor(active);
    let count = 0;
    for (const group of groups) count += group.messages.length;
    const sendAttributes: Attributes = { [ATTR_MESSAGING_BATCH_MESSAGE_COUNT]: count };
    addClient(sendAttributes, this.#client);
    const info: OperationInfo = { type: 'send', destination, attributes: sendAttributes };
    const sentGroups: TopicMessagesShape[] = new Array(groups.length);
    let span: Span;
    let ctx: Context;
    if (this.#createSpans) {
      const created: SpanContext[] = [];
      for (let index = 0; index < groups.length; index++) {
        const group = groups[index]!;
        const messages: ProducedMessage[] = new Array(group.messages.length);
        for (let at = 0; at < messages.length; at++) messages[at] = this.#create(parent, group.topic, group.messages[at]!, created, state);
        sentGroups[index] = withMessages(group, messages);
      }
      // The link to the transaction comes first: it counts against maxLinks too, in the place of the last create span's.
      const toTransaction = transaction?.linksFor(active);
      const { links, dropped } = tracer.links(toTransaction === undefined ? created : [toTransaction[0]!.context, ...created], undefined, true);
      if (dropped > 0) sendAttributes[ATTR_LINKS_DROPPED] = dropped;
      // Semconv: a send span whose context is not the one injected is CLIENT.
      span = tracer.startSpan(info, SpanKind.CLIENT, parent, links);
      ctx = trace.setSpan(parent, span);
    } else {
      span = tracer.startSpan(info, SpanKind.PRODUCER, parent, transaction?.linksFor(active));
      ctx = trace.setSpan(parent, span);
      const traceHeaders = tracer.inject(ctx, undefined, state);
      for (let index = 0; index < groups.length; index++) {
        const group = groups[index]!;
        const messages: ProducedMessage[] = new Array(group.messages.length);
        for (let at = 0; at < messages.length; at++) messages[at] = this.#withTraceHeaders(group.messages[at]!, traceHeaders, state);
        sentGroups[index] = withMessages(group, messages);
      }
    }
    const onEnd = tracer.measureSend(info, count);
    // A multi-message send's one group is the record itself: its copy is what goes out.
    if (record !== undefined) return runInSpan(span, callContext(ctx, sink.send), originalOf(sink.send), sink, sentGroups[0]!, undefined, onEnd);
    const sent = groups === NO_GROUPS ? batch! : withTopicMessages(batch!, sentGroups);
    return runInSpan(span, callContext(ctx, sink.sendBatch), originalOf(sink.sendBatch), sink, sent, undefined, onEnd);
  }

  /** Records the `create` span of one message and returns a copy carrying its context. */
  #create(parent: Context, topic: string, message: ProducedMessage, created: SpanContext[], state: PropagationState): ProducedMessage {
    if (!isMessage(message)) return message;
    const tracer = this.#tracer;
    const span = tracer.startSpan({ type: 'create', destination: topic }, SpanKind.PRODUCER, parent);
    // The message's own attributes only on a span that records: most spans of a sampled-down
    // producer do not, and this runs for every message of a batch.
    if (span.isRecording()) span.setAttributes(withSemconvNames(attributesOf(message, this.#client, false), tracer.semconv));
    if (this.#hook !== undefined) runHook(this.#hook, span, { topic, message }, 'producerHook');
    closeSpan(span);
    const spanContext = span.spanContext();
    // Checked once, here: the injection below then finds its trace id known valid
    // (span-context.ts), and the send span's links take the contexts as they are.
    if (isValidSpanContext(spanContext)) created.push(spanContext);
    return this.#carrying(message, parent, state, span);
  }

  /**
   * A copy of `message` carrying the context `ctx` (with `span`: `span` as the span of `ctx`);
   * `message` itself when it cannot be read (a getter that throws): the client reads it too
   * and rejects as it does untraced, and the send's span ends with that error, where tracebus
   * would have thrown before the client ran.
   */
  #carrying(message: ProducedMessage, ctx: Context, state: PropagationState, span?: Span): ProducedMessage {
    try {
      const headers = message.headers as MessageHeaders | undefined;
      const carried = span === undefined ? this.#tracer.inject(ctx, headers, state) : this.#tracer.injectSpan(ctx, span, headers, state);
      return copyMessage(message, this.#encode(carried), this.#inherited);
    } catch {
      return message;
    }
  }

  /**
   * A copy of `message` whose headers carry `traceHeaders` instead of any trace headers it had,
   * and without any other field the propagator writes (`baggage`, …): as for every send, what it
   * carries is the context of this send alone.
   */
  #withTraceHeaders(message: ProducedMessage, traceHeaders: WritableHeaders, state: PropagationState): ProducedMessage {
    if (!isMessage(message)) return message;
    try {
      const headers = copyWithoutFields(message.headers as MessageHeaders | undefined, state.fields);
      for (const name in traceHeaders) headerSetter.set(headers, name, traceHeaders[name] as string);
      return copyMessage(message, this.#encode(headers), this.#inherited);
    } catch {
      // Unreadable (a getter that throws): as #carrying, the client gets it as it is.
      return message;
    }
  }

  /**
   * A copy of `message` as tracing leaves it while idle (nothing registered): trace headers it
   * carried from elsewhere dropped, as a traced send would replace them. A copy even without
   * headers: Confluent's client changes the messages it is given, and yours stay as they were.
   */
  #withoutTraceHeaders(message: ProducedMessage): ProducedMessage {
    if (!isMessage(message)) return message;
    try {
      const headers = message.headers;
      return copyMessage(message, headers == null ? undefined : this.#encode(copyWithoutContext(headers as MessageHeaders)), this.#inherited);
    } catch {
      // Unreadable (a getter that throws): as #carrying, the client gets it as it is.
      return message;
    }
  }

  /** A group of a `sendBatch` as #withoutTraceHeaders leaves its messages. */
  #withoutTraceHeadersAll(group: TopicMessagesShape): TopicMessagesShape {
    return withMessages(group, group.messages.map(this.#withoutTraceHeaders, this));
  }
}

/** A `sendBatch` without `topicMessages`: it goes to the client as it is. */
const NO_GROUPS: readonly TopicMessagesShape[] = Object.freeze([]);

/** The fields the clients read from a record, a batch or one of its groups, besides the messages tracebus replaces. */
const RECORD_FIELDS = ['topic', 'acks', 'timeout', 'compression'] as const;

/**
 * `record` (a `send` record or a group of a batch) with `messages` in place of its own, as the
 * client would read `record`: a plain object is spread; any other is copied with its prototype,
 * getters and non-enumerable fields (copyWith), which a spread would leave out: a record class
 * with a `topic` getter, an inherited `acks`. `record` itself when it cannot be read (a getter
 * that throws): the client reads it too and rejects as it does untraced.
 */
function withMessages<R extends TopicMessagesShape>(record: R, messages: ProducedMessage[]): R {
  try {
    // The common case, a plain object, costs one spread as ever: its fields are its own.
    if (Object.getPrototypeOf(record) === Object.prototype) return { ...record, messages };
    return copyWith(record, { messages }, RECORD_FIELDS);
  } catch {
    return record;
  }
}

/** `batch` with `topicMessages` in place of its own, read as withMessages reads a record. */
function withTopicMessages(batch: ProducerBatchShape, topicMessages: TopicMessagesShape[]): ProducerBatchShape {
  try {
    if (Object.getPrototypeOf(batch) === Object.prototype) return { ...batch, topicMessages };
    return copyWith(batch, { topicMessages }, RECORD_FIELDS);
  } catch {
    return batch;
  }
}

/**
 * The attributes of one message a producer sends (producedAttributes), never throwing: a field
 * whose getter throws is left off the span, and the send goes on to the client, which reads it
 * too and answers as it does untraced.
 */
function attributesOf(message: ProducedMessage, client: ClientAttributes, withClientId: boolean): Attributes {
  try {
    return producedAttributes(message, client, withClientId);
  } catch {
    return producedAttributes(readableFields(message), client, withClientId);
  }
}

/** Stands for a value that cannot be read: neither a tombstone (`null`) nor a size. */
const UNREADABLE = Object.freeze({});

/** The fields of `message` producedAttributes reads, those that throw left out (and the value neither null nor sized). */
function readableFields(message: ProducedMessage): ProducedMessage {
  const fields: Record<string, unknown> = {};
  for (const field of ['partition', 'key', 'value'] as const) {
    try {
      fields[field] = message[field];
    } catch {
      fields[field] = field === 'value' ? UNREADABLE : undefined;
    }
  }
  return fields as unknown as ProducedMessage;
}

/**
 * A copy of `message` that carries `headers`: its own fields, and those of `inherited` the client
 * reads where they come from its prototype (a class with a `value` getter), which a spread alone
 * would leave out, sending a keyless tombstone where the untraced client sends the message.
 */
function copyMessage(message: ProducedMessage, headers: object | null | undefined, inherited: readonly MessageField[]): ProducedMessage {
  const copy: ProducedMessage = headers == null ? { ...message } : { ...message, headers };
  // A plain object's fields are all its own: only another kind of object can inherit them.
  if (Object.getPrototypeOf(message) !== Object.prototype) {
    for (const field of inherited) {
      if (!Object.hasOwn(copy, field) && field in message) (copy as unknown as Record<string, unknown>)[field] = message[field];
    }
  }
  return copy;
}

function isMessage(message: unknown): message is ProducedMessage {
  return message !== null && typeof message === 'object';
}
