import { trace } from '@opentelemetry/api';
import type { Consumer, ConsumerRunConfig, Offsets, Producer, ProducerBatch, ProducerRecord, RecordMetadata, Transaction } from 'kafkajs';

/** One call to `send` or `sendBatch`, as the fake producer received it. */
export interface Sent {
  method: 'send' | 'sendBatch';
  arg: ProducerRecord & ProducerBatch;
  /** The span active while kafkajs was called. */
  active: string | undefined;
}

/**
 * A kafkajs-like transaction; its state is private, so methods only work when called on it.
 * As in kafkajs, `commit` and `abort` end it and `isActive()` says whether it is open;
 * `commitError` makes `commit` fail, ending the transaction unless `stayActiveOnError`
 * keeps it open to be aborted.
 */
export class FakeTransaction {
  readonly #producer: FakeProducer;
  #active = true;
  commitError: Error | undefined;
  stayActiveOnError = false;
  offsets: unknown[] = [];
  constructor(producer: FakeProducer) {
    this.#producer = producer;
  }
  async send(record: ProducerRecord): Promise<RecordMetadata[]> {
    return this.#producer.send(record);
  }
  async sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]> {
    return this.#producer.sendBatch(batch);
  }
  async sendOffsets(offsets: Offsets & { consumerGroupId: string }): Promise<void> {
    this.offsets.push(offsets);
  }
  async commit(): Promise<void> {
    if (this.commitError !== undefined) {
      this.#active = this.stayActiveOnError;
      throw this.commitError;
    }
    this.#active = false;
  }
  async abort(): Promise<void> {
    this.#active = false;
  }
  isActive(): boolean {
    return this.#active;
  }
}

/**
 * Records what kafkajs would have sent; private state, like a class-based client. Like a
 * kafkajs producer it answers `send` and `sendBatch` with one RecordMetadata, has `events`,
 * `on`, `logger` and `transaction()`; `failWith` makes a send reject, `throwWith` makes it
 * throw synchronously, `transactionError` makes `transaction()` reject.
 */
export class FakeProducer {
  readonly #sent: Sent[] = [];
  #connected = false;
  readonly events = { CONNECT: 'producer.connect', DISCONNECT: 'producer.disconnect' };
  listeners: Array<[string, unknown]> = [];
  failWith: Error | undefined;
  throwWith: Error | undefined;
  transactionError: Error | undefined;
  transactions: FakeTransaction[] = [];

  get sent(): Sent[] {
    return this.#sent;
  }
  get connected(): boolean {
    return this.#connected;
  }
  async connect(): Promise<void> {
    this.#connected = true;
  }
  async disconnect(): Promise<void> {
    this.#connected = false;
  }
  isIdempotent(): boolean {
    return false;
  }
  on(event: string, listener: unknown) {
    this.listeners.push([event, listener]);
    return () => undefined;
  }
  logger() {
    return 'logger';
  }
  send(record: ProducerRecord): Promise<RecordMetadata[]> {
    return this.#record('send', record, record.topic);
  }
  sendBatch(batch: ProducerBatch): Promise<RecordMetadata[]> {
    return this.#record('sendBatch', batch, batch.topicMessages?.[0]?.topic ?? '');
  }
  async transaction(): Promise<Transaction> {
    if (this.transactionError !== undefined) throw this.transactionError;
    const transaction = new FakeTransaction(this);
    this.transactions.push(transaction);
    return transaction as unknown as Transaction;
  }
  #record(method: Sent['method'], arg: object, topicName: string): Promise<RecordMetadata[]> {
    if (this.throwWith !== undefined) throw this.throwWith;
    this.#sent.push({ method, arg: arg as Sent['arg'], active: trace.getActiveSpan()?.spanContext().spanId });
    if (this.failWith !== undefined) return Promise.reject(this.failWith);
    return Promise.resolve([{ topicName, partition: 0, errorCode: 0 }]);
  }
}

/**
 * A kafkajs-like consumer that records run() and subscribe() and lets tests fire its
 * events. As in kafkajs, `pause([])` throws until `run()` is called, and again after `stop()`.
 */
export class FakeConsumer {
  readonly events = { GROUP_JOIN: 'consumer.group_join', CRASH: 'consumer.crash' } as Consumer['events'];
  readonly #listeners = new Map<string, Array<(event: unknown) => void>>();
  #running = false;
  runs: ConsumerRunConfig[] = [];
  subscribed: unknown[] = [];
  async run(config?: ConsumerRunConfig): Promise<void> {
    this.#running = true;
    this.runs.push(config!);
  }
  async stop(): Promise<void> {
    this.#running = false;
  }
  async subscribe(subscription: unknown): Promise<void> {
    this.subscribed.push(subscription);
  }
  pause(): void {
    if (!this.#running) throw new Error('Consumer group was not initialized, consumer#run must be called first');
  }
  on(event: string, listener: (event: unknown) => void) {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), listener]);
    return () => undefined;
  }
  emit(event: string, payload: unknown): void {
    for (const listener of this.#listeners.get(event) ?? []) listener({ id: 1, type: event, timestamp: Date.now(), payload });
  }
}

export const asProducer = (fake: FakeProducer) => fake as unknown as Producer;
export const asConsumer = (fake: FakeConsumer) => fake as unknown as Consumer;
