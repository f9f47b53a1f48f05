import { diag } from '@opentelemetry/api';
import type { OpenPublish } from '../core/messaging-tracer.ts';
import { callOwn, isPatched, originalOf } from '../core/overlap.ts';
import { frameRoom, headerBudget } from '../amqplib/header-budget.ts';
import { traceHeaders } from '../amqplib/headers.ts';
import { ATTR_MESSAGING_MESSAGE_BODY_SIZE } from '../core/semconv.ts';
import { ATTR_RABBITMQ_SEND_ATTEMPT, EVENT_RABBITMQ_SENT, type WrapperState } from './attributes.ts';

// A ChannelWrapper sends a message when it can: at once, after a reconnect, or again on a
// new channel when the old one closed before the broker confirmed it. It writes it to the
// amqplib channel it opened, with the options object it was given copied but the headers
// object tracebus made kept: so each write is told apart by that object, and recorded as an
// event on the message's span. The wrapper's channels are also made to call their own
// `publish` and `consume`, as the traced channels of tracebus/amqplib do: another
// instrumentation's patch would give each message a second span and replace its traceparent.

type Loose = Record<PropertyKey, any>;

/** One message the wrapper has not settled yet. */
interface Pending {
  readonly open: OpenPublish;
  /** Whether every write is recorded, not only a second one (the message was queued). */
  readonly queued: boolean;
  writes: number;
  /** The most bytes its headers table was made to fit. */
  budget: number;
  /** Whether to record the size of the body the wrapper writes (`bodySize`). */
  readonly bodySize: boolean;
}

const prepared = new WeakSet<object>();

/** The messages of one traced ChannelWrapper that it has accepted and not settled. */
export class Outbox {
  readonly #pending = new WeakMap<object, Pending>();

  /** Installs the setup that prepares every channel the wrapper opens, and prepares the open one. */
  constructor(raw: WrapperState) {
    const prepare = (channel: unknown) => this.#prepare(channel);
    const setups = raw._setups;
    if (!Array.isArray(setups)) {
      diag.warn('tracebus: this ChannelWrapper does not keep its setup functions where amqp-connection-manager 4 and 5 do; resent messages are not recorded');
      return;
    }
    setups.unshift(async function tracebusChannel(channel: unknown) {
      prepare(channel);
    });
    prepare(raw._channel);
  }

  /**
   * Watches for the writes of a message sent with `headers`, made to fit `budget` bytes, until
   * {@link settled}.
   */
  add(headers: object, open: OpenPublish, queued: boolean, budget: number, bodySize: boolean): void {
    this.#pending.set(headers, { open, queued, writes: 0, budget, bodySize });
  }

  settled(headers: object): void {
    this.#pending.delete(headers);
  }

  #prepare(channel: unknown): void {
    if (channel === null || typeof channel !== 'object' || prepared.has(channel)) return;
    prepared.add(channel);
    const raw = channel as Loose;
    const pending = this.#pending;
    const ownPublish = raw.publish;
    if (typeof ownPublish !== 'function') return;
    // amqplib's sendToQueue calls this.publish: both come through here.
    define(raw, 'publish', function publish(exchange: string, routingKey: string, content: Buffer, options?: Loose, callback?: unknown) {
      const headers = options?.headers;
      const message = headers !== null && typeof headers === 'object' ? pending.get(headers) : undefined;
      if (message !== undefined) {
        if (++message.writes > 1 || message.queued) message.open.span.addEvent(EVENT_RABBITMQ_SENT, { [ATTR_RABBITMQ_SEND_ATTEMPT]: message.writes });
        // The body as the wrapper encoded it (JSON for a `json` wrapper, a string's bytes): known only here.
        if (message.bodySize && message.writes === 1 && Buffer.isBuffer(content)) message.open.span.setAttribute(ATTR_MESSAGING_MESSAGE_BODY_SIZE, content.length);
        // A message queued before the wrapper first connected, or sent again after a reconnect
        // to another broker, was measured against another frame size: one smaller here gets
        // its trace headers fitted again, or RabbitMQ would close the connection.
        const budget = headerBudget(frameRoom(raw.connection?.frameMax), options);
        if (budget < message.budget) {
          message.budget = budget;
          traceHeaders(headers as Record<string, string>, budget, message.open.span, true);
        }
      }
      return callOwn(raw, ownPublish, exchange, routingKey, content, options, callback);
    });
    if (isPatched(raw.consume)) define(raw, 'consume', originalOf(raw.consume));
  }
}

function define(target: Loose, name: string, method: (...args: any[]) => unknown): void {
  Object.defineProperty(target, name, { value: method, writable: true, configurable: true, enumerable: false });
}
