import { EventEmitter } from 'node:events';
import type { Channel, ConfirmChannel, ConsumeMessage, GetMessage, Message } from 'amqplib';

/** One call to `publish` or `sendToQueue`, as the fake channel received it. */
export interface Published {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: Record<string, any> | undefined;
  callback?: (error: unknown, ok?: unknown) => void;
}

/**
 * Records what amqplib would have sent; behaves like amqplib's promise-API channel:
 * `publish` and `sendToQueue` return `false` when the write buffer is full (set
 * `writable`), the channel is an EventEmitter ('drain', 'close'), settling a message after
 * the channel closed throws (set `closed`), `assertQueue('')` answers with a server-named
 * queue, and `connection` carries the socket's address and the negotiated frameMax.
 */
export class FakeChannel extends EventEmitter {
  connection = { stream: { remoteAddress: '10.0.0.7', remotePort: 5673 }, frameMax: 131_072 };
  published: Published[] = [];
  settled: unknown[][] = [];
  consumers = new Map<string, (message: ConsumeMessage | null) => unknown>();
  writable = true;
  prefetchedBy: unknown;
  nextGet: GetMessage | false = false;
  publishError: ((options: Published['options']) => Error | undefined) | undefined;
  closed = false;

  publish(exchange: string, routingKey: string, content: Buffer, options?: Record<string, any>): boolean {
    const error = this.publishError?.(options);
    if (error !== undefined) throw error;
    this.published.push({ exchange, routingKey, content, options });
    return this.writable;
  }
  sendToQueue(queue: string, content: Buffer, options?: Record<string, any>): boolean {
    return this.publish('', queue, content, options);
  }
  async consume(queue: string, callback: (message: ConsumeMessage | null) => unknown) {
    this.consumers.set(queue, callback);
    return { consumerTag: `ctag.${queue}` };
  }
  async get() {
    return this.nextGet;
  }
  async assertQueue(queue: string) {
    return { queue: queue === '' ? 'amq.gen-server' : queue, messageCount: 0, consumerCount: 0 };
  }
  async prefetch(count: number) {
    this.prefetchedBy = this;
    return { count };
  }
  #settle(...entry: unknown[]) {
    if (this.closed) throw new Error('Channel closed');
    this.settled.push(entry);
  }
  ack(message: Message, allUpTo?: boolean) {
    this.#settle('ack', message.fields.deliveryTag, allUpTo);
  }
  ackAll() {
    this.#settle('ackAll');
  }
  nack(message: Message, allUpTo?: boolean, requeue?: boolean) {
    this.#settle('nack', message.fields.deliveryTag, allUpTo, requeue);
  }
  nackAll(requeue?: boolean) {
    this.#settle('nackAll', requeue);
  }
  reject(message: Message, requeue?: boolean) {
    this.#settle('reject', message.fields.deliveryTag, requeue);
  }
}

/**
 * Like amqplib's ConfirmChannel: `publish` takes a callback that the broker's ack or nack
 * would call (kept on the recorded call, for the test to call), and `waitForConfirms` resolves.
 */
export class FakeConfirmChannel extends FakeChannel {
  override publish(exchange: string, routingKey: string, content: Buffer, options?: Record<string, any>, callback?: Published['callback']): boolean {
    const result = super.publish(exchange, routingKey, content, options);
    this.published.at(-1)!.callback = callback;
    return result;
  }
  // As amqplib's ConfirmChannel, which passes the callback on to publish.
  override sendToQueue(queue: string, content: Buffer, options?: Record<string, any>, callback?: Published['callback']): boolean {
    return this.publish('', queue, content, options, callback);
  }
  async waitForConfirms() {}
}

export const asChannel = (fake: FakeChannel) => fake as unknown as Channel;
export const asConfirmChannel = (fake: FakeConfirmChannel) => fake as unknown as ConfirmChannel;
