import type { Attributes } from '@opentelemetry/api';
import type { MessagingTracer } from '../core/messaging-tracer.ts';
import {
  ATTR_KAFKA_MESSAGE_KEY,
  ATTR_KAFKA_MESSAGE_TOMBSTONE,
  ATTR_KAFKA_OFFSET,
  ATTR_MESSAGING_BATCH_MESSAGE_COUNT,
  ATTR_MESSAGING_CLIENT_ID,
  ATTR_MESSAGING_CONSUMER_GROUP_NAME,
  ATTR_MESSAGING_DESTINATION_PARTITION_ID,
  ATTR_MESSAGING_MESSAGE_BODY_SIZE,
  ATTR_MESSAGING_SYSTEM,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  LEGACY_NAMES,
} from '../core/semconv.ts';
import type { ConsumedMessage, ProducedMessage } from './client.ts';

/** `messaging.system.name` of Kafka. */
export const KAFKA_SYSTEM = 'kafka';

/**
 * Delivery attempt of a message that a consumer handler sees again at the same offset
 * (2 on the first redelivery, after the handler failed or a rebalance); absent on the
 * first delivery.
 */
export const ATTR_KAFKA_ATTEMPT = 'tracebus.kafka.attempt';

/** How a producer transaction ended: `committed`, `aborted` or `abandoned` (never committed nor aborted). */
export const ATTR_KAFKA_TRANSACTION_OUTCOME = 'tracebus.kafka.transaction.outcome';

/** Where the client connects and who it is, as the `brokers` and `clientId` given to `new Kafka()`. */
export interface KafkaClientOptions {
  /**
   * The bootstrap brokers, as given to `new Kafka({ brokers })` (or librdkafka's
   * comma-separated `bootstrap.servers`). The first one becomes `server.address` and
   * `server.port`. The clients do not tell where they are connected, so without this option
   * spans carry no `server.*` attributes. The function form kafkajs accepts (a broker
   * discovery) is accepted too; tracebus never calls it, so spans then carry no `server.*`
   * attributes.
   */
  brokers?: string | readonly string[] | (() => string[] | Promise<string[]>);
  /** `messaging.client.id`: the `clientId` given to `new Kafka()`. */
  clientId?: string;
  /** Record `messaging.message.body.size` (opt-in in semconv): the value's length in bytes. Default `false`. */
  bodySize?: boolean;
}

/** Attributes every span of one client carries, computed once. */
export interface ClientAttributes {
  readonly address: string | undefined;
  readonly port: number | undefined;
  readonly clientId: string | undefined;
  readonly bodySize: boolean;
}

/** Checks the client options and computes what spans will carry; throws a TypeError naming the fix. */
export function clientAttributes(options: KafkaClientOptions, factory: string): ClientAttributes {
  const { brokers, clientId, bodySize = false } = options;
  if (clientId !== undefined && typeof clientId !== 'string') throw new TypeError(`tracebus: ${factory}({ clientId }) must be a string, the clientId given to new Kafka()`);
  if (typeof bodySize !== 'boolean') throw new TypeError(`tracebus: ${factory}({ bodySize }) must be true or false`);
  // A discovery function is kafkajs's to call: calling it here could have side effects.
  const first = typeof brokers === 'function' ? undefined : typeof brokers === 'string' ? brokers : Array.isArray(brokers) ? (brokers as readonly unknown[])[0] : brokers;
  if (first !== undefined && typeof first !== 'string') {
    throw new TypeError(`tracebus: ${factory}({ brokers }) takes the broker list as given to new Kafka(), such as ['127.0.0.1:9092'] or a function; got ${JSON.stringify(brokers)}`);
  }
  const { address, port } = parseBroker(first);
  return { address, port, clientId: clientId === '' ? undefined : clientId, bodySize };
}

/** Where a client connects and who it is, as its own configuration says (librdkafka's `bootstrap.servers` and `client.id`). */
export interface ConfiguredClient {
  readonly brokers?: string;
  readonly clientId?: string;
}

/**
 * `client` with what the client's configuration says in place of what the `brokers` and
 * `clientId` options left unset: an option given always wins, even one that sets nothing
 * (a discovery function, an empty `clientId`).
 */
export function withConfiguredClient(client: ClientAttributes, options: KafkaClientOptions, configured: ConfiguredClient): ClientAttributes {
  let { address, port, clientId } = client;
  if (options.brokers === undefined && configured.brokers !== undefined) ({ address, port } = parseBroker(configured.brokers));
  if (options.clientId === undefined && configured.clientId !== undefined && configured.clientId !== '') clientId = configured.clientId;
  return { address, port, clientId, bodySize: client.bodySize };
}

/**
 * `host:port`, `[v6 address]:port` or a bare host, as the clients accept them, after the
 * `PLAINTEXT://`-style prefix librdkafka also takes; of a comma-separated list, the first.
 */
export function parseBroker(broker: string | undefined): { address: string | undefined; port: number | undefined } {
  if (broker === undefined) return { address: undefined, port: undefined };
  const comma = broker.indexOf(',');
  const text = (comma < 0 ? broker : broker.slice(0, comma)).trim().replace(/^[a-z][a-z0-9_+.-]*:\/\//i, '');
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (v6 !== null) return { address: v6[1], port: v6[2] === undefined ? undefined : Number(v6[2]) };
  const colon = text.lastIndexOf(':');
  if (colon > 0 && text.indexOf(':') === colon && /^\d+$/.test(text.slice(colon + 1))) return { address: text.slice(0, colon), port: Number(text.slice(colon + 1)) };
  return { address: text === '' ? undefined : text, port: undefined };
}

/** Adds `server.*` and, unless `withClientId` is false (semconv: not on `create` spans), `messaging.client.id`. */
export function addClient(attributes: Attributes, client: ClientAttributes, withClientId = true): void {
  if (client.address !== undefined) attributes[ATTR_SERVER_ADDRESS] = client.address;
  if (client.port !== undefined) attributes[ATTR_SERVER_PORT] = client.port;
  if (withClientId && client.clientId !== undefined) attributes[ATTR_MESSAGING_CLIENT_ID] = client.clientId;
}

// Partition ids are small integers: their strings are made once.
const partitionIds: string[] = [];

/** `messaging.destination.partition.id`: the partition number as a string. */
export function partitionId(partition: number): string {
  return (partitionIds[partition] ??= String(partition));
}

/**
 * `kafka.message.key` as text: a string as it is, a Buffer as UTF-8; `undefined` for no key and
 * for any other type (a number, say, which the clients themselves refuse). Never throws: the
 * call must reach the client, which answers a bad key as it does untraced.
 */
export function keyText(key: unknown): string | undefined {
  if (typeof key === 'string') return key;
  return Buffer.isBuffer(key) ? key.toString('utf8') : undefined;
}

/** The size in bytes of a produced message's value, a string or a Buffer; `undefined` for another type. */
function byteLength(value: unknown): number | undefined {
  if (typeof value === 'string') return Buffer.byteLength(value);
  return Buffer.isBuffer(value) ? value.length : undefined;
}

/** Attributes of one message a producer sends: partition when chosen, key, tombstone, body size. */
export function producedAttributes(message: ProducedMessage, client: ClientAttributes, withClientId: boolean): Attributes {
  const attributes: Attributes = {};
  if (typeof message.partition === 'number') attributes[ATTR_MESSAGING_DESTINATION_PARTITION_ID] = partitionId(message.partition);
  const key = keyText(message.key);
  if (key !== undefined) attributes[ATTR_KAFKA_MESSAGE_KEY] = key;
  // Only a null value is a tombstone: both clients refuse a message whose value is missing
  // (kafkajs: "Invalid message without value", librdkafka: "Message must be a buffer or null"),
  // so such a send fails, and its span must not say a tombstone was sent.
  if (message.value === null) attributes[ATTR_KAFKA_MESSAGE_TOMBSTONE] = true;
  else if (client.bodySize) {
    const size = byteLength(message.value);
    if (size !== undefined) attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = size;
  }
  addClient(attributes, client, withClientId);
  return attributes;
}

/** Attributes of one consumed message besides its group: partition, offset, key, tombstone, body size, client. */
export function consumedAttributes(partition: number, message: ConsumedMessage, client: ClientAttributes): Attributes {
  const attributes: Attributes = { [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: partitionId(partition) };
  const offset = Number(message.offset);
  // Offsets are 64-bit; one beyond 2^53 cannot be an exact attribute value and is left out.
  if (Number.isSafeInteger(offset)) attributes[ATTR_KAFKA_OFFSET] = offset;
  const key = keyText(message.key);
  if (key !== undefined) attributes[ATTR_KAFKA_MESSAGE_KEY] = key;
  if (message.value === null) attributes[ATTR_KAFKA_MESSAGE_TOMBSTONE] = true;
  else if (client.bodySize) attributes[ATTR_MESSAGING_MESSAGE_BODY_SIZE] = message.value.length;
  addClient(attributes, client);
  return attributes;
}

/** Attributes of a span about a whole fetched batch of one partition. */
export function batchAttributes(groupId: string | undefined, partition: number, count: number, client: ClientAttributes): Attributes {
  const attributes: Attributes = { [ATTR_MESSAGING_DESTINATION_PARTITION_ID]: partitionId(partition), [ATTR_MESSAGING_BATCH_MESSAGE_COUNT]: count };
  if (groupId !== undefined) attributes[ATTR_MESSAGING_CONSUMER_GROUP_NAME] = groupId;
  addClient(attributes, client);
  return attributes;
}

/** `messaging.system.name` (and/or its legacy name) for spans that are no messaging operation. */
export function systemAttributes(tracer: MessagingTracer): Attributes {
  const legacy = LEGACY_NAMES[ATTR_MESSAGING_SYSTEM]!;
  if (tracer.semconv === 'legacy') return { [legacy]: tracer.system };
  if (tracer.semconv === 'both') return { [ATTR_MESSAGING_SYSTEM]: tracer.system, [legacy]: tracer.system };
  return { [ATTR_MESSAGING_SYSTEM]: tracer.system };
}

/** The publish timestamp of a consumed message in ms since the epoch, if it has one. */
export function timestampOf(message: ConsumedMessage): number | undefined {
  const timestamp = Number(message.timestamp);
  return Number.isFinite(timestamp) && timestamp > 0 ? timestamp : undefined;
}
