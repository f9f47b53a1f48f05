import type { KafkaClientOptions } from '../kafka/attributes.ts';

// Spans of @confluentinc/kafka-javascript carry the attributes of the Kafka core
// (src/kafka/attributes.ts), with the names and values kafkajs spans have: one
// `messaging.system.name` (`kafka`), so dashboards and queries cover both clients.

/**
 * Where the client connects and who it is. `brokers` is the bootstrap list given to
 * `new Kafka({ kafkaJS: { brokers } })`, or librdkafka's comma-separated
 * `bootstrap.servers`; its first broker becomes `server.address` and `server.port`.
 * `clientId` (`messaging.client.id`) is `kafkaJS.clientId` or librdkafka's `client.id`.
 * Where these options leave them unset, `traceConfluentConsumer` reads both from the consumer's
 * configuration when `run()` is called, and `traceConfluentProducer` from the producer's on its
 * first traced call after `connect()`; the middleware needs them given.
 * `bodySize` records `messaging.message.body.size` (default `false`).
 */
export interface ConfluentClientOptions extends Omit<KafkaClientOptions, 'brokers'> {
  /** The bootstrap brokers: `['host:9092', …]` or `'host:9092,…'` (this client takes no discovery function). */
  brokers?: string | readonly string[];
}
