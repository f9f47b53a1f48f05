import type { ConsumeMessage, Message, Options } from 'amqplib';
import type { ChannelWrapper } from 'amqp-connection-manager';
import { isTraced } from '../core/checks.ts';
import type { MessageTrace } from '../core/message-trace.ts';
import type { MessagingTracer } from '../core/messaging-tracer.ts';
import { serverOf } from '../amqplib/attributes.ts';
import { assertSameNoAck, consumerCallback, ConsumerTracer, isNoAck, type AmqpHandler } from '../amqplib/consumer.ts';
import type { AmqpChannelOptions } from '../amqplib/publisher.ts';
import { traceChannel } from '../amqplib/publisher.ts';
import { isTracedChannel, Ledger, ledgerOf, registerTracedChannel, shareTracedChannel, type SettleMethod } from '../amqplib/settlement.ts';
import type { WrapperState } from './attributes.ts';

// A ChannelWrapper has consumers of two kinds, both traced here. Those of its own `consume`
// it registers again on every new channel, calling the callback it was given: that callback
// is traced once, for good. Those that `setup` functions start on the channel they receive
// are started again by the setup itself on every new channel: each setup is given that
// channel traced by `traceChannel`, one traced channel per amqplib channel.

/** A consume callback on a traced ChannelWrapper: the message and the trace of its consumer span. */
export type WrapperOnMessage = (message: ConsumeMessage, trace: MessageTrace) => unknown;

type Loose = Record<PropertyKey, any>;
type Setup = (channel: unknown, callback?: (error?: Error) => void) => unknown;

/** The consumer side of one traced ChannelWrapper: its `consume`, its settlements and its setup functions. */
export class WrapperConsumers {
  readonly #raw: Loose & WrapperState;
  /** The traced wrapper: the `this` of setup and teardown functions, where the wrapper passes itself. */
  readonly #wrapper: object;
  readonly #tracer: MessagingTracer;
  readonly #options: AmqpChannelOptions;
  readonly #decorate: ReturnType<typeof traceChannel>;
  readonly #channels = new WeakMap<object, unknown>();
  readonly #setups = new WeakMap<Setup, Setup>();
  /** What the consumers of `consume` settle through: the wrapper, which settles on its current channel. */
  readonly settler: object;
  /** The deliveries of the wrapper's own `consume` on its current channel. */
  readonly ledger: Ledger;
  /** What the wrapper's `ack`, `nack`, `ackAll` and `nackAll` tell of each settlement. */
  readonly settlements: Ledger;
  #channel: unknown;
  /** The channel each message of `consume` arrived on. */
  readonly #arrivedOn = new WeakMap<object, unknown>();

  constructor(raw: Loose & WrapperState, traced: object, tracer: MessagingTracer, options: AmqpChannelOptions) {
    this.#raw = raw;
    this.#wrapper = traced;
    this.#tracer = tracer;
    this.#options = options;
    this.#decorate = traceChannel(options);
    this.#channel = raw._channel;
    const arrivedOn = this.#arrivedOn;
    // The wrapper settles on its current channel, where delivery tags start again after a
    // reconnect: a message that arrived on a channel since closed cannot be settled (the broker
    // requeued it), and its tag may now name another message. That is refused here as a closed
    // channel refuses it, which the consumer reports to diag and does not record as settled.
    const settle = (message: Message, allUpTo: boolean | undefined, requeue: boolean | undefined): void => {
      const channel = raw._channel;
      if (channel == null || (arrivedOn.has(message) && arrivedOn.get(message) !== channel)) throw new Error('tracebus: the channel this message arrived on is closed');
      raw.nack(message, allUpTo, requeue);
    };
    // A ChannelWrapper has no `reject`: a reject without requeue is a nack without requeue,
    // which the broker treats alike (dead-lettering included).
    this.settler = {
      nack: (message: Message, allUpTo?: boolean, requeue?: boolean) => settle(message, allUpTo, requeue),
      reject: (message: Message, requeue?: boolean) => settle(message, false, requeue),
      get connection(): unknown {
        return (raw._channel as Loose | undefined)?.connection;
      },
    };
    this.ledger = registerTracedChannel(traced, this.settler);
    this.settlements = new WrapperSettlements(this, raw);
  }

  /**
   * Delivery tags are per channel: when the wrapper has moved to a new channel, what the
   * ledger knew of the old one can no longer be settled (the broker requeued it).
   */
  follow(): void {
    const channel = this.#raw._channel;
    if (channel === this.#channel) return;
    this.#channel = channel;
    this.ledger.clear();
  }

  /** The wrapper's `consume`, with `onMessage` traced (a callback tracebus made already is used as is). */
  consume(queue: string, onMessage: unknown, options?: Options.Consume): unknown {
    const raw = this.#raw;
    if (typeof onMessage !== 'function' || isTraced(onMessage)) {
      // A callback of traceConsume settles by its own noAck, which must be the consumer's.
      assertSameNoAck(onMessage, options, 'channelWrapper.consume');
      return raw.consume(queue, onMessage, options);
    }
    const { serverAddress, serverPort } = this.#options;
    const settler = this.settler;
    const consumer = new ConsumerTracer<ConsumeMessage>(this.#tracer, this.#options, settler, queue, isNoAck(options), serverOf(settler, serverAddress, serverPort));
    const traced = consumerCallback(consumer, onMessage as AmqpHandler<ConsumeMessage>, undefined);
    const follow = () => this.follow();
    const arrivedOn = this.#arrivedOn;
    // The broker is read from the channel the messages arrive on: a consumer registered before
    // the first connection has none yet, and a reconnect may reach another node of a cluster.
    let serverChannel: unknown = raw._channel;
    return raw.consume(
      queue,
      function tracedWrapperConsumer(message: ConsumeMessage) {
        follow();
        const channel = raw._channel;
        if (channel !== serverChannel) {
          serverChannel = channel;
          consumer.server = serverOf(settler, serverAddress, serverPort);
        }
        if (message !== null && typeof message === 'object') arrivedOn.set(message, channel);
        return traced(message);
      },
      options,
    );
  }

  /** `setup`, given the channel it receives traced (the same traced channel for every setup on one channel). */
  setup(setup: unknown): unknown {
    if (typeof setup !== 'function') return setup;
    const known = this.#setups.get(setup as Setup);
    if (known !== undefined) return known;
    const traced = this.#withTracedChannel(setup as Setup);
    this.#setups.set(setup as Setup, traced);
    this.#setups.set(traced, traced);
    return traced;
  }

  /** `teardown` of a `removeSetup`, given the traced channel and wrapper as its setup is. */
  teardown(teardown: unknown): unknown {
    return typeof teardown === 'function' ? this.#withTracedChannel(teardown as Setup) : teardown;
  }

  /**
   * `original`, called with the traced channel where the wrapper passes its amqplib channel,
   * and with the traced wrapper as `this` where the wrapper passes itself (amqp-connection-manager
   * documents `this` in a setup as the wrapper): sends and settlements made through `this`
   * are then traced and recorded as those made through the traced wrapper are.
   */
  #withTracedChannel(original: Setup): Setup {
    const raw = this.#raw;
    const wrapper = this.#wrapper;
    const channelFor = (channel: unknown) => this.#traced(channel);
    // The wrapper tells a function that takes a callback by its arity: keep it.
    return original.length >= 2
      ? function tracedSetup(this: unknown, channel: unknown, callback?: (error?: Error) => void) {
          return original.call(this === raw ? wrapper : this, channelFor(channel), callback);
        }
      : function tracedSetup(this: unknown, channel: unknown) {
          return original.call(this === raw ? wrapper : this, channelFor(channel));
        };
  }

  /** The traced setup that stands for `setup`, for `removeSetup`. */
  setupFor(setup: unknown): unknown {
    return (typeof setup === 'function' && this.#setups.get(setup as Setup)) || setup;
  }

  /** Traces the setup functions the wrapper was created with (`createChannel({ setup })`). */
  traceExistingSetups(): void {
    const setups = this.#raw._setups;
    if (!Array.isArray(setups)) return;
    for (let index = 0; index < setups.length; index++) setups[index] = this.setup(setups[index]);
  }

  #traced(channel: unknown): unknown {
    if (channel === null || typeof channel !== 'object' || isTracedChannel(channel)) return channel;
    let traced = this.#channels.get(channel);
    if (traced === undefined) {
      traced = shareTracedChannel(this.#decorate(channel as Parameters<ReturnType<typeof traceChannel>>[0]) as object);
      this.#channels.set(channel, traced);
    }
    return traced;
  }
}

/**
 * The settlements made through the wrapper's `ack`, `nack`, `ackAll` and `nackAll`, which
 * settle on the wrapper's current channel. They concern the deliveries of the wrapper's own
 * `consume` and those of the consumers that setup functions started on that channel (as in
 * amqp-connection-manager's README: consume in `setup`, then `channelWrapper.ack(message)`),
 * which that channel's traced channel tracks. A tag names one delivery of the channel, so a
 * single settlement is recorded in whichever ledger holds it; neither holds a delivery of an
 * earlier channel, whose tag may now name another message. Only `settled` is called on it
 * (by `settlingMethods`, once the wrapper has settled).
 */
class WrapperSettlements extends Ledger {
  readonly #consumers: WrapperConsumers;
  readonly #raw: WrapperState;

  constructor(consumers: WrapperConsumers, raw: WrapperState) {
    super();
    this.#consumers = consumers;
    this.#raw = raw;
  }

  override settled(tag: number, multiple: boolean, method: SettleMethod, requeue: boolean): void {
    // Before anything is recorded: the wrapper's ledger may still hold the deliveries of the
    // channel it had when one of its own consumers last got a message.
    this.#consumers.follow();
    this.#consumers.ledger.settled(tag, multiple, method, requeue);
    ledgerOf(this.#raw._channel)?.settled(tag, multiple, method, requeue);
  }
}

/** What `consume` of a traced ChannelWrapper accepts. */
export type WrapperConsume = (queue: string, onMessage: WrapperOnMessage, options?: Parameters<ChannelWrapper['consume']>[2]) => ReturnType<ChannelWrapper['consume']>;
