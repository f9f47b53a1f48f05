import type { KafkaJS } from '@confluentinc/kafka-javascript';
import type { PublisherDecorator } from '../core/compose.ts';
import type { ConfiguredClient } from '../kafka/attributes.ts';
import type { ProducerBinding } from '../kafka/client.ts';
import { producerDecorator, type ProducedMessageOf, type ProducerOptionsOf } from '../kafka/publisher.ts';
import type { ConfluentClientOptions } from './attributes.ts';
import { configuredClient, librdkafkaConfig } from './config.ts';
import { confluentHeaders } from './headers.ts';

/** What a producer hook receives: one message and the topic it goes to. */
export interface ConfluentProducedMessage extends ProducedMessageOf<KafkaJS.Message> {}

/**
 * Options of {@link traceConfluentProducer}: the tracing options, `brokers`/`clientId`/`bodySize`
 * (the producer's configuration gives the brokers and the client id where these leave them unset),
 * `createSpans` (a `create` span per message of a bulk send, default `true`) and
 * `producerHook`, which adds attributes to each span that stands for one message.
 */
export interface ConfluentProducerOptions extends Omit<ProducerOptionsOf<KafkaJS.Message>, 'brokers'>, ConfluentClientOptions {}

const CONFLUENT_PRODUCER: ProducerBinding = {
  factory: 'traceConfluentProducer',
  expects: "a producer of @confluentinc/kafka-javascript's KafkaJS API, e.g. traceConfluentProducer(options)(kafka.producer())",
  encodeHeaders: confluentHeaders,
  // The client reads `partition` and `timestamp` only where they are the message's own (Object.hasOwn).
  inheritedFields: ['key', 'value'],
  readClient,
};

/**
 * A producer decorator for the KafkaJS API of `@confluentinc/kafka-javascript`:
 * `traceConfluentProducer(options)(producer)` returns an object of the same `Producer` type
 * that delegates every method to `producer` (`connect`, `disconnect`, `flush`, `logger`,
 * `dependentAdmin`, …) and traces what it sends, exactly as `traceProducer` traces a
 * kafkajs producer (the same spans, attributes, metrics and diagnostics):
 *
 * - `send({ topic, messages: [one] })`: one PRODUCER span `send <topic>` whose context goes
 *   into the message's headers;
 * - `send` with several messages, and `sendBatch`: one `send` span for the call, plus a
 *   PRODUCER span `create <topic>` per message whose context goes into that message
 *   (`createSpans: false` turns them off), at most `maxLinks` links;
 * - `transaction()`: an INTERNAL span `transaction` that ends on `commit()` or `abort()`
 *   (`tracebus.kafka.transaction.outcome`), or as `abandoned` when the producer disconnects
 *   first. This client's transaction *is* the producer: while one is open, sends, commits,
 *   aborts and `sendOffsets({ consumer, topics })` made on the traced producer belong to it,
 *   as those made on the object `transaction()` resolved to. `sendOffsets` is an event on
 *   the transaction span once the client took the offsets, with the consumer's group when
 *   tracebus traces that consumer. A failed `commit()` is recorded and the span stays open, as
 *   the transaction does, for the `abort()` that follows. A producer wrapped more than once has
 *   one open transaction, whichever wrapper began it.
 *
 * The client itself changes the messages it is given (their value, partition, timestamp and
 * headers); tracebus sends copies, so the messages and headers you pass stay as they were.
 * Header values librdkafka cannot take are made sendable (numbers become text, `null`
 * values are left out), so tracing never makes a send fail; trace headers already on a
 * message are replaced, never repeated.
 *
 * The bootstrap brokers (`kafkaJS.brokers` or `bootstrap.servers`, the first of which becomes
 * `server.address` and `server.port`) and the client id (`kafkaJS.clientId` or `client.id`,
 * `messaging.client.id`) are read from the producer's configuration on the first traced call
 * after `connect()`, unless the `brokers` and `clientId` options set them.
 *
 * @example
 * const { Kafka } = require('@confluentinc/kafka-javascript').KafkaJS;
 * const kafka = new Kafka({ kafkaJS: { clientId: 'checkout', brokers: ['127.0.0.1:9092'] } });
 * const producer = traceConfluentProducer()(kafka.producer());
 * await producer.connect();
 * await producer.send({ topic: 'orders', messages: [{ key: order.id, value: JSON.stringify(order) }] });
 */
export function traceConfluentProducer(options?: ConfluentProducerOptions): PublisherDecorator<KafkaJS.Producer> {
  return producerDecorator<KafkaJS.Producer>(options, CONFLUENT_PRODUCER);
}

/**
 * The producer's bootstrap brokers and `client.id`, from the configuration `connect()` makes
 * (the internal client exists from the `connect()` call on, and a producer connects once).
 */
function readClient(producer: object): ConfiguredClient | 'not yet' | 'unknown' {
  const config = librdkafkaConfig(producer);
  if (config === null) return 'not yet';
  return config === undefined ? 'unknown' : configuredClient(config);
}
