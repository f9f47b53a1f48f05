/**
 * Clients that do nothing, for the benchmarks that measure tracing without a broker
 * (isolated.ts) or read what tracebus writes (wire.ts): a kafkajs-like producer whose sends
 * resolve at once, a consumer whose `eachMessage` the caller calls, and an amqplib-like ConfirmChannel whose publishes are confirmed on the
 * next microtask. Each keeps the last thing sent, and the channel hands deliveries to its
 * consumer through `deliver`.
 */
import type { ConsumeMessage } from 'amqplib';

/** A message as a kafkajs producer takes it. */
export interface KafkaMessage {
  value: Buffer;
  headers?: Record<string, unknown>;
}

/** A kafkajs-like producer: `send` resolves at once and keeps the record it was given. */
export class NoopProducer {
  last: { topic: string; messages: KafkaMessage[] } | undefined;
  async send(record: { topic: string; messages: KafkaMessage[] }) {
    this.last = record;
    return record.messages.map(() => ({ topicName: record.topic, partition: 0, errorCode: 0 }));
  }
  async sendBatch() {
    return [];
  }
  async connect() {}
  async disconnect() {}
}

/** A kafkajs-like consumer: `run` keeps the `eachMessage` handler it was given, for the caller to call. */
export class NoopConsumer {
  eachMessage: ((payload: unknown) => Promise<void>) | undefined;
  readonly events = { GROUP_JOIN: 'consumer.group_join' };
  async run(config: { eachMessage: (payload: unknown) => Promise<void> }) {
    this.eachMessage = config.eachMessage;
  }
  async subscribe() {}
  async connect() {}
  async disconnect() {}
  on() {
    return () => {};
  }
}

type ConfirmCallback = (error: unknown, ok?: unknown) => void;
type OnMessage = (message: ConsumeMessage | null) => void;

/** One publish as the channel received it. */
export interface Published {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: { headers?: Record<string, unknown> } | undefined;
}

/** An amqplib-like ConfirmChannel: a publish is confirmed on the next microtask and kept as `last`. */
export class NoopChannel {
  readonly connection = { frameMax: 131_072 };
  last: Published | undefined;
  #onMessage: OnMessage | undefined;
  publish(exchange: string, routingKey: string, content: Buffer, options?: Published['options'], callback?: ConfirmCallback): boolean {
    this.last = { exchange, routingKey, content, options };
    if (callback !== undefined) queueMicrotask(() => callback(null));
    return true;
  }
  sendToQueue(queue: string, content: Buffer, options?: Published['options'], callback?: ConfirmCallback): boolean {
    return this.publish('', queue, content, options, callback);
  }
  async consume(_queue: string, onMessage: OnMessage): Promise<{ consumerTag: string }> {
    this.#onMessage = onMessage;
    return { consumerTag: 'bench' };
  }
  /** Hands `message` to the consumer, as amqplib does for a delivery. */
  deliver(message: ConsumeMessage): void {
    this.#onMessage?.(message);
  }
  ack(): void {}
  nack(): void {}
  async waitForConfirms(): Promise<void> {}
}
