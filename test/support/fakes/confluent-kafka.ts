import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { trace } from '@opentelemetry/api';

/** One call the fake producer received, with the span active meanwhile. */
export interface ConfluentSent {
  method: 'send' | 'sendBatch' | 'commit' | 'abort' | 'sendOffsets';
  arg: unknown;
  active: string | undefined;
}

/** A client's configuration as `kafka.producer()` or `kafka.consumer()` passes it on: the `kafkaJS` block and librdkafka's own keys beside it. */
export interface FakeClientConfig {
  kafkaJS?: { groupId?: string; brokers?: string[]; clientId?: string };
  [librdkafkaKey: string]: unknown;
}

/** A consumer's configuration; see {@link FakeClientConfig}. */
export type FakeConsumerConfig = FakeClientConfig;

/**
 * librdkafka's configuration as the client's `connect()` makes it (lib/kafkajs/_consumer.js and
 * _producer.js, `#finalizedConfig`): the `kafkaJS` block's settings under librdkafka's names
 * (`brokers` joined with commas), then librdkafka's own keys, which win, and no `kafkaJS`.
 */
function librdkafkaConfig(config: FakeClientConfig): Record<string, unknown> {
  const { kafkaJS, ...own } = config;
  const converted: Record<string, unknown> = {};
  if (kafkaJS?.brokers !== undefined) converted['bootstrap.servers'] = kafkaJS.brokers.join(',');
  if (kafkaJS?.clientId !== undefined) converted['client.id'] = kafkaJS.clientId;
  if (kafkaJS?.groupId !== undefined) converted['group.id'] = kafkaJS.groupId;
  return Object.assign(converted, own);
}

/**
 * What both clients of the KafkaJS API share here: no events (`on` and `events` throw
 * "Not implemented"), and a configuration that is that of the internal client, which
 * `connect()` creates (`_getInternalClient()` is `null` before).
 */
class FakeConfluentClient {
  readonly #config: FakeClientConfig;
  #internal: { globalConfig: Record<string, unknown> } | null = null;
  constructor(config: FakeClientConfig) {
    this.#config = config;
  }
  get events(): never {
    throw new Error('Not implemented');
  }
  on(): never {
    throw new Error('Not implemented');
  }
  async connect(): Promise<void> {
    this.#internal = { globalConfig: librdkafkaConfig(this.#config) };
  }
  async disconnect(): Promise<void> {}
  _getInternalClient(): { globalConfig: Record<string, unknown> } | null {
    return this.#internal;
  }
}

/**
 * Like a producer of @confluentinc/kafka-javascript's KafkaJS API: private state, a
 * configuration from `connect()` on (made of `{}` unless one is given), and `transaction()`
 * resolves to the producer itself, whose `commit`, `abort`, `sendOffsets` and `isActive` act
 * on the one open transaction. As that client does, `send` changes the
 * messages it is given (value to a Buffer, headers to librdkafka's list), refuses a value
 * that is neither a Buffer nor null (`undefined` included), and `events` throws.
 */
export class FakeConfluentProducer extends FakeConfluentClient {
  readonly #calls: ConfluentSent[] = [];
  #ongoing = false;
  constructor(config: FakeClientConfig = {}) {
    super(config);
  }

  get calls(): ConfluentSent[] {
    return this.#calls;
  }
  async flush(): Promise<void> {}
  async send(record: KafkaJS.ProducerRecord): Promise<KafkaJS.RecordMetadata[]> {
    for (const message of record.messages) {
      for (const value of Object.values(message.headers ?? {}).flat()) {
        if (typeof value !== 'string' && !Buffer.isBuffer(value)) throw new Error('Header value must be a string or buffer');
      }
    }
    // What was sent, before this client changes the messages in place.
    this.#record('send', { ...record, messages: record.messages.map((message) => ({ ...message, headers: message.headers === undefined ? undefined : { ...message.headers } })) });
    for (const message of record.messages) {
      if (typeof message.value === 'string') message.value = Buffer.from(message.value);
      // librdkafka's binding takes a Buffer or null: a missing value fails the send.
      if (message.value !== null && !Buffer.isBuffer(message.value)) throw new Error('Message must be a buffer or null');
      message.headers = Object.entries(message.headers ?? {}).map(([key, value]) => ({ [key]: value })) as never;
    }
    return [{ topicName: record.topic, partition: 0, errorCode: 0 }];
  }
  async sendBatch(batch: KafkaJS.ProducerBatch): Promise<KafkaJS.RecordMetadata[]> {
    this.#record('sendBatch', batch);
    return [];
  }
  async transaction(): Promise<FakeConfluentProducer> {
    if (this.#ongoing) throw new Error('Can only start one transaction at a time.');
    this.#ongoing = true;
    return this;
  }
  async commit(): Promise<void> {
    if (!this.#ongoing) throw new Error('Cannot commit, no transaction ongoing.');
    this.#record('commit', undefined);
    this.#ongoing = false;
  }
  async abort(): Promise<void> {
    if (!this.#ongoing) throw new Error('Cannot abort, no transaction ongoing.');
    this.#record('abort', undefined);
    this.#ongoing = false;
  }
  async sendOffsets(offsets: unknown): Promise<void> {
    this.#record('sendOffsets', offsets);
  }
  isActive(): boolean {
    return this.#ongoing;
  }
  #record(method: ConfluentSent['method'], arg: unknown): void {
    this.#calls.push({ method, arg, active: trace.getActiveSpan()?.spanContext().spanId });
  }
}

/**
 * Like a consumer of the KafkaJS API: no events (`on` and `events` throw), `pause()` works
 * whenever it is connected, its configuration exists from `connect()` on, and `run()` works
 * once: a second call rejects, even after `disconnect()`. Given a string, it is the
 * `kafkaJS.groupId`.
 */
export class FakeConfluentConsumer extends FakeConfluentClient {
  runs: KafkaJS.ConsumerRunConfig[] = [];
  #running = false;
  constructor(config: string | FakeConsumerConfig) {
    super(typeof config === 'string' ? { kafkaJS: { groupId: config } } : config);
  }
  async subscribe(): Promise<void> {}
  pause(): void {}
  async run(config: KafkaJS.ConsumerRunConfig): Promise<void> {
    // As the client's (1.10): its `#running` is never reset.
    if (this.#running) throw new Error('Consumer is already running.');
    this.#running = true;
    this.runs.push(config);
  }
  // As the client's: an admin client sharing the consumer's connection.
  dependentAdmin(): object {
    return {};
  }
}

export const asConfluentProducer = (fake: FakeConfluentProducer) => fake as unknown as KafkaJS.Producer;
export const asConfluentConsumer = (fake: FakeConfluentConsumer) => fake as unknown as KafkaJS.Consumer;

/** A message as the client hands it to `eachMessage`: Buffers, and no `headers` when it has none. */
export function confluentMessage(offset: string, headers?: Record<string, Buffer | Buffer[]>): KafkaJS.KafkaMessage {
  return { key: Buffer.from(`k-${offset}`), value: Buffer.from('v'), timestamp: '1700000000000', attributes: 0, offset, size: 1, headers } as KafkaJS.KafkaMessage;
}
