import { AsyncLocalStorage, AsyncResource } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { context } from '@opentelemetry/api';
import { describe } from '../core/checks.ts';
import type { Handler } from '../core/compose.ts';
import { defineHeader, type HeaderValue, type MessageHeaders } from '../core/headers.ts';
import { describeError } from '../core/lifecycle.ts';
import { activeMessageTrace } from '../core/message-trace.ts';
import { reportProblem } from '../core/warnings.ts';
import { isAnonymousGroup } from './attributes.ts';

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
  /** `close()` calls waiting for the member's deliveries to finish. */
  readonly idle: Set<Waiter>;
}

/** One delivery in flight, as the async context of its handler knows it. */
interface Delivery {
  readonly member: Member;
  done: boolean;
}

/**
 * A `close()` or `drained()` waiting for deliveries to finish: all of them, or, called from a
 * handler (`own`), all but that handler's own delivery while it runs.
 */
interface Waiter {
  readonly own: Delivery | undefined;
  readonly resolve: () => void;
}

/** How many deliveries `waiter` does not wait for: its caller's own, while that runs. */
const spared = (waiter: Waiter) => (waiter.own !== undefined && !waiter.own.done ? 1 : 0);

/** Resolves and forgets the waiters that `left` deliveries in flight no longer hold up. */
function release(waiters: Set<Waiter>, left: number): void {
  for (const waiter of waiters) {
    if (left <= spared(waiter)) {
      waiters.delete(waiter);
      waiter.resolve();
    }
  }
}

const BUS_OPTIONS = new Set(['maxAttempts', 'retryDelayMs', 'deadLetterTopic', 'onDeadLetter']);
const SUBSCRIBE_OPTIONS = new Set(['group', 'concurrency']);
/** The longest delay a Node.js timer takes (2^31 - 1 ms); a longer one would fire after 1 ms. */
const MAX_DELAY_MS = 2_147_483_647;

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
  readonly #deliverInScope = AsyncResource.bind((group: Group, member: Member, envelope: Envelope) => {
    const delivery: Delivery = { member, done: false };
    this.#delivering.run(delivery, this.#deliverOrReport, group, delivery, envelope);
  });
  readonly #deliverOrReport = (group: Group, delivery: Delivery, envelope: Envelope) => {
    // A safety net: #deliver settles every failure it knows of itself.
    this.#deliver(group, delivery, envelope).catch((error: unknown) => process.emitWarning(`tracebus: the MemoryBus failed to finish a delivery of '${envelope.topic}': ${describeError(error)}`));
  };
  /** The delivery whose handler runs in this async context, so that a handler may close its own subscription, or the bus. */
  readonly #delivering = new AsyncLocalStorage<Delivery>();
  readonly #idle = new Set<Waiter>();
  #inFlight = 0;
  #closed = false;
  #anonymous = 0;

  constructor(options: MemoryBusOptions = {}) {
    checkKnown(options, BUS_OPTIONS, 'new MemoryBus(options)');
    const { maxAttempts = 3, retryDelayMs = 0, deadLetterTopic = (topic: string) => `${topic}.dead-letter`, onDeadLetter = warnDeadLetter } = options;
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new TypeError(`tracebus: maxAttempts must be an integer >= 1; got ${describe(maxAttempts)}`);
    if (typeof retryDelayMs !== 'number' || !(retryDelayMs >= 0 && retryDelayMs <= MAX_DELAY_MS)) throw new TypeError(`tracebus: retryDelayMs must be a number of milliseconds from 0 to ${MAX_DELAY_MS}; got ${describe(retryDelayMs)}`);
    if (deadLetterTopic !== false && typeof deadLetterTopic !== 'function') throw new TypeError('tracebus: deadLetterTopic must be false or a function (topic) => string');
    if (typeof onDeadLetter !== 'function') throw new TypeError(`tracebus: onDeadLetter must be a function (deadLetter) => void; got ${describe(onDeadLetter)}`);
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
    checkKnown(options, SUBSCRIBE_OPTIONS, `subscribe('${topic}', handler, options)`);
    const { group: named, concurrency = 1 } = options;
    if (named !== undefined && (typeof named !== 'string' || named === '')) throw new TypeError(`tracebus: subscribe('${topic}', handler, { group }) needs the group's name, a non-empty string, or no group; got ${describe(named)}`);
    if (named !== undefined && isAnonymousGroup(named, topic)) throw new TypeError(`tracebus: subscribe('${topic}', handler, { group: '${named}' }): names of the form '${topic}#<number>' are those of subscriptions without a group; choose another name`);
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new TypeError(`tracebus: concurrency must be an integer >= 1; got ${describe(concurrency)}`);
    let groups = this.#groups.get(topic);
    if (groups === undefined) this.#groups.set(topic, (groups = []));
    // A subscription without a group has one of its own: its name is one subscribe() refuses as a group's.
    let group = named === undefined ? undefined : groups.find((candidate) => candidate.name === named);
    if (group === undefined) groups.push((group = new Group(topic, named ?? `${topic}#${++this.#anonymous}`)));
    const member: Member = { handler: handler as MemoryHandler, concurrency, active: 0, open: true, idle: new Set() };
    group.members.push(member);
    const joined = group;
    this.#pump(joined);
    return {
      topic,
      group: joined.name,
      close: () => {
        // A second close() only waits again: the member is gone, and no other may go with it.
        if (member.open) {
          member.open = false;
          joined.members.splice(joined.members.indexOf(member), 1);
          // A group with no subscription left is gone, with what was queued for it.
          if (joined.members.length === 0) this.#removeGroup(joined);
          else this.#pump(joined);
          this.#releaseIdle();
        }
        // Called from one of its own deliveries, it waits for the others only.
        const current = this.#delivering.getStore();
        const own = current?.member === member ? current : undefined;
        return member.active <= (own === undefined ? 0 : 1) ? Promise.resolve() : new Promise<void>((resolve) => member.idle.add({ own, resolve }));
      },
    };
  }

  #removeGroup(group: Group): void {
    const groups = this.#groups.get(group.topic);
    if (groups === undefined) return;
    const at = groups.indexOf(group);
    if (at >= 0) groups.splice(at, 1);
    if (groups.length === 0) this.#groups.delete(group.topic);
  }

  /** Resolves when every queued message has been handled (or dead-lettered). */
  drained(): Promise<void> {
    // Called from a delivery (a handler that closes the bus), it waits for the others only.
    const own = this.#delivering.getStore();
    return this.#isIdle(own === undefined ? 0 : 1) ? Promise.resolve() : new Promise<void>((resolve) => this.#idle.add({ own, resolve }));
  }

  /**
   * Drains, then closes: resolves once every delivery in flight or queued for a
   * subscription has finished, including messages those handlers publish while the bus
   * drains (a pipeline runs to its end). After that, `publish` and `subscribe` throw.
   * Messages queued for a group with no subscription left are discarded. A handler may close
   * the bus: its own delivery is then the one not waited for.
   */
  async close(): Promise<void> {
    await this.drained();
    this.#closed = true;
  }

  #enqueue(topic: string, message: OutgoingMessage<unknown>, internal = false): boolean {
    if (this.#closed && !internal) throw new Error(`tracebus: publish('${topic}') on a closed MemoryBus`);
    if (typeof topic !== 'string' || topic === '') throw new TypeError('tracebus: publish() needs a topic name');
    if (message === null || typeof message !== 'object') throw new TypeError(`tracebus: publish('${topic}', message) needs a message object such as { payload }`);
    const headers = message.headers;
    if (headers != null && (typeof headers !== 'object' || Array.isArray(headers) || headers instanceof Map)) throw new TypeError(`tracebus: publish('${topic}', { headers }) needs headers as a plain object of names and values; got ${describe(headers)}`);
    // Copied before anything else, so that a message that cannot be copied fails whether or not the topic has a subscription.
    const payload = cloned(message.payload, topic, 'payload');
    const copied = copyHeaders(headers, topic);
    const groups = this.#groups.get(topic);
    if (groups === undefined || groups.length === 0) return false;
    const envelope: Envelope = {
      topic,
      payload,
      headers: copied,
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

  async #deliver(group: Group, delivery: Delivery, envelope: Envelope): Promise<void> {
    const member = delivery.member;
    try {
      for (let attempt = 1; ; attempt++) {
        const message = materialize(envelope, group.name, attempt);
        try {
          await member.handler(message, activeMessageTrace(context.active()));
          return;
        } catch (error) {
          if (attempt >= this.#maxAttempts) {
            this.#deadLetter(envelope, group.name, attempt, error);
            return;
          }
          if (this.#retryDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.#retryDelayMs));
        }
      }
    } finally {
      member.active--;
      this.#inFlight--;
      delivery.done = true;
      // close() waits for the last delivery in flight, not the first to end.
      release(member.idle, member.active);
      if (member.open) this.#pump(group);
      this.#releaseIdle();
    }
  }

  /** Resolves the `drained()` calls whose deliveries have all finished. */
  #releaseIdle(): void {
    for (const waiter of this.#idle) {
      if (this.#isIdle(spared(waiter))) {
        this.#idle.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /**
   * Dead-letters the message `envelope` holds as it was published (not the copy a handler may
   * have changed, which could have lost its trace headers) and tells `onDeadLetter`. Never
   * throws: a `deadLetterTopic` function that throws or answers no topic is reported, and the
   * message is then dropped as with dead-lettering off.
   */
  #deadLetter(envelope: Envelope, group: string, attempts: number, error: unknown): void {
    let deadLetterTopic: string | undefined;
    let delivered = false;
    try {
      const chosen = this.#deadLetterTopic === false ? undefined : this.#deadLetterTopic(envelope.topic);
      if (chosen !== undefined && (typeof chosen !== 'string' || chosen === '')) throw new TypeError(`deadLetterTopic('${envelope.topic}') must return a topic name; got ${describe(chosen)}`);
      // Never back onto its own topic, where it would fail again.
      if (chosen !== envelope.topic) deadLetterTopic = chosen;
      if (deadLetterTopic !== undefined) {
        const headers = { ...envelope.headers, 'x-original-topic': envelope.topic, 'x-attempts': String(attempts), 'x-error': describeError(error) };
        delivered = this.#enqueue(deadLetterTopic, { payload: envelope.payload, headers, key: envelope.key, id: envelope.id }, true);
      }
    } catch (problem) {
      deadLetterTopic = undefined;
      delivered = false;
      reportProblem('TRACEBUS_HOOK_FAILED', `tracebus: the MemoryBus could not dead-letter a message of '${envelope.topic}'; it is dropped`, problem, 'error');
    }
    try {
      this.#onDeadLetter({ message: materialize(envelope, group, attempts), error, deadLetterTopic, delivered });
    } catch (problem) {
      process.emitWarning(`tracebus: onDeadLetter threw: ${describeError(problem)}`);
    }
  }

  /** Whether nothing is delivered or waiting for a subscription, but for `until` deliveries (a caller's own). */
  #isIdle(until = 0): boolean {
    if (this.#inFlight > until) return false;
    for (const groups of this.#groups.values()) {
      for (const group of groups) if (group.pending > 0 && group.members.length > 0) return false;
    }
    return true;
  }
}

function warnDeadLetter({ message, error, deadLetterTopic, delivered }: DeadLetter): void {
  const where = deadLetterTopic === undefined ? 'dropped (not dead-lettered)' : delivered ? `moved to '${deadLetterTopic}'` : `dropped: '${deadLetterTopic}' has no subscription`;
  process.emitWarning(`message ${message.id} on '${message.topic}' failed ${message.attempt} deliveries to group '${message.group}' and was ${where}: ${describeError(error)}`, 'TracebusDeadLetterWarning');
}

/** A copy of `headers` that shares no object with them: bytes as Buffers, every other object cloned. */
function copyHeaders(headers: MessageHeaders | null | undefined, topic?: string): Record<string, HeaderValue> {
  const copy: Record<string, HeaderValue> = {};
  if (headers == null) return copy;
  for (const name in headers) defineHeader(copy, name, copyValue(headers[name], topic, name));
  return copy;
}

function copyValue(value: HeaderValue, topic: string | undefined, name: string): HeaderValue {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  if (Array.isArray(value)) return value.map((item) => copyValue(item, topic, name));
  return topic === undefined ? structuredClone(value) : cloned(value, topic, `header '${name}'`);
}

/** `structuredClone(value)`, or a TypeError that says what could not be copied and what can. */
function cloned<T>(value: T, topic: string, what: string): T {
  try {
    return structuredClone(value);
  } catch (error) {
    throw new TypeError(`tracebus: publish('${topic}') copies each message, as a broker would, and its ${what} cannot be copied (${describeError(error)}); send data: plain objects, arrays, strings, numbers, dates, Buffers`);
  }
}

/** Options that are not among `known` fail at once: a misspelt option would otherwise do nothing. */
function checkKnown(options: unknown, known: ReadonlySet<string>, call: string): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) throw new TypeError(`tracebus: ${call} takes an options object or nothing; got ${describe(options)}`);
  for (const name of Object.keys(options)) {
    if (!known.has(name)) throw new TypeError(`tracebus: ${call} has no option '${name}'; its options are ${[...known].join(', ')}`);
  }
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
