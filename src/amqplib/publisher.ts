import { context, diag, type Span } from '@opentelemetry/api';
import { reportProblem } from '../core/warnings.ts';
import type { Channel, ConsumeMessage, Message, Options, Replies } from 'amqplib';
import { checkOptions, checkTarget, isTraced, markTraced, optionKeys } from '../core/checks.ts';
import { TRACING_OPTION_KEYS, type TracingOptions } from '../core/options.ts';
import { copyWithoutContext, type WritableHeaders } from '../core/headers.ts';
import { closeSpan, isPromiseLike } from '../core/lifecycle.ts';
import { activeMessageTrace, type MessageTrace } from '../core/message-trace.ts';
import { MessagingTracer } from '../core/messaging-tracer.ts';
import { callOwn, originalOf } from '../core/overlap.ts';
import type { OperationInfo, SpanHook } from '../core/operation.ts';
import { assertPolicyOption } from '../core/policy.ts';
import { ATTR_RABBITMQ_DROPPED_HEADERS, DestinationMemo, publishedAttributes, RABBITMQ_SYSTEM, serverOf } from './attributes.ts';
import { failed, sendTraced, type ConfirmCallback, type Publishing } from './confirm.ts';
import { assertOnErrorOption, assertSameNoAck, assertServerOptions, consumerCallback, ConsumerTracer, isNoAck, type AmqpChannel, type AmqpConsumerOptions, type AmqpHandler } from './consumer.ts';
import { frameRoom, headerBudget, tooLargeForAmqplib } from './header-budget.ts';
import { traceHeaders } from './headers.ts';
import { isSharedChannel, isTracedChannel, registerTracedChannel, settlingMethods } from './settlement.ts';

/** What a producer hook receives: the arguments of one `publish` or `sendToQueue`. */
export interface AmqpPublish {
  readonly exchange: string;
  readonly routingKey: string;
  readonly content: Buffer;
  readonly options: Options.Publish | undefined;
}

/** Options of {@link traceChannel}: publishing, plus the consumers started through the channel. */
export interface AmqpChannelOptions extends AmqpConsumerOptions<Message> {
  /** Adds attributes to each `send` span. A hook that throws is reported to `diag`. */
  producerHook?: SpanHook<AmqpPublish>;
}

/** A consume callback on a traced channel: the message (`null` when the broker cancels) and its trace. */
export type TracedOnMessage = (message: ConsumeMessage | null, trace: MessageTrace) => unknown;

/**
 * The channel `traceChannel()` returns: the same type as the channel passed in, whose
 * `consume` also accepts a callback that takes the trace as a second argument.
 */
export type TracedChannel<C extends AmqpChannel> = Omit<C, 'consume'> &
  (C extends Channel
    ? { consume(queue: string, onMessage: TracedOnMessage, options?: Options.Consume): Promise<Replies.Consume> }
    : { consume(queue: string, onMessage: TracedOnMessage, options?: Options.Consume, callback?: (error: Error, ok: Replies.Consume) => void): void });

/**
 * Decorates a channel and returns an object of the same type: a `Channel` stays a
 * `Channel`, a `ConfirmChannel` a `ConfirmChannel` (callback-API channels too). Assignable
 * to `PublisherDecorator<Channel>` and `PublisherDecorator<ConfirmChannel>`.
 */
export type ChannelDecorator = <C extends AmqpChannel>(channel: C) => TracedChannel<C>;

type Loose = Record<PropertyKey, any>;

/** Every option of {@link traceChannel} and of amqp-connection-manager's `traceChannelWrapper`. */
export const CHANNEL_OPTIONS = [
  ...TRACING_OPTION_KEYS,
  ...optionKeys<Omit<AmqpChannelOptions, keyof TracingOptions>>({ policy: 1, consumerHook: 1, onError: 1, bodySize: 1, serverAddress: 1, serverPort: 1, producerHook: 1 }),
];

/**
 * Traces an amqplib channel. The returned channel behaves like the one passed in (it
 * delegates every method to it and shares its events), and:
 *
 * - `publish(exchange, routingKey, content, options)` and `sendToQueue(queue, content, options)`
 *   record a PRODUCER span `send <destination>` (`{exchange}:{routing key}`, whichever is
 *   not empty, or `amq.default`), with the routing key, `messaging.message.id` from
 *   `messageId`, `messaging.message.conversation_id` from `correlationId`, the body size
 *   (opt-in `bodySize`) and `server.address`/`server.port`. The span's context is written
 *   into a copy of `options.headers`; the caller's `options` are never modified. The
 *   return value (amqplib's back-pressure signal) is unchanged.
 * - On a `ConfirmChannel` the span ends when the broker confirms the message (whether
 *   you pass a callback, call `waitForConfirms()`, or neither); a broker nack, or the
 *   channel closing first, marks it ERROR. On a plain channel it ends when the message is
 *   written to the socket buffer.
 * - Headers that would exceed RabbitMQ's limits because of trace headers lose `baggage`,
 *   then `tracestate` (recorded in `tracebus.rabbitmq.dropped_headers` and `diag.warn`);
 *   the publish never fails because of tracing.
 * - `consume(queue, onMessage, options)` traces `onMessage` as {@link traceConsume} does,
 *   with this channel's options (a callback already made by `traceConsume` is used as is).
 *   `onMessage` receives the trace as a second argument.
 * - `get(queue, options)` records a CLIENT span `receive <destination>` linked to the
 *   message's context; settle the message through this channel to have it recorded.
 * - `ack`, `nack`, `reject`, `ackAll` and `nackAll` record the settlement of traced
 *   deliveries (see {@link traceConsume}).
 * - `assertQueue` remembers a queue's dead-letter exchange, so that a settlement without
 *   requeue names where the message goes.
 *
 * A channel that `traceChannelWrapper` (tracebus/amqp-connection-manager) hands to a setup
 * function is traced already, with the wrapper's options: this returns it as it is.
 *
 * @example
 * const channel = traceChannel()(await connection.createChannel());
 * channel.publish('orders', 'order.created', Buffer.from(JSON.stringify(order)), { messageId: order.id });
 * await channel.consume('billing', async (message, trace) => {
 *   if (message === null) return; // the broker cancelled the consumer
 *   logger.info({ trace_id: trace.traceId }, 'billing');
 *   await bill(message);
 *   channel.ack(message);
 * });
 */
export function traceChannel(options?: AmqpChannelOptions): ChannelDecorator {
  options = checkOptions(options, 'traceChannel', 'channel', CHANNEL_OPTIONS);
  assertPolicyOption(options.policy);
  assertOnErrorOption(options.onError);
  assertServerOptions(options, 'traceChannel');
  if (options.producerHook !== undefined && typeof options.producerHook !== 'function') throw new TypeError('tracebus: traceChannel({ producerHook }) must be a function (span, publish) => void');
  if (options.consumerHook !== undefined && typeof options.consumerHook !== 'function') throw new TypeError('tracebus: traceChannel({ consumerHook }) must be a function (span, message) => void');
  const tracer = new MessagingTracer(RABBITMQ_SYSTEM, options);
  return function decorateChannel<C extends AmqpChannel>(channel: C): TracedChannel<C> {
    // A channel tracebus traced for code it hands it to (amqp-connection-manager's setup functions) stays as it is.
    if (isSharedChannel(channel)) return channel as unknown as TracedChannel<C>;
    // A ChannelWrapper has publish and consume too, but publishes later, from its own queue: a
    // span ended at the call would say nothing of the send.
    if (isChannelWrapper(channel)) {
      throw new TypeError("tracebus: traceChannel got an amqp-connection-manager ChannelWrapper; trace it with traceChannelWrapper(options)(channelWrapper) from 'tracebus/amqp-connection-manager'");
    }
    checkTarget(channel, ['publish', 'consume'], 'traceChannel', 'channel', 'an amqplib channel, e.g. traceChannel(options)(await connection.createChannel())');
    if (isTracedChannel(channel)) throw new TypeError('tracebus: this channel is traced already; wrap the original channel once, with traceChannel(options)(channel)');
    return tracedChannel(channel as unknown as Loose, tracer, options) as unknown as TracedChannel<C>;
  };
}

function tracedChannel(raw: Loose, tracer: MessagingTracer, options: AmqpChannelOptions): Loose {
  const traced: Loose = Object.create(raw);
  const ledger = registerTracedChannel(traced, raw);
  const server = serverOf(raw, options.serverAddress, options.serverPort);
  const room = frameRoom(raw.connection?.frameMax);
  const confirms = typeof raw.waitForConfirms === 'function';
  const { producerHook, bodySize = false } = options;
  const memo = new DestinationMemo();
  const same = (result: unknown) => (result === raw ? traced : result);

  delegateMethods(raw, traced, same);

  /** The message goes out untraced: nothing to record or write, and trace headers it carried from elsewhere do not go. */
  function publishUntraced(exchange: unknown, routingKey: unknown, content: Buffer, publishOptions: Options.Publish | undefined, callback: ConfirmCallback | undefined): boolean {
    const sent = publishOptions?.headers == null ? publishOptions : withHeaders(publishOptions, copyWithoutContext(publishOptions.headers));
    return confirms ? callOwn(raw, raw.publish, exchange, routingKey, content, sent, callback) : callOwn(raw, raw.publish, exchange, routingKey, content, sent);
  }

  function publish(exchange: string, routingKey: string, content: Buffer, publishOptions?: Options.Publish, callback?: ConfirmCallback): boolean {
    const given = publishOptions?.headers;
    // amqplib makes the table with Object.create(headers): a value that is no object fails there with amqplib's own error.
    if (given != null && typeof given !== 'object') return confirms ? callOwn(raw, raw.publish, exchange, routingKey, content, publishOptions, callback) : callOwn(raw, raw.publish, exchange, routingKey, content, publishOptions);
    const state = tracer.prepare();
    // amqplib sends an exchange or routing key left undefined as ''; other values that are no
    // string are amqplib's to refuse (or send), untraced.
    if (state === undefined || (typeof exchange !== 'string' && exchange !== undefined) || (typeof routingKey !== 'string' && routingKey !== undefined)) {
      return publishUntraced(exchange, routingKey, content, publishOptions, callback);
    }
    const destination = memo.publish(exchange ?? '', routingKey ?? '');
    const attributes = publishedAttributes(routingKey ?? '', destination, publishOptions, bodySize ? content : undefined, server);
    const info: OperationInfo = { type: 'send', destination: destination.template ?? destination.name, attributes, metricTemplate: destination.metric };
    const open = tracer.beginPublish(info, given, { exchange, routingKey, content, options: publishOptions }, producerHook, undefined, state);
    const headers = traceHeaders(open.headers, headerBudget(room, publishOptions), open.span);
    try {
      return sendTraced(raw as Publishing, confirms, open, exchange, routingKey, content, withHeaders(publishOptions, headers), callback);
    } catch (error) {
      // Only a table that trace headers pushed past amqplib's 64 KiB limit is tracing's doing;
      // any other error (a priority of 300) is the caller's, as untraced.
      if (!(error instanceof RangeError) || !tooLargeForAmqplib(headers, publishOptions)) return failed(open, error);
      // amqplib refused the headers table before writing anything: send the message with the
      // caller's headers alone (no trace headers, not even stale ones it carried), rather than
      // fail it because of tracing.
      reportProblem('TRACEBUS_HEADERS_DROPPED', 'tracebus: amqplib could not encode the headers with trace headers added; the message is sent without them', error);
      open.span.setAttribute(ATTR_RABBITMQ_DROPPED_HEADERS, ['traceparent', 'tracestate', 'baggage'].filter((name) => headers[name] !== undefined));
      try {
        return sendTraced(raw as Publishing, confirms, open, exchange, routingKey, content, withHeaders(publishOptions, copyWithoutContext(given)), callback);
      } catch (second) {
        return failed(open, second);
      }
    }
  }

  function sendToQueue(queue: string, content: Buffer, publishOptions?: Options.Publish, callback?: ConfirmCallback): boolean {
    return publish('', queue, content, publishOptions, callback);
  }

  function consume(queue: string, onMessage: unknown, consumeOptions?: Options.Consume, callback?: unknown): unknown {
    // The channel's own consume(): an instrumentation's patch would give each delivery a second span.
    const ownConsume = originalOf(raw.consume);
    if (typeof onMessage !== 'function' || isTraced(onMessage)) {
      // A callback of traceConsume settles by its own noAck, which must be the consumer's.
      assertSameNoAck(onMessage, consumeOptions, 'channel.consume');
      return same(ownConsume.call(raw, queue, onMessage, consumeOptions, callback));
    }
    const consumer = new ConsumerTracer<Message>(tracer, options, traced, queue, isNoAck(consumeOptions), server);
    const handler = onMessage as AmqpHandler<Message> & TracedOnMessage;
    const tracedOnMessage = consumerCallback(consumer, handler, function consumerCancelled() {
      handler(null, activeMessageTrace(context.active()));
    });
    return same(ownConsume.call(raw, queue, tracedOnMessage, consumeOptions, callback));
  }

  function get(queue: string, getOptions?: Options.Get, callback?: (error: unknown, message: unknown) => void): unknown {
    const consumer = new ConsumerTracer<Message>(tracer, options, traced, queue, isNoAck(getOptions), server);
    const receipt = consumer.startReceive();
    let result: unknown;
    try {
      if (typeof callback === 'function') {
        // The callback API calls it and returns the channel; the promise API ignores a third
        // argument and returns its promise, which is then the one to follow.
        let called = false;
        result = raw.get(queue, getOptions, function messageReceived(error: unknown, message: Message | false) {
          called = true;
          consumer.received(receipt, error, message);
          callback(error, message);
        });
        if (!isPromiseLike(result) || called) return same(result);
      } else {
        result = raw.get(queue, getOptions);
      }
    } catch (error) {
      consumer.received(receipt, error, undefined);
      throw error;
    }
    // The callback API without a callback: nobody can see the message, so there is nothing to wait for.
    if (!isPromiseLike(result)) {
      closeSpan(receipt.span);
      return same(result);
    }
    return Promise.resolve(result).then(
      (message) => {
        consumer.received(receipt, null, message as Message | false);
        return message;
      },
      (error: unknown) => {
        consumer.received(receipt, error, undefined);
        throw error;
      },
    );
  }

  function assertQueue(queue: string, queueOptions?: Options.AssertQueue, callback?: unknown): unknown {
    const deadLetterExchange = queueOptions?.deadLetterExchange ?? queueOptions?.arguments?.['x-dead-letter-exchange'];
    const named = typeof queue === 'string' && queue !== '';
    // A queue the server names is known only from the reply: the callback API's, or the promise's.
    const reply = typeof deadLetterExchange === 'string' && !named && typeof callback === 'function' ? (callback as (error: unknown, ok: unknown) => unknown) : undefined;
    const result = raw.assertQueue(
      queue,
      queueOptions,
      reply === undefined
        ? callback
        : function rememberServerNamed(error: unknown, ok: unknown) {
            if (error == null) rememberReplyQueue(ok, deadLetterExchange as string);
            return reply(error, ok);
          },
    );
    if (typeof deadLetterExchange !== 'string') return same(result);
    if (named) {
      ledger.rememberDeadLetterExchange(queue, deadLetterExchange);
      return same(result);
    }
    if (reply !== undefined || !isPromiseLike(result)) return same(result);
    return Promise.resolve(result).then((ok) => {
      rememberReplyQueue(ok, deadLetterExchange);
      return ok;
    });
  }

  /** Remembers the dead-letter exchange of the queue an `assertQueue` reply names. */
  function rememberReplyQueue(ok: unknown, deadLetterExchange: string): void {
    const name = (ok as { queue?: unknown } | null | undefined)?.queue;
    if (typeof name === 'string') ledger.rememberDeadLetterExchange(name, deadLetterExchange);
  }

  define(traced, {
    publish,
    sendToQueue,
    consume,
    get,
    assertQueue,
    ...settlingMethods(raw, ledger, same),
  });
  return markTraced(traced);
}

/** Whether `channel` is an amqp-connection-manager ChannelWrapper rather than an amqplib channel. */
function isChannelWrapper(channel: unknown): boolean {
  const wrapper = channel as { addSetup?: unknown; waitForConnect?: unknown } | null;
  return typeof wrapper === 'object' && wrapper !== null && typeof wrapper.addSetup === 'function' && typeof wrapper.waitForConnect === 'function';
}

/**
 * `options` with `headers` in place of its own. amqplib reads publish options by property
 * access, so what they inherit (defaults on a prototype) counts: those are kept by an object
 * that inherits from `options`, where a spread would copy own enumerable fields alone. Plain
 * objects, the common case, are spread.
 */
function withHeaders(options: Options.Publish | undefined, headers: WritableHeaders): Options.Publish {
  if (options === null || typeof options !== 'object') return { headers };
  if (Object.getPrototypeOf(options) === Object.prototype) return { ...options, headers };
  const copy: Options.Publish = Object.create(options);
  Object.defineProperty(copy, 'headers', { value: headers, writable: true, enumerable: true, configurable: true });
  return copy;
}

/**
 * Gives `traced` every method of `raw`'s classes, calling it on `raw` (amqplib's methods
 * call each other through `this`, which must stay the real channel) and answering
 * `traced` where the method answers `raw` (the callback API's chaining).
 */
function delegateMethods(raw: Loose, traced: Loose, same: (result: unknown) => unknown): void {
  for (let proto = Object.getPrototypeOf(raw); proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const key of Reflect.ownKeys(proto)) {
      if (key === 'constructor' || Object.hasOwn(traced, key)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, key);
      if (typeof descriptor?.value !== 'function') continue;
      const delegate = function delegate(...args: unknown[]): unknown {
        return same(raw[key](...args));
      };
      Object.defineProperty(delegate, 'name', { value: typeof key === 'string' ? key : key.description ?? '' });
      Object.defineProperty(traced, key, { value: delegate, writable: true, configurable: true, enumerable: false });
    }
  }
}

function define(target: Loose, methods: Record<string, (...args: any[]) => unknown>): void {
  for (const [name, method] of Object.entries(methods)) {
    Object.defineProperty(target, name, { value: method, writable: true, configurable: true, enumerable: false });
  }
}
