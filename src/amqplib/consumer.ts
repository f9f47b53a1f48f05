import { context, diag, ROOT_CONTEXT, SpanKind, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { reportProblem } from '../core/warnings.ts';
import type { Channel as CallbackChannel } from 'amqplib/callback_api';
import type { Channel, ConsumeMessage, Message } from 'amqplib';
import { checkHandler, checkOptions, isTraced, markTraced, optionKeys } from '../core/checks.ts';
import { closeSpan, endSpan, errorType, isPromiseLike, measureReceive, recordError, recordOperation, runHook } from '../core/lifecycle.ts';
import { messageTraceOf, type MessageTrace } from '../core/message-trace.ts';
import { IDLE_MESSAGE_TRACE, IDLE_SPAN, MessagingTracer } from '../core/messaging-tracer.ts';
import type { Instruments } from '../core/metrics.ts';
import type { OperationInfo, SpanHook } from '../core/operation.ts';
import { TRACING_OPTION_KEYS, type TracingOptions } from '../core/options.ts';
import { assertPolicyOption, type PolicyOption } from '../core/policy.ts';
import { ATTR_MESSAGING_MESSAGE_BODY_SIZE, ATTR_MESSAGING_MESSAGE_CONVERSATION_ID, ATTR_MESSAGING_MESSAGE_ID, ATTR_RABBITMQ_DELIVERY_TAG, ATTR_RABBITMQ_ROUTING_KEY } from '../core/semconv.ts';
import { isValidSpanContext } from '../core/span-context.ts';
import {
  addDeath,
  addDestination,
  addServer,
  ATTR_RABBITMQ_EMPTY,
  ATTR_RABBITMQ_REDELIVERED,
  ATTR_RABBITMQ_SETTLEMENT,
  consumeDestination,
  DestinationMemo,
  idOf,
  RABBITMQ_SYSTEM,
  serverOf,
  timestampOf,
  type Destination,
  type Server,
} from './attributes.ts';
import { Delivery, ledgerOf, rawChannelOf, settlementAttributes, type DeliverySource, type Ledger } from './settlement.ts';

/** Any amqplib channel: promise API (`amqplib`) or callback API (`amqplib/callback_api`). */
export type AmqpChannel = Channel | CallbackChannel;

/**
 * What happens to a message whose handler threw or rejected, after the error is recorded:
 * - `nack-requeue` (default): `nack` with requeue; the broker delivers it again, flagged
 *   `redelivered`. A message that always fails is redelivered forever: use a function
 *   such as `(error, message) => message.fields.redelivered ? 'nack' : 'nack-requeue'`
 *   to requeue once, then dead-letter;
 * - `nack`: `nack` without requeue; the queue's dead-letter exchange gets it, or the
 *   broker drops it when the queue has none;
 * - `reject`: `reject` without requeue (the same outcome through `basic.reject`, for
 *   brokers without `basic.nack`);
 * - `rethrow`: tracebus does not settle; the error propagates to the caller of the
 *   consume callback. amqplib has no use for it: a synchronous throw closes the channel
 *   (the broker then requeues every unsettled message), a rejected promise is an
 *   unhandled rejection. Choose it only when you wrap the callback yourself.
 *
 * With the settling choices the error does not propagate further: it is on the span, and
 * the message is settled. A `noAck` consumer's messages are settled on delivery, so there
 * is nothing to do; its errors are recorded only (or rethrown with `rethrow`).
 */
export type ErrorSettlement = 'nack-requeue' | 'nack' | 'reject' | 'rethrow';

/** {@link ErrorSettlement}, fixed or chosen per failure. */
export type OnErrorOption<M extends Message = Message> = ErrorSettlement | ((error: unknown, message: M) => ErrorSettlement);

/** A message handler: the message, and the trace of the consumer span it runs in. */
export type AmqpHandler<M extends Message = ConsumeMessage> = (message: M, trace: MessageTrace) => unknown;

/**
 * The traced callback to hand to `channel.consume`. It returns a promise when the handler
 * is asynchronous; it rejects (or throws) only with `onError: 'rethrow'`.
 */
export type TracedConsumeCallback<M extends Message = ConsumeMessage> = (message: M | null) => void | Promise<void>;

/** Options shared by every consumer-side tracer. */
export interface AmqpConsumerOptions<M extends Message = Message> extends TracingOptions {
  /** Where the consumer span goes in the trace: `parent` (default), `link`, `root` or a function of the message. */
  policy?: PolicyOption<M>;
  /** Adds attributes to each `process` and `receive` span. A hook that throws is reported to `diag`. */
  consumerHook?: SpanHook<M>;
  /** What happens to a message whose handler failed. Default `nack-requeue`. */
  onError?: OnErrorOption<M>;
  /** Record `messaging.message.body.size` (opt-in in semconv). Default `false`. */
  bodySize?: boolean;
  /** `server.address`. Default: the address of the channel's socket. */
  serverAddress?: string;
  /** `server.port`. Default: the port of the channel's socket. */
  serverPort?: number;
}

/** Options of {@link traceConsume}. */
export interface AmqpConsumeOptions<M extends Message = ConsumeMessage> extends AmqpConsumerOptions<M> {
  /**
   * The channel that consumes. Pass the one `traceChannel()` returned to have the
   * handler's own `ack`/`nack`/`reject` recorded; tracebus settles failed messages on it.
   * Required unless `noAck` is true.
   */
  channel?: AmqpChannel;
  /** The queue consumed from (for the destination `{exchange}:{routing key}:{queue}`). */
  queue: string;
  /**
   * Set when consuming with `{ noAck: true }`: nothing is settled, the settlement is `auto`.
   * It must be the consume options' `noAck`: the `consume` of a traced channel or ChannelWrapper
   * throws a TypeError when they differ; an untraced channel cannot tell.
   */
  noAck?: boolean;
  /** Called when the broker cancels the consumer (amqplib passes `null`), e.g. after the queue was deleted. */
  onCancel?: () => void;
}

const ON_ERROR: ReadonlySet<string> = new Set(['nack-requeue', 'nack', 'reject', 'rethrow']);
/** Whether consume or get options ask the broker to settle deliveries itself, read as amqplib reads them (`!!options.noAck`). */
export function isNoAck(options: { readonly noAck?: unknown } | undefined | null): boolean {
  return !!options?.noAck;
}

/** Checks `serverAddress` and `serverPort`, which become `server.address` (a string) and `server.port` (an integer). */
export function assertServerOptions(options: { readonly serverAddress?: unknown; readonly serverPort?: unknown }, factory: string): void {
  const { serverAddress, serverPort } = options;
  if (serverAddress !== undefined && (typeof serverAddress !== 'string' || serverAddress === '')) {
    throw new TypeError(`tracebus: ${factory}({ serverAddress }) must be the broker's host name, such as 'rabbitmq.internal'; got ${JSON.stringify(serverAddress)}`);
  }
  if (serverPort !== undefined && !(Number.isInteger(serverPort) && (serverPort as number) > 0 && (serverPort as number) < 65536)) {
    throw new TypeError(`tracebus: ${factory}({ serverPort }) must be a port number such as 5672 (a number, not a string); got ${JSON.stringify(serverPort)}`);
  }
}

export function assertOnErrorOption(onError: unknown): void {
  if (onError === undefined || typeof onError === 'function') return;
  if (typeof onError !== 'string' || !ON_ERROR.has(onError)) {
    throw new TypeError(`tracebus: onError must be 'nack-requeue', 'nack', 'reject', 'rethrow' or a function (error, message) => one of them; got ${JSON.stringify(onError)}`);
  }
}

interface SettlingChannel {
  nack(message: Message, allUpTo?: boolean, requeue?: boolean): unknown;
  reject(message: Message, requeue?: boolean): unknown;
}

/**
 * Traces the deliveries of one consumer: the engine behind {@link traceConsume} and the
 * traced channel's own `consume` and `get`.
 */
export class ConsumerTracer<M extends Message = Message> implements DeliverySource {
  readonly tracer: MessagingTracer;
  /** The broker the deliveries come from; a ChannelWrapper's consumer updates it when the wrapper moves to a new channel. */
  server: Server;
  readonly queue: string;
  readonly noAck: boolean;
  readonly #policy: PolicyOption<M> | undefined;
  readonly #hook: SpanHook<M> | undefined;
  readonly #onError: OnErrorOption<M>;
  readonly #bodySize: boolean;
  readonly #channel: SettlingChannel | undefined;
  readonly #origin: unknown;
  #ledger: Ledger | undefined;
  readonly #memo = new DestinationMemo();

  constructor(tracer: MessagingTracer, options: AmqpConsumerOptions<M>, channel: unknown, queue: string, noAck: boolean, server?: Server) {
    this.tracer = tracer;
    this.queue = queue;
    this.noAck = noAck;
    this.#policy = options.policy;
    this.#hook = options.consumerHook;
    this.#onError = options.onError ?? 'nack-requeue';
    this.#bodySize = options.bodySize === true;
    this.#origin = channel;
    this.#channel = channel === undefined ? undefined : (rawChannelOf(channel) as SettlingChannel);
    this.server = server ?? serverOf(this.#channel, options.serverAddress, options.serverPort);
  }

  // Looked up late: the channel may be traced after the consumer was set up.
  get #ledgerNow(): Ledger | undefined {
    return (this.#ledger ??= ledgerOf(this.#origin));
  }

  #destination(message: M): Destination {
    return this.#memo.consume(message.fields.exchange, message.fields.routingKey, this.queue);
  }

  /** Attributes every span about `message` carries. */
  #attributes(message: M, destination: Destination): Attributes {
    const { fields, properties } = message;
    const attributes: Attributes = { [ATTR_RABBITMQ_DELIVERY_TAG]: fields.deliveryTag };
    if (fields.routingKey !== '') attributes[ATTR_RABBITMQ_ROUTING_KEY] = fields.routingKey;
    addDestination(attributes, destination);
    const messageId = idOf(properties.messageId);
    if (messageId !== undefined) attributes[ATTR_MESSAGING_MESSAGE_ID] = messageId;
    const conversationId = idOf(properties.correlationId);
    if (conversationId !== undefined) attributes[ATTR_MESSAGING_MESSAGE_CONVERSATION_ID] = conversationId;
    if (fields.redelivered) attributes[ATTR_RABBITMQ_REDELIVERED] = true;
    if (this.#bodySize) attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = message.content.length;
    if (this.noAck) attributes[ATTR_RABBITMQ_SETTLEMENT] = 'auto';
    const headers = properties.headers;
    if (headers !== undefined && headers !== null && headers['x-death'] !== undefined) addDeath(attributes, headers);
    addServer(attributes, this.server);
    return attributes;
  }

  /**
   * Runs `handler` for `message` inside a CONSUMER span `process <destination>` placed by
   * the policy, with the span's context active. The span ends when the handler returns
   * or settles; on failure the error is recorded and the message settled per `onError`.
   */
  process(message: M, handler: AmqpHandler<M>): void | Promise<void> {
    // Not traceProcess: a failed handler's message is settled per `onError` before the span
    // ends, and the error is rethrown only under 'rethrow' (amqplib never sees the throw
    // otherwise); the span is started and ended here through the core's pieces.
    const destination = this.#destination(message);
    let delivery: Delivery;
    let ctx: Context;
    let handlerTrace: MessageTrace;
    const state = this.tracer.prepare();
    if (state === undefined) {
      // Nothing to record; the delivery is still tracked, so that `onError` settles it once.
      delivery = new Delivery(this, IDLE_SPAN, message.fields.deliveryTag, this.queue, destination);
      ctx = ROOT_CONTEXT;
      handlerTrace = IDLE_MESSAGE_TRACE;
    } else {
      const info: OperationInfo = { type: 'process', destination: destination.template ?? destination.name, attributes: this.#attributes(message, destination), metricTemplate: destination.metric };
      // Metric attributes are worked out only while metrics are on.
      const instruments = this.tracer.instruments();
      const attributes = instruments === undefined ? undefined : this.tracer.attributesForMetrics(info);
      const { parent, links } = this.tracer.placement(message.properties.headers, message, this.#policy, info.destination, attributes, state);
      const span = this.tracer.startSpan(info, SpanKind.CONSUMER, parent, links);
      if (this.#hook !== undefined) runHook(this.#hook, span, message, 'consumerHook');
      ctx = trace.setSpan(parent, span);
      handlerTrace = messageTraceOf(span, ctx);
      delivery = new Delivery(this, span, message.fields.deliveryTag, this.queue, destination);
      if (attributes !== undefined) delivery.onEnd = measureReceive(instruments, attributes, { type: 'process', publishedAt: timestampOf(message.properties.timestamp) });
    }
    if (!this.noAck) this.#ledgerNow?.track(delivery);
    let result: unknown;
    try {
      result = context.with(ctx, handler, undefined, message, handlerTrace);
    } catch (error) {
      if (this.#failed(delivery, message, error)) throw error;
      return;
    }
    if (isPromiseLike(result)) return this.#finish(delivery, message, result);
    this.#end(delivery, undefined, false);
  }

  async #finish(delivery: Delivery, message: M, result: PromiseLike<unknown>): Promise<void> {
    try {
      await result;
    } catch (error) {
      if (this.#failed(delivery, message, error)) throw error;
      return;
    }
    this.#end(delivery, undefined, false);
  }

  /** Records the failure, settles per `onError`, ends the span; true when the error must propagate. */
  #failed(delivery: Delivery, message: M, error: unknown): boolean {
    const settlement = this.#settlementFor(error, message);
    if (settlement !== 'rethrow' && !this.noAck) this.#settle(delivery, message, settlement);
    this.#end(delivery, error, true);
    return settlement === 'rethrow';
  }

  #end(delivery: Delivery, error: unknown, failed: boolean): void {
    delivery.open = false;
    endSpan(delivery.span, delivery.onEnd, error, failed);
  }

  #settlementFor(error: unknown, message: M): ErrorSettlement {
    const onError = this.#onError;
    if (typeof onError !== 'function') return onError;
    try {
      const chosen = onError(error, message);
      if (ON_ERROR.has(chosen)) return chosen;
      reportProblem('TRACEBUS_HOOK_FAILED', `tracebus: onError returned ${JSON.stringify(chosen)}; using 'nack-requeue'`, undefined, 'error');
    } catch (problem) {
      reportProblem('TRACEBUS_HOOK_FAILED', "tracebus: onError threw; using 'nack-requeue'", problem, 'error');
    }
    return 'nack-requeue';
  }

  #settle(delivery: Delivery, message: M, settlement: Exclude<ErrorSettlement, 'rethrow'>): void {
    const ledger = this.#ledgerNow;
    // The handler settled it already through the traced channel, or its channel is gone and its
    // tag belongs to a later delivery on the next one (amqp-connection-manager reconnected):
    // settling now would be a protocol error that closes the channel, or settle another message.
    if (ledger !== undefined && !ledger.release(delivery)) return;
    const channel = this.#channel;
    if (channel === undefined) return;
    const requeue = settlement === 'nack-requeue';
    const method = settlement === 'reject' ? 'reject' : 'nack';
    try {
      if (method === 'reject') channel.reject(message, false);
      else channel.nack(message, false, requeue);
    } catch (problem) {
      // A closed channel cannot settle; the broker requeues what it had delivered.
      diag.warn(`tracebus: could not ${method} a failed message; the channel is closed, so the broker requeues it`, problem);
      return;
    }
    if (ledger !== undefined) ledger.record(delivery, method, requeue, false, true);
    else delivery.span.setAttributes(settlementAttributes(method, requeue, false, true, undefined));
  }

  /**
   * Starts the CLIENT span `receive <queue>` of a `channel.get`; {@link received} ends it.
   */
  startReceive(): Receipt {
    // A receive span starts before the message exists and learns its destination and
    // context only when `get` answers, so its attributes and metrics are set in `received`.
    const attributes: Attributes = {};
    addServer(attributes, this.server);
    const destination = consumeDestination('', '', this.queue);
    addDestination(attributes, destination);
    const info: OperationInfo = { type: 'receive', destination: destination.template ?? destination.name, attributes };
    const spanAttributes = this.tracer.attributes(info);
    const span = this.tracer.startSpan(info, SpanKind.CLIENT, context.active(), undefined, spanAttributes);
    const instruments = this.tracer.instruments();
    return { span, attributes: spanAttributes, instruments, started: instruments === undefined ? 0 : performance.now() };
  }

  /**
   * Ends a `receive` span with what `channel.get` returned: the message's destination and
   * attributes, and a link to the context it carries (a receive span starts before the
   * message exists, so the context can only be a link; policy `root` adds none).
   */
  received(receipt: Receipt, error: unknown, message: M | false | undefined | null): void {
    const { span, instruments } = receipt;
    let attributes: Attributes | undefined;
    try {
      if (error != null) {
        recordError(span, error);
      } else if (message === false || message == null) {
        span.setAttribute(ATTR_RABBITMQ_EMPTY, true);
      } else {
        const destination = this.#destination(message);
        const info: OperationInfo = { type: 'receive', destination: destination.template ?? destination.name, attributes: this.#attributes(message, destination), metricTemplate: destination.metric };
        span.updateName(`receive ${info.destination}`);
        span.setAttributes(this.tracer.attributes(info));
        attributes = this.tracer.attributesForMetrics(info);
        const { parent, links } = this.tracer.placement(message.properties.headers, message, this.#policy, info.destination, attributes);
        const remote = links?.[0]?.context ?? trace.getSpanContext(parent);
        if (remote !== undefined && isValidSpanContext(remote)) span.addLink({ context: remote });
        if (this.#hook !== undefined) runHook(this.#hook, span, message, 'consumerHook');
        if (!this.noAck) {
          const delivery = new Delivery(this, span, message.fields.deliveryTag, this.queue, destination);
          delivery.open = false;
          this.#ledgerNow?.track(delivery);
        }
      }
    } catch (problem) {
      diag.error('tracebus: could not record a received message', problem);
    }
    closeSpan(span);
    if (instruments !== undefined) recordOperation(instruments, attributes ?? receipt.attributes, receipt.started, error == null ? undefined : errorType(error), attributes !== undefined);
  }
}

/** A `receive` span in progress, with what its metrics need. */
export interface Receipt {
  readonly span: Span;
  /** The span's attributes at its start, before the message was known. */
  readonly attributes: Attributes;
  readonly instruments: Instruments | undefined;
  readonly started: number;
}

/** Every option of {@link traceConsume}. */
const CONSUME_OPTIONS = [
  ...TRACING_OPTION_KEYS,
  ...optionKeys<Omit<AmqpConsumeOptions, keyof TracingOptions>>({ policy: 1, consumerHook: 1, onError: 1, bodySize: 1, serverAddress: 1, serverPort: 1, channel: 1, queue: 1, noAck: 1, onCancel: 1 }),
];

/**
 * Consume middleware: wraps a handler into the callback for
 * `channel.consume(queue, callback, options)`.
 *
 * - Each message runs in a CONSUMER span `process <exchange>:<routing key>:<queue>`
 *   (semconv; empty parts left out, the routing key written once when it is the queue
 *   name), placed in the trace by `policy`, with the span's context active. Trace headers
 *   are read as strings or Buffers; other types and malformed values start a new trace.
 * - The span lasts as long as the handler (an async handler is awaited), not until the ack.
 * - A settlement is recorded as attributes (`tracebus.rabbitmq.settlement`, `.requeue`,
 *   `.multiple`, `.dead_letter_exchange`) when it goes through the channel returned by
 *   `traceChannel()`: on the span while the handler runs, else on a short `settle` span.
 * - A handler error is recorded on the span (exception event, status ERROR, `error.type`)
 *   and the message settled per `onError` (default `nack-requeue`): a failing handler's
 *   message is never acked, and amqplib never sees the throw.
 * - Redeliveries carry `tracebus.rabbitmq.redelivered`; dead-lettered messages the
 *   newest `x-death` entry (`tracebus.rabbitmq.death.*`).
 *
 * The traced channel's own `consume` applies this automatically; call it yourself for
 * per-consumer options, and pass the traced channel as `channel`.
 *
 * @example
 * const channel = traceChannel()(await connection.createChannel());
 * await channel.consume('orders', traceConsume({ channel, queue: 'orders', policy: 'link', onError: 'nack' })(
 *   async (message, trace) => {
 *     await charge(JSON.parse(message.content.toString()));
 *     channel.ack(message);
 *   },
 * ));
 */
export function traceConsume<M extends Message = ConsumeMessage>(options: AmqpConsumeOptions<M>): (handler: AmqpHandler<M>) => TracedConsumeCallback<M> {
  if (options === undefined) throw new TypeError("tracebus: traceConsume(options) needs an options object such as { channel, queue: 'orders' }");
  checkOptions(options, 'traceConsume', 'handler', CONSUME_OPTIONS);
  const { channel, queue, noAck = false, onCancel, onError } = options;
  if (typeof queue !== 'string') throw new TypeError("tracebus: traceConsume() needs the queue name: traceConsume({ channel, queue: 'orders' })");
  if (channel === undefined && !noAck && onError !== 'rethrow') {
    throw new TypeError("tracebus: traceConsume() needs the consuming channel to settle failed messages: traceConsume({ channel, queue }), or { noAck: true } for a noAck consumer");
  }
  if (channel !== undefined && (channel === null || typeof (channel as SettlingChannel).nack !== 'function')) {
    throw new TypeError('tracebus: traceConsume({ channel }) needs an amqplib channel (the one that consumes)');
  }
  if (onCancel !== undefined && typeof onCancel !== 'function') throw new TypeError('tracebus: traceConsume({ onCancel }) must be a function');
  if (options.consumerHook !== undefined && typeof options.consumerHook !== 'function') throw new TypeError('tracebus: traceConsume({ consumerHook }) must be a function (span, message) => void');
  assertPolicyOption(options.policy);
  assertOnErrorOption(onError);
  assertServerOptions(options, 'traceConsume');
  const consumer = new ConsumerTracer<M>(new MessagingTracer(RABBITMQ_SYSTEM, options), options, channel, queue, noAck);
  return function traceHandler(handler) {
    checkHandler(handler, 'traceConsume', '(message, trace) => …');
    const callback = consumerCallback(consumer, handler, onCancel);
    noAckOfCallback.set(callback, !!noAck);
    return callback;
  };
}

/** The `noAck` each callback of {@link traceConsume} was made with, for the consume that receives it to check. */
const noAckOfCallback = new WeakMap<object, boolean>();

/**
 * Checks a consume callback made by {@link traceConsume} against the options it is consumed
 * with: both must say the same `noAck`, read as amqplib reads it. Otherwise tracebus would
 * nack a failed delivery the broker settled itself (a protocol error that closes the channel),
 * or leave one the broker waits for unsettled (the consumer stalls once its prefetch limit is
 * reached). Any other callback passes.
 *
 * @param consume the call that received the callback, as the user wrote it (`channel.consume`).
 */
export function assertSameNoAck(onMessage: unknown, options: { readonly noAck?: unknown } | undefined | null, consume: string): void {
  if (typeof onMessage !== 'function') return;
  const made = noAckOfCallback.get(onMessage);
  const consumed = isNoAck(options);
  if (made === undefined || made === consumed) return;
  if (consumed) {
    throw new TypeError(
      `tracebus: ${consume}(queue, callback, { noAck: true }) got a callback made by traceConsume() without noAck: the broker settles noAck deliveries itself, and tracebus would nack a failed one, a protocol error that closes the channel; make the callback with traceConsume({ queue, noAck: true }), or consume without noAck`,
    );
  }
  throw new TypeError(
    `tracebus: ${consume}(queue, callback, options) got a callback made by traceConsume({ noAck: true }) but consumes without noAck: the broker waits for each delivery to be settled, and tracebus would leave a failed one unsettled; make the callback with traceConsume({ channel, queue }), or consume with { noAck: true }`,
  );
}

/** The callback for `channel.consume` that runs `handler` through `consumer`. */
export function consumerCallback<M extends Message>(consumer: ConsumerTracer<M>, handler: AmqpHandler<M>, onCancel: (() => void) | undefined): TracedConsumeCallback<M> {
  const traced = function tracedConsumer(message: M | null): void | Promise<void> {
    if (message === null) {
      onCancel?.();
      return;
    }
    return consumer.process(message, handler);
  };
  return markTraced(traced);
}
