import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceChannel } from '../../src/amqplib/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { amqpUrl } from '../support/integration.ts';
import { waitFor } from '../support/wait.ts';

/**
 * RabbitMQ is restarted (`rabbitmqctl stop_app` / `start_app`) in the middle of a stream,
 * with messages queued and unacknowledged. Needs a broker this machine controls: the local
 * server the integration setup uses when AMQP_URL is not set.
 */
const run = promisify(execFile);
const url = amqpUrl();
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const controllable = url !== undefined && !process.env.AMQP_URL && (await run('rabbitmqctl', ['-q', 'status']).then(() => true, () => false));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Connects, retrying while the broker is down. */
async function connect(): Promise<amqp.ChannelModel> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await amqp.connect(url!);
    } catch (error) {
      if (attempt > 120) throw error;
      await sleep(500);
    }
  }
}

describe.skipIf(!controllable && !inCi)('RabbitMQ restarted mid-stream', () => {
  let recorder: SpanRecorder;
  const queue = `tracebus.faults.${process.pid}.${Date.now().toString(36)}`;
  const connections = new Set<amqp.ChannelModel>();
  let stopped = false;

  beforeAll(() => {
    recorder = recordSpans();
  });
  afterAll(async () => {
    stopped = true;
    await run('rabbitmqctl', ['-q', 'start_app']).catch(() => undefined);
    const cleanup = await connect();
    const channel = await cleanup.createChannel();
    await channel.deleteQueue(queue);
    await cleanup.close();
    await Promise.allSettled([...connections].map((connection) => connection.close()));
    await recorder?.shutdown();
  }, 120_000);

  it('the consumer reconnects; every message is processed at least once, each processing span in its producer’s trace', async () => {
    const processed = new Map<string, number>();
    // What an application does: on a lost connection, connect again and consume again,
    // wrapping the new channel with traceChannel().
    const consume = async (): Promise<void> => {
      const connection = await connect();
      connections.add(connection);
      connection.on('error', () => undefined);
      connection.on('close', () => {
        connections.delete(connection);
        if (!stopped) void consume();
      });
      const channel = traceChannel()(await connection.createChannel());
      await channel.assertQueue(queue, { durable: true });
      await channel.prefetch(5);
      await channel.consume(queue, async (message) => {
        if (message === null) return;
        const value = message.content.toString();
        processed.set(value, (processed.get(value) ?? 0) + 1);
        await sleep(250);
        channel.ack(message);
      });
    };
    await consume();

    const publish = async (values: string[]) => {
      const connection = await connect();
      const channel = traceChannel()(await connection.createConfirmChannel());
      for (const value of values) channel.sendToQueue(queue, Buffer.from(value), { persistent: true, messageId: value });
      await channel.waitForConfirms();
      await connection.close();
    };

    await publish(Array.from({ length: 30 }, (_, index) => `before-${index}`));
    await waitFor(() => processed.size >= 3, 'the stream to start');
    // Stop while messages are queued and some are unacknowledged; they must survive.
    const atStop = processed.size;
    await run('rabbitmqctl', ['-q', 'stop_app']);
    await run('rabbitmqctl', ['-q', 'start_app']);
    await publish(Array.from({ length: 10 }, (_, index) => `after-${index}`));
    const processSpans = () => recorder.spans().filter((span) => span.name === `process ${queue}`).length;
    await waitFor(() => processed.size === 40 && processSpans() >= 40 && recorder.openSpans().length === 0, 'every message after recovery', 120_000).catch((error: Error) => {
      throw new Error(`${error.message}: ${processed.size} processed, ${processSpans()} process spans, ${recorder.openSpans().length} open`);
    });

    // The restart really came mid-stream: messages were still queued or being handled.
    expect(atStop).toBeLessThan(30);
    const spans = recorder.spans();
    const sends = new Map(spans.filter((span) => span.name === `send ${queue}`).map((span) => [span.attributes['messaging.message.id'], span]));
    const processes = spans.filter((span) => span.name === `process ${queue}`);
    expect(sends.size).toBe(40);
    expect(processes.length).toBeGreaterThanOrEqual(40);
    for (const span of processes) {
      const producer = sends.get(span.attributes['messaging.message.id'])!;
      expect(span.parentSpanContext?.spanId).toBe(producer.spanContext().spanId);
      expect(span.spanContext().traceId).toBe(producer.spanContext().traceId);
    }
    console.log(`restart: ${atStop} of 30 processed when the broker stopped; ${processes.length} process spans for 40 messages (${processes.length - 40} redeliveries)`);
  }, 300_000);
});
