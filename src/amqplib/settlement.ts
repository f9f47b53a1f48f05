import { context, diag, SpanKind, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { MessagingTracer } from '../core/messaging-tracer.ts';
import { closeSpan, type OnEnd } from '../core/lifecycle.ts';
import { marks } from '../core/checks.ts';
import type { Message } from 'amqplib';
import { ATTR_MESSAGING_BATCH_MESSAGE_COUNT, ATTR_RABBITMQ_DELIVERY_TAG } from '../core/semconv.ts';
import {
  addDestination,
  addServer,
  ATTR_RABBITMQ_DEAD_LETTER_EXCHANGE,
  ATTR_RABBITMQ_SETTLEMENT,
  ATTR_RABBITMQ_SETTLEMENT_MULTIPLE,
  ATTR_RABBITMQ_SETTLEMENT_ON_ERROR,
  ATTR_RABBITMQ_SETTLEMENT_REQUEUE,
  type Destination,
  type Server,
} from './attributes.ts';

/** The AMQP method that settled a delivery. */
export type SettleMethod = 'ack' | 'nack' | 'reject';

/** What a settlement span needs to know about the consumer that received the message. */
export interface DeliverySource {
  readonly tracer: MessagingTracer;
  readonly server: Server;
}

/**
 * One delivery whose settlement tracebus watches for: the span that covers it (the
 * `process` span, or the `receive` span of a `channel.get`) and whether that span is
 * still open.
 */
export class Delivery {
  readonly source: DeliverySource;
  readonly span: Span;
  readonly tag: number;
  readonly queue: string;
  readonly destination: Destination;
  open = true;
  /** The metrics to record when the span ends (`undefined` while metrics are off). */
  onEnd: OnEnd | undefined = undefined;

  constructor(source: DeliverySource, span: Span, tag: number, queue: string, destination: Destination) {
    this.source = source;
    this.span = span;
    this.tag = tag;
    this.queue = queue;
    this.destination = destination;
  }
}

/**
 * The deliveries of one channel that are not settled yet, by delivery tag (tags are per
 * channel), and the dead-letter exchanges of the queues declared through it.
 *
 * A settlement while the delivery's span is open becomes attributes of that span. One
 * that comes after the span ended (the handler returned first) becomes a short CLIENT
 * span `ack|nack|reject <destination>`, a child of the delivery's span; several at once
 * (`allUpTo`, `ackAll`) become one such span with a link to each delivery's span.
 */
export class Ledger {
  /**
   * How many deliveries whose handler has finished a channel keeps waiting for their settlement.
   * A handler that settles through the raw channel (which tracebus does not see) would
   * otherwise leave every delivery here, with its span, for as long as the channel lives. Past
   * this, the oldest finished ones are forgotten: a settlement of one of them is not recorded.
   * Deliveries whose handler still runs are never forgotten, so `onError` settles them once.
   */
  static readonly MAX_FINISHED = 4096;
  readonly #open = new Map<number, Delivery>();
  // The size at which the next sweep of finished deliveries runs: after a sweep that could
  // not get below MAX_FINISHED (that many handlers still running), twice the size it left.
  #sweepAt = Ledger.MAX_FINISHED;
  // The delivery tracked last, kept out of #open until another is tracked. A consumer that
  // settles each message before the next one arrives then never touches the map: emptying a
  // Map on every message makes V8 shrink its table each time.
  #last: Delivery | undefined;
  readonly #deadLetterExchanges = new Map<string, string>();

  get size(): number {
    return this.#open.size + (this.#last === undefined ? 0 : 1);
  }

  track(delivery: Delivery): void {
    const last = this.#last;
    // A tag tracked again (a channel's tags restart after a reconnect) replaces the delivery it had.
    if (last !== undefined && last.tag !== delivery.tag) this.#open.set(last.tag, last);
    if (this.#open.size !== 0) this.#open.delete(delivery.tag);
    this.#last = delivery;
    if (this.#open.size >= this.#sweepAt) this.#sweep();
  }

  /** Forgets the oldest deliveries whose handler has finished, down to half of MAX_FINISHED. */
  #sweep(): void {
    const target = Ledger.MAX_FINISHED / 2;
    for (const [tag, delivery] of this.#open) {
      if (this.#open.size <= target) break;
      if (!delivery.open) this.#open.delete(tag);
    }
    this.#sweepAt = Math.max(Ledger.MAX_FINISHED, this.#open.size * 2);
  }

  /**
   * Removes `delivery` if the ledger still holds it under its tag, and says whether it did: false
   * when it was settled already, or when its tag now belongs to a later delivery (tags restart on
   * the channel a reconnect opens, and the broker redelivered this one there).
   */
  release(delivery: Delivery): boolean {
    if (this.#last === delivery) {
      this.#last = undefined;
      return true;
    }
    if (this.#open.get(delivery.tag) !== delivery) return false;
    this.#open.delete(delivery.tag);
    return true;
  }

  /** Removes and returns the delivery with `tag`, or `undefined` if it was settled already. */
  take(tag: number): Delivery | undefined {
    const last = this.#last;
    if (last !== undefined && last.tag === tag) {
      this.#last = undefined;
      return last;
    }
    if (this.#open.size === 0) return undefined;
    const delivery = this.#open.get(tag);
    if (delivery !== undefined) this.#open.delete(tag);
    return delivery;
  }

  clear(): void {
    this.#open.clear();
    this.#last = undefined;
  }

  rememberDeadLetterExchange(queue: string, exchange: string): void {
    this.#deadLetterExchanges.set(queue, exchange === '' ? 'amq.default' : exchange);
  }

  deadLetterExchange(queue: string): string | undefined {
    return this.#deadLetterExchanges.size === 0 ? undefined : this.#deadLetterExchanges.get(queue);
  }

  /**
   * Records that the application settled `tag` (`0` with `multiple` for `ackAll` and
   * `nackAll`). Never throws: this runs inside the application's `ack`.
   */
  settled(tag: number, multiple: boolean, method: SettleMethod, requeue: boolean): void {
    if (this.#last === undefined && this.#open.size === 0) return;
    try {
      if (!multiple) {
        const delivery = this.take(tag);
        if (delivery !== undefined) this.record(delivery, method, requeue, false, false);
        return;
      }
      // The last delivery joins the others, after them, as it was tracked after them.
      const last = this.#last;
      if (last !== undefined) {
        this.#open.set(last.tag, last);
        this.#last = undefined;
      }
      let ended: Delivery[] | undefined;
      for (const [openTag, delivery] of this.#open) {
        if (tag !== 0 && openTag > tag) continue;
        this.#open.delete(openTag);
        if (!delivery.open) (ended ??= []).push(delivery);
        else if (delivery.span.isRecording()) delivery.span.setAttributes(this.#attributes(delivery, method, requeue, true, false));
      }
      if (ended !== undefined) this.#settleSpan(ended, method, requeue, true);
    } catch (error) {
      diag.error('tracebus: could not record a settlement', error);
    }
  }

  /** Records one delivery's settlement, on its span while open, else on a settle span. */
  record(delivery: Delivery, method: SettleMethod, requeue: boolean, multiple: boolean, onError: boolean): void {
    // A span that records nothing (no SDK, or sampled out) is not given attributes to drop.
    if (!delivery.open) this.#settleSpan([delivery], method, requeue, multiple);
    else if (delivery.span.isRecording()) delivery.span.setAttributes(this.#attributes(delivery, method, requeue, multiple, onError));
  }

  #attributes(delivery: Delivery, method: SettleMethod, requeue: boolean, multiple: boolean, onError: boolean): Attributes {
    return settlementAttributes(method, requeue, multiple, onError, requeue ? undefined : this.deadLetterExchange(delivery.queue));
  }

  #settleSpan(deliveries: Delivery[], method: SettleMethod, requeue: boolean, multiple: boolean): void {
    const first = deliveries[0]!;
    const { tracer, server } = first.source;
    const attributes = this.#attributes(first, method, requeue, multiple, false);
    addServer(attributes, server);
    let span: Span;
    if (deliveries.length === 1) {
      attributes[ATTR_RABBITMQ_DELIVERY_TAG] = first.tag;
      addDestination(attributes, first.destination);
      const destination = first.destination.template ?? first.destination.name;
      span = tracer.startSpan({ type: 'settle', name: method, destination, attributes }, SpanKind.CLIENT, trace.setSpan(context.active(), first.span));
    } else {
      const sameDestination = deliveries.every((delivery) => delivery.destination.name === first.destination.name);
      if (sameDestination) addDestination(attributes, first.destination);
      attributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] = deliveries.length;
      const { links } = tracer.links(
        deliveries.map((delivery) => delivery.span.spanContext()),
        (index) => ({ [ATTR_RABBITMQ_DELIVERY_TAG]: deliveries[index]!.tag }),
      );
      const destination = sameDestination ? (first.destination.template ?? first.destination.name) : undefined;
      span = tracer.startSpan({ type: 'settle', name: method, destination, attributes }, SpanKind.CLIENT, context.active(), links);
    }
    closeSpan(span);
  }
}

/** The settlement attributes tracebus records. */
export function settlementAttributes(method: SettleMethod, requeue: boolean, multiple: boolean, onError: boolean, deadLetterExchange: string | undefined): Attributes {
  const attributes: Attributes = { [ATTR_RABBITMQ_SETTLEMENT]: method };
  if (method !== 'ack') attributes[ATTR_RABBITMQ_SETTLEMENT_REQUEUE] = requeue;
  if (multiple) attributes[ATTR_RABBITMQ_SETTLEMENT_MULTIPLE] = true;
  if (onError) attributes[ATTR_RABBITMQ_SETTLEMENT_ON_ERROR] = true;
  if (deadLetterExchange !== undefined) attributes[ATTR_RABBITMQ_DEAD_LETTER_EXCHANGE] = deadLetterExchange;
  return attributes;
}

const ledgers = new WeakMap<object, Ledger>();
const rawChannels = new WeakMap<object, object>();

/** Registers a traced channel and the channel it wraps; returns the raw channel's ledger. */
export function registerTracedChannel(traced: object, raw: object): Ledger {
  rawChannels.set(traced, raw);
  let ledger = ledgers.get(raw);
  if (ledger === undefined) {
    const created = new Ledger();
    ledgers.set(raw, (ledger = created));
    // A closed channel's deliveries can no longer be settled: the broker requeues them.
    const emitter = raw as { once?: (event: string, listener: () => void) => unknown };
    if (typeof emitter.once === 'function') emitter.once('close', () => created.clear());
  }
  return ledger;
}

// Shared by every copy of tracebus in the process, as its other marks are (core/checks.ts).
const shared = marks.sharedChannels;

/**
 * Marks a traced channel that tracebus hands to application code it did not write (the
 * `setup` functions of amqp-connection-manager): `traceChannel()` returns it as it is, so
 * that code which traces its channel itself does not trace it twice.
 */
export function shareTracedChannel<C extends object>(traced: C): C {
  shared.add(traced);
  return traced;
}

/** Whether `channel` was marked by {@link shareTracedChannel}. */
export function isSharedChannel(channel: unknown): boolean {
  return typeof channel === 'object' && channel !== null && shared.has(channel);
}

type Settling = Record<string, (...args: any[]) => unknown>;

/**
 * The settling methods of a traced channel (or channel-like object): each calls `raw`'s own
 * method, then records the settlement in `ledger`; `same` maps a result of `raw` itself to
 * the traced object. Only the methods `raw` has are returned (`reject` is amqplib's alone).
 */
export function settlingMethods(raw: Settling, ledger: Ledger, same: (result: unknown) => unknown): Settling {
  const methods: Settling = {
    ack: function ack(message: Message, allUpTo?: boolean) {
      const result = raw.ack!(message, allUpTo);
      ledger.settled(message.fields.deliveryTag, !!allUpTo, 'ack', false);
      return same(result);
    },
    ackAll: function ackAll() {
      const result = raw.ackAll!();
      ledger.settled(0, true, 'ack', false);
      return same(result);
    },
    nack: function nack(message: Message, allUpTo?: boolean, requeue?: boolean) {
      const result = raw.nack!(message, allUpTo, requeue);
      ledger.settled(message.fields.deliveryTag, !!allUpTo, 'nack', requeues(requeue));
      return same(result);
    },
    nackAll: function nackAll(requeue?: boolean) {
      const result = raw.nackAll!(requeue);
      ledger.settled(0, true, 'nack', requeues(requeue));
      return same(result);
    },
    reject: function reject(message: Message, requeue?: boolean) {
      const result = raw.reject!(message, requeue);
      ledger.settled(message.fields.deliveryTag, false, 'reject', requeues(requeue));
      return same(result);
    },
  };
  return Object.fromEntries(Object.entries(methods).filter(([name]) => typeof raw[name] === 'function'));
}

/**
 * Whether a nack or reject with `requeue` requeues, as amqplib reads it: left out, it does;
 * given, its truthiness is the bit on the wire (`null` and `0` do not requeue). `allUpTo`
 * likewise counts by truthiness.
 */
function requeues(requeue: unknown): boolean {
  return requeue === undefined || !!requeue;
}

/** Whether `channel` is a channel returned by `traceChannel`. */
export function isTracedChannel(channel: unknown): boolean {
  return typeof channel === 'object' && channel !== null && rawChannels.has(channel);
}

/** The channel a traced channel wraps, or `channel` itself. */
export function rawChannelOf<C>(channel: C): C {
  return typeof channel === 'object' && channel !== null ? ((rawChannels.get(channel) as C | undefined) ?? channel) : channel;
}

/** The ledger of `channel` (traced or raw), if it was ever traced. */
export function ledgerOf(channel: unknown): Ledger | undefined {
  if (typeof channel !== 'object' || channel === null) return undefined;
  return ledgers.get(rawChannels.get(channel) ?? channel);
}
