import type { Attributes } from '@opentelemetry/api';
import type { Options } from 'amqplib';
import {
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_DESTINATION_TEMPLATE,
  ATTR_MESSAGING_DESTINATION_TEMPORARY,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_MESSAGE_CONVERSATION_ID,
  ATTR_MESSAGING_MESSAGE_ID,
  ATTR_RABBITMQ_ROUTING_KEY,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
} from '../core/semconv.ts';

/** `messaging.system.name` of RabbitMQ. */
export const RABBITMQ_SYSTEM = 'rabbitmq';

/** Semconv: a low-cardinality stand-in for a destination name, used in the span name. */
export { ATTR_MESSAGING_DESTINATION_TEMPLATE };
/** Semconv: the destination is temporary (a reply queue, a server-named queue). */
export { ATTR_MESSAGING_DESTINATION_TEMPORARY };

/** `true` on a consumer or receive span when the broker flagged the delivery as redelivered. */
export const ATTR_RABBITMQ_REDELIVERED = 'tracebus.rabbitmq.redelivered';
/** How the delivery was settled: `ack`, `nack`, `reject`, or `auto` for a `noAck` consumer. */
export const ATTR_RABBITMQ_SETTLEMENT = 'tracebus.rabbitmq.settlement';
/** For `nack` and `reject`: whether the broker was asked to requeue the message. */
export const ATTR_RABBITMQ_SETTLEMENT_REQUEUE = 'tracebus.rabbitmq.settlement.requeue';
/** `true` when the settlement covered several deliveries (`allUpTo`, `ackAll`, `nackAll`). */
export const ATTR_RABBITMQ_SETTLEMENT_MULTIPLE = 'tracebus.rabbitmq.settlement.multiple';
/** `true` when tracebus settled the message because the handler failed (the `onError` option). */
export const ATTR_RABBITMQ_SETTLEMENT_ON_ERROR = 'tracebus.rabbitmq.settlement.on_error';
/**
 * The exchange a message settled without requeue goes to, when the queue was declared
 * through the traced channel with a dead-letter exchange (`amq.default` for the default one).
 */
export const ATTR_RABBITMQ_DEAD_LETTER_EXCHANGE = 'tracebus.rabbitmq.settlement.dead_letter_exchange';
/** From the newest `x-death` entry of a dead-lettered message: why it died (`rejected`, `expired`, `maxlen`, `delivery_limit`). */
export const ATTR_RABBITMQ_DEATH_REASON = 'tracebus.rabbitmq.death.reason';
/** From the newest `x-death` entry: the queue the message died in. */
export const ATTR_RABBITMQ_DEATH_QUEUE = 'tracebus.rabbitmq.death.queue';
/** From the newest `x-death` entry: the exchange it had been published to. */
export const ATTR_RABBITMQ_DEATH_EXCHANGE = 'tracebus.rabbitmq.death.exchange';
/** From the newest `x-death` entry: how many times it died there for that reason. */
export const ATTR_RABBITMQ_DEATH_COUNT = 'tracebus.rabbitmq.death.count';
/** Trace headers left off a message so that its headers fit RabbitMQ's limits (string array). */
export const ATTR_RABBITMQ_DROPPED_HEADERS = 'tracebus.rabbitmq.dropped_headers';
/** `true` on a `receive` span whose `channel.get` found the queue empty. */
export const ATTR_RABBITMQ_EMPTY = 'tracebus.rabbitmq.empty';

const DEFAULT_EXCHANGE = 'amq.default';
const REPLY_TO = 'amq.rabbitmq.reply-to';
const SERVER_NAMED = 'amq.gen-';
const SERVER_NAMED_TEMPLATE = 'amq.gen-{id}';

/**
 * A destination as semconv wants it: the full `name` for `messaging.destination.name`,
 * and, when part of it is server-generated (direct reply-to, `amq.gen-…` queues), a
 * low-cardinality `template` for the span name.
 */
export interface Destination {
  readonly name: string;
  readonly template: string | undefined;
  /**
   * The destination on metrics, `messaging.destination.template`, where the name holds a
   * routing key of an exchange: routing keys are often per entity (`customer.42.updated`), and
   * semconv puts a destination name on metrics only when it is known to be of low cardinality.
   * `undefined` where the name (or its template) is the metrics' destination: the default
   * exchange, whose routing key is a queue's name, or no routing key.
   */
  readonly metric: string | undefined;
}

/** What stands for a routing key in the metrics' destination template. */
const ROUTING_KEY_TEMPLATE = '{routing key}';

/**
 * The low-cardinality stand-in for a server-generated name, or `undefined` when `name`
 * is an ordinary one. Direct reply-to routing keys (`amq.rabbitmq.reply-to.<id>`) become
 * the pseudo-queue's own name.
 */
export function temporaryTemplate(name: string): string | undefined {
  // Most names do not start with "amq.": one character comparison rules them out.
  if (name.length < 8 || name.charCodeAt(0) !== 97 || !name.startsWith('amq.')) return undefined;
  if (name.startsWith(REPLY_TO)) return REPLY_TO;
  if (name.startsWith(SERVER_NAMED)) return SERVER_NAMED_TEMPLATE;
  return undefined;
}

/**
 * The producer destination (semconv `rabbitmq.md`): `{exchange}:{routing key}`, or
 * whichever of the two is not empty, or `amq.default` when both are.
 */
export function publishDestination(exchange: string, routingKey: string): Destination {
  const name = joinPublish(exchange, routingKey);
  const key = temporaryTemplate(routingKey);
  const metric = exchange !== '' && routingKey !== '' && key === undefined ? joinPublish(exchange, ROUTING_KEY_TEMPLATE) : undefined;
  return { name, template: key === undefined ? undefined : joinPublish(exchange, key), metric };
}

function joinPublish(exchange: string, routingKey: string): string {
  if (exchange === '') return routingKey === '' ? DEFAULT_EXCHANGE : routingKey;
  return routingKey === '' ? exchange : `${exchange}:${routingKey}`;
}

/**
 * The consumer destination (semconv `rabbitmq.md`): `{exchange}:{routing key}:{queue}`,
 * leaving out empty parts and writing the routing key once when it equals the queue.
 */
export function consumeDestination(exchange: string, routingKey: string, queue: string): Destination {
  const name = joinConsume(exchange, routingKey, queue);
  const key = temporaryTemplate(routingKey);
  const named = temporaryTemplate(queue);
  // A routing key equal to the queue's name is written once, and names the queue.
  const metric = exchange !== '' && routingKey !== '' && routingKey !== queue && key === undefined ? joinConsume(exchange, ROUTING_KEY_TEMPLATE, named ?? queue) : undefined;
  if (key === undefined && named === undefined) return { name, template: undefined, metric };
  return { name, template: joinConsume(exchange, key ?? routingKey, named ?? queue), metric };
}

function joinConsume(exchange: string, routingKey: string, queue: string): string {
  let joined = exchange;
  if (routingKey !== '') joined = joined === '' ? routingKey : `${joined}:${routingKey}`;
  if (queue !== '' && queue !== routingKey) joined = joined === '' ? queue : `${joined}:${queue}`;
  return joined === '' ? DEFAULT_EXCHANGE : joined;
}

/**
 * Remembers the last destination computed, so that a stream of messages to the same
 * exchange and routing key (the common case) builds its name once.
 */
export class DestinationMemo {
  #exchange: string | undefined;
  #routingKey: string | undefined;
  #queue: string | undefined;
  #destination: Destination | undefined;

  publish(exchange: string, routingKey: string): Destination {
    if (this.#destination !== undefined && exchange === this.#exchange && routingKey === this.#routingKey && this.#queue === undefined) return this.#destination;
    this.#exchange = exchange;
    this.#routingKey = routingKey;
    this.#queue = undefined;
    return (this.#destination = publishDestination(exchange, routingKey));
  }

  consume(exchange: string, routingKey: string, queue: string): Destination {
    if (this.#destination !== undefined && exchange === this.#exchange && routingKey === this.#routingKey && queue === this.#queue) return this.#destination;
    this.#exchange = exchange;
    this.#routingKey = routingKey;
    this.#queue = queue;
    return (this.#destination = consumeDestination(exchange, routingKey, queue));
  }
}

/**
 * Adds `messaging.destination.name` and the temporary-destination attributes when the
 * span name uses a template; otherwise the core derives the name attribute from the
 * span's destination.
 */
export function addDestination(attributes: Attributes, destination: Destination): void {
  if (destination.template === undefined) return;
  attributes[ATTR_MESSAGING_DESTINATION_NAME] = destination.name;
  attributes[ATTR_MESSAGING_DESTINATION_TEMPLATE] = destination.template;
  attributes[ATTR_MESSAGING_DESTINATION_TEMPORARY] = true;
}

/** `server.address` and `server.port` of a channel's broker. */
export interface Server {
  readonly address: string | undefined;
  readonly port: number | undefined;
}

/**
 * The broker a channel talks to: the configured values, else the channel's socket
 * (an IP address; amqplib does not keep the host name it connected to). Read once per
 * channel; never throws.
 */
export function serverOf(channel: unknown, address: string | undefined, port: number | undefined): Server {
  if (address !== undefined && port !== undefined) return { address, port };
  let socket: { remoteAddress?: unknown; remotePort?: unknown } | undefined;
  try {
    socket = (channel as { connection?: { stream?: { remoteAddress?: unknown; remotePort?: unknown } } } | undefined)?.connection?.stream;
  } catch {
    socket = undefined;
  }
  return {
    address: address ?? (typeof socket?.remoteAddress === 'string' ? socket.remoteAddress : undefined),
    port: port ?? (typeof socket?.remotePort === 'number' ? socket.remotePort : undefined),
  };
}

export function addServer(attributes: Attributes, server: Server): void {
  if (server.address !== undefined) attributes[ATTR_SERVER_ADDRESS] = server.address;
  if (server.port !== undefined) attributes[ATTR_SERVER_PORT] = server.port;
}

/** Adds what the newest `x-death` entry says about a dead-lettered message. */
export function addDeath(attributes: Attributes, headers: Record<string, unknown>): void {
  const deaths = headers['x-death'];
  const newest = Array.isArray(deaths) ? (deaths[0] as Record<string, unknown> | undefined) : undefined;
  if (newest === null || typeof newest !== 'object') return;
  if (typeof newest.reason === 'string') attributes[ATTR_RABBITMQ_DEATH_REASON] = newest.reason;
  if (typeof newest.queue === 'string') attributes[ATTR_RABBITMQ_DEATH_QUEUE] = newest.queue;
  if (typeof newest.exchange === 'string') attributes[ATTR_RABBITMQ_DEATH_EXCHANGE] = newest.exchange === '' ? DEFAULT_EXCHANGE : newest.exchange;
  if (typeof newest.count === 'number') attributes[ATTR_RABBITMQ_DEATH_COUNT] = newest.count;
}

/** A message id or correlation id as a span attribute: strings as they are, numbers as text. */
export function idOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  return undefined;
}

/** The exchange name as attributes show it: `amq.default` for the default exchange. */
export function exchangeName(exchange: string): string {
  return exchange === '' ? DEFAULT_EXCHANGE : exchange;
}

/**
 * When a message was published, in ms since the epoch, from AMQP's `timestamp` property:
 * read as seconds (the AMQP and RabbitMQ convention), or as milliseconds when it is too
 * large to be seconds; `undefined` when absent.
 */
export function timestampOf(timestamp: unknown): number | undefined {
  if (typeof timestamp !== 'number' || !(timestamp > 0)) return undefined;
  return timestamp < 1e11 ? timestamp * 1e3 : timestamp;
}

/**
 * Attributes of a `send` span beyond the core's: routing key, destination, message and
 * conversation ids, the body size when `body` is given (opt-in), and the server.
 */
export function publishedAttributes(routingKey: string, destination: Destination, options: Options.Publish | undefined, body: Buffer | undefined, server: Server): Attributes {
  const attributes: Attributes = {};
  if (routingKey !== '') attributes[ATTR_RABBITMQ_ROUTING_KEY] = routingKey;
  addDestination(attributes, destination);
  if (options != null) {
    const messageId = idOf(options.messageId);
    if (messageId !== undefined) attributes[ATTR_MESSAGING_MESSAGE_ID] = messageId;
    const conversationId = idOf(options.correlationId);
    if (conversationId !== undefined) attributes[ATTR_MESSAGING_MESSAGE_CONVERSATION_ID] = conversationId;
  }
  if (body !== undefined && typeof body?.length === 'number') attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = body.length;
  addServer(attributes, server);
  return attributes;
}
