/**
 * Reconnect code as an application writes it for amqplib, which has none of its own: on the
 * connection's `close`, connect again (to the next of the broker's URLs, with exponential
 * backoff once every URL has failed), open a new channel, trace it with the same
 * `traceChannel()` decorator, and set it up again. And at-least-once publishing on top of it:
 * a send the broker did not confirm is sent again on the channel of the next connection.
 *
 * @example
 * const publisher = new Reconnecting<ConfirmChannel>(urls, (connection) => connection.createConfirmChannel(), async () => undefined);
 * await publisher.start();
 * let resent = 0;
 * await publishUntilConfirmed(publisher, 'orders', Buffer.from('o-1'), { messageId: 'o-1', persistent: true }, () => resent++);
 * await publisher.stop();
 */
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';
import { traceChannel, type TracedChannel } from '../../src/amqplib/index.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Reconnecting<C extends Channel | ConfirmChannel> {
  /** How many connections were set up, the first included. */
  connections = 0;
  /** The URL of each connection set up, in order. */
  readonly connectedTo: string[] = [];
  #channel: TracedChannel<C> | undefined;
  #connection: ChannelModel | undefined;
  #stopped = false;
  #next = 0;
  #ready: PromiseWithResolvers<TracedChannel<C>> = Promise.withResolvers();
  readonly #urls: readonly string[];
  readonly #open: (connection: ChannelModel) => Promise<C>;
  readonly #setUp: (channel: TracedChannel<C>) => Promise<void>;
  readonly #decorate = traceChannel();

  /** `urls`: the broker's, or the nodes of a cluster, tried in this order from the first. */
  constructor(urls: string | readonly string[], open: (connection: ChannelModel) => Promise<C>, setUp: (channel: TracedChannel<C>) => Promise<void>) {
    this.#urls = typeof urls === 'string' ? [urls] : urls;
    this.#open = open;
    this.#setUp = setUp;
  }

  /** The current channel, once one is open. */
  channel(): Promise<TracedChannel<C>> {
    return this.#channel === undefined ? this.#ready.promise : Promise.resolve(this.#channel);
  }

  async start(): Promise<void> {
    for (let failed = 0, delay = 100; !this.#stopped; ) {
      const url = this.#urls[this.#next]!;
      try {
        await this.#connect(url);
        return;
      } catch {
        this.#next = (this.#next + 1) % this.#urls.length;
        if (++failed % this.#urls.length === 0) {
          await sleep(delay);
          delay = Math.min(delay * 2, 1_000);
        }
      }
    }
  }

  async #connect(url: string): Promise<void> {
    // A connect timeout: a node that is going away may take a connection and never answer.
    const connection = await amqp.connect(url, { timeout: 5_000 });
    connection.on('error', () => undefined);
    try {
      const raw = await this.#open(connection);
      raw.on('error', () => undefined);
      const channel = this.#decorate(raw);
      await this.#setUp(channel);
      connection.once('close', () => {
        this.#channel = undefined;
        this.#connection = undefined;
        // Another node first: the one this connection was to may be the one that went away.
        this.#next = (this.#next + 1) % this.#urls.length;
        if (!this.#stopped) void this.start();
      });
      this.#connection = connection;
      this.#channel = channel;
      this.connections++;
      this.connectedTo.push(url);
      this.#ready.resolve(channel);
      this.#ready = Promise.withResolvers();
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#connection?.close().catch(() => undefined);
  }
}

/**
 * Sends `content` to `queue` on the publisher's current channel until the broker confirms
 * it. A send that was not confirmed (the channel closed first, or the broker nacked it) may
 * or may not be queued, so it is sent again, with a growing pause, as at-least-once
 * publishing does; `onResend` is called before each resend.
 */
export async function publishUntilConfirmed(publisher: Reconnecting<ConfirmChannel>, queue: string, content: Buffer, options: Options.Publish, onResend?: () => void): Promise<void> {
  for (let delay = 50; ; delay = Math.min(delay * 2, 1_000)) {
    const channel = await publisher.channel();
    try {
      await new Promise<void>((resolve, reject) => {
        channel.sendToQueue(queue, content, options, (error) => (error == null ? resolve() : reject(error)));
      });
      return;
    } catch {
      onResend?.();
      // Backing off: a queue without a leader nacks sends until it has one again.
      await sleep(delay);
    }
  }
}
