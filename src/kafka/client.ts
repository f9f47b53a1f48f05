import type { WritableHeaders } from '../core/headers.ts';
import type { ConfiguredClient } from './attributes.ts';

// The Kafka core traces any client with kafkajs' API shape: kafkajs itself, and the
// KafkaJS-compatible API of @confluentinc/kafka-javascript. These are the few members it
// uses, structurally; each binding adds its client's own types on top and states in a
// `ProducerBinding` / `ConsumerBinding` what differs between the clients.

/** One message as a producer takes it. */
export interface ProducedMessage {
  key?: Buffer | string | null;
  value: Buffer | string | null;
  partition?: number;
  headers?: object;
  timestamp?: string;
}

/** The messages of one topic: a `send` record, or one group of a `sendBatch`. */
export interface TopicMessagesShape<M extends ProducedMessage = ProducedMessage> {
  topic: string;
  messages: M[];
}

/** The argument of `sendBatch`. */
export interface ProducerBatchShape<M extends ProducedMessage = ProducedMessage> {
  topicMessages?: Array<TopicMessagesShape<M>>;
}

/** What `send` and `sendBatch` are called on: a producer or a transaction. */
export interface Sender {
  send(record: TopicMessagesShape): Promise<unknown>;
  sendBatch(batch: ProducerBatchShape): Promise<unknown>;
}

/** A producer transaction (in @confluentinc/kafka-javascript, the producer itself). */
export interface TransactionShape extends Sender {
  commit(): Promise<void>;
  abort(): Promise<void>;
  sendOffsets(offsets: object): Promise<void>;
  isActive?(): boolean;
}

/** A field of a message that a client reads. */
export type MessageField = 'key' | 'value' | 'partition' | 'timestamp';

/** A producer: a sender that may begin transactions. */
export interface ProducerShape extends Sender {
  transaction?(): Promise<TransactionShape>;
  disconnect?(): Promise<void>;
  commit?(): Promise<void>;
  abort?(): Promise<void>;
  sendOffsets?(offsets: object): Promise<void>;
}

/** One consumed message. */
export interface ConsumedMessage {
  key: Buffer | null;
  value: Buffer | null;
  offset: string;
  timestamp: string;
  headers?: object;
}

/** The argument of an `eachMessage` handler. */
export interface EachMessageShape<M extends ConsumedMessage = ConsumedMessage> {
  topic: string;
  partition: number;
  message: M;
}

/** The argument of an `eachBatch` handler. */
export interface EachBatchShape<M extends ConsumedMessage = ConsumedMessage> {
  batch: { topic: string; partition: number; messages: M[] };
  resolveOffset(offset: string): void;
  heartbeat(): Promise<void>;
  isRunning(): boolean;
  isStale(): boolean;
}

/** A consumer: what `run()` is called on. */
export interface ConsumerShape {
  run(config?: object): Promise<void>;
  subscribe(subscription: never): Promise<void>;
  disconnect?(...args: unknown[]): unknown;
}

/** What a producer binding tells the core about its client. */
export interface ProducerBinding {
  /** The wrapper's name, for error messages: `traceProducer`. */
  readonly factory: string;
  /** What the wrapper takes, with an example, for error messages. */
  readonly expects: string;
  /** Makes headers that tracebus owns (a copy, with trace headers) sendable by the client; changes them in place. */
  readonly encodeHeaders: (headers: WritableHeaders) => object;
  /**
   * The fields of a message the client reads also where the message inherits them (a class's
   * getter): a copy gets them as its own. kafkajs reads all four by property access;
   * @confluentinc/kafka-javascript takes `partition` and `timestamp` only from the message's
   * own properties, so an inherited one must stay unseen.
   */
  readonly inheritedFields: readonly MessageField[];
  /**
   * Where `producer` connects and its client id, as its configuration says, for the spans of a
   * producer whose `brokers` or `clientId` option is unset: `'not yet'` while the client has no
   * configuration to read (before `connect()`), `'unknown'` when it cannot be read. Never throws.
   */
  readonly readClient?: (producer: object) => ConfiguredClient | 'not yet' | 'unknown';
}

/** What a consumer binding tells the core about its client. */
export interface ConsumerBinding<C> {
  /** The wrappers' names, for error messages. */
  readonly factories: { readonly consumer: string; readonly eachMessage: string; readonly eachBatch: string };
  /** What the consumer wrapper takes, with an example, for error messages. */
  readonly expects: string;
  /**
   * Why `consumer` is not this binding's client though it has its shape (a consumer of the other
   * Kafka client, whose API looks alike), as the sentence of a TypeError; `undefined` when it is.
   */
  readonly otherClient?: (consumer: C) => string | undefined;
  /** Whether `run()` was called on `consumer` and it was not stopped since, when the client can tell. */
  readonly isRunning?: (consumer: C) => boolean;
  /**
   * Learns the consumer group, when no `groupId` option names it: `learn` is called with the
   * group's name as soon as it is known. Called when the consumer is wrapped (`wrapped`) and
   * when `run()` is called (`run`).
   */
  readonly watchGroup?: (consumer: C, learn: (groupId: string) => void, when: 'wrapped' | 'run') => void;
  /**
   * Learns where the consumer connects and its client id from its configuration, for the spans
   * of a consumer whose `brokers` or `clientId` option is unset: `learn` is called with what the
   * configuration says. Called as `watchGroup` is.
   */
  readonly watchClient?: (consumer: C, learn: (configured: ConfiguredClient) => void, when: 'wrapped' | 'run') => void;
  /**
   * The client's `eachBatch` payload goes on answering `isRunning()` true after `disconnect()`:
   * the consumer decorator then tells `forEachMessage` itself, from the traced consumer's
   * `disconnect()`, for a `run()` whose `eachBatchAutoResolve` the client reads as off.
   */
  readonly runsOnAfterDisconnect?: boolean;
}

/**
 * A copy of `object` with `fields` set, which a client reads as it would read `object`: the
 * same prototype, every own property as it is (non-enumerable ones included, and own ones stay
 * own: @confluentinc/kafka-javascript refuses a record whose own `acks` is set, but not one
 * whose class provides it), and its getters, own ones and those of the `read` fields it
 * inherits (a `topic` getter of its class), run on `object` itself, so that one reading a
 * private field works as it does untraced. A spread keeps none of this: it drops inherited
 * and non-enumerable fields. Throws what reading `object`'s properties throws.
 *
 * @example
 * copyWith(record, { messages }, ['topic', 'acks', 'timeout', 'compression'])
 */
export function copyWith<T extends object>(object: T, fields: Readonly<Record<string, unknown>>, read: readonly string[]): T {
  const descriptors = Object.getOwnPropertyDescriptors(object) as Record<PropertyKey, PropertyDescriptor>;
  for (const key of Reflect.ownKeys(descriptors)) {
    const descriptor = descriptors[key]!;
    if (descriptor.get !== undefined) descriptor.get = () => Reflect.get(object, key) as unknown;
    // Read as the client reads it, through a Proxy's get trap where `object` is one.
    else if ('value' in descriptor) descriptor.value = Reflect.get(object, key);
  }
  for (const name of Object.keys(fields)) {
    const own = descriptors[name];
    descriptors[name] = { value: fields[name], writable: true, configurable: true, enumerable: own === undefined || own.enumerable === true };
  }
  let prototype = Object.getPrototypeOf(object) as object | null;
  // The inherited fields the client reads come from a layer between the copy and the
  // prototype: still inherited, and read from `object`.
  let inherited: PropertyDescriptorMap | undefined;
  for (const name of read) {
    if (!Object.hasOwn(object, name) && !Object.hasOwn(fields, name) && name in object) (inherited ??= {})[name] = { get: () => Reflect.get(object, name) as unknown, configurable: true };
  }
  if (inherited !== undefined) prototype = Object.create(prototype, inherited) as object;
  return Object.create(prototype, descriptors) as T;
}

// Consumers tracebus traces, with their group as far as it is known: a transactional
// producer's `sendOffsets({ consumer })` (@confluentinc/kafka-javascript) names the group by them.
const groups = new WeakMap<object, () => string | undefined>();

/** Registers `consumer` (the client's object and its traced wrapper) with a way to read its group. */
export function registerGroup(consumers: readonly object[], groupId: () => string | undefined): void {
  for (const consumer of consumers) groups.set(consumer, groupId);
}

/** The consumer group of a traced consumer, if known. */
export function groupOf(consumer: unknown): string | undefined {
  return (typeof consumer === 'object' || typeof consumer === 'function') && consumer !== null ? groups.get(consumer)?.() : undefined;
}
