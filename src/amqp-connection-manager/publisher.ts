import type { Attributes, Span } from '@opentelemetry/api';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { checkOptions, checkTarget, marks } from '../core/checks.ts';
import { delegateTo } from '../core/delegate.ts';
import { copyWithoutContext } from '../core/headers.ts';
import { isPromiseLike } from '../core/lifecycle.ts';
import { MessagingTracer } from '../core/messaging-tracer.ts';
import type { OperationInfo } from '../core/operation.ts';
import { assertPolicyOption } from '../core/policy.ts';
import { addServer, DestinationMemo, publishedAttributes, RABBITMQ_SYSTEM, serverOf } from '../amqplib/attributes.ts';
import { assertOnErrorOption, assertServerOptions } from '../amqplib/consumer.ts';
import { confirmation, nackType } from '../amqplib/confirm.ts';
import { frameRoom, headerBudget } from '../amqplib/header-budget.ts';
import { traceHeaders } from '../amqplib/headers.ts';
import { CHANNEL_OPTIONS, type AmqpChannelOptions, type AmqpPublish } from '../amqplib/publisher.ts';
import { settlingMethods } from '../amqplib/settlement.ts';
import { ATTR_RABBITMQ_QUEUE_LENGTH, ATTR_RABBITMQ_QUEUED_WHILE_DISCONNECTED, EVENT_RABBITMQ_QUEUED, queueLengthOf, wouldQueue, type WrapperState } from './attributes.ts';
import { WrapperConsumers, type WrapperConsume } from './consumer.ts';
import { Outbox } from './outbox.ts';

/**
 * Options of {@link traceChannelWrapper}: those of `traceChannel` (tracebus/amqplib), which
 * apply to the wrapper's own publishing and consumers and to the channel its setup
 * functions receive.
 */
export type ChannelWrapperOptions = AmqpChannelOptions;

/**
 * The ChannelWrapper `traceChannelWrapper()` returns: the same type as the one passed in,
 * whose `consume` also accepts a callback that takes the trace as a second argument.
 */
export type TracedChannelWrapper<W extends ChannelWrapper = ChannelWrapper> = Omit<W, 'consume'> & { consume: WrapperConsume };

type Loose = Record<PropertyKey, any>;
type Done = (error: unknown, result?: unknown) => void;

// ChannelWrappers traced already. A second traced wrapper of one would watch its channels as
// the first does, and the channel each new connection opens is watched for one of them only:
// the other's messages that the wrapper sends again would go unrecorded, and its setup
// functions would be traced twice. Shared by every copy of tracebus in the process (core/checks.ts).
const tracedWrappers = marks.channelWrappers;

const TRACED_TWICE =
  'tracebus: traceChannelWrapper(options)(channelWrapper) got a ChannelWrapper it traced before; trace each ChannelWrapper once and share the wrapper that first call returned (two traced wrappers of one ChannelWrapper would not both see the messages it sends again)';

/**
 * Traces an amqp-connection-manager `ChannelWrapper`. The returned wrapper behaves like the
 * one passed in (it delegates every method and property to it), and:
 *
 * - `publish(exchange, routingKey, content, options)` and `sendToQueue(queue, content,
 *   options)` record a PRODUCER span `send <destination>` with the attributes of
 *   `traceChannel`'s. The context is written into a copy of `options.headers` when you
 *   call, so a message published while the broker is away carries the context it was
 *   published in, whenever it is sent. The span ends when the wrapper settles the
 *   message, through its promise or the `done` callback given: the broker's confirm, or a
 *   failure (a nack, a `timeout`, the wrapper closed), which marks it ERROR. The promise
 *   returned rejects as the wrapper's does, and is an unhandled rejection when left
 *   unhandled, as untraced; with `done`, the wrapper returns `null` and `done` runs after
 *   the span has ended. It carries
 *   `tracebus.rabbitmq.queued_while_disconnected`, and a message the wrapper had to queue
 *   gets the event `tracebus.rabbitmq.queued` (with the queue length ahead of it), so the
 *   time it waited shows on the span.
 * - `consume(queue, onMessage, options)` traces `onMessage` as `traceConsume` does; the
 *   wrapper registers the traced callback again after each reconnect, so it stays traced.
 *   `onMessage` receives the trace as a second argument.
 * - `ack`, `ackAll`, `nack` and `nackAll` settle on the wrapper's current channel, and record
 *   the settlement of the deliveries of its `consume` and of the consumers setup functions
 *   started on that channel.
 * - Every setup function (`createChannel({ setup })` before the wrapper connects,
 *   `addSetup`, `removeSetup`) receives the amqplib channel traced by `traceChannel` with
 *   these options, so the consumers a setup starts are traced, on every new channel.
 *   `traceChannel()` returns that channel as it is: a setup that traces its channel
 *   itself does not trace it twice.
 *
 * Trace the wrapper right after `createChannel()`, before it connects, so that the setup
 * functions given to `createChannel` see a traced channel from the first connection on. Trace
 * it once, and share the traced wrapper: a second `traceChannelWrapper` call given the same
 * ChannelWrapper throws a TypeError.
 *
 * @example
 * const connection = amqp.connect(['amqp://localhost']);
 * const channel = traceChannelWrapper()(connection.createChannel({
 *   setup: (channel) => channel.assertQueue('orders', { durable: true }),
 * }));
 * await channel.sendToQueue('orders', Buffer.from(JSON.stringify(order)), { messageId: order.id, persistent: true });
 * await channel.consume('orders', async (message, trace) => {
 *   await handle(message);
 *   channel.ack(message);
 * });
 */
export function traceChannelWrapper(options?: ChannelWrapperOptions): <W extends ChannelWrapper>(channelWrapper: W) => TracedChannelWrapper<W> {
  options = checkOptions(options, 'traceChannelWrapper', 'channelWrapper', CHANNEL_OPTIONS);
  assertPolicyOption(options.policy);
  assertOnErrorOption(options.onError);
  assertServerOptions(options, 'traceChannelWrapper');
  if (options.producerHook !== undefined && typeof options.producerHook !== 'function') throw new TypeError('tracebus: traceChannelWrapper({ producerHook }) must be a function (span, publish) => void');
  if (options.consumerHook !== undefined && typeof options.consumerHook !== 'function') throw new TypeError('tracebus: traceChannelWrapper({ consumerHook }) must be a function (span, message) => void');
  const tracer = new MessagingTracer(RABBITMQ_SYSTEM, options);
  const resolved = options;
  return function decorateChannelWrapper<W extends ChannelWrapper>(channelWrapper: W): TracedChannelWrapper<W> {
    checkTarget(channelWrapper, ['publish', 'sendToQueue', 'consume', 'addSetup'], 'traceChannelWrapper', 'channelWrapper', "an amqp-connection-manager ChannelWrapper, e.g. traceChannelWrapper(options)(connection.createChannel({ setup }))");
    if (tracedWrappers.has(channelWrapper)) throw new TypeError(TRACED_TWICE);
    const traced = tracedWrapper(channelWrapper as unknown as Loose & WrapperState, tracer, resolved) as unknown as TracedChannelWrapper<W>;
    tracedWrappers.add(channelWrapper);
    return traced;
  };
}

function tracedWrapper(raw: Loose & WrapperState, tracer: MessagingTracer, options: ChannelWrapperOptions): Loose {
  const { producerHook, bodySize = false } = options;
  const memo = new DestinationMemo();
  // Delegated first, then given the traced methods, which need the traced wrapper (its settlement ledger).
  const traced = delegateTo(raw, {});
  const consumers = new WrapperConsumers(raw, traced, tracer, options);
  // The setups the wrapper was created with get the traced channel; tracebus's own gets the wrapper's.
  consumers.traceExistingSetups();
  const outbox = new Outbox(raw);
  const same = (result: unknown) => (result === raw ? traced : result);
  // The channel last seen open: its connection's frame size and socket stand for the next one's while disconnected.
  let lastChannel: Loose | undefined;

  // The wrapper's own method is called, `sendToQueue` for `sendToQueue`: each checks and encodes
  // the content at its own time (`sendToQueue` throws on content it cannot encode, `publish`
  // rejects), and the caller sees what it would see untraced.
  function wrapperSend(toQueue: boolean, exchange: string, routingKey: string, content: unknown, options: Loose | undefined, done: Done | undefined): unknown {
    return toQueue ? raw.sendToQueue(routingKey, content, options, done) : raw.publish(exchange, routingKey, content, options, done);
  }

  /** `server.*` from the channel a send went out on, on a span that records, where the send did not know them. */
  function addLateServer(span: Span, channel: unknown): void {
    if (channel == null || !span.isRecording()) return;
    const attributes: Attributes = {};
    addServer(attributes, serverOf(channel, options.serverAddress, options.serverPort));
    span.setAttributes(attributes);
  }

  function publish(exchange: string, routingKey: string, content: unknown, publishOptions?: Loose, done?: Done): unknown {
    return send(false, exchange, routingKey, content, publishOptions, done);
  }

  function send(toQueue: boolean, exchange: string, routingKey: string, content: unknown, publishOptions?: Loose, done?: Done): unknown {
    const state = tracer.prepare();
    if (state === undefined) {
      // Nothing to record or write; trace headers the message carried from elsewhere still go.
      const sent = publishOptions?.headers == null ? publishOptions : { ...publishOptions, headers: copyWithoutContext(publishOptions.headers) };
      return wrapperSend(toQueue, exchange, routingKey, content, sent, done);
    }
    if (raw._channel != null) lastChannel = raw._channel as Loose;
    const server = serverOf(lastChannel, options.serverAddress, options.serverPort);
    const destination = memo.publish(exchange, routingKey);
    // The body size is that of the wrapper's encoding (JSON for a `json` wrapper, a string's
    // bytes), taken when it writes the message (Outbox); a Buffer it sends as it is counts now,
    // for a message that is never written.
    const body = bodySize && Buffer.isBuffer(content) && raw._json !== true ? content : undefined;
    const attributes = publishedAttributes(routingKey, destination, publishOptions, body, server);
    const queued = wouldQueue(raw);
    if (queued !== undefined) attributes[ATTR_RABBITMQ_QUEUED_WHILE_DISCONNECTED] = raw._channel == null;
    const info: OperationInfo = { type: 'send', destination: destination.template ?? destination.name, attributes, metricTemplate: destination.metric };
    const publish: AmqpPublish = { exchange, routingKey, content: content as Buffer, options: publishOptions };
    const open = tracer.beginPublish(info, publishOptions?.headers, publish, producerHook, undefined, state);
    if (queued === true) {
      const ahead = queueLengthOf(raw);
      open.span.addEvent(EVENT_RABBITMQ_QUEUED, ahead === undefined ? undefined : { [ATTR_RABBITMQ_QUEUE_LENGTH]: ahead });
    }
    // Measured always: the wrapper publishes later, from its own queue, where a RangeError from
    // amqplib would lose the message rather than reach tracebus's fallback.
    const budget = headerBudget(frameRoom(lastChannel?.connection?.frameMax), publishOptions);
    const headers = traceHeaders(open.headers, budget, open.span, true);
    outbox.add(headers, open, queued === true, budget, bodySize);
    const end = (error: unknown, failed: boolean, type?: string) => {
      outbox.settled(headers);
      // A send queued before the wrapper ever connected learns its broker only now.
      if (server.address === undefined || server.port === undefined) addLateServer(open.span, raw._channel);
      open.end(error, failed, type);
    };
    // With a callback the wrapper returns no promise and reports to the callback alone (through
    // promise-breaker, which calls it from a timer): the span ends there, before the caller's
    // callback runs, which then runs as it would untraced, its throws included.
    const callback = typeof done === 'function' ? confirmation(end, done) : done;
    let result: unknown;
    try {
      result = wrapperSend(toQueue, exchange, routingKey, content, { ...publishOptions, headers }, callback);
    } catch (error) {
      end(error, true);
      throw error;
    }
    if (typeof done === 'function') return result;
    if (!isPromiseLike(result)) {
      end(undefined, false);
      return result;
    }
    // The wrapper's promise settles when the broker confirms (or the wrapper gives up). The
    // caller gets a promise chained to it, not the wrapper's own: a handler on the wrapper's
    // would mark its rejection handled, so a failed publish that the caller ignores would no
    // longer surface as an unhandled rejection, as it does untraced. The chained promise
    // rejects with the same error, and stays unhandled unless the caller handles it.
    return result.then(
      (value: unknown) => {
        end(undefined, false);
        return value;
      },
      (error: unknown) => {
        end(error, true, nackType(error));
        throw error;
      },
    );
  }

  const overrides: Record<string, (...args: any[]) => unknown> = {
    publish,
    sendToQueue: function sendToQueue(queue: string, content: unknown, publishOptions?: Loose, done?: Done) {
      return send(true, '', queue, content, publishOptions, done);
    },
    consume: function consume(queue: string, onMessage: unknown, consumeOptions?: Loose) {
      return consumers.consume(queue, onMessage, consumeOptions);
    },
    addSetup: function addSetup(setup: unknown, done?: Done) {
      return raw.addSetup(consumers.setup(setup), done);
    },
    removeSetup: function removeSetup(setup: unknown, teardown?: unknown, done?: Done) {
      return raw.removeSetup(consumers.setupFor(setup), consumers.teardown(teardown), done);
    },
    ...settlingMethods(raw, consumers.settlements, same),
  };
  for (const [name, method] of Object.entries(overrides)) {
    Object.defineProperty(traced, name, { value: method, writable: true, configurable: true, enumerable: false });
  }
  return traced;
}
