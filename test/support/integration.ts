import { afterEach, beforeEach, inject } from 'vitest';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';

/** Kafka bootstrap servers from the global setup, or `undefined` when none could be had (never in CI). */
export const kafkaBrokers = (): string[] | undefined => inject('kafkaBrokers')?.split(',');
/** AMQP URL from the global setup, or `undefined` when none could be had (never in CI). */
export const amqpUrl = (): string | undefined => inject('amqpUrl');

/**
 * For each test of the `describe` block it is called in: a fresh span recorder, and the
 * clients `track` registered disconnected after the test, before the recorder shuts down.
 */
export function perTest(): { readonly recorder: SpanRecorder; track<C extends { disconnect(): Promise<void> }>(client: C): C } {
  let current: SpanRecorder | undefined;
  const clients: Array<{ disconnect(): Promise<void> }> = [];
  beforeEach(() => {
    current = recordSpans();
  });
  afterEach(async () => {
    await Promise.allSettled(clients.splice(0).map((client) => client.disconnect()));
    await current?.shutdown();
  });
  return {
    get recorder() {
      return current!;
    },
    track(client) {
      clients.push(client);
      return client;
    },
  };
}
