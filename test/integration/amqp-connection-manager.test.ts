/**
 * amqp-connection-manager's ChannelWrapper against a real RabbitMQ, in the callback style its
 * `publish` and `sendToQueue` also have: the send span lasts until the broker confirms, the
 * callback runs once it has ended, and the consumer's span is a child of it.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import amqp, { type AmqpConnectionManager } from 'amqp-connection-manager';
import { context, propagation } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { headerGetter } from '../../src/adapter/index.ts';
import { traceChannelWrapper, type TracedChannelWrapper } from '../../src/amqp-connection-manager/index.ts';
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

  it("a consumer started in a setup function whose messages are acked through the wrapper, as amqp-connection-manager's README does: each ack is recorded once, a failure after it settles nothing more, and the channel stays open", async () => {
    const queue = `tracebus.it.acm.setup-ack.${run}`;
    const deliveries: Array<{ id: string | undefined; redelivered: boolean }> = [];
    const channelErrors: string[] = [];
    let wrapper!: TracedChannelWrapper;
    const created = connection.createChannel({
      confirm: false,
      setup: async (channel: Channel) => {
        channel.on('error', (error: Error) => void channelErrors.push(error.message));
        await channel.assertQueue(queue, { exclusive: false, autoDelete: true });
        await channel.consume(queue, async (message) => {
          if (message === null) return;
          deliveries.push({ id: message.properties.messageId, redelivered: message.fields.redelivered });
          wrapper.ack(message);
          if (message.properties.messageId === 'fails') throw new Error('fails after the ack');
        });
      },
    });
    wrapper = traceChannelWrapper()(created);
    await wrapper.waitForConnect();
    const opened = (wrapper as unknown as { _channel: unknown })._channel;
    await wrapper.sendToQueue(queue, Buffer.from('1'), { messageId: 'succeeds' });
    await wrapper.sendToQueue(queue, Buffer.from('2'), { messageId: 'fails' });
    await waitFor(() => recorder.spans().filter((span) => span.name === `process ${queue}`).length === 2, 'both messages processed');
    // A round trip on the channel the acks went out on: the broker answers it only after it has
    // taken them, and a second settlement of a tag would have made it close the channel instead.
    await expect(wrapper.checkQueue(queue)).resolves.toMatchObject({ queue, messageCount: 0, consumerCount: 1 });
    expect(channelErrors).toEqual([]);
    expect((wrapper as unknown as { _channel: unknown })._channel).toBe(opened);
    // Untraced, the failure after the ack changes nothing on the wire: neither message comes back.
    expect(deliveries).toEqual([
      { id: 'succeeds', redelivered: false },
      { id: 'fails', redelivered: false },
    ]);
    const sends = recorder.spans().filter((span) => span.name === `send ${queue}`);
    const processes = recorder.spans().filter((span) => span.name === `process ${queue}`);
    expect(
      processes.map((span) => {
        const send = sends.find((candidate) => candidate.attributes['messaging.message.id'] === span.attributes['messaging.message.id'])!;
        return {
          id: span.attributes['messaging.message.id'],
          parent: span.parentSpanContext?.spanId === send.spanContext().spanId && span.spanContext().traceId === send.spanContext().traceId,
          settlement: span.attributes['tracebus.rabbitmq.settlement'],
          onError: span.attributes['tracebus.rabbitmq.settlement.on_error'],
          status: span.status.code,
        };
      }),
    ).toEqual([
      { id: 'succeeds', parent: true, settlement: 'ack', onError: undefined, status: 0 },
      { id: 'fails', parent: true, settlement: 'ack', onError: undefined, status: 2 },
    ]);
    // Each settlement was recorded on its process span, and nothing else settled.
    expect(recorder.spans().map((span) => span.name).sort()).toEqual([`process ${queue}`, `process ${queue}`, `send ${queue}`, `send ${queue}`]);
  });

  it("after a reconnect, a setup consumer's ack through the wrapper is recorded on its own delivery, not on the span of the delivery that had its tag on the channel before", async () => {
    const held = `tracebus.it.acm.held.${run}`;
    const acked = `tracebus.it.acm.acked.${run}`;
    const quick = amqp.connect([url!], { reconnectTimeInSeconds: 0.2 });
    const channelErrors: string[] = [];
    let wrapper!: TracedChannelWrapper;
    const created = quick.createChannel({
      confirm: false,
      setup: async (channel: Channel) => {
        channel.on('error', (error: Error) => void channelErrors.push(error.message));
        await channel.assertQueue(held, { exclusive: true });
        await channel.assertQueue(acked, { exclusive: true });
        await channel.consume(acked, (message) => {
          if (message !== null) wrapper.ack(message);
        });
      },
    });
    wrapper = traceChannelWrapper()(created);
    try {
      // The dropped connection makes the wrapper emit errors; they are what this test provokes.
      wrapper.on('error', () => undefined);
      await wrapper.waitForConnect();
      const tags: Array<[string, number]> = [];
      // A consumer of the wrapper's own consume that never settles: it holds tag 1 of the first channel.
      await wrapper.consume(held, (message) => void tags.push([held, message.fields.deliveryTag]));
      await wrapper.sendToQueue(held, Buffer.from('held'));
      await waitFor(() => tags.length === 1, 'the held message');
      const first = (wrapper as unknown as { _channel: unknown })._channel;
      quick.reconnect();
      await waitFor(() => {
        const channel = (wrapper as unknown as { _channel: unknown })._channel;
        return channel != null && channel !== first;
      }, 'the new channel');
      await wrapper.sendToQueue(acked, Buffer.from('acked'));
      await waitFor(() => recorder.spans().some((span) => span.name === `process ${acked}`), 'the acked message processed');
      // The exclusive queue of the held message went with the old connection: on the new channel the setup consumer's message has tag 1.
      await expect(wrapper.checkQueue(acked)).resolves.toMatchObject({ messageCount: 0, consumerCount: 1 });
      expect(channelErrors).toEqual([]);
      const heldSpan = findSpan(recorder.spans(), `process ${held}`);
      const ackedSpan = findSpan(recorder.spans(), `process ${acked}`);
      expect([heldSpan.attributes['rabbitmq.message.delivery_tag'], ackedSpan.attributes['rabbitmq.message.delivery_tag']]).toEqual([1, 1]);
      expect(heldSpan.attributes['tracebus.rabbitmq.settlement']).toBeUndefined();
      expect(ackedSpan.attributes['tracebus.rabbitmq.settlement']).toBe('ack');
      assertChildOf(ackedSpan, findSpan(recorder.spans(), `send ${acked}`));
      // No settle span: the ack was recorded on the process span of the message it settled.
      expect(recorder.spans().map((span) => span.name).sort()).toEqual([`process ${acked}`, `process ${held}`, `send ${acked}`, `send ${held}`]);
    } finally {
      await quick.close();
    }
  });

  it("`this` in a setup function is the traced wrapper, as amqp-connection-manager documents it to be the wrapper: sends through it are traced, its acks recorded, and a failure after one settles nothing more", async () => {
    const queue = `tracebus.it.acm.setup-this.${run}`;
    const onward = `tracebus.it.acm.setup-this.onward.${run}`;
    const channelErrors: string[] = [];
    let inSetup: unknown;
    const created = connection.createChannel({
      confirm: false,
      setup: async function setup(this: TracedChannelWrapper, channel: Channel) {
        inSetup = this;
        const wrapper = this;
        channel.on('error', (error: Error) => void channelErrors.push(error.message));
        await channel.assertQueue(queue, { exclusive: false, autoDelete: true });
        await channel.assertQueue(onward, { exclusive: false, autoDelete: true });
        await channel.consume(queue, async (message) => {
          if (message === null) return;
          await wrapper.sendToQueue(onward, message.content);
          wrapper.ack(message);
          if (message.content.toString() === 'fails') throw new Error('fails after the ack');
        });
      },
    });
    const wrapper = traceChannelWrapper()(created);
    await wrapper.waitForConnect();
    expect(inSetup).toBe(wrapper);
    const forwarded: ConsumeMessage[] = [];
    await wrapper.consume(onward, (message) => {
      forwarded.push(message);
      wrapper.ack(message);
    });
    await wrapper.sendToQueue(queue, Buffer.from('succeeds'));
    await wrapper.sendToQueue(queue, Buffer.from('fails'));
    await waitFor(() => forwarded.length === 2 && recorder.spans().filter((span) => span.name === `process ${queue}`).length === 2, 'both messages sent on');
    await expect(wrapper.checkQueue(queue)).resolves.toMatchObject({ queue, messageCount: 0 });
    expect(channelErrors).toEqual([]);
    const processes = recorder.spans().filter((span) => span.name === `process ${queue}`);
    expect(processes.map((span) => span.attributes['tracebus.rabbitmq.settlement'])).toEqual(['ack', 'ack']);
    // The sends made through `this` are traced: children of the process spans, their context on the wire.
    const onwardSends = recorder.spans().filter((span) => span.name === `send ${onward}`);
    expect(onwardSends.map((span) => processes.some((process) => span.parentSpanContext?.spanId === process.spanContext().spanId))).toEqual([true, true]);
    expect(forwarded.map((message) => headerGetter.get(message.properties.headers, 'traceparent')).sort()).toEqual(onwardSends.map(wire).sort());
  });

  it('removeSetup gives the teardown the traced channel, with the traced wrapper as `this`', async () => {
    const queue = `tracebus.it.acm.teardown.${run}`;
    const setup = (channel: Channel) => channel.assertQueue(queue, { exclusive: false, autoDelete: true });
    const wrapper = traceChannelWrapper()(connection.createChannel({ confirm: false, setup }));
    await wrapper.waitForConnect();
    const seen: Array<{ self: unknown; channel: unknown }> = [];
    await wrapper.removeSetup(setup, function teardown(this: unknown, channel: Channel) {
      seen.push({ self: this, channel });
      return channel.deleteQueue(queue);
    });
    const raw = (wrapper as unknown as { _channel: object })._channel;
    expect(seen).toHaveLength(1);
    expect(seen[0]!.self).toBe(wrapper);
    expect(seen[0]!.channel).not.toBe(raw);
    expect(Object.getPrototypeOf(seen[0]!.channel)).toBe(raw);
  });

  it('bodySize records the body the wrapper sends: JSON for a json wrapper, a string\'s bytes', async () => {
    const queue = `tracebus.it.acm.body.${run}`;
    const setup = (channel: ConfirmChannel) => channel.assertQueue(queue, { exclusive: false, autoDelete: true });
    const json = traceChannelWrapper({ bodySize: true })(connection.createChannel({ json: true, setup }));
    const plain = traceChannelWrapper({ bodySize: true })(connection.createChannel({ setup }));
    await json.sendToQueue(queue, { order: 1 }, { messageId: 'json' });
    await plain.sendToQueue(queue, 'héllo', { messageId: 'string' });
    await plain.sendToQueue(queue, Buffer.from('abc'), { messageId: 'buffer' });
    const sizes = Object.fromEntries(recorder.spans().map((span) => [span.attributes['messaging.message.id'], span.attributes['messaging.message.body.size']]));
    expect(sizes).toEqual({ json: Buffer.byteLength('{"order":1}'), string: Buffer.byteLength('héllo'), buffer: 3 });
  });

  it('a send queued before the first connection is fitted again to the frame size of the connection it goes out on', async () => {
    await connection.close();
    connection = amqp.connect([`${url!}?frameMax=4096`]);
    const queue = `tracebus.it.acm.early-frame.${run}`;
    const wrapper = traceChannelWrapper()(connection.createChannel({ setup: (channel: ConfirmChannel) => channel.assertQueue(queue, { exclusive: false, autoDelete: true }) }));
    expect(connection.isConnected()).toBe(false);
    const disconnects: unknown[] = [];
    connection.on('disconnect', ({ err }) => void disconnects.push(err?.message));
    // 6 KB of baggage: within W3C Baggage's limits, over the 4,096-byte frame.
    const baggage = propagation.createBaggage(Object.fromEntries(Array.from({ length: 48 }, (_, index) => [`k${index}`, { value: 'v'.repeat(120) }])));
    const sent = context.with(propagation.setBaggage(context.active(), baggage), () => wrapper.sendToQueue(queue, Buffer.from('early'), { timeout: 10_000 }));
    await sent;
    const received = await wrapper.get(queue, { noAck: true });
    expect(received && received.content.toString()).toBe('early');
    expect(headerGetter.get(received ? received.properties.headers : undefined, 'baggage')).toBeUndefined();
    expect(disconnects).toEqual([]);
    const send = findSpan(recorder.spans(), `send ${queue}`);
    expect(received && headerGetter.get(received.properties.headers, 'traceparent')).toBe(wire(send));
    expect(send.attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['baggage']);
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
