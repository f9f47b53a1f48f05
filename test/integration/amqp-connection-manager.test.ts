/**
 * amqp-connection-manager's ChannelWrapper against a real RabbitMQ, in the callback style its
 * `publish` and `sendToQueue` also have: the send span lasts until the broker confirms, the
 * callback runs once it has ended, and the consumer's span is a child of it.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import amqp, { type AmqpConnectionManager } from 'amqp-connection-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { headerGetter } from '../../src/adapter/index.ts';
import { traceChannelWrapper } from '../../src/amqp-connection-manager/index.ts';
import { assertChildOf, findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { amqpUrl } from '../support/integration.ts';
import { waitFor } from '../support/wait.ts';

const url = amqpUrl();
const run = `${process.pid}.${Date.now().toString(36)}`;
const wire = (span: ReadableSpan) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;

describe.skipIf(url === undefined)('amqp-connection-manager against RabbitMQ', () => {
  let connection: AmqpConnectionManager;
  let recorder: SpanRecorder;

  beforeEach(() => {
    recorder = recordSpans();
    connection = amqp.connect([url!]);
  });
  afterEach(async () => {
    await connection.close();
    await recorder.shutdown();
  });

  it('a publish with a callback: its send span ends at the confirm, before the callback runs; the process span is its child', async () => {
    const queue = `tracebus.it.acm.callback.${run}`;
    const publisher = traceChannelWrapper()(connection.createChannel({ setup: (channel: ConfirmChannel) => channel.assertQueue(queue, { exclusive: false, autoDelete: true }) }));
    const consumer = traceChannelWrapper()(connection.createChannel({ confirm: false }));
    await publisher.waitForConnect();
    const received: Array<{ message: ConsumeMessage; traceId: string }> = [];
    await consumer.consume(queue, (message, trace) => {
      received.push({ message, traceId: trace.traceId });
      consumer.ack(message);
    });
    const settled = new Promise<{ error: unknown; ended: string[]; open: string[] }>((resolve) => {
      const returned = publisher.sendToQueue(queue, Buffer.from('{"order":1}'), { messageId: 'm-1' }, (error: unknown) =>
        resolve({ error, ended: recorder.spans().map((span) => span.name), open: recorder.openSpans().map((span) => span.name) }),
      );
      // As untraced: with a callback the wrapper returns no promise.
      expect(returned).toBeNull();
    });
    expect(recorder.openSpans().map((span) => span.name)).toEqual([`send ${queue}`]);
    const { error, ended, open } = await settled;
    expect(error).toBeNull();
    // The consumer may have processed the message by then: its span is not what this checks.
    expect(ended).toContain(`send ${queue}`);
    expect(open).not.toContain(`send ${queue}`);
    await waitFor(() => received.length === 1 && recorder.spans().some((span) => span.name === `process ${queue}`), 'the message processed');
    const send = findSpan(recorder.spans(), `send ${queue}`);
    expect(headerGetter.get(received[0]!.message.properties.headers, 'traceparent')).toBe(wire(send));
    const processed = findSpan(recorder.spans(), `process ${queue}`);
    assertChildOf(processed, send);
    expect(processed.parentSpanContext?.spanId).toBe(send.spanContext().spanId);
    expect(received[0]!.traceId).toBe(send.spanContext().traceId);
  });

  it('a consumer registered and a send queued before the first connection record the broker they reach', async () => {
    const queue = `tracebus.it.acm.early.${run}`;
    const wrapper = traceChannelWrapper()(connection.createChannel({ setup: (channel: ConfirmChannel) => channel.assertQueue(queue, { exclusive: false, autoDelete: true }) }));
    // Nothing is connected yet: both calls wait in the wrapper.
    expect(connection.isConnected()).toBe(false);
    const received: ConsumeMessage[] = [];
    const consuming = wrapper.consume(queue, (message) => {
      received.push(message);
      wrapper.ack(message);
    });
    const sent = wrapper.sendToQueue(queue, Buffer.from('{"order":2}'));
    await Promise.all([consuming, sent]);
    await waitFor(() => received.length === 1 && recorder.spans().some((span) => span.name === `process ${queue}`), 'the message processed');
    const socket = (wrapper as unknown as { _channel: { connection: { stream: { remoteAddress: string; remotePort: number } } } })._channel.connection.stream;
    const server = { 'server.address': socket.remoteAddress, 'server.port': socket.remotePort };
    expect(server['server.port']).toBe(Number(new URL(url!).port || 5672));
    expect(findSpan(recorder.spans(), `send ${queue}`).attributes).toMatchObject({ ...server, 'tracebus.rabbitmq.queued_while_disconnected': true });
    expect(findSpan(recorder.spans(), `process ${queue}`).attributes).toMatchObject(server);
  });

  it('a handler that fails after a reconnect does not settle the redelivery that took its tag on the new channel', async () => {
    const queue = `tracebus.it.acm.reconnect.${run}`;
    // A queue that outlives the dropped connection, on a connection that comes back at once.
    const quick = amqp.connect([url!], { reconnectTimeInSeconds: 0.2 });
    const wrapper = traceChannelWrapper()(quick.createChannel({ confirm: false, setup: (channel: ConfirmChannel) => channel.assertQueue(queue, { durable: false }) }));
    try {
      // The dropped connection makes the wrapper emit errors; they are what this test provokes.
      wrapper.on('error', () => undefined);
      await wrapper.waitForConnect();
      const deliveries: Array<{ tag: number; redelivered: boolean }> = [];
      let failFirst!: (error: Error) => void;
      let ackSecond!: () => void;
      await wrapper.consume(queue, async (message) => {
        const count = deliveries.push({ tag: message.fields.deliveryTag, redelivered: message.fields.redelivered });
        if (count === 1) await new Promise((_resolve, reject) => (failFirst = reject));
        else if (count === 2) await new Promise<void>((resolve) => (ackSecond = resolve));
        wrapper.ack(message);
      });
      await wrapper.sendToQueue(queue, Buffer.from('once'));
      await waitFor(() => deliveries.length === 1, 'the first delivery');
      const first = (wrapper as unknown as { _channel: { once(event: string, listener: () => void): void } })._channel;
      // The connection drops while the first handler runs: the broker redelivers on the new channel, with the same tag.
      quick.reconnect();
      await waitFor(() => deliveries.length === 2, 'the redelivery');
      const second = (wrapper as unknown as { _channel: { once(event: string, listener: (error?: Error) => void): void } })._channel;
      expect(second).not.toBe(first);
      let closed: Error | undefined;
      second.once('error', (error) => (closed = error));
      failFirst(new Error('the first handler fails late'));
      await new Promise((resolve) => setTimeout(resolve, 300));
      ackSecond();
      await waitFor(() => recorder.spans().filter((span) => span.name === `process ${queue}`).length === 2, 'both process spans');
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Untraced, the late failure changes nothing on the new channel; traced, it must not either.
      expect(closed).toBeUndefined();
      expect(deliveries).toEqual([{ tag: 1, redelivered: false }, { tag: 1, redelivered: true }]);
      const [failed, succeeded] = recorder.spans().filter((span) => span.name === `process ${queue}`);
      expect(failed!.status.code).toBe(2);
      expect(failed!.attributes['tracebus.rabbitmq.settlement']).toBeUndefined();
      expect(succeeded!.attributes['tracebus.rabbitmq.settlement']).toBe('ack');
    } finally {
      await wrapper.deleteQueue(queue).catch(() => undefined);
      await quick.close();
    }
  });

  it('headers that fit amqplib\'s 64 KiB table untraced are sent, without the trace headers that would not fit', async () => {
    const queue = `tracebus.it.acm.big.${run}`;
    const publisher = traceChannelWrapper()(connection.createChannel({ setup: (channel: ConfirmChannel) => channel.assertQueue(queue, { exclusive: false, autoDelete: true }) }));
    const consumer = traceChannelWrapper()(connection.createChannel({ confirm: false }));
    const errors: unknown[] = [];
    publisher.on('error', (error) => void errors.push(error));
    await publisher.waitForConnect();
    const received: ConsumeMessage[] = [];
    await consumer.consume(queue, (message) => {
      received.push(message);
      consumer.ack(message);
    });
    // 20 bytes short of amqplib's 65,536-byte table: the 72 bytes of a traceparent would not fit.
    const headers = { 'x-big': 'a'.repeat(65_536 - 15 - 20) };
    await publisher.sendToQueue(queue, Buffer.from('big'), { headers, timeout: 5_000 });
    await waitFor(() => received.length === 1, 'the message');
    expect(received[0]!.properties.headers).toEqual(headers);
    expect(errors).toEqual([]);
    const send = findSpan(recorder.spans(), `send ${queue}`);
    expect(send.status.code).not.toBe(2);
    expect(send.attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['traceparent']);
  });
});
