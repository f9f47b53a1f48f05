import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type TextMapPropagator } from '@opentelemetry/api';
import { CompositePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type GetMessage } from 'amqplib';
import callbackApi from 'amqplib/callback_api';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { headerGetter } from '../../src/adapter/index.ts';
import { type MessageTrace } from '../../src/index.ts';
import { traceChannel, traceConsume } from '../../src/amqplib/index.ts';
import { assertChildOf, assertLinkedTo, assertOneTrace, findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { captureDiagEachTest } from '../support/diag.ts';
import { amqpUrl } from '../support/integration.ts';
import { waitFor } from '../support/wait.ts';

const url = amqpUrl();
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const SAMPLED = `00-${TRACE_ID}-${PARENT_ID}-01`;

const wire = (span: ReadableSpan) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;
const traceparentOf = (message: { properties: { headers?: Record<string, unknown> } }) => headerGetter.get(message.properties.headers, 'traceparent');

describe.skipIf(url === undefined)('amqplib against RabbitMQ', () => {
  let connection: ChannelModel;
  let recorder: SpanRecorder;
  let channels: Array<Channel | ConfirmChannel> = [];
  let queues: string[] = [];
  let exchanges: string[] = [];
  let counter = 0;
  const run = `${process.pid}.${Date.now().toString(36)}`;
  const unique = (label: string) => `tracebus.it.${label}.${run}.${++counter}`;
  const spansNamed = (name: string) => recorder.spans().filter((span) => span.name === name);

  async function open<C extends Channel | ConfirmChannel>(create: Promise<C>): Promise<C> {
    const channel = await create;
    channels.push(channel);
    return channel;
  }
  async function queue(channel: Channel, label: string, options: amqp.Options.AssertQueue = {}): Promise<string> {
    const { queue: name } = await channel.assertQueue(unique(label), { exclusive: true, ...options });
    queues.push(name);
    return name;
  }
  /** Consumes `name` through the traced `channel`, acking each message; returns what arrives. */
  async function ackInto(channel: Channel, name: string): Promise<ConsumeMessage[]> {
    const received: ConsumeMessage[] = [];
    await channel.consume(name, (message) => {
      if (message === null) return;
      received.push(message);
      channel.ack(message);
    });
    return received;
  }
  async function exchange(channel: Channel, label: string, type: 'direct' | 'topic' | 'fanout'): Promise<string> {
    const name = unique(label);
    await channel.assertExchange(name, type, { durable: false, autoDelete: true });
    exchanges.push(name);
    return name;
  }

  beforeAll(async () => {
    connection = await amqp.connect(url!);
  });
  afterAll(async () => {
    await connection?.close();
  });
  beforeEach(() => {
    recorder = recordSpans();
  });
  afterEach(async () => {
    for (const channel of channels.splice(0)) await channel.close().catch(() => undefined);
    const admin = await connection.createChannel();
    for (const name of queues.splice(0)) await admin.deleteQueue(name).catch(() => undefined);
    for (const name of exchanges.splice(0)) await admin.deleteExchange(name).catch(() => undefined);
    await admin.close();
    await recorder.shutdown();
  });

  describe('exchanges', () => {
    it('keeps one trace across a direct, a topic and a fanout exchange and their queues', async () => {
      const channel = traceChannel()(await open(connection.createChannel()));
      const direct = await exchange(channel, 'direct', 'direct');
      const topic = await exchange(channel, 'topic', 'topic');
      const fanout = await exchange(channel, 'fanout', 'fanout');
      const orders = await queue(channel, 'orders');
      const europe = await queue(channel, 'europe');
      const audit = await queue(channel, 'audit');
      const mail = await queue(channel, 'mail');
      await channel.bindQueue(orders, direct, 'order.created');
      await channel.bindQueue(europe, topic, 'order.*.created');
      await channel.bindQueue(audit, fanout, '');
      await channel.bindQueue(mail, fanout, '');
      const leaves: Array<{ queue: string; message: ConsumeMessage; trace: MessageTrace }> = [];

      await channel.consume(orders, (message) => {
        if (message === null) return;
        channel.publish(topic, 'order.eu.created', message.content, { messageId: 'm-2' });
        channel.ack(message);
      });
      await channel.consume(europe, (message) => {
        if (message === null) return;
        channel.publish(fanout, '', message.content);
        channel.ack(message);
      });
      for (const leaf of [audit, mail]) {
        await channel.consume(
          leaf,
          traceConsume({ channel, queue: leaf })((message, trace) => {
            leaves.push({ queue: leaf, message, trace });
            channel.ack(message);
          }),
        );
      }
      channel.publish(direct, 'order.created', Buffer.from('order 1'), { messageId: 'm-1' });
      await waitFor(() => leaves.length === 2 && recorder.spans().length === 7, 'both fanout queues');

      const spans = recorder.spans();
      const [send1, process1, send2, process2, send3] = assertOneTrace(spans, [
        `send ${direct}:order.created`,
        `process ${direct}:order.created:${orders}`,
        `send ${topic}:order.eu.created`,
        `process ${topic}:order.eu.created:${europe}`,
        `send ${fanout}`,
      ]) as [ReadableSpan, ReadableSpan, ReadableSpan, ReadableSpan, ReadableSpan];
      const processAudit = findSpan(spans, `process ${fanout}:${audit}`);
      const processMail = findSpan(spans, `process ${fanout}:${mail}`);
      expect(send1.parentSpanContext).toBeUndefined();
      assertChildOf(process1, send1, spans);
      assertChildOf(send2, process1, spans);
      assertChildOf(process2, send2, spans);
      assertChildOf(send3, process2, spans);
      assertChildOf(processAudit, send3, spans);
      assertChildOf(processMail, send3, spans);
      expect(leaves.map((leaf) => leaf.queue).sort()).toEqual([audit, mail].sort());
      for (const leaf of leaves) {
        expect(traceparentOf(leaf.message)).toBe(wire(send3));
        expect(leaf.trace.traceId).toBe(send1.spanContext().traceId);
      }
      expect(send1.kind).toBe(SpanKind.PRODUCER);
      expect(send1.attributes).toEqual({
        'messaging.system.name': 'rabbitmq',
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'send',
        'messaging.destination.name': `${direct}:order.created`,
        'rabbitmq.destination.routing_key': 'order.created',
        'messaging.message.id': 'm-1',
        'server.address': '127.0.0.1',
        'server.port': 5672,
      });
      expect(process1.kind).toBe(SpanKind.CONSUMER);
      expect(process1.attributes).toMatchObject({
        'messaging.system.name': 'rabbitmq',
        'messaging.operation.type': 'process',
        'messaging.destination.name': `${direct}:order.created:${orders}`,
        'rabbitmq.destination.routing_key': 'order.created',
        'messaging.message.id': 'm-1',
        'tracebus.rabbitmq.settlement': 'ack',
      });
      expect(typeof process1.attributes['rabbitmq.message.delivery_tag']).toBe('number');
      expect(send3.attributes['rabbitmq.destination.routing_key']).toBeUndefined();
      expect(processAudit.attributes['messaging.destination.name']).toBe(`${fanout}:${audit}`);
      expect(recorder.openSpans()).toEqual([]);
    });

    it('names the default exchange: sendToQueue goes to the queue, an empty routing key to amq.default', async () => {
      const channel = traceChannel()(await open(connection.createChannel()));
      const name = await queue(channel, 'plain');
      channel.sendToQueue(name, Buffer.from('x'));
      // Nothing is bound to an empty routing key on the default exchange: the broker drops it.
      channel.publish('', '', Buffer.from('y'));
      await waitFor(() => recorder.spans().length === 2, 'two send spans');
      expect(findSpan(recorder.spans(), `send ${name}`).attributes['messaging.destination.name']).toBe(name);
      expect(findSpan(recorder.spans(), 'send amq.default').attributes['messaging.destination.name']).toBe('amq.default');
    });
  });

  describe('a confirm channel', () => {
    it('ends the send span when the broker confirms', async () => {
      const channel = traceChannel()(await open(connection.createConfirmChannel()));
      const name = await queue(channel, 'confirmed');
      const confirmations: unknown[] = [];
      const writable = channel.sendToQueue(name, Buffer.from('a'), {}, (error) => confirmations.push(error));
      expect(writable).toBe(true);
      // The confirm arrives from the socket, never within the publish call itself.
      expect(recorder.openSpans().map((span) => span.name)).toEqual([`send ${name}`]);
      channel.sendToQueue(name, Buffer.from('b'));
      await channel.waitForConfirms();
      expect(confirmations).toEqual([null]);
      expect(recorder.openSpans()).toEqual([]);
      const sends = spansNamed(`send ${name}`);
      expect(sends).toHaveLength(2);
      for (const span of sends) expect(span.status.code).toBe(SpanStatusCode.UNSET);
    });

    it('marks the send span ERROR when the broker nacks, and passes the nack on unchanged', async () => {
      const channel = traceChannel()(await open(connection.createConfirmChannel()));
      const full = await queue(channel, 'full', { arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
      const outcomes: unknown[] = [];
      channel.sendToQueue(full, Buffer.from('fits'), { messageId: 'first' }, (error) => outcomes.push(error));
      channel.sendToQueue(full, Buffer.from('rejected'), { messageId: 'second' }, (error) => outcomes.push(error));
      await expect(channel.waitForConfirms()).rejects.toThrow('message nacked');
      expect(outcomes[0]).toBeNull();
      expect(outcomes[1]).toBeInstanceOf(Error);
      const [first, second] = spansNamed(`send ${full}`).sort((a, b) => String(a.attributes['messaging.message.id']).localeCompare(String(b.attributes['messaging.message.id'])));
      expect(first!.status.code).toBe(SpanStatusCode.UNSET);
      expect(second!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'message nacked' });
      expect(second!.attributes['error.type']).toBe('nack');
      expect(second!.events.map((event) => event.name)).toEqual(['exception']);
    });

    it('ends unconfirmed send spans with an error when the broker closes the channel; events reach listeners', async () => {
      const channel = traceChannel()(await open(connection.createConfirmChannel()));
      const errors: Error[] = [];
      channel.on('error', (error: Error) => errors.push(error));
      const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()));
      channel.publish(unique('missing-exchange'), 'k', Buffer.from('lost'));
      await closed;
      expect(errors.map((error) => (error as Error & { code?: number }).code)).toEqual([404]);
      const [send] = recorder.spans();
      expect(send!.name).toMatch(/^send tracebus\.it\.missing-exchange\..*:k$/);
      expect(send!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'channel closed' });
      expect(recorder.openSpans()).toEqual([]);
    });
  });

  describe('settlement', () => {
    it('nack with requeue: the redelivery is a new span flagged redelivered, each with its settlement', async () => {
      const channel = traceChannel()(await open(connection.createChannel()));
      const name = await queue(channel, 'requeue');
      const seen: boolean[] = [];
      await channel.consume(name, (message) => {
        if (message === null) return;
        seen.push(message.fields.redelivered);
        if (message.fields.redelivered) channel.ack(message);
        else channel.nack(message, false, true);
      });
      channel.sendToQueue(name, Buffer.from('again'));
      await waitFor(() => spansNamed(`process ${name}`).length === 2, 'the redelivery');
      expect(seen).toEqual([false, true]);
      const spans = recorder.spans();
      const send = findSpan(spans, `send ${name}`);
      const [first, second] = spansNamed(`process ${name}`) as [ReadableSpan, ReadableSpan];
      assertChildOf(first, send, spans);
      assertChildOf(second, send, spans);
      expect(second.spanContext().spanId).not.toBe(first.spanContext().spanId);
      expect(first.attributes['tracebus.rabbitmq.redelivered']).toBeUndefined();
      expect(first.attributes['tracebus.rabbitmq.settlement']).toBe('nack');
      expect(first.attributes['tracebus.rabbitmq.settlement.requeue']).toBe(true);
      expect(second.attributes['tracebus.rabbitmq.redelivered']).toBe(true);
      expect(second.attributes['tracebus.rabbitmq.settlement']).toBe('ack');
      expect(second.attributes['tracebus.rabbitmq.settlement.requeue']).toBeUndefined();
    });

    it('a failing handler is recorded, its message nacked with requeue, and the channel stays open', async () => {
      const channel = traceChannel()(await open(connection.createChannel()));
      const name = await queue(channel, 'failing');
      class StockMissing extends Error {}
      let calls = 0;
      await channel.consume(name, async (message) => {
        if (message === null) return;
        calls++;
        if (!message.fields.redelivered) throw new StockMissing('no stock');
        channel.ack(message);
      });
      channel.sendToQueue(name, Buffer.from('order'));
      await waitFor(() => spansNamed(`process ${name}`).length === 2, 'the redelivery');
      const [failed, retried] = spansNamed(`process ${name}`) as [ReadableSpan, ReadableSpan];
      expect(calls).toBe(2);
      expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'no stock' });
      expect(failed.attributes).toMatchObject({
        'error.type': 'StockMissing',
        'tracebus.rabbitmq.settlement': 'nack',
        'tracebus.rabbitmq.settlement.requeue': true,
        'tracebus.rabbitmq.settlement.on_error': true,
      });
      expect(retried.attributes['tracebus.rabbitmq.redelivered']).toBe(true);
      expect(retried.attributes['tracebus.rabbitmq.settlement']).toBe('ack');
      await expect(channel.checkQueue(name)).resolves.toMatchObject({ queue: name, messageCount: 0 });
    });

    it('a settlement after the handler returned is a settle span; several at once are one span with links', async () => {
      const channel = traceChannel()(await open(connection.createChannel()));
      const name = await queue(channel, 'later');
      const held: ConsumeMessage[] = [];
      await channel.consume(name, (message) => {
        if (message !== null) held.push(message);
      });
      for (const body of ['a', 'b', 'c', 'd']) channel.sendToQueue(name, Buffer.from(body));
      await waitFor(() => spansNamed(`process ${name}`).length === 4, 'four deliveries');
      channel.ack(held[0]!);
      channel.ack(held[3]!, true);
      await waitFor(() => recorder.spans().length === 10, 'the settle spans');

      const spans = recorder.spans();
      const processes = spansNamed(`process ${name}`);
      expect(processes).toHaveLength(4);
      const [single, multiple] = spansNamed(`ack ${name}`) as [ReadableSpan, ReadableSpan];
      expect(single.kind).toBe(SpanKind.CLIENT);
      assertChildOf(single, processes[0]!, spans);
      expect(single.attributes).toMatchObject({
        'messaging.operation.type': 'settle',
        'messaging.operation.name': 'ack',
        'messaging.destination.name': name,
        'rabbitmq.message.delivery_tag': held[0]!.fields.deliveryTag,
        'tracebus.rabbitmq.settlement': 'ack',
      });
      expect(multiple.parentSpanContext).toBeUndefined();
      expect(multiple.attributes).toMatchObject({ 'messaging.batch.message_count': 3, 'tracebus.rabbitmq.settlement.multiple': true });
      for (const process of processes.slice(1)) assertLinkedTo(multiple, process, spans);
      for (const process of processes) expect(process.attributes['tracebus.rabbitmq.settlement']).toBeUndefined();
    });

    it('the dead-letter path keeps the trace and shows why the message died', async () => {
      const channel = traceChannel()(await open(connection.createChannel()));
      const deadLetters = await exchange(channel, 'dlx', 'fanout');
      const parked = await queue(channel, 'parked');
      await channel.bindQueue(parked, deadLetters, '');
      const work = await queue(channel, 'work', { deadLetterExchange: deadLetters });
      await channel.consume(
        work,
        traceConsume({ channel, queue: work, onError: (_error, message) => (message.fields.redelivered ? 'nack' : 'nack-requeue') })(() => {
          throw new Error('poison');
        }),
      );
      const arrived = await ackInto(channel, parked);
      channel.sendToQueue(work, Buffer.from('poison pill'));
      await waitFor(() => arrived.length === 1 && spansNamed(`process ${deadLetters}:${work}:${parked}`).length === 1, 'the dead letter');

      const spans = recorder.spans();
      const send = findSpan(spans, `send ${work}`);
      const [first, second] = spansNamed(`process ${work}`) as [ReadableSpan, ReadableSpan];
      const parkedSpan = findSpan(spans, `process ${deadLetters}:${work}:${parked}`);
      assertChildOf(first, send, spans);
      assertChildOf(second, send, spans);
      assertChildOf(parkedSpan, send, spans);
      expect(traceparentOf(arrived[0]!)).toBe(wire(send));
      expect(first.attributes['tracebus.rabbitmq.settlement.requeue']).toBe(true);
      expect(second.attributes).toMatchObject({
        'tracebus.rabbitmq.settlement': 'nack',
        'tracebus.rabbitmq.settlement.requeue': false,
        'tracebus.rabbitmq.settlement.on_error': true,
        'tracebus.rabbitmq.settlement.dead_letter_exchange': deadLetters,
      });
      // RabbitMQ keeps the original routing key when dead-lettering through a fanout exchange.
      expect(parkedSpan.attributes).toMatchObject({
        'rabbitmq.destination.routing_key': work,
        'tracebus.rabbitmq.death.reason': 'rejected',
        'tracebus.rabbitmq.death.queue': work,
        'tracebus.rabbitmq.death.exchange': 'amq.default',
        'tracebus.rabbitmq.death.count': 1,
      });
    });

    it('noAck consumers: settlement auto, a failure is recorded and nothing is settled', async () => {
      const channel = traceChannel()(await open(connection.createChannel()));
      const name = await queue(channel, 'noack');
      let calls = 0;
      await channel.consume(
        name,
        () => {
          calls++;
          throw new Error('ignored');
        },
        { noAck: true },
      );
      channel.sendToQueue(name, Buffer.from('once'));
      await waitFor(() => spansNamed(`process ${name}`).length === 1, 'the delivery');
      const [processed] = spansNamed(`process ${name}`);
      expect(processed!.attributes['tracebus.rabbitmq.settlement']).toBe('auto');
      expect(processed!.status.code).toBe(SpanStatusCode.ERROR);
      // Settling a noAck delivery would close the channel; it is still usable.
      await expect(channel.checkQueue(name)).resolves.toMatchObject({ messageCount: 0 });
      expect(calls).toBe(1);
    });
  });

  describe('pull', () => {
    it('channel.get records a receive span linked to the producer, and the later ack a settle span', async () => {
      const channel = traceChannel()(await open(connection.createChannel()));
      const name = await queue(channel, 'pull');
      channel.sendToQueue(name, Buffer.from('pulled'), { messageId: 'p-1' });
      const tracer = trace.getTracer('test');
      let message: GetMessage | false = false;
      let polls = 0;
      await tracer.startActiveSpan('poll loop', async (poller) => {
        for (let attempt = 0; attempt < 50 && message === false; attempt++) {
          polls++;
          message = await channel.get(name);
          if (message === false) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        poller.end();
      });
      expect(message, `no message pulled from ${name} in ${polls} attempts`).not.toBe(false);
      const pulled = message as unknown as GetMessage;
      channel.ack(pulled);
      await waitFor(() => spansNamed(`ack ${name}`).length === 1, 'the settle span');

      const spans = recorder.spans();
      const send = findSpan(spans, `send ${name}`);
      const poller = findSpan(spans, 'poll loop');
      // One receive span per poll: the last one found the message, any before it found the queue empty.
      const receives = spansNamed(`receive ${name}`);
      expect(receives).toHaveLength(polls);
      const received = receives.find((span) => span.attributes['messaging.message.id'] === 'p-1')!;
      expect(received).toBeDefined();
      expect(received.kind).toBe(SpanKind.CLIENT);
      assertChildOf(received, poller, spans);
      assertLinkedTo(received, send, spans);
      expect(received.attributes).toMatchObject({
        'messaging.operation.type': 'receive',
        'messaging.destination.name': name,
        'rabbitmq.message.delivery_tag': pulled.fields.deliveryTag,
      });
      const empties = receives.filter((span) => span !== received);
      expect(empties).toHaveLength(polls - 1);
      for (const empty of empties) expect(empty.attributes['tracebus.rabbitmq.empty']).toBe(true);
      assertChildOf(findSpan(spans, `ack ${name}`), received, spans);
    });

    it('a pulled message can be processed in its own trace with traceConsume', async () => {
      const channel = traceChannel()(await open(connection.createChannel()));
      const name = await queue(channel, 'pull-process');
      channel.sendToQueue(name, Buffer.from('job'));
      let message: GetMessage | false = false;
      for (let attempt = 0; attempt < 50 && message === false; attempt++) {
        message = await channel.get(name, { noAck: false });
        if (message === false) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (message === false) throw new Error(`no message pulled from ${name} in 50 attempts`);
      const seen: string[] = [];
      await traceConsume<GetMessage>({ channel, queue: name })(async (pulled, traced) => {
        seen.push(traced.traceId);
        channel.ack(pulled);
      })(message);
      const spans = recorder.spans();
      const send = findSpan(spans, `send ${name}`);
      const processed = findSpan(spans, `process ${name}`);
      assertChildOf(processed, send, spans);
      expect(seen).toEqual([send.spanContext().traceId]);
      expect(processed.attributes['tracebus.rabbitmq.settlement']).toBe('ack');
      expect(spansNamed(`ack ${name}`)).toEqual([]);
    });
  });

  describe('RPC', () => {
    for (const mode of ['direct reply-to', 'an exclusive reply queue'] as const) {
      it(`request and reply over ${mode} form one trace`, async () => {
        const server = traceChannel()(await open(connection.createChannel()));
        const client = traceChannel()(await open(connection.createChannel()));
        const requests = await queue(server, 'rpc');
        await server.consume(requests, (request) => {
          if (request === null) return;
          server.sendToQueue(request.properties.replyTo, Buffer.from(`re: ${request.content}`), { correlationId: request.properties.correlationId });
          server.ack(request);
        });
        // The pseudo-queue, or a server-named exclusive queue (amq.gen-…).
        const replyTo = mode === 'direct reply-to' ? 'amq.rabbitmq.reply-to' : (await client.assertQueue('', { exclusive: true })).queue;
        const replies: Array<{ message: ConsumeMessage; trace: MessageTrace }> = [];
        await client.consume(
          replyTo,
          traceConsume({ channel: client, queue: replyTo, noAck: true })((message, traced) => void replies.push({ message, trace: traced })),
          { noAck: true },
        );
        const correlationId = `corr-${counter}`;
        await trace.getTracer('test').startActiveSpan('checkout', async (root) => {
          client.sendToQueue(requests, Buffer.from('price?'), { replyTo, correlationId });
          root.end();
        });
        await waitFor(() => replies.length === 1 && recorder.spans().length === 5, 'the reply');

        const spans = recorder.spans();
        const template = mode === 'direct reply-to' ? 'amq.rabbitmq.reply-to' : 'amq.gen-{id}';
        const [root, request, handled, reply, answered] = assertOneTrace(spans, ['checkout', `send ${requests}`, `process ${requests}`, `send ${template}`, `process ${template}`]) as ReadableSpan[];
        assertChildOf(request!, root!, spans);
        assertChildOf(handled!, request!, spans);
        assertChildOf(reply!, handled!, spans);
        assertChildOf(answered!, reply!, spans);
        expect(replies[0]!.message.content.toString()).toBe('re: price?');
        expect(replies[0]!.message.properties.correlationId).toBe(correlationId);
        expect(traceparentOf(replies[0]!.message)).toBe(wire(reply!));
        expect(replies[0]!.trace.traceId).toBe(root!.spanContext().traceId);
        for (const span of [request, handled, reply, answered]) expect(span!.attributes['messaging.message.conversation_id']).toBe(correlationId);
        for (const span of [reply, answered]) {
          expect(span!.attributes['messaging.destination.temporary']).toBe(true);
          expect(span!.attributes['messaging.destination.template']).toBe(template);
        }
        const replyAddress = String(reply!.attributes['messaging.destination.name']);
        expect(replyAddress.startsWith(mode === 'direct reply-to' ? 'amq.rabbitmq.reply-to.' : 'amq.gen-')).toBe(true);
        expect(answered!.attributes['tracebus.rabbitmq.settlement']).toBe('auto');
      });
    }
  });

  describe('trace headers of any AMQP type never stop a message', () => {
    const cases: Array<[string, unknown, 'continue' | 'restart']> = [
      ['a string', SAMPLED, 'continue'],
      ['a Buffer (type x)', Buffer.from(SAMPLED), 'continue'],
      ['an array holding one Buffer', [Buffer.from(SAMPLED)], 'continue'],
      ['a number', 42, 'restart'],
      ['a table', { value: SAMPLED }, 'restart'],
      ['a boolean', true, 'restart'],
      ['a void value', null, 'restart'],
      ['a timestamp', { '!': 'timestamp', value: 1_700_000_000 }, 'restart'],
      ['a Buffer that is not UTF-8', Buffer.from([0xff, 0xfe, 0x00]), 'restart'],
      ['a malformed string', '00-nonsense', 'restart'],
      ['a missing header', undefined, 'restart'],
    ];
    for (const [label, value, outcome] of cases) {
      it(`${label}: processed, trace ${outcome === 'continue' ? 'continued' : 'restarted'}`, async () => {
        const raw = await open(connection.createChannel());
        const channel = traceChannel()(await open(connection.createChannel()));
        const name = await queue(channel, 'odd');
        const received = await ackInto(channel, name);
        raw.sendToQueue(name, Buffer.from(label), { headers: value === undefined ? undefined : { traceparent: value, 'x-app': 'kept' } });
        await waitFor(() => received.length === 1 && spansNamed(`process ${name}`).length === 1, label);
        const [processed] = spansNamed(`process ${name}`);
        expect(received[0]!.content.toString()).toBe(label);
        if (outcome === 'continue') {
          expect(processed!.parentSpanContext?.spanId).toBe(PARENT_ID);
          expect(processed!.spanContext().traceId).toBe(TRACE_ID);
        } else {
          expect(processed!.parentSpanContext).toBeUndefined();
          expect(processed!.spanContext().traceId).not.toBe(TRACE_ID);
        }
        expect(processed!.status.code).toBe(SpanStatusCode.UNSET);
      });
    }
  });

  describe('RabbitMQ header limits', () => {
    const diagnostics = captureDiagEachTest();

    /** W3C trace context plus a baggage header of `size` characters. */
    const heavyBaggage = (size: number): TextMapPropagator =>
      new CompositePropagator({
        propagators: [
          new W3CTraceContextPropagator(),
          {
            inject: (_context, carrier, setter) => setter.set(carrier, 'baggage', `blob=${'b'.repeat(size)}`),
            extract: (ctx) => ctx,
            fields: () => ['baggage'],
          },
        ],
      });

    async function deliverOne(channel: Channel, send: (queue: string) => void): Promise<ConsumeMessage> {
      const name = await queue(channel, 'limits');
      const received = await ackInto(channel, name);
      send(name);
      await waitFor(() => received.length === 1, 'the message');
      return received[0]!;
    }

    it('drops baggage that would not fit the 64 KiB table amqplib can encode, and sends the message', async () => {
      const channel = traceChannel({ propagator: heavyBaggage(70_000) })(await open(connection.createChannel()));
      const message = await deliverOne(channel, (name) => channel.sendToQueue(name, Buffer.from('x'), { headers: { 'x-app': 'kept' } }));
      const send = recorder.spans().find((span) => span.name.startsWith('send '))!;
      expect(message.properties.headers).toEqual({ 'x-app': 'kept', traceparent: wire(send) });
      expect(send.attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['baggage']);
      expect(diagnostics.warnings.some((warning) => warning.includes('left baggage off a message'))).toBe(true);
    });

    it('sends without trace headers when only they push the caller headers past 64 KiB', async () => {
      const channel = traceChannel()(await open(connection.createChannel()));
      // 4 (table) + 1 + 5 ("x-big") + 5 (type, length) + 65_521 = 65_536 bytes: exactly full.
      const headers = { 'x-big': 'z'.repeat(65_521) };
      const message = await deliverOne(channel, (name) => channel.sendToQueue(name, Buffer.from('x'), { headers }));
      expect(Object.keys(message.properties.headers ?? {})).toEqual(['x-big']);
      const send = recorder.spans().find((span) => span.name.startsWith('send '))!;
      expect(send.attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['traceparent']);
      expect(send.status.code).toBe(SpanStatusCode.UNSET);
    });

    /**
     * Runs `test` on a connection with `frameMax`, then checks the broker kept it open: were a
     * header frame too large, it would close the connection (frame_too_large).
     */
    async function onSmallFrames(frameMax: number, test: (connection: amqp.ChannelModel) => Promise<void>): Promise<void> {
      const small = await amqp.connect(`${url}?frameMax=${frameMax}`);
      let closed = false;
      small.on('error', () => undefined);
      small.on('close', () => (closed = true));
      try {
        await test(small);
        expect(closed).toBe(false);
      } finally {
        if (!closed) await small.close();
      }
    }

    /** An exclusive queue named after `prefix` on `channel`, whose messages are acked into `received`. */
    async function consumedQueue(channel: Channel, prefix: string): Promise<{ name: string; received: ConsumeMessage[] }> {
      const name = unique(prefix);
      await channel.assertQueue(name, { exclusive: true });
      return { name, received: await ackInto(channel, name) };
    }

    it('keeps a content header within a small frame_max, where the broker would close the connection', () =>
      onSmallFrames(8_192, async (small) => {
        const channel = traceChannel({ propagator: heavyBaggage(4_000) })(await small.createChannel());
        const { name, received } = await consumedQueue(channel, 'small-frames');
        channel.sendToQueue(name, Buffer.from('x'), { headers: { 'x-app': 'a'.repeat(5_000) } });
        await waitFor(() => received.length === 1, 'the message');
        expect(received[0]!.properties.headers?.baggage).toBeUndefined();
        expect(typeof received[0]!.properties.headers?.traceparent).toBe('string');
        await expect(channel.checkQueue(name)).resolves.toMatchObject({ queue: name });
      }));

    it('keeps a content header within a small frame_max even when the trace headers are small and the caller\'s fill the frame', () =>
      onSmallFrames(4_096, async (small) => {
        // 3,300 bytes of the caller's fit the 4,096-byte frame untraced; 950 characters of baggage would not.
        const channel = traceChannel({ propagator: heavyBaggage(950) })(await small.createConfirmChannel());
        const { name, received } = await consumedQueue(channel, 'small-frames-small-baggage');
        await new Promise<void>((resolve, reject) => channel.sendToQueue(name, Buffer.from('x'), { headers: { 'x-data': 'd'.repeat(3_300) } }, (error) => (error ? reject(error) : resolve())));
        await waitFor(() => received.length === 1, 'the message');
        const { traceId, spanId } = findSpan(recorder.spans(), `send ${name}`).spanContext();
        expect(received[0]!.properties.headers).toEqual({ 'x-data': 'd'.repeat(3_300), traceparent: `00-${traceId}-${spanId}-01` });
        expect(findSpan(recorder.spans(), `send ${name}`).attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['baggage']);
      }));

    it("counts the message's other properties into a small frame: long ids and types leave less room for the headers", () =>
      onSmallFrames(4_096, async (small) => {
        const channel = traceChannel()(await small.createConfirmChannel());
        const { name, received } = await consumedQueue(channel, 'small-frames-properties');
        // Untraced, these fit the frame (RabbitMQ acks them); with a traceparent added they would not.
        const properties = { messageId: 'm'.repeat(255), correlationId: 'c'.repeat(255), replyTo: 'r'.repeat(255), type: 't'.repeat(255), appId: 'a'.repeat(255) };
        const headers = { pad: 'p'.repeat(2_770) };
        await new Promise<void>((resolve, reject) => channel.sendToQueue(name, Buffer.from('x'), { ...properties, headers }, (error) => (error ? reject(error) : resolve())));
        await waitFor(() => received.length === 1, 'the message');
        expect(received[0]!.properties).toMatchObject({ ...properties, headers });
        expect(findSpan(recorder.spans(), `send ${name}`).attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['traceparent']);
      }));
  });

  describe('the callback API', () => {
    /** Runs `test` with a traced channel of a callback-API connection, closed afterwards. */
    async function withCallbackChannel(test: (channel: callbackApi.Channel) => Promise<void>): Promise<void> {
      const callbackConnection = await new Promise<callbackApi.Connection>((resolve, reject) => callbackApi.connect(url!, (error, opened) => (error ? reject(error) : resolve(opened))));
      try {
        const raw = await new Promise<callbackApi.Channel>((resolve, reject) => callbackConnection.createChannel((error, opened) => (error ? reject(error) : resolve(opened))));
        await test(traceChannel()(raw));
      } finally {
        await new Promise<void>((resolve) => callbackConnection.close(() => resolve()));
      }
    }

    it('traces publish, consume and settlement, and keeps chaining', () =>
      withCallbackChannel(async (channel) => {
        const name = unique('callback');
        await new Promise<void>((resolve, reject) => channel.assertQueue(name, { exclusive: true }, (error) => (error ? reject(error) : resolve())));
        const received: ConsumeMessage[] = [];
        const chained: unknown[] = [];
        await new Promise<void>((resolve, reject) =>
          channel.consume(
            name,
            (message) => {
              if (message === null) return;
              received.push(message);
              chained.push(channel.ack(message));
            },
            {},
            (error) => (error ? reject(error) : resolve()),
          ),
        );
        channel.sendToQueue(name, Buffer.from('cb'));
        await waitFor(() => received.length === 1 && spansNamed(`process ${name}`).length === 1, 'the message');
        const spans = recorder.spans();
        const send = findSpan(spans, `send ${name}`);
        const processed = findSpan(spans, `process ${name}`);
        assertChildOf(processed, send, spans);
        expect(traceparentOf(received[0]!)).toBe(wire(send));
        expect(processed.attributes['tracebus.rabbitmq.settlement']).toBe('ack');
        expect(chained).toEqual([channel]);
      }));

    it("remembers a server-named queue's dead-letter exchange from the callback's reply", () =>
      withCallbackChannel(async (channel) => {
        const deadLetters = unique('callback-dlx');
        await new Promise<void>((resolve, reject) => channel.assertExchange(deadLetters, 'fanout', { autoDelete: true }, (error) => (error ? reject(error) : resolve())));
        const replies: unknown[] = [];
        const name = await new Promise<string>((resolve, reject) =>
          channel.assertQueue('', { exclusive: true, deadLetterExchange: deadLetters }, (error, ok) => {
            replies.push(ok);
            return error ? reject(error) : resolve(ok.queue);
          }),
        );
        expect(name).toMatch(/^amq\.gen-/);
        expect(replies).toEqual([{ queue: name, messageCount: 0, consumerCount: 0 }]);
        await new Promise<void>((resolve, reject) =>
          channel.consume(
            name,
            (message) => {
              if (message !== null) channel.nack(message, false, false);
            },
            {},
            (error) => (error ? reject(error) : resolve()),
          ),
        );
        channel.sendToQueue(name, Buffer.from('dies'));
        // Spans name a server-named queue by its template (low cardinality).
        await waitFor(() => spansNamed('process amq.gen-{id}').length === 1, 'the message');
        expect(findSpan(recorder.spans(), 'process amq.gen-{id}').attributes).toMatchObject({
          'tracebus.rabbitmq.settlement': 'nack',
          'tracebus.rabbitmq.settlement.requeue': false,
          'tracebus.rabbitmq.settlement.dead_letter_exchange': deadLetters,
        });
      }));
  });

  it('link and root policies place the consumer span and keep or drop baggage', async () => {
    const channel = traceChannel()(await open(connection.createChannel()));
    const linked = await queue(channel, 'linked');
    const rooted = await queue(channel, 'rooted');
    const baggage: Record<string, Record<string, string>> = {};
    for (const [name, policy] of [
      [linked, 'link'],
      [rooted, 'root'],
    ] as const) {
      await channel.consume(
        name,
        traceConsume({ channel, queue: name, policy })((message, traced) => {
          baggage[name] = { ...traced.baggage };
          channel.ack(message);
        }),
      );
    }
    const withBaggage = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }));
    context.with(withBaggage, () => {
      channel.sendToQueue(linked, Buffer.from('l'));
      channel.sendToQueue(rooted, Buffer.from('r'));
    });
    await waitFor(() => spansNamed(`process ${linked}`).length === 1 && spansNamed(`process ${rooted}`).length === 1, 'both messages');
    const spans = recorder.spans();
    const linkedSpan = findSpan(spans, `process ${linked}`);
    const rootedSpan = findSpan(spans, `process ${rooted}`);
    expect(linkedSpan.parentSpanContext).toBeUndefined();
    assertLinkedTo(linkedSpan, findSpan(spans, `send ${linked}`), spans);
    expect(rootedSpan.parentSpanContext).toBeUndefined();
    expect(rootedSpan.links).toEqual([]);
    expect(baggage).toEqual({ [linked]: { tenant: 'acme' }, [rooted]: {} });
  });
});
