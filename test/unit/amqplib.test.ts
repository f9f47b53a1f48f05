import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { PublisherDecorator } from '../../src/index.ts';
import { traceChannel, traceConsume } from '../../src/amqplib/index.ts';
import { traceChannelWrapper } from '../../src/amqp-connection-manager/index.ts';
import { Ledger, ledgerOf, type Delivery } from '../../src/amqplib/settlement.ts';
import { assertChildOf, assertLinkedTo, findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { captureDiagEachTest } from '../support/diag.ts';
import { asChannel, asConfirmChannel, FakeChannel, FakeConfirmChannel } from '../support/fakes/amqplib.ts';
import { CollectingReader } from '../support/metrics.ts';
import { thrown } from '../support/thrown.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const SAMPLED = `00-${TRACE_ID}-${PARENT_ID}-01`;

let nextTag = 0;
function delivery(headers?: Record<string, unknown>, fields: Partial<ConsumeMessage['fields']> = {}, properties: Partial<ConsumeMessage['properties']> = {}): ConsumeMessage {
  return {
    content: Buffer.from('body'),
    fields: { deliveryTag: ++nextTag, redelivered: false, exchange: 'orders', routingKey: 'order.created', consumerTag: 'ctag', ...fields },
    properties: { headers, contentType: undefined, contentEncoding: undefined, deliveryMode: undefined, priority: undefined, correlationId: undefined, replyTo: undefined, expiration: undefined, messageId: undefined, timestamp: undefined, type: undefined, userId: undefined, appId: undefined, clusterId: undefined, ...properties },
  };
}

let recorder: SpanRecorder;
beforeEach(() => {
  recorder = recordSpans();
});
afterEach(async () => {
  await recorder.shutdown();
});
const diagnostics = captureDiagEachTest();

/** What went to diag, without the reports of messages that arrived without trace headers. */
const problems = () => diagnostics.logged.filter((line) => !line.includes(' arrived with '));

const wire = (spanName: string) => {
  const span = findSpan(recorder.spans(), spanName);
  return `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;
};

describe('traceChannel: publishing', () => {
  it('records a send span, injects into a copy of the headers and returns what amqplib returned', () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    const options = Object.freeze({ messageId: 'm-1', correlationId: 'c-1', headers: Object.freeze({ 'x-app': 'kept', TraceParent: SAMPLED, tracestate: 'old=1' }) });
    fake.writable = false;
    expect(channel.publish('orders', 'order.created', Buffer.from('{}'), options)).toBe(false);
    const [sent] = fake.published;
    expect(sent!.options).toEqual({ messageId: 'm-1', correlationId: 'c-1', headers: { 'x-app': 'kept', traceparent: wire('send orders:order.created') } });
    expect(options.headers).toEqual({ 'x-app': 'kept', TraceParent: SAMPLED, tracestate: 'old=1' });
    const span = findSpan(recorder.spans(), 'send orders:order.created');
    expect(span.kind).toBe(SpanKind.PRODUCER);
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.attributes).toEqual({
      'messaging.system.name': 'rabbitmq',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'orders:order.created',
      'rabbitmq.destination.routing_key': 'order.created',
      'messaging.message.id': 'm-1',
      'messaging.message.conversation_id': 'c-1',
      'server.address': '10.0.0.7',
      'server.port': 5673,
    });
  });

  it('sendToQueue publishes to the default exchange; body size, server and legacy names are options', () => {
    const fake = new FakeChannel();
    const channel = traceChannel({ bodySize: true, serverAddress: 'rabbit.internal', serverPort: 5672, semconv: 'legacy' })(asChannel(fake));
    expect(channel.sendToQueue('billing', Buffer.from('12345'))).toBe(true);
    expect(fake.published[0]).toMatchObject({ exchange: '', routingKey: 'billing', options: { headers: { traceparent: wire('send billing') } } });
    expect(findSpan(recorder.spans(), 'send billing').attributes).toEqual({
      'messaging.system': 'rabbitmq',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'billing',
      'messaging.rabbitmq.destination.routing_key': 'billing',
      'messaging.message.body.size': 5,
      'server.address': 'rabbit.internal',
      'server.port': 5672,
    });
  });

  it('is a child of the active span and calls the producer hook with the publish arguments', () => {
    const fake = new FakeChannel();
    const seen: unknown[] = [];
    const channel = traceChannel({
      producerHook: (span, publish) => {
        seen.push(publish);
        span.setAttribute('app.tenant', 'acme');
        throw new Error('hook bug');
      },
    })(asChannel(fake));
    const content = Buffer.from('x');
    trace.getTracer('t').startActiveSpan('request', (parent) => {
      channel.publish('ex', 'rk', content);
      parent.end();
    });
    const spans = recorder.spans();
    assertChildOf(findSpan(spans, 'send ex:rk'), findSpan(spans, 'request'), spans);
    expect(seen).toEqual([{ exchange: 'ex', routingKey: 'rk', content, options: undefined }]);
    expect(findSpan(spans, 'send ex:rk').attributes['app.tenant']).toBe('acme');
    expect(diagnostics.logged).toEqual(['error: tracebus: producerHook threw; the span goes on without its attributes']);
  });

  it('records and rethrows what amqplib throws', () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    const closed = new Error('Channel closed');
    fake.publishError = () => closed;
    expect(() => channel.sendToQueue('q', Buffer.from('x'))).toThrow(closed);
    const span = findSpan(recorder.spans(), 'send q');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'Channel closed' });
    expect(recorder.openSpans()).toEqual([]);
  });

  it('sends without trace headers when amqplib cannot encode them (RangeError), instead of failing; stale ones do not go either', () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    fake.publishError = (options) => (options?.headers?.traceparent === undefined ? undefined : new RangeError('Encoded field table exceeds the 65536 byte encoding buffer'));
    // A consumed message's headers sent on: its old trace headers, and a table near amqplib's limit.
    const stale = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`;
    const options = { persistent: true, headers: { 'x-big': 'z'.repeat(65_450), traceparent: stale, baggage: 'old=1' } };
    expect(channel.sendToQueue('q', Buffer.from('x'), options)).toBe(true);
    expect(fake.published[0]!.options).toEqual({ persistent: true, headers: { 'x-big': 'z'.repeat(65_450) } });
    expect(options.headers.traceparent).toBe(stale);
    const span = findSpan(recorder.spans(), 'send q');
    expect(span.attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['traceparent']);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(diagnostics.logged[0]).toMatch(/^warn: tracebus: amqplib could not encode the headers/);
  });

  it('the CC and BCC lists amqplib adds to the table count toward its 64 KiB: trace headers that push them over are dropped, not the message', () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    // As amqplib: the table it encodes holds the headers and the CC list.
    const CC = Array.from({ length: 40 }, (_, index) => `route.${String(index).padStart(3, '0')}.${'r'.repeat(95)}`);
    fake.publishError = (options) => (options?.headers?.traceparent !== undefined ? new RangeError('Encoded field table (headers or arguments) exceeds the 65536 byte encoding buffer') : undefined);
    const options = { CC, headers: { big: 'x'.repeat(61_200) } };
    expect(channel.sendToQueue('q', Buffer.from('x'), options)).toBe(true);
    expect(fake.published[0]!.options).toEqual(options);
    expect(findSpan(recorder.spans(), 'send q').attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['traceparent']);
  });

  it('a RangeError that is no header overflow (a priority of 300) is the caller\'s: rethrown as it came, nothing dropped', () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    const refused = new RangeError('The value of "value" is out of range. It must be >= 0 and <= 255. Received 300');
    fake.publishError = () => refused;
    expect(() => channel.sendToQueue('q', Buffer.from('x'), { priority: 300 })).toThrow(refused);
    const span = findSpan(recorder.spans(), 'send q');
    expect(span.attributes['tracebus.rabbitmq.dropped_headers']).toBeUndefined();
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(diagnostics.logged).toEqual([]);
  });

  it('keeps publish options the caller\'s object inherits (a class\'s defaults), which amqplib reads', () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    const defaults = { persistent: true, contentType: 'application/json', headers: { 'x-tenant': 'acme' } };
    const options = Object.assign(Object.create(defaults), { messageId: 'm-1' });
    channel.sendToQueue('q', Buffer.from('x'), options);
    const sent = fake.published[0]!.options!;
    expect([sent.persistent, sent.contentType, sent.messageId]).toEqual([true, 'application/json', 'm-1']);
    const { traceId, spanId } = findSpan(recorder.spans(), 'send q').spanContext();
    expect({ ...sent.headers }).toEqual({ 'x-tenant': 'acme', traceparent: `00-${traceId}-${spanId}-01` });
    expect(defaults.headers).toEqual({ 'x-tenant': 'acme' });
  });

  it('an exchange or routing key left undefined is sent as amqplib sends it (as \'\'), traced; one of another type goes to amqplib untouched', () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    const loose = channel as unknown as { sendToQueue(queue: unknown, content: Buffer): boolean; publish(exchange: unknown, routingKey: unknown, content: Buffer, options?: object): boolean };
    expect(loose.sendToQueue(undefined, Buffer.from('a'))).toBe(true);
    expect(loose.publish('amq.fanout', undefined, Buffer.from('b'))).toBe(true);
    expect(loose.publish('ex', 42, Buffer.from('c'), { headers: { traceparent: `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`, 'x-a': 1 } })).toBe(true);
    expect(recorder.spans().map((span) => span.name)).toEqual(['send amq.default', 'send amq.fanout']);
    expect(fake.published.map((sent) => [sent.exchange, sent.routingKey])).toEqual([
      ['', undefined],
      ['amq.fanout', undefined],
      ['ex', 42],
    ]);
    expect(fake.published[2]!.options).toEqual({ headers: { 'x-a': 1 } });
  });

  it('headers whose getter throws fail the publish with that error, as untraced, and the span ends with it', () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    const broken = new Error('getter broke');
    const headers = {
      get 'x-lazy'() {
        throw broken;
      },
    };
    expect(() => channel.sendToQueue('q', Buffer.from('x'), { headers })).toThrow(broken);
    expect(recorder.openSpans()).toEqual([]);
    const span = findSpan(recorder.spans(), 'send q');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'getter broke' });
    expect(fake.published).toEqual([]);
  });

  it('refuses an amqp-connection-manager ChannelWrapper, naming traceChannelWrapper, and a consumerHook that is no function', () => {
    const wrapper = { publish() {}, consume() {}, addSetup() {}, waitForConnect() {} };
    expect(() => traceChannel()(wrapper as never)).toThrow(
      "tracebus: traceChannel got an amqp-connection-manager ChannelWrapper; trace it with traceChannelWrapper(options)(channelWrapper) from 'tracebus/amqp-connection-manager'",
    );
    expect(() => traceChannel({ consumerHook: 42 as never })).toThrow('tracebus: traceChannel({ consumerHook }) must be a function (span, message) => void');
  });

  it('headers that are no object go to amqplib as given, for its own error', () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    fake.publishError = (options) => (options?.headers !== undefined && typeof options.headers !== 'object' ? new TypeError('Object prototype may only be an Object or null: abc') : undefined);
    const options = { headers: 'abc' } as unknown as { headers: Record<string, unknown> };
    expect(() => channel.sendToQueue('q', Buffer.from('x'), options)).toThrow('Object prototype may only be an Object or null: abc');
    expect(recorder.spans()).toEqual([]);
  });
});

describe('traceChannel: a ConfirmChannel', () => {
  it('ends the send span on the broker confirm and passes the confirm on', () => {
    const fake = new FakeConfirmChannel();
    const channel = traceChannel()(asConfirmChannel(fake));
    const confirmed: unknown[][] = [];
    channel.publish('ex', 'rk', Buffer.from('a'), {}, (...args) => confirmed.push(args));
    channel.sendToQueue('q', Buffer.from('b'));
    expect(recorder.openSpans().map((span) => span.name).sort()).toEqual(['send ex:rk', 'send q']);
    fake.published[0]!.callback!(null);
    fake.published[1]!.callback!(null);
    expect(confirmed).toEqual([[null, undefined]]);
    expect(recorder.openSpans()).toEqual([]);
    expect(recorder.spans().map((span) => span.status.code)).toEqual([SpanStatusCode.UNSET, SpanStatusCode.UNSET]);
  });

  it('in an unsampled trace, ends the send span at once and hands amqplib the caller’s own callback, or none', () => {
    const fake = new FakeConfirmChannel();
    const channel = traceChannel()(asConfirmChannel(fake));
    const unsampled = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: TraceFlags.NONE, isRemote: true });
    const callback = (): void => {};
    context.with(unsampled, () => {
      channel.publish('ex', 'rk', Buffer.from('a'), {}, callback);
      channel.sendToQueue('q', Buffer.from('b'));
    });
    expect(fake.published.map((sent) => sent.callback)).toEqual([callback, undefined]);
    expect(fake.published[0]!.callback).toBe(callback);
    // Each message still carries a context of its own, child of the unsampled parent, flagged unsampled.
    const [first, second] = fake.published.map((sent) => String(sent.options!.headers.traceparent));
    expect(first).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`));
    expect(second).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-00$`));
    expect(new Set([first, second, `00-${TRACE_ID}-${PARENT_ID}-00`]).size).toBe(3);
    expect(recorder.openSpans()).toEqual([]);
    expect(recorder.spans()).toEqual([]);
  });

  it('with metrics on, keeps the send of an unsampled trace open until the confirm, for its duration', async () => {
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const fake = new FakeConfirmChannel();
    const channel = traceChannel({ meterProvider })(asConfirmChannel(fake));
    const unsampled = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: TraceFlags.NONE, isRemote: true });
    const confirmed: unknown[] = [];
    context.with(unsampled, () => channel.sendToQueue('q', Buffer.from('a'), undefined, (error) => confirmed.push(error)));
    expect(fake.published[0]!.callback).toBeTypeOf('function');
    expect(await reader.points('messaging.client.sent.messages')).toEqual([]);
    fake.published[0]!.callback!(null);
    expect(confirmed).toEqual([null]);
    expect((await reader.points('messaging.client.sent.messages')).map((point) => point.value)).toEqual([1]);
    expect(await reader.points('messaging.client.operation.duration')).toHaveLength(1);
    await meterProvider.shutdown();
  });

  it('marks a nacked message ERROR and hands the caller the same error', () => {
    const fake = new FakeConfirmChannel();
    const channel = traceChannel()(asConfirmChannel(fake));
    const outcomes: unknown[] = [];
    channel.sendToQueue('q', Buffer.from('a'), undefined, (error) => outcomes.push(error));
    const nacked = new Error('message nacked');
    fake.published[0]!.callback!(nacked);
    expect(outcomes).toEqual([nacked]);
    const span = findSpan(recorder.spans(), 'send q');
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'message nacked' });
    expect(span.attributes['error.type']).toBe('nack');
  });
});

describe('traceChannel: the rest of the channel', () => {
  it('delegates every other method to the channel itself, keeps events, chaining and instanceof', async () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    await channel.prefetch(10);
    expect(fake.prefetchedBy).toBe(fake);
    expect(channel).toBeInstanceOf(FakeChannel);
    expect(channel.connection).toBe(fake.connection);
    const heard: unknown[] = [];
    expect(channel.on('drain', () => heard.push('drain'))).toBe(channel);
    fake.emit('drain');
    expect(heard).toEqual(['drain']);
    expect(fake.listenerCount('drain')).toBe(1);
  });

  it('catches misuse early with a sentence that names the fix', () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    expect(() => traceChannel()(channel)).toThrow(/^tracebus: this channel is traced already; wrap the original channel once, with traceChannel\(options\)\(channel\)$/);
    expect(() => traceChannel()(null as unknown as Channel)).toThrow(/needs an amqplib channel/);
    expect(() => traceChannel({ policy: 'child' as never })).toThrow(/policy must be 'parent', 'link', 'root'/);
    expect(() => traceChannel({ onError: 'drop' as never })).toThrow(/onError must be 'nack-requeue', 'nack', 'reject', 'rethrow'/);
    expect(() => traceConsume({ queue: 'q' } as never)).toThrow(/needs the consuming channel to settle failed messages/);
    expect(() => traceConsume({ channel, queue: undefined } as never)).toThrow(/needs the queue name/);
    expect(() => traceConsume({ channel, queue: 'q' })('nope' as never)).toThrow(/needs a handler function/);
    // server.port is an integer and server.address a string: a port read from the environment is text.
    expect(() => traceChannel({ serverPort: '5672' as never })).toThrow(/^tracebus: traceChannel\(\{ serverPort \}\) must be a port number such as 5672 \(a number, not a string\); got "5672"$/);
    expect(() => traceChannel({ serverAddress: 42 as never })).toThrow(/^tracebus: traceChannel\(\{ serverAddress \}\) must be the broker's host name, such as 'rabbitmq.internal'; got 42$/);
    expect(() => traceConsume({ channel, queue: 'q', serverPort: 0 })).toThrow(/traceConsume\(\{ serverPort \}\) must be a port number/);
    expect(() => traceChannelWrapper({ serverPort: 70_000 })).toThrow(/traceChannelWrapper\(\{ serverPort \}\) must be a port number/);
  });
});

describe('traceConsume: what it is given', () => {
  it('a consumerHook that is not a function is refused, naming the signature', () => {
    const channel = traceChannel()(asChannel(new FakeChannel()));
    expect(thrown(() => traceConsume({ channel, queue: 'q', consumerHook: 'addAttributes' as never }))).toEqual([TypeError, 'tracebus: traceConsume({ consumerHook }) must be a function (span, message) => void']);
    expect(thrown(() => traceConsume({ channel, queue: 'q', consumerHook: null as never }))).toEqual([TypeError, 'tracebus: traceConsume({ consumerHook }) must be a function (span, message) => void']);
    expect(thrown(() => traceConsume({ channel, queue: 'q', consumerHook: () => undefined }))).toBe('nothing thrown');
  });

  it("a callback whose noAck is not the consumer's is refused by the traced channel's consume, naming the fix; one that agrees is consumed as is", async () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    const fail = () => {
      throw new Error('declined');
    };
    const acking = traceConsume({ channel, queue: 'q' })(fail);
    const auto = traceConsume({ queue: 'q', noAck: true })(fail);
    const nacksAutoAcked =
      'tracebus: channel.consume(queue, callback, { noAck: true }) got a callback made by traceConsume() without noAck: the broker settles noAck deliveries itself, and tracebus would nack a failed one, a protocol error that closes the channel; make the callback with traceConsume({ queue, noAck: true }), or consume without noAck';
    const leavesUnsettled =
      'tracebus: channel.consume(queue, callback, options) got a callback made by traceConsume({ noAck: true }) but consumes without noAck: the broker waits for each delivery to be settled, and tracebus would leave a failed one unsettled; make the callback with traceConsume({ channel, queue }), or consume with { noAck: true }';
    expect(thrown(() => channel.consume('q', acking, { noAck: true }))).toEqual([TypeError, nacksAutoAcked]);
    // noAck is read as amqplib reads it (`!!options.noAck`).
    expect(thrown(() => channel.consume('q', acking, { noAck: 1 as never }))).toEqual([TypeError, nacksAutoAcked]);
    expect(thrown(() => channel.consume('q', auto))).toEqual([TypeError, leavesUnsettled]);
    expect(thrown(() => channel.consume('q', auto, { noAck: false }))).toEqual([TypeError, leavesUnsettled]);
    expect(fake.consumers.size).toBe(0);
    await channel.consume('acking', acking, { noAck: false });
    await channel.consume('auto', auto, { noAck: 1 as never });
    expect(fake.consumers.get('acking')).toBe(acking);
    expect(fake.consumers.get('auto')).toBe(auto);
    // Each is settled as its consumer is: the one that acks is nacked, the noAck one is not.
    fake.consumers.get('acking')!(delivery(undefined, { deliveryTag: 7, exchange: '', routingKey: 'q' }));
    fake.consumers.get('auto')!(delivery(undefined, { deliveryTag: 8, exchange: '', routingKey: 'q' }));
    expect(fake.settled).toEqual([['nack', 7, false, true]]);
    expect(recorder.spans().map((span) => [span.attributes['rabbitmq.message.delivery_tag'], span.attributes['tracebus.rabbitmq.settlement'], span.status.code])).toEqual([
      [7, 'nack', SpanStatusCode.ERROR],
      [8, 'auto', SpanStatusCode.ERROR],
    ]);
  });
});

describe('consuming', () => {
  function consumer(options: Parameters<typeof traceChannel>[0] = {}) {
    const fake = new FakeChannel();
    const channel = traceChannel(options)(asChannel(fake));
    return { fake, channel };
  }

  it('runs the handler in a process span that continues the message trace', async () => {
    const { fake, channel } = consumer();
    const active: Array<string | undefined> = [];
    await channel.consume('billing', (message) => {
      active.push(trace.getActiveSpan()?.spanContext().spanId);
      channel.ack(message!);
    });
    const result = fake.consumers.get('billing')!(delivery({ traceparent: Buffer.from(SAMPLED) }, {}, { messageId: 'm-9', correlationId: 'c-9' }));
    expect(result).toBeUndefined();
    const span = findSpan(recorder.spans(), 'process orders:order.created:billing');
    expect(span.kind).toBe(SpanKind.CONSUMER);
    expect(span.parentSpanContext).toMatchObject({ traceId: TRACE_ID, spanId: PARENT_ID });
    expect(active).toEqual([span.spanContext().spanId]);
    expect(span.attributes).toEqual({
      'messaging.system.name': 'rabbitmq',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'orders:order.created:billing',
      'rabbitmq.destination.routing_key': 'order.created',
      'rabbitmq.message.delivery_tag': nextTag,
      'messaging.message.id': 'm-9',
      'messaging.message.conversation_id': 'c-9',
      'tracebus.rabbitmq.settlement': 'ack',
      'server.address': '10.0.0.7',
      'server.port': 5673,
    });
    expect(fake.settled).toEqual([['ack', nextTag, undefined]]);
  });

  it('gives the handler its trace, keeps the span open while an async handler runs', async () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    let release!: () => void;
    const traces: string[] = [];
    const callback = traceConsume({ channel, queue: 'q' })(async (message, traced) => {
      traces.push(traced.spanId);
      await new Promise<void>((resolve) => (release = resolve));
      channel.ack(message);
    });
    const pending = callback(delivery(undefined, { exchange: '', routingKey: 'q' }));
    expect(pending).toBeInstanceOf(Promise);
    await Promise.resolve();
    expect(recorder.openSpans().map((span) => span.name)).toEqual(['process q']);
    release();
    await pending;
    const span = findSpan(recorder.spans(), 'process q');
    expect(traces).toEqual([span.spanContext().spanId]);
    expect(span.attributes['tracebus.rabbitmq.settlement']).toBe('ack');
  });

  describe('a failing handler', () => {
    class Declined extends Error {}
    const fail = () => {
      throw new Declined('declined');
    };

    it.each([
      [undefined, ['nack', 1, false, true], 'nack', true],
      ['nack-requeue', ['nack', 1, false, true], 'nack', true],
      ['nack', ['nack', 1, false, false], 'nack', false],
      ['reject', ['reject', 1, false], 'reject', false],
    ] as const)('onError %j: recorded, settled, not thrown to amqplib', async (onError, settled, method, requeue) => {
      const fake = new FakeChannel();
      const channel = traceChannel()(asChannel(fake));
      const callback = traceConsume({ channel, queue: 'q', onError })(fail);
      expect(callback(delivery(undefined, { deliveryTag: 1 }))).toBeUndefined();
      expect(fake.settled).toEqual([settled]);
      const span = findSpan(recorder.spans(), 'process orders:order.created:q');
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'declined' });
      expect(span.attributes).toMatchObject({
        'error.type': 'Declined',
        'tracebus.rabbitmq.settlement': method,
        'tracebus.rabbitmq.settlement.requeue': requeue,
        'tracebus.rabbitmq.settlement.on_error': true,
      });
      expect(span.events.map((event) => event.name)).toEqual(['exception']);
    });

    it("onError 'rethrow' leaves the message alone and rethrows the same error, sync or async", async () => {
      const fake = new FakeChannel();
      const failure = new Declined('declined');
      const sync = traceConsume({ channel: asChannel(fake), queue: 'q', onError: 'rethrow' })(() => {
        throw failure;
      });
      expect(() => sync(delivery())).toThrow(failure);
      const async = traceConsume({ channel: asChannel(fake), queue: 'q', onError: 'rethrow' })(async () => {
        throw failure;
      });
      await expect(async(delivery())).rejects.toBe(failure);
      expect(fake.settled).toEqual([]);
      expect(recorder.spans().map((span) => span.status.code)).toEqual([SpanStatusCode.ERROR, SpanStatusCode.ERROR]);
      expect(recorder.openSpans()).toEqual([]);
    });

    it('an onError function decides per message; one that throws falls back to nack-requeue', async () => {
      const fake = new FakeChannel();
      const channel = traceChannel()(asChannel(fake));
      const decided: unknown[] = [];
      const callback = traceConsume({
        channel,
        queue: 'q',
        onError: (error, message) => {
          decided.push(error);
          return message.fields.redelivered ? 'nack' : 'nack-requeue';
        },
      })(async () => fail());
      await callback(delivery(undefined, { deliveryTag: 1 }));
      await callback(delivery(undefined, { deliveryTag: 2, redelivered: true }));
      expect(fake.settled).toEqual([
        ['nack', 1, false, true],
        ['nack', 2, false, false],
      ]);
      expect(decided).toHaveLength(2);
      const broken = traceConsume({
        channel,
        queue: 'q',
        onError: () => {
          throw new Error('bug');
        },
      })(fail);
      broken(delivery(undefined, { deliveryTag: 3 }));
      expect(fake.settled.at(-1)).toEqual(['nack', 3, false, true]);
      expect(problems()).toEqual(["error: tracebus: onError threw; using 'nack-requeue'"]);
    });

    it('a message the handler settled before throwing is not settled again', () => {
      const fake = new FakeChannel();
      const channel = traceChannel()(asChannel(fake));
      traceConsume({ channel, queue: 'q' })((message) => {
        channel.ack(message);
        fail();
      })(delivery(undefined, { deliveryTag: 1 }));
      expect(fake.settled).toEqual([['ack', 1, undefined]]);
      const span = recorder.spans()[0]!;
      expect(span.attributes['tracebus.rabbitmq.settlement']).toBe('ack');
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
    });

    it('a noAck consumer is never settled: settlement auto, the error recorded', () => {
      const fake = new FakeChannel();
      traceConsume({ queue: 'q', noAck: true })(fail)(delivery());
      expect(fake.settled).toEqual([]);
      const span = recorder.spans()[0]!;
      expect(span.attributes['tracebus.rabbitmq.settlement']).toBe('auto');
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
    });

    it('noAck is read as amqplib reads it: a truthy value is noAck, so a failed message is not nacked', async () => {
      const fake = new FakeChannel();
      const channel = traceChannel()(asChannel(fake));
      await channel.consume('q', fail, { noAck: 1 as never });
      fake.consumers.get('q')!(delivery(undefined, { exchange: '', routingKey: 'q' }));
      // Nacking an auto-acked delivery is a protocol error that closes the channel.
      expect(fake.settled).toEqual([]);
      expect(recorder.spans()[0]!.attributes['tracebus.rabbitmq.settlement']).toBe('auto');
    });

    it('a closed channel cannot settle: reported to diag, never thrown', () => {
      const fake = new FakeChannel();
      const channel = traceChannel()(asChannel(fake));
      fake.closed = true;
      expect(() => traceConsume({ channel, queue: 'q' })(fail)(delivery())).not.toThrow();
      expect(problems()).toEqual(['warn: tracebus: could not nack a failed message; the channel is closed, so the broker requeues it']);
      expect(recorder.spans()[0]!.attributes['tracebus.rabbitmq.settlement']).toBeUndefined();
    });
  });

  describe('settlement after the handler', () => {
    it('is a settle span under the process span; a multiple one is one span linking every delivery', async () => {
      const { fake, channel } = consumer();
      const held: ConsumeMessage[] = [];
      await channel.consume('q', (message) => void held.push(message!));
      for (let index = 0; index < 4; index++) fake.consumers.get('q')!(delivery(undefined, { exchange: '', routingKey: 'q' }));
      channel.reject(held[0]!, false);
      channel.ack(held[2]!, true);
      channel.ack(held[3]!);
      const spans = recorder.spans();
      const processes = spans.filter((span) => span.name === 'process q');
      const reject = findSpan(spans, 'reject q');
      expect(reject.kind).toBe(SpanKind.CLIENT);
      assertChildOf(reject, processes[0]!, spans);
      expect(reject.attributes).toMatchObject({
        'messaging.operation.type': 'settle',
        'messaging.operation.name': 'reject',
        'rabbitmq.message.delivery_tag': held[0]!.fields.deliveryTag,
        'tracebus.rabbitmq.settlement': 'reject',
        'tracebus.rabbitmq.settlement.requeue': false,
      });
      const [multiple, single] = spans.filter((span) => span.name === 'ack q');
      expect(multiple!.attributes).toMatchObject({ 'messaging.batch.message_count': 2, 'tracebus.rabbitmq.settlement.multiple': true });
      expect(multiple!.links.map((link) => link.context.spanId)).toEqual([processes[1]!.spanContext().spanId, processes[2]!.spanContext().spanId]);
      expect(multiple!.links.map((link) => link.attributes)).toEqual([{ 'rabbitmq.message.delivery_tag': held[1]!.fields.deliveryTag }, { 'rabbitmq.message.delivery_tag': held[2]!.fields.deliveryTag }]);
      assertChildOf(single!, processes[3]!, spans);
      channel.ack(held[3]!);
      expect(recorder.spans()).toHaveLength(spans.length);
    });

    it('reads allUpTo and requeue as amqplib does, by truthiness: nack(message, 1, 0) settles every delivery up to it without requeue', async () => {
      const { fake, channel } = consumer();
      const held: ConsumeMessage[] = [];
      await channel.consume('q', (message) => void held.push(message!));
      for (let index = 0; index < 4; index++) fake.consumers.get('q')!(delivery(undefined, { exchange: '', routingKey: 'q' }));
      (channel.nack as (...args: unknown[]) => void)(held[2]!, 1, 0);
      (channel.reject as (...args: unknown[]) => void)(held[3]!, null);
      const spans = recorder.spans();
      const nack = findSpan(spans, 'nack q');
      expect(nack.attributes).toMatchObject({ 'messaging.batch.message_count': 3, 'tracebus.rabbitmq.settlement.multiple': true, 'tracebus.rabbitmq.settlement.requeue': false });
      expect(findSpan(spans, 'reject q').attributes['tracebus.rabbitmq.settlement.requeue']).toBe(false);
      // Nothing is left open to settle again.
      channel.ackAll();
      expect(recorder.spans().filter((span) => span.name === 'ack q')).toEqual([]);
    });

    it("remembers a server-named queue's dead-letter exchange from the promise's reply", async () => {
      const { fake, channel } = consumer();
      const { queue } = await channel.assertQueue('', { arguments: { 'x-dead-letter-exchange': 'parking' } });
      expect(queue).toMatch(/^amq\.gen-/);
      await channel.consume(queue, (message) => channel.nack(message!, false, false));
      fake.consumers.get(queue)!(delivery(undefined, { exchange: '', routingKey: queue }));
      expect(findSpan(recorder.spans(), 'process amq.gen-{id}').attributes['tracebus.rabbitmq.settlement.dead_letter_exchange']).toBe('parking');
    });

    it('ackAll and nackAll settle every open delivery; a closed channel forgets them', async () => {
      const { fake, channel } = consumer();
      await channel.assertQueue('q', { deadLetterExchange: 'parking' });
      const [first, second] = [delivery(undefined, { exchange: '', routingKey: 'q' }), delivery(undefined, { exchange: '', routingKey: 'q' })];
      await channel.consume('q', (message) => {
        if (message === second) channel.nackAll(false);
      });
      fake.consumers.get('q')!(first);
      fake.consumers.get('q')!(second);
      const [earlier, last] = recorder.spans().filter((span) => span.name === 'process q');
      expect(last!.attributes).toMatchObject({
        'tracebus.rabbitmq.settlement': 'nack',
        'tracebus.rabbitmq.settlement.requeue': false,
        'tracebus.rabbitmq.settlement.multiple': true,
        'tracebus.rabbitmq.settlement.dead_letter_exchange': 'parking',
      });
      expect(earlier!.attributes['tracebus.rabbitmq.settlement']).toBeUndefined();
      expect(findSpan(recorder.spans(), 'nack q').attributes['tracebus.rabbitmq.settlement.dead_letter_exchange']).toBe('parking');
      fake.consumers.get('q')!(delivery(undefined, { exchange: '', routingKey: 'q' }));
      fake.emit('close');
      const count = recorder.spans().length;
      channel.ackAll();
      expect(recorder.spans()).toHaveLength(count);
    });
  });

  it('records redelivery and dead-letter history', async () => {
    const { fake, channel } = consumer({ bodySize: true });
    await channel.consume('parked', () => undefined);
    const deaths = [{ count: 2, reason: 'rejected', queue: 'work', exchange: '', 'routing-keys': ['work'], time: { '!': 'timestamp', value: 1 } }];
    fake.consumers.get('parked')!(delivery({ 'x-death': deaths }, { exchange: 'dlx', routingKey: 'work', redelivered: true }));
    expect(findSpan(recorder.spans(), 'process dlx:work:parked').attributes).toMatchObject({
      'tracebus.rabbitmq.redelivered': true,
      'tracebus.rabbitmq.death.reason': 'rejected',
      'tracebus.rabbitmq.death.queue': 'work',
      'tracebus.rabbitmq.death.exchange': 'amq.default',
      'tracebus.rabbitmq.death.count': 2,
      'messaging.message.body.size': 4,
    });
  });

  it('keeps the channel type; a consume callback may take the trace as its second argument', async () => {
    const confirming: PublisherDecorator<ConfirmChannel> = traceChannel();
    const plain: PublisherDecorator<Channel> = traceChannel();
    expect(typeof confirming(asConfirmChannel(new FakeConfirmChannel())).waitForConfirms).toBe('function');
    expect(plain(asChannel(new FakeChannel())).sendToQueue('q', Buffer.from('x'))).toBe(true);
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    const seen: Array<[string | undefined, string]> = [];
    await channel.consume('q', (message, traced) => void seen.push([message?.content.toString(), traced.traceId]));
    fake.consumers.get('q')!(delivery({ traceparent: SAMPLED }, { exchange: '', routingKey: 'q' }));
    fake.consumers.get('q')!(null);
    expect(seen).toEqual([
      ['body', TRACE_ID],
      [undefined, '00000000000000000000000000000000'],
    ]);
  });

  it('passes a broker cancel (null) on, and does not trace a traceConsume callback twice', async () => {
    const { fake, channel } = consumer();
    const got: unknown[] = [];
    await channel.consume('plain', (message) => void got.push(message));
    fake.consumers.get('plain')!(null);
    expect(got).toEqual([null]);
    let cancelled = 0;
    const callback = traceConsume({ channel, queue: 'explicit', onCancel: () => cancelled++ })(() => undefined);
    await channel.consume('explicit', callback);
    expect(fake.consumers.get('explicit')).toBe(callback);
    callback(null);
    fake.consumers.get('explicit')!(delivery(undefined, { exchange: '', routingKey: 'explicit' }));
    expect(cancelled).toBe(1);
    expect(recorder.spans().map((span) => span.name)).toEqual(['process explicit']);
  });

  it.each([
    ['link', 'link'],
    ['root', 'none'],
  ] as const)("policy '%s'", async (policy, relation) => {
    const { fake, channel } = consumer({ policy });
    await channel.consume('q', () => undefined);
    fake.consumers.get('q')!(delivery({ traceparent: SAMPLED, baggage: 'tenant=acme' }, { exchange: '', routingKey: 'q' }));
    const span = findSpan(recorder.spans(), 'process q');
    expect(span.parentSpanContext).toBeUndefined();
    expect(span.spanContext().traceId).not.toBe(TRACE_ID);
    expect(span.links.map((link) => link.context.spanId)).toEqual(relation === 'link' ? [PARENT_ID] : []);
  });
});

describe('pull: channel.get', () => {
  it('records a receive span linked to the message context; the ack later is a settle span under it', async () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    const message = { ...delivery({ traceparent: SAMPLED }, { exchange: '', routingKey: 'jobs' }), fields: { deliveryTag: 77, redelivered: false, exchange: '', routingKey: 'jobs', messageCount: 3 } };
    fake.nextGet = message;
    await expect(channel.get('jobs')).resolves.toBe(message);
    channel.ack(message);
    const spans = recorder.spans();
    const receive = findSpan(spans, 'receive jobs');
    expect(receive.kind).toBe(SpanKind.CLIENT);
    expect(receive.parentSpanContext).toBeUndefined();
    expect(receive.links.map((link) => link.context.spanId)).toEqual([PARENT_ID]);
    expect(receive.attributes).toMatchObject({ 'messaging.operation.type': 'receive', 'messaging.destination.name': 'jobs', 'rabbitmq.message.delivery_tag': 77 });
    assertChildOf(findSpan(spans, 'ack jobs'), receive, spans);
  });

  it('records an empty queue, and a failed get as an error', async () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    await expect(channel.get('jobs', { noAck: true })).resolves.toBe(false);
    const refused = new Error('Channel closed');
    fake.get = () => Promise.reject(refused);
    await expect(channel.get('jobs')).rejects.toBe(refused);
    const [empty, failed] = recorder.spans();
    expect(empty!.attributes['tracebus.rabbitmq.empty']).toBe(true);
    expect(failed!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'Channel closed' });
  });

  it('supports the callback API', async () => {
    const fake = new FakeChannel();
    const message = delivery({ traceparent: SAMPLED }, { exchange: '', routingKey: 'jobs' });
    (fake as unknown as { get: unknown }).get = (_queue: string, _options: unknown, callback: (error: unknown, message: unknown) => void) => {
      setImmediate(() => callback(null, message));
      return fake;
    };
    const channel = traceChannel()(asChannel(fake)) as unknown as { get(queue: string, options: unknown, callback: (error: unknown, message: unknown) => void): unknown };
    const received = await new Promise((resolve) => expect(channel.get('jobs', {}, (_error, got) => resolve(got))).toBe(channel));
    expect(received).toBe(message);
    const receive = findSpan(recorder.spans(), 'receive jobs');
    assertLinkedTo(receive, { spanContext: () => ({ traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: 1 }), name: 'remote' } as never, recorder.spans());
  });

  it('the promise API given a third argument, which it ignores, still resolves to the message and ends its span', async () => {
    const fake = new FakeChannel();
    const message = { ...delivery({ traceparent: SAMPLED }, { exchange: '', routingKey: 'jobs' }), fields: { deliveryTag: 5, redelivered: false, exchange: '', routingKey: 'jobs', messageCount: 0 } };
    fake.nextGet = message;
    const channel = traceChannel()(asChannel(fake)) as unknown as { get(queue: string, options: unknown, callback: () => void): Promise<unknown> };
    const ignored = vi.fn();
    await expect(channel.get('jobs', { noAck: true }, ignored)).resolves.toBe(message);
    expect(ignored).not.toHaveBeenCalled();
    expect(recorder.openSpans()).toEqual([]);
    expect(findSpan(recorder.spans(), 'receive jobs').attributes['tracebus.rabbitmq.settlement']).toBe('auto');
  });
});

describe('metrics and propagation diagnostics', () => {
  it('records sends, confirms, deliveries and handler durations with low-cardinality attributes', async () => {
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const fake = new FakeConfirmChannel();
    const channel = traceChannel({ meterProvider })(asConfirmChannel(fake));
    channel.sendToQueue('orders', Buffer.from('a'));
    channel.sendToQueue('amq.rabbitmq.reply-to.g1h2AA5y', Buffer.from('b'));
    fake.published[0]!.callback!(null);
    fake.published[1]!.callback!(new Error('message nacked'));
    await channel.consume('orders', async () => {
      throw new Error('no');
    });
    await fake.consumers.get('orders')!(delivery({ traceparent: SAMPLED }, { exchange: '', routingKey: 'orders' }, { timestamp: Math.floor(Date.now() / 1e3) - 2 }));

    const system = { 'messaging.system.name': 'rabbitmq', 'server.address': '10.0.0.7', 'server.port': 5673 };
    // Semconv counts the messages a producer attempted to send: a nacked one too, with its error.type.
    expect(await reader.points('messaging.client.sent.messages')).toEqual([
      { attributes: { ...system, 'messaging.operation.name': 'send', 'messaging.destination.name': 'orders' }, value: 1 },
      { attributes: { ...system, 'messaging.operation.name': 'send', 'messaging.destination.template': 'amq.rabbitmq.reply-to', 'error.type': 'nack' }, value: 1 },
    ]);
    const durations = await reader.points('messaging.client.operation.duration');
    expect(durations.map((point) => point.attributes)).toEqual([
      { ...system, 'messaging.operation.name': 'send', 'messaging.destination.name': 'orders', 'messaging.operation.type': 'send' },
      { ...system, 'messaging.operation.name': 'send', 'messaging.destination.template': 'amq.rabbitmq.reply-to', 'messaging.operation.type': 'send', 'error.type': 'nack' },
    ]);
    const consumed = { ...system, 'messaging.operation.name': 'process', 'messaging.destination.name': 'orders' };
    expect(await reader.points('messaging.client.consumed.messages')).toEqual([{ attributes: consumed, value: 1 }]);
    expect((await reader.points('messaging.process.duration')).map((point) => point.attributes)).toEqual([{ ...consumed, 'error.type': 'Error' }]);
    const [inQueue] = await reader.points('tracebus.messaging.time_in_queue');
    expect((inQueue!.value as { min: number }).min).toBeGreaterThanOrEqual(1);
    expect(await reader.points('tracebus.propagation.messages')).toEqual([{ attributes: { ...consumed, 'tracebus.propagation.outcome': 'valid' }, value: 1 }]);
    await meterProvider.shutdown();
  });

  it('keeps routing keys of exchanges off metrics, where they would make a time series per key; spans keep them', async () => {
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const fake = new FakeChannel();
    const channel = traceChannel({ meterProvider, serverAddress: 'rabbit', serverPort: 5672 })(asChannel(fake));
    for (const customer of ['c-1', 'c-2', 'c-3']) channel.publish('events', `customer.${customer}.updated`, Buffer.from(customer));
    await channel.consume('audit', async () => undefined);
    for (const customer of ['c-1', 'c-2']) await fake.consumers.get('audit')!(delivery({ traceparent: SAMPLED }, { exchange: 'events', routingKey: `customer.${customer}.updated` }));
    await channel.get('audit');
    fake.nextGet = { ...delivery({ traceparent: SAMPLED }, { exchange: 'events', routingKey: 'customer.c-9.updated' }), fields: { deliveryTag: 9, redelivered: false, exchange: 'events', routingKey: 'customer.c-9.updated', messageCount: 0 } };
    await channel.get('audit');

    const server = { 'messaging.system.name': 'rabbitmq', 'server.address': 'rabbit', 'server.port': 5672 };
    expect(await reader.points('messaging.client.sent.messages')).toEqual([
      { attributes: { ...server, 'messaging.operation.name': 'send', 'messaging.destination.template': 'events:{routing key}' }, value: 3 },
    ]);
    const processed = { ...server, 'messaging.operation.name': 'process', 'messaging.destination.template': 'events:{routing key}:audit' };
    const received = { ...server, 'messaging.operation.name': 'receive', 'messaging.destination.template': 'events:{routing key}:audit' };
    expect(await reader.points('messaging.client.consumed.messages')).toEqual([
      { attributes: processed, value: 2 },
      { attributes: received, value: 1 },
    ]);
    expect(await reader.points('tracebus.propagation.messages')).toEqual([
      { attributes: { ...processed, 'tracebus.propagation.outcome': 'valid' }, value: 2 },
      { attributes: { ...received, 'tracebus.propagation.outcome': 'valid' }, value: 1 },
    ]);
    const names = recorder.spans().map((span) => [span.name, span.attributes['messaging.destination.name'] ?? null, span.attributes['messaging.destination.template'] ?? null]);
    expect(names).toEqual([
      ['send events:customer.c-1.updated', 'events:customer.c-1.updated', null],
      ['send events:customer.c-2.updated', 'events:customer.c-2.updated', null],
      ['send events:customer.c-3.updated', 'events:customer.c-3.updated', null],
      ['process events:customer.c-1.updated:audit', 'events:customer.c-1.updated:audit', null],
      ['process events:customer.c-2.updated:audit', 'events:customer.c-2.updated:audit', null],
      ['receive audit', 'audit', null],
      ['receive events:customer.c-9.updated:audit', 'events:customer.c-9.updated:audit', null],
    ]);
    await meterProvider.shutdown();
  });

  it('records channel.get as a receive operation, and a delivered message as consumed', async () => {
    const reader = new CollectingReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const fake = new FakeChannel();
    const channel = traceChannel({ meterProvider, serverAddress: 'rabbit', serverPort: 5672 })(asChannel(fake));
    await channel.get('jobs');
    fake.nextGet = { ...delivery({ traceparent: SAMPLED }, { exchange: '', routingKey: 'jobs' }), fields: { deliveryTag: 5, redelivered: false, exchange: '', routingKey: 'jobs', messageCount: 0 } };
    await channel.get('jobs');
    const receive = { 'messaging.system.name': 'rabbitmq', 'messaging.operation.name': 'receive', 'messaging.destination.name': 'jobs', 'server.address': 'rabbit', 'server.port': 5672 };
    expect((await reader.points('messaging.client.operation.duration')).map((point) => [point.attributes, (point.value as { count: number }).count])).toEqual([[{ ...receive, 'messaging.operation.type': 'receive' }, 2]]);
    expect(await reader.points('messaging.client.consumed.messages')).toEqual([{ attributes: receive, value: 1 }]);
    await meterProvider.shutdown();
  });

  it('reports messages without trace headers by their destination', async () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    await channel.consume('billing', () => undefined);
    fake.consumers.get('billing')!(delivery({ b3: '80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1' }));
    expect(diagnostics.logged).toEqual(["warn: tracebus: 1 message(s) on rabbitmq 'orders:order.created:billing' arrived with trace headers of another format and no traceparent; each started a new trace"]);
  });
});

describe('with nothing registered (no SDK, no propagator, no metrics)', () => {
  beforeEach(async () => {
    await recorder.shutdown();
  });

  it('publishes without trace headers, dropping stale ones, and hands confirms straight to the caller', () => {
    const fake = new FakeConfirmChannel();
    const channel = traceChannel()(asConfirmChannel(fake));
    const confirmed: unknown[] = [];
    const options = { messageId: 'm-1', headers: { traceparent: SAMPLED, 'x-app': 'kept' } };
    expect(channel.publish('orders', 'order.created', Buffer.from('{}'), options, (error) => confirmed.push(error))).toBe(true);
    expect(channel.sendToQueue('jobs', Buffer.from('{}'))).toBe(true);
    expect(fake.published.map((sent) => sent.options)).toEqual([{ messageId: 'm-1', headers: { 'x-app': 'kept' } }, undefined]);
    fake.published[0]!.callback!(null);
    expect(confirmed).toEqual([null]);
    expect(options.headers).toEqual({ traceparent: SAMPLED, 'x-app': 'kept' });
  });

  it('still settles a failed message per onError, once, and reports no missing trace headers', async () => {
    const fake = new FakeChannel();
    const channel = traceChannel()(asChannel(fake));
    const failure = new TypeError('bad order');
    const seen: string[] = [];
    await channel.consume('q', (message, handlerTrace) => {
      seen.push(handlerTrace.traceId);
      if (message!.fields.deliveryTag === 2) channel.ack(message!);
      throw failure;
    });
    const onMessage = fake.consumers.get('q')!;
    onMessage(delivery({ traceparent: SAMPLED }, { deliveryTag: 1 }));
    onMessage(delivery(undefined, { deliveryTag: 2 }));
    expect(fake.settled).toEqual([
      ['nack', 1, false, true],
      ['ack', 2, undefined],
    ]);
    expect(seen).toEqual(['00000000000000000000000000000000', '00000000000000000000000000000000']);
    expect(diagnostics.logged).toEqual([]);
    await expect(Promise.resolve(traceConsume({ channel, queue: 'q', onError: 'rethrow' })(async () => Promise.reject(failure))(delivery(undefined, { deliveryTag: 3 })))).rejects.toBe(failure);
  });
});

describe('the ledger of open deliveries', () => {
  // Deliveries as far as the ledger looks at them: their tag.
  const open = (tag: number) => ({ tag }) as unknown as Delivery;
  /** A ledger that tracked `deliveries`, in order. */
  const tracking = (...deliveries: Delivery[]) => {
    const ledger = new Ledger();
    for (const delivery of deliveries) ledger.track(delivery);
    return ledger;
  };

  it('finds each delivery by tag whether it was tracked last or before, once', () => {
    const [first, second, third] = [open(1), open(2), open(3)];
    const ledger = tracking(first, second, third);
    expect(ledger.size).toBe(3);
    expect(ledger.take(2)).toBe(second);
    expect(ledger.take(3)).toBe(third);
    expect(ledger.take(3)).toBeUndefined();
    expect(ledger.take(1)).toBe(first);
    expect(ledger.size).toBe(0);
    expect(ledger.take(1)).toBeUndefined();
  });

  it('a tag tracked again (tags restart on a new channel) replaces its delivery, last or not', () => {
    const ledger = new Ledger();
    const [old, renewed, other, again] = [open(1), open(1), open(2), open(1)];
    ledger.track(old);
    ledger.track(renewed);
    expect(ledger.size).toBe(1);
    expect(ledger.take(1)).toBe(renewed);
    ledger.track(old);
    ledger.track(other);
    ledger.track(again);
    expect(ledger.size).toBe(2);
    expect(ledger.take(1)).toBe(again);
    expect(ledger.take(1)).toBeUndefined();
    expect(ledger.take(2)).toBe(other);
    ledger.track(other);
    ledger.clear();
    expect(ledger.size).toBe(0);
    expect(ledger.take(2)).toBeUndefined();
  });

  it('releases a delivery only while its tag is still its own', () => {
    const [old, renewed, other] = [open(1), open(1), open(2)];
    // Tag 1 tracked again last: a reconnect, and the broker redelivered it on the new channel.
    const ledger = tracking(old, other, renewed);
    expect(ledger.release(old)).toBe(false);
    expect(ledger.release(other)).toBe(true);
    expect(ledger.release(other)).toBe(false);
    expect(ledger.release(renewed)).toBe(true);
    expect(ledger.size).toBe(0);
  });

  it('forgets the oldest deliveries whose handler finished past MAX_FINISHED, never one whose handler still runs', () => {
    const ledger = new Ledger();
    const delivery = (tag: number, running: boolean) => ({ tag, open: running }) as unknown as Delivery;
    // Settled on the raw channel, which tracebus does not see: every handler finished, none settled here.
    const running = delivery(1, true);
    ledger.track(running);
    const finished: Delivery[] = [];
    for (let tag = 2; tag <= 3 * Ledger.MAX_FINISHED; tag++) ledger.track(finished[finished.length] = delivery(tag, false));
    expect(ledger.size).toBeLessThanOrEqual(Ledger.MAX_FINISHED);
    expect(ledger.take(1)).toBe(running);
    expect(ledger.take(2)).toBeUndefined();
    expect(ledger.take(3 * Ledger.MAX_FINISHED)).toBe(finished.at(-1));

    // More handlers running than that: all of them kept, and the sweeps back off.
    const busy = new Ledger();
    for (let tag = 1; tag <= 2 * Ledger.MAX_FINISHED; tag++) busy.track(delivery(tag, true));
    expect(busy.size).toBe(2 * Ledger.MAX_FINISHED);
    expect(busy.take(1)?.tag).toBe(1);
  });

  it('a channel whose handler settles on the raw channel keeps a bounded ledger, and a failing handler is still nacked once', async () => {
    const raw = new FakeChannel();
    const channel = traceChannel()(asChannel(raw));
    const failing = 2 * Ledger.MAX_FINISHED;
    await channel.consume('orders', (message) => {
      // The handler holds the raw channel: tracebus never sees these acks.
      if (message!.fields.deliveryTag !== failing) return raw.ack(message!);
      throw new Error('cannot handle');
    });
    const deliver = raw.consumers.get('orders')!;
    for (let tag = 1; tag <= failing; tag++) {
      const message = { content: Buffer.from('x'), fields: { deliveryTag: tag, redelivered: false, exchange: '', routingKey: 'orders', consumerTag: 'c' }, properties: { headers: {} } } as unknown as ConsumeMessage;
      if (tag === failing) expect(() => deliver(message)).not.toThrow();
      else deliver(message);
    }
    expect(ledgerOf(channel)!.size).toBeLessThanOrEqual(Ledger.MAX_FINISHED);
    expect(raw.settled.filter(([method]) => method === 'ack')).toHaveLength(failing - 1);
    expect(raw.settled.filter(([method]) => method !== 'ack')).toEqual([['nack', failing, false, true]]);
  });
});
