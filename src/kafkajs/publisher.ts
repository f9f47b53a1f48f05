import type { Message, Producer } from 'kafkajs';
import type { PublisherDecorator } from '../core/compose.ts';
import type { ProducerBinding } from '../kafka/client.ts';
import { producerDecorator, type ProducedMessageOf, type ProducerOptionsOf } from '../kafka/publisher.ts';
import { kafkaHeaders } from './headers.ts';

/** What a producer hook receives: one message and the topic it goes to. */
export interface KafkaProducedMessage extends ProducedMessageOf<Message> {}

/**
 * Options of {@link traceProducer}: the tracing options, `brokers`/`clientId`/`bodySize`,
 * `createSpans` (a `create` span per message of a bulk send, default `true`) and
 * `producerHook`, which adds attributes to each span that stands for one message.
 */
export interface KafkaProducerOptions extends ProducerOptionsOf<Message> {}

const KAFKAJS_PRODUCER: ProducerBinding = {
  factory: 'traceProducer',
  expects: 'a kafkajs producer, e.g. traceProducer(options)(kafka.producer())',
  encodeHeaders: kafkaHeaders,
  inheritedFields: ['key', 'value', 'partition', 'timestamp'],
};

/**
 * A producer decorator: `traceProducer(options)(producer)` returns an object of the same
 * `Producer` type that delegates every method to `producer` (`connect`, `disconnect`,
 * `on`, `events`, `logger`, …) and traces what it sends. The messages, arrays and headers
 * you pass are never modified: tracebus sends copies, which keep what kafkajs reads of a
 * class instance (its getters, inherited and non-enumerable fields).
 *
 * - `send({ topic, messages: [one] })`: one PRODUCER span `send <topic>`; its context goes
 *   into the message's headers.
 * - `send` with several messages, and `sendBatch`: one `send` span for the call, named
 *   `send <topic>` (just `send` when a `sendBatch` spans topics), with
 *   `messaging.batch.message_count`; plus, unless `createSpans: false`, a PRODUCER span
 *   `create <topic>` per message whose context goes into that message. The `send` span is
 *   then CLIENT and links to every `create` span, at most `maxLinks` of them
 *   (`tracebus.links.dropped_count` counts the rest).
 * - `transaction()` resolves to a traced `Transaction`: its `send` and `sendBatch` are
 *   traced the same way, and the transaction itself is an INTERNAL span `transaction`
 *   that ends on `commit()` or `abort()` (`tracebus.kafka.transaction.outcome`), or as
 *   `abandoned` when the producer disconnects first or a `commit()` or `abort()` fails (the
 *   error recorded; kafkajs then no longer takes the transaction for active, and refuses to
 *   abort it). `sendOffsets` is an event on the span once kafkajs took the offsets. Sends
 *   made in the context the transaction began in are its children; sends made elsewhere
 *   (say, in each message's context inside a batch handler) stay in their own trace and
 *   link to it.
 *
 * Spans carry `messaging.system.name` `kafka`, the topic, the partition when the message
 * names one, `kafka.message.key` (not for `null` keys), `kafka.message.tombstone` for a
 * `null` value, and `server.*` / `messaging.client.id` from the `brokers` and `clientId`
 * options. A failed send is recorded on its span (exception, status ERROR, `error.type`)
 * and rejects exactly as it would untraced.
 *
 * Trace headers already on a message (a consumed message sent on) are replaced, never
 * repeated. Header values kafkajs cannot encode are made encodable (numbers become text,
 * `null` values are left out), so tracing never makes a send fail.
 *
 * @example
 * const kafka = new Kafka({ clientId: 'checkout', brokers: ['127.0.0.1:9092'] });
 * const producer = traceProducer({ clientId: 'checkout', brokers: ['127.0.0.1:9092'] })(kafka.producer());
 * await producer.connect();
 * await producer.send({ topic: 'orders', messages: [{ key: order.id, value: JSON.stringify(order) }] });
 */
export function traceProducer(options?: KafkaProducerOptions): PublisherDecorator<Producer> {
  return producerDecorator<Producer>(options, KAFKAJS_PRODUCER);
}
