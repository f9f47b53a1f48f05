import { context, SpanKind, trace, type Attributes, type Context, type Span, type SpanContext } from '@opentelemetry/api';
import type { Message, Producer, ProducerBatch, ProducerRecord, RecordMetadata, TopicMessages, Transaction } from 'kafkajs';
import { checkOptions, checkTarget } from '../core/checks.ts';
import type { PublisherDecorator } from '../core/compose.ts';
import { delegateTo } from '../core/delegate.ts';
import { copyWithoutContext, copyWithoutTraceHeaders, headerSetter, type MessageHeaders, type WritableHeaders } from '../core/headers.ts';
import { measureSend, runHook, runInSpan } from '../core/lifecycle.ts';
import { ATTR_LINKS_DROPPED, MessagingTracer } from '../core/messaging-tracer.ts';
import { callContext, callOwn, originalOf } from '../core/overlap.ts';
import type { OperationInfo, SpanHook } from '../core/operation.ts';
import type { TracingOptions } from '../core/options.ts';
import { ATTR_MESSAGING_BATCH_MESSAGE_COUNT } from '../core/semconv.ts';
import { addClient, clientAttributes, KAFKA_SYSTEM, producedAttributes, systemAttributes, type ClientAttributes, type KafkaClientOptions } from './attributes.ts';
import { kafkaHeaders } from './headers.ts';
import { TransactionSpan, tracedTransaction } from './transaction.ts';

/** What a producer hook receives: one message and the topic it goes to. */
export interface KafkaProducedMessage {
  readonly topic: string;
  readonly message: Message;
}

/** Options of {@link traceProducer}. */
export interface KafkaProducerOptions extends TracingOptions, KafkaClientOptions {
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
  producerHook?: SpanHook<KafkaProducedMessage>;
}

/** What `send` and `sendBatch` are called on: a producer or a transaction. */
export type Sender = Pick<Producer, 'send' | 'sendBatch'>;

/**
 * A producer decorator: `traceProducer(options)(producer)` returns an object of the same
 * `Producer` type that delegates every method to `producer` (`connect`, `disconnect`,
 * `on`, `events`, `logger`, …) and traces what it sends. The messages, arrays and headers
 * you pass are never modified: tracebus sends copies.
 *
 * - `send({ topic, messages: [one] })`: one PRODUCER span `send <topic>`; its context goes
 *   into the message's headers.
 * - `send` with several messages, and `sendBatch`: one `send` span for the call, named
 *   `send <topic>` (just `send` when a `sendBatch` spans topics), with
 *   `messaging.batch.message_count`; plus, unless `createSpans: false`, a PRODUCER span
 *   `create <topic>` per message whose context goes into that message. The `send` span is
 *   then CLIENT and links to every `create` span, at most `maxLinks` of them
 *   (`tracebus.links.dropped_count` counts the rest).
 * - `transaction()` resolves to a traced `Transaction`: its `send` and `sendBatch` are
 *   traced the same way, and the transaction itself is an INTERNAL span `transaction`
 *   that ends on `commit()` or `abort()` (`tracebus.kafka.transaction.outcome`), or as
 *   `abandoned` when the producer disconnects first. Sends made in the context the
 *   transaction began in are its children; sends made elsewhere (say, in each message's
 *   context inside a batch handler) stay in their own trace and link to it.
 *
 * Spans carry `messaging.system.name` `kafka`, the topic, the partition when the message
 * names one, `kafka.message.key` (not for `null` keys), `kafka.message.tombstone` for a
 * `null` value, and `server.*` / `messaging.client.id` from the `brokers` and `clientId`
 * options. A failed send is recorded on its span (exception, status ERROR, `error.type`)
 * and rejects exactly as it would untraced.
 *
 * Trace headers already on a message (a consumed message sent on) are replaced, never
 * repeated. Header values kafkajs cannot encode are made encodable (numbers become text,
 * `null` values are left out), so tracing never makes a send fail.
 *
 * @example
 * const kafka = new Kafka({ clientId: 'checkout', brokers: ['127.0.0.1:9092'] });
 * const producer = traceProducer({ clientId: 'checkout', brokers: ['127.0.0.1:9092'] })(kafka.producer());
 * await producer.connect();
 * await producer.send({ topic: 'orders', messages: [{ key: order.id, value: JSON.stringify(order) }] });
 */
export function traceProducer(options?: KafkaProducerOptions): PublisherDecorator<Producer> {
  const { createSpans = true, producerHook } = checkOptions(options, 'traceProducer', 'producer');
  if (typeof createSpans !== 'boolean') throw new TypeError('tracebus: traceProducer({ createSpans }) must be true or false');
  if (producerHook !== undefined && typeof producerHook !== 'function') throw new TypeError('tracebus: traceProducer({ producerHook }) must be a function (span, { topic, message }) => void');
  const sends = new SendTracer(new MessagingTracer(KAFKA_SYSTEM, options), clientAttributes(options ?? {}, 'traceProducer'), createSpans, producerHook);
  return function decorateProducer(producer) {
    checkTarget(producer, ['send', 'sendBatch'], 'traceProducer', 'producer', 'a kafkajs producer, e.g. traceProducer(options)(kafka.producer())');
    return tracedProducer(producer, sends);
  };
}

function tracedProducer(raw: Producer, sends: SendTracer): Producer {
  let open: TransactionSpan | undefined;
  const overrides: Record<string, (...args: any[]) => unknown> = {
    send: function send(record: ProducerRecord) {
      return sends.send(raw, record, undefined);
    },
    sendBatch: function sendBatch(batch: ProducerBatch) {
      return sends.sendBatch(raw, batch, undefined);
    },
  };
  if (typeof raw.transaction === 'function') {
    overrides.transaction = function transaction(): Promise<Transaction> {
      const begun = sends.beginTransaction();
      let pending: Promise<Transaction>;
      try {
        pending = callOwn(raw, raw.transaction);
      } catch (error) {
        begun.failed(error);
        throw error;
      }
      return Promise.resolve(pending).then(
        function transactionBegun(transaction) {
          // kafkajs allows one transaction at a time: one still open here was ended behind
          // the traced object's back.
          open?.end('abandoned');
          open = begun;
          return tracedTransaction(transaction, begun, sends);
        },
        function transactionRefused(error: unknown) {
          begun.failed(error);
          throw error;
        },
      );
    };
  }
  if (typeof raw.disconnect === 'function') {
    overrides.disconnect = function disconnect() {
      open?.end('abandoned');
      open = undefined;
      return raw.disconnect();
    };
  }
  return delegateTo(raw, overrides);
}

/** Traces `send` and `sendBatch` calls; one per `traceProducer()`, shared by its producers. */
export class SendTracer {
  readonly #tracer: MessagingTracer;
  readonly #client: ClientAttributes;
  readonly #createSpans: boolean;
  readonly #hook: SpanHook<KafkaProducedMessage> | undefined;

  constructor(tracer: MessagingTracer, client: ClientAttributes, createSpans: boolean, hook: SpanHook<KafkaProducedMessage> | undefined) {
    this.#tracer = tracer;
    this.#client = client;
    this.#createSpans = createSpans;
    this.#hook = hook;
  }

  beginTransaction(): TransactionSpan {
    const active = context.active();
    const attributes = systemAttributes(this.#tracer);
    addClient(attributes, this.#client);
    const span = this.#tracer.tracer.startSpan('transaction', { kind: SpanKind.INTERNAL, attributes }, active);
    return new TransactionSpan(span, trace.getSpan(active));
  }

  send(sink: Sender, record: ProducerRecord, transaction: TransactionSpan | undefined): Promise<RecordMetadata[]> {
    const messages = record?.messages;
    // Malformed calls go to kafkajs untouched, for its own error.
    if (typeof record?.topic !== 'string' || !Array.isArray(messages)) return callOwn(sink, sink.send, record);
    if (this.#tracer.idle()) return callOwn(sink, sink.send, { ...record, messages: messages.map(withoutTraceHeaders) });
    if (messages.length === 1 && isMessage(messages[0])) return this.#sendOne(sink, record, messages[0], transaction);
    return this.#sendMany(sink, record, undefined, [record], record.topic, transaction);
  }

  sendBatch(sink: Sender, batch: ProducerBatch, transaction: TransactionSpan | undefined): Promise<RecordMetadata[]> {
    const topicMessages = batch?.topicMessages ?? [];
    if (!Array.isArray(topicMessages)) return callOwn(sink, sink.sendBatch, batch);
    let destination: string | undefined;
    for (let index = 0; index < topicMessages.length; index++) {
      const group = topicMessages[index];
      if (group === null || typeof group !== 'object' || typeof group.topic !== 'string' || !Array.isArray(group.messages)) return callOwn(sink, sink.sendBatch, batch);
      if (index === 0) destination = group.topic;
      else if (group.topic !== destination) destination = undefined;
    }
    if (this.#tracer.idle()) return callOwn(sink, sink.sendBatch, { ...batch, topicMessages: topicMessages.map((group) => ({ ...group, messages: group.messages.map(withoutTraceHeaders) })) });
    return this.#sendMany(sink, undefined, batch, topicMessages, destination, transaction);
  }

  // Not tracePublish: a send inside a transaction takes the transaction as parent or link,
  // and a bulk send injects each message's own `create` span; the spans go through the
  // core's startSpan and runInSpan.
  #sendOne(sink: Sender, record: ProducerRecord, message: Message, transaction: TransactionSpan | undefined): Promise<RecordMetadata[]> {
    const tracer = this.#tracer;
    const active = context.active();
    const parent = transaction === undefined ? active : transaction.parentFor(active);
    const info: OperationInfo = { type: 'send', destination: record.topic, attributes: producedAttributes(message, this.#client, true) };
    const attributes = tracer.attributes(info);
    const span = tracer.startSpan(info, SpanKind.PRODUCER, parent, transaction?.linksFor(active), attributes);
    if (this.#hook !== undefined) runHook(this.#hook, span, { topic: record.topic, message }, 'producerHook');
    const ctx = trace.setSpan(parent, span);
    const sent: ProducerRecord = { ...record, messages: [{ ...message, headers: kafkaHeaders(tracer.inject(ctx, message.headers as MessageHeaders | undefined)) }] };
    return runInSpan(span, callContext(ctx, sink.send), originalOf(sink.send), sink, sent, undefined, measureSend(tracer.instruments(), attributes, 1));
  }

  /** A multi-message `send` (`record` set) or a `sendBatch` (`batch` set), whose messages are in `groups`. */
  #sendMany(
    sink: Sender,
    record: ProducerRecord | undefined,
    batch: ProducerBatch | undefined,
    groups: readonly TopicMessages[],
    destination: string | undefined,
    transaction: TransactionSpan | undefined,
  ): Promise<RecordMetadata[]> {
    const tracer = this.#tracer;
    const active = context.active();
    const parent = transaction === undefined ? active : transaction.parentFor(active);
    let count = 0;
    for (const group of groups) count += group.messages.length;
    const sendAttributes: Attributes = { [ATTR_MESSAGING_BATCH_MESSAGE_COUNT]: count };
    addClient(sendAttributes, this.#client);
    const info: OperationInfo = { type: 'send', destination, attributes: sendAttributes };
    const sentGroups: TopicMessages[] = new Array(groups.length);
    let span: Span;
    let ctx: Context;
    let attributes: Attributes;
    if (this.#createSpans) {
      const created: SpanContext[] = [];
      for (let index = 0; index < groups.length; index++) {
        const group = groups[index]!;
        const messages: Message[] = new Array(group.messages.length);
        for (let at = 0; at < messages.length; at++) messages[at] = this.#create(parent, group.topic, group.messages[at]!, created);
        sentGroups[index] = { ...group, messages };
      }
      const { links, dropped } = tracer.links(created);
      if (dropped > 0) sendAttributes[ATTR_LINKS_DROPPED] = dropped;
      const linkToTransaction = transaction?.linksFor(active);
      if (linkToTransaction !== undefined) links.push(...linkToTransaction);
      attributes = tracer.attributes(info);
      // Semconv: a send span whose context is not the one injected is CLIENT.
      span = tracer.startSpan(info, SpanKind.CLIENT, parent, links, attributes);
      ctx = trace.setSpan(parent, span);
    } else {
      attributes = tracer.attributes(info);
      span = tracer.startSpan(info, SpanKind.PRODUCER, parent, transaction?.linksFor(active), attributes);
      ctx = trace.setSpan(parent, span);
      const traceHeaders = tracer.inject(ctx, undefined);
      for (let index = 0; index < groups.length; index++) {
        const group = groups[index]!;
        const messages: Message[] = new Array(group.messages.length);
        for (let at = 0; at < messages.length; at++) messages[at] = withTraceHeaders(group.messages[at]!, traceHeaders);
        sentGroups[index] = { ...group, messages };
      }
    }
    const onEnd = measureSend(tracer.instruments(), attributes, count);
    if (record !== undefined) return runInSpan(span, callContext(ctx, sink.send), originalOf(sink.send), sink, { ...record, messages: sentGroups[0]!.messages }, undefined, onEnd);
    return runInSpan(span, callContext(ctx, sink.sendBatch), originalOf(sink.sendBatch), sink, { ...batch, topicMessages: sentGroups }, undefined, onEnd);
  }

  /** Records the `create` span of one message and returns a copy carrying its context. */
  #create(parent: Context, topic: string, message: Message, created: SpanContext[]): Message {
    if (!isMessage(message)) return message;
    const tracer = this.#tracer;
    const info: OperationInfo = { type: 'create', destination: topic, attributes: producedAttributes(message, this.#client, false) };
    const span = tracer.startSpan(info, SpanKind.PRODUCER, parent);
    if (this.#hook !== undefined) runHook(this.#hook, span, { topic, message }, 'producerHook');
    span.end();
    created.push(span.spanContext());
    return { ...message, headers: kafkaHeaders(tracer.inject(trace.setSpan(parent, span), message.headers as MessageHeaders | undefined)) };
  }
}

/** A copy of `message` whose headers carry `traceHeaders` instead of any trace headers it had. */
function withTraceHeaders(message: Message, traceHeaders: WritableHeaders): Message {
  if (!isMessage(message)) return message;
  const headers = copyWithoutTraceHeaders(message.headers as MessageHeaders | undefined);
  for (const name in traceHeaders) headerSetter.set(headers, name, traceHeaders[name] as string);
  return { ...message, headers: kafkaHeaders(headers) };
}

/**
 * `message` as tracing leaves it while idle (nothing registered): trace headers it carried
 * from elsewhere dropped, as a traced send would replace them.
 */
function withoutTraceHeaders(message: Message): Message {
  if (!isMessage(message) || message.headers == null) return message;
  return { ...message, headers: kafkaHeaders(copyWithoutContext(message.headers as MessageHeaders)) };
}

function isMessage(message: unknown): message is Message {
  return message !== null && typeof message === 'object';
}
