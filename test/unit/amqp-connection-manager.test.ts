import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Channel, ConsumeMessage } from 'amqplib';
import { AmqpConnectionManagerClass, type ChannelWrapper } from 'amqp-connection-manager';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { traceChannelWrapper, type TracedChannelWrapper } from '../../src/amqp-connection-manager/index.ts';
import { traceChannel, traceConsume, type TracedChannel } from '../../src/amqplib/index.ts';
import { findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { asChannel, FakeChannel, FakeConfirmChannel, type Published } from '../support/fakes/amqplib.ts';
import { thrown } from '../support/thrown.ts';

// A real ChannelWrapper on a connection manager that never dials: the test plays the
// broker, connecting it to fake amqplib channels and taking them away.

class Broker {
  readonly manager = new AmqpConnectionManagerClass('amqp://unused.invalid');
  readonly channels: FakeChannel[] = [];
  readonly #connection = {
    createConfirmChannel: async () => this.#open(new this.confirmChannel()),
    createChannel: async () => this.#open(new FakeChannel()),
  };

  /** What `createConfirmChannel` opens. */
  readonly confirmChannel: typeof FakeConfirmChannel;

  constructor(confirmChannel: typeof FakeConfirmChannel = FakeConfirmChannel) {
    this.confirmChannel = confirmChannel;
  }

  #open(channel: FakeChannel) {
    this.channels.push(channel);
    return channel;
  }

  get channel(): FakeConfirmChannel {
    return this.channels.at(-1) as FakeConfirmChannel;
  }

  async connect(wrapper: ChannelWrapper | { waitForConnect(): Promise<void> }): Promise<void> {
    const connected = wrapper.waitForConnect();
    this.manager.emit('connect', { connection: this.#connection, url: 'amqp://unused.invalid' });
    await connected;
  }

  disconnect(): void {
    this.channel.emit('close');
    this.manager.emit('disconnect', { err: new Error('connection closed') });
  }
}

/** An untraced wrapper and a traced one, each connected to a fake broker of its own. */
async function untracedAndTraced() {
  const [plain, broker] = [new Broker(), new Broker()];
  const untraced = plain.manager.createChannel();
  const channel = traceChannelWrapper()(broker.manager.createChannel());
  await plain.connect(untraced);
  await broker.connect(channel);
  return { plain, untraced, broker, channel };
}

let nextTag = 0;
function delivery(queue: string, messageId: string, headers?: Record<string, unknown>): ConsumeMessage {
  return {
    content: Buffer.from(messageId),
    fields: { deliveryTag: ++nextTag, redelivered: false, exchange: '', routingKey: queue, consumerTag: 'ctag' },
    properties: { headers, messageId } as ConsumeMessage['properties'],
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

/**
 * The connection drops while the message just sent waits for its confirm: amqplib fails the
 * confirms of a closed channel, the wrapper keeps the message and writes it again on the next
 * channel. The first write and the second.
 */
async function resentAfterDrop(broker: Broker, channel: Parameters<Broker['connect']>[0]): Promise<{ first: Published; again: Published }> {
  await flush();
  const first = broker.channel.published[0]!;
  broker.disconnect();
  first.callback!(new Error('channel closed'));
  await broker.connect(channel);
  await flush();
  return { first, again: broker.channel.published[0]! };
}
const traceparentOf = (span: { spanContext(): { traceId: string; spanId: string } }) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;

let recorder: SpanRecorder;
beforeEach(() => {
  recorder = recordSpans();
});
afterEach(async () => {
  await recorder.shutdown();
});

describe('traceChannelWrapper: the one API shape', () => {
  it('checks what it is given, naming the fix', () => {
    const wrapper = new Broker().manager.createChannel();
    expect(() => traceChannelWrapper(wrapper as never)).toThrow(/^tracebus: traceChannelWrapper\(options\) got a channelWrapper where its options belong; write traceChannelWrapper\(options\)\(channelWrapper\)/);
    expect(() => traceChannelWrapper()({ policy: 'link' } as never)).toThrow(/^tracebus: traceChannelWrapper\(options\)\(channelWrapper\) needs an amqp-connection-manager ChannelWrapper, e\.g\. traceChannelWrapper\(options\)\(connection\.createChannel\(\{ setup \}\)\); got an object; options go in the first call/);
    expect(() => traceChannelWrapper({ onError: 'drop' as never })).toThrow(/onError must be/);
    const traced = traceChannelWrapper()(wrapper);
    expect(() => traceChannelWrapper()(traced as never)).toThrow(/^tracebus: this channelWrapper is traced already; wrap the original channelWrapper once/);
  });
});

describe('traceChannelWrapper: one traced wrapper per ChannelWrapper', () => {
  const TRACED_TWICE =
    'tracebus: traceChannelWrapper(options)(channelWrapper) got a ChannelWrapper it traced before; trace each ChannelWrapper once and share the wrapper that first call returned (two traced wrappers of one ChannelWrapper would not both see the messages it sends again)';

  it('a ChannelWrapper traced again, with the same options or others, connected or not, is refused with a TypeError that names the fix', async () => {
    const broker = new Broker();
    const raw = broker.manager.createChannel();
    const wrap = traceChannelWrapper();
    wrap(raw);
    expect(thrown(() => wrap(raw))).toEqual([TypeError, TRACED_TWICE]);
    expect(thrown(() => traceChannelWrapper({ policy: 'link' })(raw))).toEqual([TypeError, TRACED_TWICE]);
    await broker.connect(raw);
    expect(thrown(() => traceChannelWrapper()(raw))).toEqual([TypeError, TRACED_TWICE]);
    // Another ChannelWrapper of the same connection is its own.
    expect(thrown(() => traceChannelWrapper()(broker.manager.createChannel()))).toBe('nothing thrown');
  });

  it('the refused call leaves the first traced wrapper as it was: a message sent again is still recorded on its span', async () => {
    const broker = new Broker();
    const raw = broker.manager.createChannel();
    const channel = traceChannelWrapper()(raw);
    expect(() => traceChannelWrapper()(raw)).toThrow(TypeError);
    // The wrapper's setups: tracebus's one and nothing more.
    expect((raw as unknown as { _setups: unknown[] })._setups).toHaveLength(1);
    await broker.connect(channel);
    const sent = channel.sendToQueue('orders', Buffer.from('a'));
    const { again } = await resentAfterDrop(broker, channel);
    again.callback!(null);
    await sent;
    const send = findSpan(recorder.spans(), 'send orders');
    expect(send.events.map((event) => [event.name, event.attributes])).toEqual([['tracebus.rabbitmq.sent', { 'tracebus.rabbitmq.send_attempt': 2 }]]);
  });
});

describe('traceChannelWrapper: what it is given', () => {
  it('a consumerHook that is not a function is refused, naming the signature', () => {
    expect(thrown(() => traceChannelWrapper({ consumerHook: 42 as never }))).toEqual([TypeError, 'tracebus: traceChannelWrapper({ consumerHook }) must be a function (span, message) => void']);
    expect(thrown(() => traceChannelWrapper({ consumerHook: () => undefined }))).toBe('nothing thrown');
  });

  it("a callback of traceConsume whose noAck is not the consumer's is refused by the wrapper's consume, naming the fix", async () => {
    const broker = new Broker();
    const channel = traceChannelWrapper()(broker.manager.createChannel({ confirm: false }));
    await broker.connect(channel);
    const fake = asChannel(broker.channel);
    const acking = traceConsume({ channel: fake, queue: 'q' })(() => undefined);
    const auto = traceConsume({ queue: 'q', noAck: true })(() => undefined);
    expect(thrown(() => channel.consume('q', acking as never, { noAck: true }))).toEqual([
      TypeError,
      'tracebus: channelWrapper.consume(queue, callback, { noAck: true }) got a callback made by traceConsume() without noAck: the broker settles noAck deliveries itself, and tracebus would nack a failed one, a protocol error that closes the channel; make the callback with traceConsume({ queue, noAck: true }), or consume without noAck',
    ]);
    expect(thrown(() => channel.consume('q', auto as never, { prefetch: 1 }))).toEqual([
      TypeError,
      'tracebus: channelWrapper.consume(queue, callback, options) got a callback made by traceConsume({ noAck: true }) but consumes without noAck: the broker waits for each delivery to be settled, and tracebus would leave a failed one unsettled; make the callback with traceConsume({ channel, queue }), or consume with { noAck: true }',
    ]);
    expect(broker.channel.consumers.size).toBe(0);
    await channel.consume('auto', auto as never, { noAck: true });
    expect(broker.channel.consumers.has('auto')).toBe(true);
  });
});

describe('traceChannelWrapper: publishing', () => {
  it('a message published while disconnected carries the context it was published in; its span shows the wait and ends at the confirm', async () => {
    const broker = new Broker();
    const channel = traceChannelWrapper()(broker.manager.createChannel());
    const parent = recorder.provider.getTracer('test').startSpan('request');
    const options = Object.freeze({ messageId: 'm-1', headers: Object.freeze({ 'x-app': 'kept' }) });
    const sent = context.with(trace.setSpan(context.active(), parent), () => channel.sendToQueue('orders', Buffer.from('{}'), options));
    parent.end();
    expect(recorder.openSpans().map((span) => span.name)).toEqual(['send orders']);
    await broker.connect(channel);
    await flush();
    const [published] = broker.channel.published;
    expect(options.headers).toEqual({ 'x-app': 'kept' });
    expect(published!.options!.headers).toEqual({ 'x-app': 'kept', traceparent: traceparentOf(recorder.openSpans()[0]!) });
    published!.callback!(null);
    await sent;
    const span = findSpan(recorder.spans(), 'send orders');
    expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(span.attributes['tracebus.rabbitmq.queued_while_disconnected']).toBe(true);
    expect(span.attributes['messaging.message.id']).toBe('m-1');
    expect(span.events.map((event) => [event.name, event.attributes])).toEqual([
      ['tracebus.rabbitmq.queued', { 'tracebus.rabbitmq.queue_length': 0 }],
      ['tracebus.rabbitmq.sent', { 'tracebus.rabbitmq.send_attempt': 1 }],
    ]);
  });

  it('a message published while connected has no queued event; a nack ends its span with an error, and the caller still gets the rejection', async () => {
    const broker = new Broker();
    const channel = traceChannelWrapper()(broker.manager.createChannel());
    await broker.connect(channel);
    const confirmed = channel.publish('orders', 'order.created', Buffer.from('a'));
    const nacked = channel.publish('orders', 'order.created', Buffer.from('b'));
    await flush();
    broker.channel.published[0]!.callback!(null);
    broker.channel.published[1]!.callback!(new Error('message nacked'));
    await confirmed;
    await expect(nacked).rejects.toThrow('message nacked');
    const [ok, failed] = recorder.spans().filter((span) => span.name === 'send orders:order.created');
    expect(ok!.attributes['tracebus.rabbitmq.queued_while_disconnected']).toBe(false);
    expect(ok!.events).toEqual([]);
    expect(ok!.status.code).toBe(SpanStatusCode.UNSET);
    expect(failed!.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed!.attributes['error.type']).toBe('nack');
  });

  it('a publish with a callback returns what the wrapper returns and keeps its span open until the confirm; the callback runs after the span ends, a nack recorded on it', async () => {
    const { untraced, broker, channel } = await untracedAndTraced();
    const calls: Array<[unknown, string[]]> = [];
    const done = (error: unknown) => calls.push([error, recorder.spans().map((span) => `${span.name} ${span.status.code}`)]);
    expect(channel.sendToQueue('orders', Buffer.from('a'), {}, done)).toBe(untraced.sendToQueue('orders', Buffer.from('a'), {}, () => {}));
    channel.publish('orders', 'order.created', Buffer.from('b'), {}, done);
    await flush();
    expect(recorder.spans()).toEqual([]);
    expect(recorder.openSpans().map((span) => span.name)).toEqual(['send orders', 'send orders:order.created']);
    const nack = new Error('message nacked');
    broker.channel.published[0]!.callback!(null);
    broker.channel.published[1]!.callback!(nack);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(calls).toEqual([
      [null, [`send orders ${SpanStatusCode.UNSET}`]],
      [nack, [`send orders ${SpanStatusCode.UNSET}`, `send orders:order.created ${SpanStatusCode.ERROR}`]],
    ]);
    expect(findSpan(recorder.spans(), 'send orders:order.created').attributes['error.type']).toBe('nack');
    expect(recorder.openSpans()).toEqual([]);
  });

  it('a failed publish whose promise the caller ignores is an unhandled rejection with the same error, as it is untraced', async () => {
    const { plain, untraced, broker, channel } = await untracedAndTraced();
    // The test runner's own listeners report unhandled rejections as failures: they are set
    // aside while this one listens.
    const runners = process.listeners('unhandledRejection');
    process.removeAllListeners('unhandledRejection');
    const unhandled: unknown[] = [];
    process.on('unhandledRejection', (reason) => unhandled.push(reason));
    try {
      void untraced.publish('', 'orders', Buffer.from('a'));
      void channel.publish('', 'orders', Buffer.from('b'));
      await flush();
      const [first, second] = [new Error('message nacked'), new Error('message nacked')];
      plain.channel.published[0]!.callback!(first);
      broker.channel.published[0]!.callback!(second);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(unhandled).toEqual([first, second]);
      expect(unhandled[1]).toBe(second);
    } finally {
      process.removeAllListeners('unhandledRejection');
      for (const listener of runners) process.on('unhandledRejection', listener);
    }
    expect(findSpan(recorder.spans(), 'send orders').status.code).toBe(SpanStatusCode.ERROR);
  });

  it('sendToQueue that cannot encode its content throws at once, as untraced, and its span ends with the error', async () => {
    const [plain, broker] = [new Broker(), new Broker()];
    const untraced = plain.manager.createChannel({ json: true });
    const channel = traceChannelWrapper()(broker.manager.createChannel({ json: true }));
    await plain.connect(untraced);
    await broker.connect(channel);
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const outcome = (send: () => unknown) => {
      try {
        const result = send();
        return `returned ${Object.prototype.toString.call(result)}`;
      } catch (error) {
        return `threw ${(error as Error).constructor.name}`;
      }
    };
    const expected = outcome(() => untraced.sendToQueue('orders', circular));
    expect(expected).toBe('threw TypeError');
    expect(outcome(() => channel.sendToQueue('orders', circular))).toBe(expected);
    expect(findSpan(recorder.spans(), 'send orders').attributes['error.type']).toBe('TypeError');
    expect(recorder.openSpans()).toEqual([]);
  });

  it('a message in flight when the connection drops is sent again on the next channel with the same headers, under one span', async () => {
    const broker = new Broker();
    const channel = traceChannelWrapper()(broker.manager.createChannel());
    await broker.connect(channel);
    const sent = channel.sendToQueue('orders', Buffer.from('a'), { messageId: 'm-2' });
    const { first, again } = await resentAfterDrop(broker, channel);
    expect(again.options!.headers).toEqual(first.options!.headers);
    again.callback!(null);
    await sent;
    const spans = recorder.spans().filter((span) => span.name === 'send orders');
    expect(spans).toHaveLength(1);
    expect(spans[0]!.status.code).toBe(SpanStatusCode.UNSET);
    // The first write was at once; the second is the one that shows.
    expect(spans[0]!.events.map((event) => [event.name, event.attributes])).toEqual([['tracebus.rabbitmq.sent', { 'tracebus.rabbitmq.send_attempt': 2 }]]);
    expect(traceparentOf(spans[0]!)).toBe(again.options!.headers.traceparent);
  });
});

describe('traceChannelWrapper: next to an instrumentation that patches amqplib', () => {
  it("the wrapper's channels call their own publish and consume: one span a side, tracebus's traceparent on the wire", async () => {
    const calls: string[] = [];
    const patch = (name: 'publish' | 'consume', original: (...args: any[]) => unknown) =>
      Object.assign(
        function patched(this: unknown, ...args: unknown[]) {
          calls.push(`patched ${name}`);
          return original.apply(this, args);
        },
        { __wrapped: true, __original: original },
      );
    class PatchedChannel extends FakeConfirmChannel {}
    PatchedChannel.prototype.publish = patch('publish', FakeConfirmChannel.prototype.publish) as never;
    PatchedChannel.prototype.consume = patch('consume', FakeChannel.prototype.consume) as never;
    const broker = new Broker(PatchedChannel);
    const channel = traceChannelWrapper()(broker.manager.createChannel());
    await broker.connect(channel);
    await channel.consume('orders', (message) => channel.ack(message));
    const sent = channel.sendToQueue('orders', Buffer.from('a'));
    await flush();
    broker.channel.published[0]!.callback!(null);
    await sent;
    await broker.channel.consumers.get('orders')!(delivery('orders', 'a', broker.channel.published[0]!.options!.headers));
    expect(calls).toEqual([]);
    const send = findSpan(recorder.spans(), 'send orders');
    expect(broker.channel.published[0]!.options!.headers.traceparent).toBe(traceparentOf(send));
    expect(findSpan(recorder.spans(), 'process orders').parentSpanContext?.spanId).toBe(send.spanContext().spanId);
  });
});

describe('traceChannelWrapper: consumers', () => {
  it("the wrapper's consume is traced, and stays traced on the channel after a reconnect; settlements through the wrapper are recorded", async () => {
    const broker = new Broker();
    const channel = traceChannelWrapper()(broker.manager.createChannel({ confirm: false }));
    await broker.connect(channel);
    const traces: string[] = [];
    await channel.consume('orders', (message, messageTrace) => {
      traces.push(messageTrace.traceId);
      channel.ack(message);
    });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await broker.channel.consumers.get('orders')!(delivery('orders', 'a', { traceparent: `00-${traceId}-00f067aa0ba902b7-01` }));
    broker.disconnect();
    await broker.connect(channel);
    await broker.channel.consumers.get('orders')!(delivery('orders', 'b', { traceparent: `00-${traceId}-00f067aa0ba902b8-01` }));
    expect(traces).toEqual([traceId, traceId]);
    const spans = recorder.spans().filter((span) => span.name === 'process orders');
    expect(spans.map((span) => [span.parentSpanContext?.spanId, span.attributes['tracebus.rabbitmq.settlement']])).toEqual([
      ['00f067aa0ba902b7', 'ack'],
      ['00f067aa0ba902b8', 'ack'],
    ]);
  });

  it('a failed handler of the wrapper consume is recorded and its message nacked through the wrapper', async () => {
    const broker = new Broker();
    const channel = traceChannelWrapper({ onError: 'reject' })(broker.manager.createChannel({ confirm: false }));
    await broker.connect(channel);
    await channel.consume('orders', () => {
      throw new Error('boom');
    });
    const message = delivery('orders', 'a');
    await broker.channel.consumers.get('orders')!(message);
    expect(broker.channel.settled).toEqual([['nack', message.fields.deliveryTag, false, false]]);
    const span = findSpan(recorder.spans(), 'process orders');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['tracebus.rabbitmq.settlement']).toBe('reject');
  });

  it('setup functions receive the channel traced, on every new channel; one that traces it itself gets it as it is, so nothing is traced twice', async () => {
    const broker = new Broker();
    const received: unknown[] = [];
    const processed: string[] = [];
    const setup = async (raw: Channel) => {
      const channel: TracedChannel<Channel> = traceChannel()(raw);
      received.push(raw, channel);
      await channel.consume('orders', (message, messageTrace) => {
        if (message === null) return;
        processed.push(messageTrace.traceId);
        channel.ack(message);
      });
    };
    // A callback-style setup is told apart by its arity, which tracing keeps.
    const callbackSetup = (raw: Channel, done: (error?: Error) => void) => {
      received.push(raw);
      done();
    };
    const channel = traceChannelWrapper()(broker.manager.createChannel({ confirm: false, setup }));
    await channel.addSetup(callbackSetup);
    await broker.connect(channel);
    expect(received[0]).toBe(received[1]);
    expect(received[2]).toBe(received[0]);
    expect(received[0]).not.toBe(broker.channel);
    await broker.channel.consumers.get('orders')!(delivery('orders', 'a'));
    broker.disconnect();
    await broker.connect(channel);
    await broker.channel.consumers.get('orders')!(delivery('orders', 'b'));
    expect(processed).toHaveLength(2);
    const spans = recorder.spans().filter((span) => span.name === 'process orders');
    expect(spans).toHaveLength(2);
    expect(spans.map((span) => span.attributes['tracebus.rabbitmq.settlement'])).toEqual(['ack', 'ack']);
    // removeSetup takes the function as you gave it.
    await channel.removeSetup(callbackSetup);
    broker.disconnect();
    await broker.connect(channel);
    expect(received).toHaveLength(8);
  });
});

describe('traceChannelWrapper: settling through the wrapper the messages of a consumer started in a setup function', () => {
  /** A wrapper whose setup consumes `orders` on the channel it receives, as amqp-connection-manager's README does, running `handle`. */
  async function setupConsumer(handle: (message: ConsumeMessage, wrapper: TracedChannelWrapper) => unknown) {
    const broker = new Broker();
    let wrapper!: TracedChannelWrapper;
    const setup = (channel: Channel) =>
      channel.consume('orders', (message) => {
        if (message !== null) return handle(message, wrapper);
      });
    wrapper = traceChannelWrapper()(broker.manager.createChannel({ confirm: false, setup }));
    await broker.connect(wrapper);
    return { broker, wrapper };
  }
  const tagged = (queue: string, deliveryTag: number, headers?: Record<string, unknown>): ConsumeMessage => ({
    ...delivery(queue, `m-${queue}-${deliveryTag}`, headers),
    fields: { deliveryTag, redelivered: false, exchange: '', routingKey: queue, consumerTag: 'ctag' },
  });

  it('an ack through the wrapper is recorded on the span; a handler that fails after it is recorded, and its message is not settled again', async () => {
    const { broker } = await setupConsumer(async (message, wrapper) => {
      wrapper.ack(message);
      if (message.properties.messageId === 'm-orders-2') throw new Error('after the ack');
    });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await broker.channel.consumers.get('orders')!(tagged('orders', 1, { traceparent: `00-${traceId}-00f067aa0ba902b7-01` }));
    await broker.channel.consumers.get('orders')!(tagged('orders', 2));
    // One settlement a message on the wire: a nack of the acked tag 2 would make the broker close the channel.
    expect(broker.channel.settled).toEqual([
      ['ack', 1, undefined],
      ['ack', 2, undefined],
    ]);
    const spans = recorder.spans().filter((span) => span.name === 'process orders');
    expect(spans.map((span) => [span.attributes['rabbitmq.message.delivery_tag'], span.attributes['tracebus.rabbitmq.settlement'], span.attributes['tracebus.rabbitmq.settlement.on_error'], span.status.code])).toEqual([
      [1, 'ack', undefined, SpanStatusCode.UNSET],
      [2, 'ack', undefined, SpanStatusCode.ERROR],
    ]);
    expect(spans[0]!.parentSpanContext).toMatchObject({ traceId, spanId: '00f067aa0ba902b7' });
    expect(recorder.spans().map((span) => span.name)).toEqual(['process orders', 'process orders']);
  });

  it('a nack through the wrapper after the handler returned is a settle span under the process span; nackAll one linking the rest', async () => {
    const held: ConsumeMessage[] = [];
    const { broker, wrapper } = await setupConsumer((message) => void held.push(message));
    for (const tag of [1, 2, 3]) await broker.channel.consumers.get('orders')!(tagged('orders', tag));
    wrapper.nack(held[0]!, false, false);
    wrapper.nackAll();
    expect(broker.channel.settled).toEqual([
      ['nack', 1, false, false],
      ['nackAll', undefined],
    ]);
    const processes = recorder.spans().filter((span) => span.name === 'process orders');
    const [one, all] = recorder.spans().filter((span) => span.name === 'nack orders');
    expect(one!.parentSpanContext?.spanId).toBe(processes[0]!.spanContext().spanId);
    expect(one!.spanContext().traceId).toBe(processes[0]!.spanContext().traceId);
    expect(one!.attributes).toMatchObject({ 'tracebus.rabbitmq.settlement': 'nack', 'tracebus.rabbitmq.settlement.requeue': false, 'rabbitmq.message.delivery_tag': 1 });
    expect(all!.attributes).toMatchObject({ 'tracebus.rabbitmq.settlement': 'nack', 'tracebus.rabbitmq.settlement.requeue': true, 'tracebus.rabbitmq.settlement.multiple': true, 'messaging.batch.message_count': 2 });
    expect(all!.links.map((link) => [link.context.spanId, link.attributes])).toEqual([
      [processes[1]!.spanContext().spanId, { 'rabbitmq.message.delivery_tag': 2 }],
      [processes[2]!.spanContext().spanId, { 'rabbitmq.message.delivery_tag': 3 }],
    ]);
  });

  it("after a reconnect, an ack through the wrapper is recorded on the new channel's delivery, never on a span of the channel before", async () => {
    const { broker, wrapper } = await setupConsumer((message, channel) => channel.ack(message));
    // A consumer of the wrapper's own consume holds tag 1 of the first channel, unsettled.
    await wrapper.consume('held', () => undefined);
    await broker.channel.consumers.get('held')!(tagged('held', 1));
    const first = broker.channel;
    broker.disconnect();
    await broker.connect(wrapper);
    expect(broker.channel).not.toBe(first);
    // Tags start again on the new channel: the setup consumer gets tag 1 there, and acks it through the wrapper.
    await broker.channel.consumers.get('orders')!(tagged('orders', 1));
    expect(first.settled).toEqual([]);
    expect(broker.channel.settled).toEqual([['ack', 1, undefined]]);
    expect(recorder.spans().map((span) => [span.name, span.attributes['tracebus.rabbitmq.settlement']])).toEqual([
      ['process held', undefined],
      ['process orders', 'ack'],
    ]);
  });

  it('an ack through the wrapper while it has no channel settles nothing, and records nothing', async () => {
    const held: ConsumeMessage[] = [];
    const { broker, wrapper } = await setupConsumer((message) => void held.push(message));
    await wrapper.consume('held', (message: ConsumeMessage) => void held.push(message));
    await broker.channel.consumers.get('held')!(tagged('held', 1));
    await broker.channel.consumers.get('orders')!(tagged('orders', 2));
    const first = broker.channel;
    broker.disconnect();
    wrapper.ack(held[0]!);
    wrapper.ack(held[1]!);
    expect(first.settled).toEqual([]);
    expect(recorder.spans().map((span) => [span.name, span.attributes['tracebus.rabbitmq.settlement']])).toEqual([
      ['process held', undefined],
      ['process orders', undefined],
    ]);
  });
});

describe('traceChannelWrapper: idle', () => {
  it('without an SDK, records nothing and leaves trace headers from elsewhere behind', async () => {
    await recorder.shutdown();
    trace.disable();
    const broker = new Broker();
    const channel = traceChannelWrapper()(broker.manager.createChannel({ confirm: false }));
    await broker.connect(channel);
    await channel.sendToQueue('orders', Buffer.from('a'), {
      headers: { 'x-app': 'kept', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', tracestate: 'vendor=1', Baggage: 'user=alice' },
    });
    await flush();
    expect(broker.channel.published[0]!.options!.headers).toEqual({ 'x-app': 'kept' });
    recorder = recordSpans();
  });
});
