import { AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { context } from '@opentelemetry/api';
import type { Handler } from '../core/compose.ts';
import { defineHeader, type HeaderValue, type MessageHeaders } from '../core/headers.ts';
import { describeError } from '../core/lifecycle.ts';
import { activeMessageTrace } from '../core/message-trace.ts';

/** A message as a publisher hands it to the bus. */
export interface OutgoingMessage<P = unknown> {
  payload: P;
  headers?: MessageHeaders;
  /** Optional key, kept for handlers (the bus does not partition by it). */
  key?: string;
  /** Message id; a random UUID when omitted. */
  id?: string;
}

/** A message as a handler receives it: a copy of what was published. */
export interface MemoryMessage<P = unknown> {
  readonly topic: string;
  readonly payload: P;
  readonly headers: Record<string, HeaderValue>;
  readonly key: string | undefined;
  readonly id: string;
  /** 1 on first delivery, 2 on the first redelivery, and so on. */
  readonly attempt: number;
  readonly redelivered: boolean;
  /** `Date.now()` when it was published. */
  readonly publishedAt: number;
  /** The consumer group, or the subscription's own name when it has none. */
  readonly group: string;
}

/** Anything that publishes to topics: the bus, or a decorated bus. */
export interface MemoryPublisher {
  /** Copies `message` onto `topic`. Resolves once queued, before any handler runs. */
  publish<P>(topic: string, message: OutgoingMessage<P>): Promise<void>;
}

/** A handler for bus messages. */
export type MemoryHandler<P = unknown> = Handler<MemoryMessage<P>, void | Promise<void>>;

export interface SubscribeOptions {
  /**
   * Consumer group. Subscriptions to one topic in the same group compete: each message
   * goes to one of them. Subscriptions without a group each get every message.
   */
  group?: string;
  /** Messages this subscription handles at once. Default 1, which keeps publish order. */
  concurrency?: number;
}

export interface Subscription {
  readonly topic: string;
  readonly group: string;
  /** Stops taking messages and resolves when its in-flight deliveries have finished. */
  close(): Promise<void>;
}

/** Why a message was dead-lettered, and where it went. */
export interface DeadLetter {
  readonly message: MemoryMessage;
  readonly error: unknown;
  /** The topic it was republished to, or `undefined` when dead-lettering is off. */
  readonly deadLetterTopic: string | undefined;
  /** Whether any subscription received it there. */
  readonly delivered: boolean;
}

export interface MemoryBusOptions {
  /** Deliveries per message and group, first one included, before it is dead-lettered. Default 3. */
  maxAttempts?: number;
  /** Delay before a redelivery, in milliseconds. Default 0. */
  retryDelayMs?: number;
  /**
   * Topic that receives messages whose deliveries all failed, or `false` for none.
   * Default: `<topic>.dead-letter`. Headers are kept (so is the trace), with
   * `x-original-topic`, `x-attempts` and `x-error` added.
   */
  deadLetterTopic?: false | ((topic: string) => string);
  /**
   * Called for every dead-lettered message. Default: a process warning
   * (`process.emitWarning`), so that a failure is never silent.
   */
  onDeadLetter?: (deadLetter: DeadLetter) => void;
}

interface Envelope {
  readonly topic: string;
  readonly payload: unknown;
  readonly headers: Record<string, HeaderValue>;
  readonly key: string | undefined;
  readonly id: string;
  readonly publishedAt: number;
}

interface Member {
  readonly handler: MemoryHandler;
  readonly concurrency: number;
  active: number;
  open: boolean;
  readonly idle: Set<() => void>;
}

class Group {
  readonly members: Member[] = [];
  queue: Envelope[] = [];
  head = 0;
  next = 0;
  readonly topic: string;
  readonly name: string;
  constructor(topic: string, name: string) {
    this.topic = topic;
    this.name = name;
  }

  get pending(): number {
    return this.queue.length - this.head;
  }

  take(): Envelope {
    const envelope = this.queue[this.head]!;
    this.queue[this.head++] = undefined as unknown as Envelope;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return envelope;
  }

  /** A member with spare capacity, taken in turn so that competing consumers share the load. */
  available(): Member | undefined {
    const count = this.members.length;
    for (let step = 0; step < count; step++) {
      const member = this.members[(this.next + step) % count]!;
      if (member.open && member.active < member.concurrency) {
        this.next = (this.next + step + 1) % count;
        return member;
      }
    }
    return undefined;
  }
}

/**
 * An in-process publish/subscribe bus that behaves like a broker: publishing copies the
 * headers and payload (`structuredClone`), delivery is asynchronous, and nothing but the
 * headers connects a handler to its publisher — not even the async context. Tracing
 * therefore takes the same inject/extract path as on Kafka or RabbitMQ.
 *
 * - Every subscription gets every message of its topic, except that subscriptions in
 *   the same `group` compete for them.
 * - A subscription handles messages in publish order unless given `concurrency` > 1.
 * - A failing handler gets the message again, up to `maxAttempts` deliveries in all
 *   (redeliveries come before the next message, so order holds); then the message goes
 *   to the dead-letter topic and `onDeadLetter`. Other subscriptions are unaffected.
 * - Messages published to a topic with no subscription are dropped, as a broker drops
 *   what no queue is bound for. Messages are not persisted.
 *
 * @example
 * const bus = new MemoryBus();
 * bus.subscribe('orders.placed', async (message) => { ... }, { group: 'payments' });
 * await bus.publish('orders.placed', { payload: { orderId: 1 } });
 * await bus.close(); // waits for deliveries in flight
 */
export class MemoryBus implements MemoryPublisher {
  readonly #groups = new Map<string, Group[]>();
  readonly #maxAttempts: number;
  readonly #retryDelayMs: number;
  readonly #deadLetterTopic: false | ((topic: string) => string);
  readonly #onDeadLetter: (deadLetter: DeadLetter) => void;
  // Deliveries run in the async context the bus was created in, never the publisher's:
  // context must travel through the headers only, as on a broker.
  readonly #deliverInScope = AsyncResource.bind((group: Group, member: Member, envelope: Envelope) => void this.#deliver(group, member, envelope));
  readonly #idle = new Set<() => void>();
  #inFlight = 0;
  #closed = false;
  #anonymous = 0;

  constructor(options: MemoryBusOptions = {}) {
    const { maxAttempts = 3, retryDelayMs = 0, deadLetterTopic = (topic: string) => `${topic}.dead-letter`, onDeadLetter = warnDeadLetter } = options;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new TypeError(`tracebus: maxAttempts must be an integer >= 1; got ${maxAttempts}`);
    if (!(retryDelayMs >= 0)) throw new TypeError(`tracebus: retryDelayMs must be >= 0; got ${retryDelayMs}`);
    if (deadLetterTopic !== false && typeof deadLetterTopic !== 'function') throw new TypeError('tracebus: deadLetterTopic must be false or a function (topic) => string');
    this.#maxAttempts = maxAttempts;
    this.#retryDelayMs = retryDelayMs;
    this.#deadLetterTopic = deadLetterTopic;
    this.#onDeadLetter = onDeadLetter;
  }

  publish<P>(topic: string, message: OutgoingMessage<P>): Promise<void> {
    try {
      this.#enqueue(topic, message);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Subscribes `handler` to `topic`. */
  subscribe<P = unknown>(topic: string, handler: MemoryHandler<P>, options: SubscribeOptions = {}): Subscription {
    if (this.#closed) throw new Error('tracebus: subscribe() on a closed MemoryBus; create a new bus');
    if (typeof topic !== 'string' || topic === '') throw new TypeError('tracebus: subscribe() needs a topic name');
    if (typeof handler !== 'function') throw new TypeError(`tracebus: subscribe('${topic}', handler) needs a function as handler; got ${typeof handler}`);
    const { group: groupName = `${topic}#${++this.#anonymous}`, concurrency = 1 } = options;
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError(`tracebus: concurrency must be an integer >= 1; got ${concurrency}`);
    let groups = this.#groups.get(topic);
    if (groups === undefined) this.#groups.set(topic, (groups = []));
    let group = groups.find((candidate) => candidate.name === groupName);
    if (group === undefined) groups.push((group = new Group(topic, groupName)));
    const member: Member = { handler: handler as MemoryHandler, concurrency, active: 0, open: true, idle: new Set() };
    group.members.push(member);
    const joined = group;
    this.#pump(joined);
    return {
      topic,
      group: groupName,
      close: () => {
        // A second close() only waits again: the member is gone, and no other may go with it.
        if (member.open) {
          member.open = false;
          joined.members.splice(joined.members.indexOf(member), 1);
          this.#pump(joined);
        }
        return member.active === 0 ? Promise.resolve() : new Promise<void>((resolve) => member.idle.add(resolve));
      },
    };
  }

  /** Resolves when every queued message has been handled (or dead-lettered). */
  drained(): Promise<void> {
    return this.#isIdle() ? Promise.resolve() : new Promise<void>((resolve) => this.#idle.add(resolve));
  }

  /**
   * Drains, then closes: resolves once every delivery in flight or queued for a
   * subscription has finished, including messages those handlers publish while the bus
   * drains (a pipeline runs to its end). After that, `publish` and `subscribe` throw.
   * Messages queued for a group with no subscription left are discarded.
   */
  async close(): Promise<void> {
    await this.drained();
    this.#closed = true;
  }

  #enqueue(topic: string, message: OutgoingMessage<unknown>, internal = false): boolean {
    if (this.#closed && !internal) throw new Error(`tracebus: publish('${topic}') on a closed MemoryBus`);
    if (typeof topic !== 'string' || topic === '') throw new TypeError('tracebus: publish() needs a topic name');
    if (message === null || typeof message !== 'object') throw new TypeError(`tracebus: publish('${topic}', message) needs a message object such as { payload }`);
    const groups = this.#groups.get(topic);
    if (groups === undefined || groups.length === 0) return false;
    const envelope: Envelope = {
      topic,
      payload: structuredClone(message.payload),
      headers: copyHeaders(message.headers),
      key: message.key,
      id: message.id ?? randomUUID(),
      publishedAt: Date.now(),
    };
    for (const group of groups) {
      group.queue.push(envelope);
      this.#pump(group);
    }
    return true;
  }

  #pump(group: Group): void {
    while (group.pending > 0) {
      const member = group.available();
      if (member === undefined) return;
      const envelope = group.take();
      member.active++;
      this.#inFlight++;
      setImmediate(this.#deliverInScope, group, member, envelope);
    }
  }

  async #deliver(group: Group, member: Member, envelope: Envelope): Promise<void> {
    try {
      for (let attempt = 1; ; attempt++) {
        const message = materialize(envelope, group.name, attempt);
        try {
          await member.handler(message, activeMessageTrace(context.active()));
          return;
        } catch (error) {
          if (attempt >= this.#maxAttempts) {
            this.#deadLetter(message, error);
            return;
          }
          if (this.#retryDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#retryDelayMs));
        }
      }
    } finally {
      member.active--;
      this.#inFlight--;
      // close() waits for the last delivery in flight, not the first to end.
      if (member.active === 0) {
        for (const resolve of member.idle) resolve();
        member.idle.clear();
      }
      this.#pump(group);
      if (this.#isIdle()) {
        for (const resolve of this.#idle) resolve();
        this.#idle.clear();
      }
    }
  }

  #deadLetter(message: MemoryMessage, error: unknown): void {
    const deadLetterTopic = this.#deadLetterTopic === false ? undefined : this.#deadLetterTopic(message.topic);
    let delivered = false;
    if (deadLetterTopic !== undefined && deadLetterTopic !== message.topic) {
      const headers = { ...message.headers, 'x-original-topic': message.topic, 'x-attempts': String(message.attempt), 'x-error': describeError(error) };
      delivered = this.#enqueue(deadLetterTopic, { payload: message.payload, headers, key: message.key, id: message.id }, true);
    }
    try {
      this.#onDeadLetter({ message, error, deadLetterTopic, delivered });
    } catch (problem) {
      process.emitWarning(`tracebus: onDeadLetter threw: ${describeError(problem)}`);
    }
  }

  #isIdle(): boolean {
    if (this.#inFlight > 0) return false;
    for (const groups of this.#groups.values()) {
      for (const group of groups) if (group.pending > 0 && group.members.length > 0) return false;
    }
    return true;
  }
}

function warnDeadLetter({ message, error, deadLetterTopic, delivered }: DeadLetter): void {
  const where = deadLetterTopic === undefined ? 'dropped (dead-lettering is off)' : delivered ? `moved to '${deadLetterTopic}'` : `dropped: '${deadLetterTopic}' has no subscription`;
  process.emitWarning(`message ${message.id} on '${message.topic}' failed ${message.attempt} deliveries to group '${message.group}' and was ${where}: ${describeError(error)}`, 'TracebusDeadLetterWarning');
}

function copyHeaders(headers: MessageHeaders | undefined): Record<string, HeaderValue> {
  const copy: Record<string, HeaderValue> = {};
  if (headers == null) return copy;
  for (const name in headers) defineHeader(copy, name, copyValue(headers[name]));
  return copy;
}

function copyValue(value: HeaderValue): HeaderValue {
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (Array.isArray(value)) return value.map(copyValue);
  return value;
}

function materialize(envelope: Envelope, group: string, attempt: number): MemoryMessage {
  return {
    topic: envelope.topic,
    payload: structuredClone(envelope.payload),
    headers: copyHeaders(envelope.headers),
    key: envelope.key,
    id: envelope.id,
    attempt,
    redelivered: attempt > 1,
    publishedAt: envelope.publishedAt,
    group,
  };
}
