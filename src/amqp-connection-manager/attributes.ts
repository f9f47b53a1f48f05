// What amqp-connection-manager adds to the RabbitMQ attributes (src/amqplib/attributes.ts,
// whose names and helpers this adapter uses as they are): a ChannelWrapper queues what is
// published while it has no channel, and sends it after it reconnects.

/**
 * `tracebus.rabbitmq.queued_while_disconnected`: on a `send` span of a ChannelWrapper,
 * whether the wrapper had no open channel when the message was published, so that the
 * message waited in its queue for a reconnect. Left out when the wrapper does not say.
 */
export const ATTR_RABBITMQ_QUEUED_WHILE_DISCONNECTED = 'tracebus.rabbitmq.queued_while_disconnected';

/**
 * `tracebus.rabbitmq.queued`: the event a `send` span of a ChannelWrapper gets when the
 * message is queued by the wrapper instead of being sent at once (no channel, or a channel
 * still being set up). The span ends when the broker confirms the message, so the time
 * from this event to the span's end is the time it waited plus the confirm.
 */
export const EVENT_RABBITMQ_QUEUED = 'tracebus.rabbitmq.queued';

/**
 * `tracebus.rabbitmq.queue_length`: on the {@link EVENT_RABBITMQ_QUEUED} event, how many
 * messages were waiting in the wrapper's queue ahead of this one.
 */
export const ATTR_RABBITMQ_QUEUE_LENGTH = 'tracebus.rabbitmq.queue_length';

/**
 * `tracebus.rabbitmq.sent`: the event a `send` span of a ChannelWrapper gets each time the
 * wrapper writes the message to a channel, when that is not at once: after it waited in the
 * queue, or again on a new channel after the old one closed before the broker confirmed it.
 */
export const EVENT_RABBITMQ_SENT = 'tracebus.rabbitmq.sent';

/** `tracebus.rabbitmq.send_attempt`: on the {@link EVENT_RABBITMQ_SENT} event, which write of the message it was (1 for the first). */
export const ATTR_RABBITMQ_SEND_ATTEMPT = 'tracebus.rabbitmq.send_attempt';

/** What tracebus reads of a ChannelWrapper's state (amqp-connection-manager 4 and 5). */
export interface WrapperState {
  /** The open amqplib channel, `undefined` while disconnected. */
  readonly _channel?: unknown;
  /** Set while the wrapper runs its setup functions on a new channel. */
  readonly _settingUp?: unknown;
  /** The setup functions the wrapper runs on each new channel. */
  readonly _setups?: unknown;
  /** Set for a `json` wrapper, which sends its content as JSON. */
  readonly _json?: unknown;
  queueLength?(): number;
}

/** Whether the wrapper would queue a message published now; `undefined` when its state cannot be read. */
export function wouldQueue(wrapper: WrapperState): boolean | undefined {
  // `_setups` is set in the constructor; `_channel` only once a channel has been open.
  if (!Array.isArray(wrapper._setups)) return undefined;
  return wrapper._channel == null || wrapper._settingUp != null;
}

/** Messages waiting in the wrapper's queue, or `undefined`. */
export function queueLengthOf(wrapper: WrapperState): number | undefined {
  try {
    const length = typeof wrapper.queueLength === 'function' ? wrapper.queueLength() : undefined;
    return typeof length === 'number' ? length : undefined;
  } catch {
    return undefined;
  }
}
