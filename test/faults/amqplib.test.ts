/**
 * RabbitMQ faults: the broker restarted mid-stream, and trace headers that would break
 * RabbitMQ's header limits.
 *
 * The restart runs against a RabbitMQ node of its own (test/support/rabbitmq-node.ts), so
 * the shared broker is never stopped. In CI it must run; elsewhere it is skipped, with the
 * reason, only when no RabbitMQ installation is found.
 */
import { context, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from 'amqplib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { headerGetter } from '../../src/adapter/index.ts';
import { traceChannel } from '../../src/amqplib/index.ts';
import { findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { publishUntilConfirmed, Reconnecting } from '../support/amqplib-reconnecting.ts';
import { captureDiagEachTest } from '../support/diag.ts';
import { notInProducersTrace } from '../support/fault-checks.ts';
import { amqpUrl } from '../support/integration.ts';
import { rabbitmqNodeUnavailable } from '../support/rabbitmq-node.ts';
import { restartSuite } from '../support/restart-suite.ts';
import { waitFor } from '../support/wait.ts';

const inCi = process.env.CI === 'true' || process.env.CI === '1';
const noNode = inCi ? undefined : rabbitmqNodeUnavailable();
if (noNode !== undefined) console.warn(`[faults-amqplib] RabbitMQ restart test skipped: ${noNode}`);

const run = `${process.pid}.${Date.now().toString(36)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(noNode !== undefined)('RabbitMQ restarted mid-stream', () => {
  const suite = restartSuite({ name: 'tracebus-faults@localhost', port: 5673 });

  it('every message published is processed at least once after recovery, each processing span a child of its send span', async () => {
    const TOTAL = 300;
    const queue = `tracebus.faults.restart.${run}`;
    const ids = Array.from({ length: TOTAL }, (_, index) => `r-${String(index).padStart(3, '0')}`);
    const processed = new Map<string, number>();
    const acked = new Set<string>();
    let inFlight = 0;
    const handlerTraces = new Map<string, Set<string>>();

    const consumer = new Reconnecting<Channel>(
      suite.node().url,
      (connection) => connection.createChannel(),
      async (channel) => {
        await channel.assertQueue(queue, { durable: true });
        await channel.prefetch(10);
        await channel.consume(queue, async (message, trace) => {
          if (message === null) return;
          const id = message.properties.messageId as string;
          processed.set(id, (processed.get(id) ?? 0) + 1);
          handlerTraces.set(id, (handlerTraces.get(id) ?? new Set()).add(trace.traceId));
          inFlight++;
          try {
            // Slow work (10 at a time, 50 a second), so that deliveries are unacknowledged
            // and messages queued when the broker goes away.
            await sleep(200);
            // On a channel the restart closed, ack throws: the handler fails, tracebus
            // records it and cannot settle, and the broker delivers the message again.
            channel.ack(message);
            acked.add(id);
          } finally {
            inFlight--;
          }
        });
      },
    );
    const publisher = new Reconnecting<ConfirmChannel>(
      suite.node().url,
      (connection) => connection.createConfirmChannel(),
      async (channel) => void (await channel.assertQueue(queue, { durable: true })),
    );
    let republished = 0;
    let atStop = { processed: 0, inFlight: 0 };

    /** Publishes `id` as a persistent message until the broker confirms it. */
    async function publish(id: string): Promise<void> {
      await publishUntilConfirmed(publisher, queue, Buffer.from(id), { messageId: id, persistent: true }, () => republished++);
    }
    async function publishAll(from: number, to: number): Promise<void> {
      for (let at = from; at < to; at += 10) await Promise.all(ids.slice(at, Math.min(at + 10, to)).map(publish));
    }

    try {
      await Promise.all([consumer.start(), publisher.start()]);
      await publishAll(0, 100);
      await waitFor(() => processed.size >= 30, 'the first 30 messages', 30_000);

      atStop = { processed: processed.size, inFlight };
      await suite.node().stop();
      // Publishing goes on while the broker is down: these wait for a new connection.
      const duringOutage = publishAll(100, 200);
      await sleep(1_000);
      await suite.node().resume();
      await duringOutage;
      await publishAll(200, TOTAL);
      await waitFor(() => acked.size === TOTAL, `all ${TOTAL} messages processed and acked`, 90_000);
    } finally {
      await consumer.stop();
      await publisher.stop();
    }
    await waitFor(() => inFlight === 0, 'the handlers to return');

    const spans = suite.recorder().spans();
    const sends = spans.filter((span) => span.name === `send ${queue}`);
    const processes = spans.filter((span) => span.name === `process ${queue}`);
    const duplicates = [...processed.values()].filter((count) => count > 1).length;
    console.log(
      `[faults-amqplib] restart with ${atStop.processed} messages delivered and ${atStop.inFlight} being handled: ${TOTAL} messages, ${sends.length} send spans (${republished} publishes not confirmed and sent again), ` +
        `${processes.length} process spans, ${duplicates} messages processed more than once, ` +
        `${processes.filter((span) => span.status.code === 2).length} process spans with errors; consumer connected ${consumer.connections}×, publisher ${publisher.connections}×`,
    );
    // The restart came mid-stream: deliveries were being handled, and most messages were still to come.
    expect(atStop.inFlight).toBeGreaterThan(0);
    expect(atStop.processed).toBeLessThan(100);
    expect(consumer.connections).toBeGreaterThanOrEqual(2);
    expect(publisher.connections).toBeGreaterThanOrEqual(2);
    expect([...acked].sort()).toEqual(ids);
    // Every delivery's span is a child of the send span of that very message, in its trace…
    expect(new Set(processes.map((span) => span.attributes['messaging.message.id']))).toEqual(new Set(ids));
    expect(notInProducersTrace(sends, processes, 'messaging.message.id')).toEqual([]);
    // …and the handler ran in that trace.
    const traceOfSend = new Map(sends.map((span) => [span.attributes['messaging.message.id'], span.spanContext().traceId]));
    for (const [id, traceIds] of handlerTraces) {
      const allowed = new Set(sends.filter((span) => span.attributes['messaging.message.id'] === id).map((span) => span.spanContext().traceId));
      expect([...traceIds].filter((traceId) => !allowed.has(traceId)), `${id} (sent in ${traceOfSend.get(id)})`).toEqual([]);
    }
    // A delivery that failed (its ack met the closed channel) is on an ERROR span, and its message
    // was delivered again. How many acks meet a closed channel, rather than reaching a broker
    // that then loses them, depends on when the broker closes the connection: none is possible.
    for (const span of processes.filter((candidate) => candidate.status.code === 2)) {
      expect(processed.get(span.attributes['messaging.message.id'] as string), String(span.attributes['messaging.message.id'])).toBeGreaterThan(1);
    }
    expect(suite.recorder().openSpans()).toEqual([]);
  }, 240_000);
});

describe.skipIf(amqpUrl() === undefined)('RabbitMQ header limits, for headers from the consumer context', () => {
  let recorder: SpanRecorder;
  let connection: ChannelModel;
  let small: ChannelModel;
  let smallClosed = false;

  beforeAll(async () => {
    connection = await amqp.connect(amqpUrl()!);
    // frame_max 8192, RabbitMQ's minimum: the properties, headers table included, must fit in 8,170 bytes.
    small = await amqp.connect(`${amqpUrl()!}?frameMax=8192`);
    small.on('error', () => undefined);
    small.on('close', () => (smallClosed = true));
  });
  afterAll(async () => {
    await connection?.close();
    if (!smallClosed) await small?.close();
  });
  beforeEach(() => {
    recorder = recordSpans();
  });
  afterEach(async () => {
    await recorder.shutdown();
  });
  const diagnostics = captureDiagEachTest();

  it('baggage that arrived with a message is left off when the handler republishes over a small frame, with a diag warning; the channel stays open', async () => {
    const inbound = traceChannel()(await connection.createChannel());
    const outbound = traceChannel()(await small.createChannel());
    const first = `tracebus.faults.limits.in.${run}`;
    const second = `tracebus.faults.limits.out.${run}`;
    await inbound.assertQueue(first, { exclusive: true });
    await outbound.assertQueue(second, { exclusive: true });
    const arrived: ConsumeMessage[] = [];
    await outbound.consume(second, (message) => {
      if (message === null) return;
      arrived.push(message);
      outbound.ack(message);
    });
    let handlerBaggage: Record<string, string> = {};
    await inbound.consume(first, (message, trace) => {
      if (message === null) return;
      handlerBaggage = { ...trace.baggage };
      // Published in the handler's context, whose baggage came with the message.
      outbound.sendToQueue(second, message.content, { headers: { 'x-app': 'kept' } });
      inbound.ack(message);
    });

    // 64 members of 127 bytes: 8,191 bytes, within W3C Baggage's 8192, so all of it is
    // extracted and would travel on; the small frame has room for 8,170 bytes of properties.
    const entries = Object.fromEntries(Array.from({ length: 64 }, (_, index) => [`k${String(index).padStart(2, '0')}`, { value: 'v'.repeat(123) }]));
    await context.with(propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage(entries)), async () => {
      inbound.sendToQueue(first, Buffer.from('heavy'));
    });
    await waitFor(() => arrived.length === 1, 'the republished message', 20_000);

    expect(Object.keys(handlerBaggage)).toHaveLength(64);
    const spans = recorder.spans();
    const onward = findSpan(spans, `send ${second}`);
    expect(arrived[0]!.content.toString()).toBe('heavy');
    expect(arrived[0]!.properties.headers).toEqual({ 'x-app': 'kept', traceparent: `00-${onward.spanContext().traceId}-${onward.spanContext().spanId}-01` });
    expect(headerGetter.get(arrived[0]!.properties.headers, 'baggage')).toBeUndefined();
    expect(onward.attributes['tracebus.rabbitmq.dropped_headers']).toEqual(['baggage']);
    expect(onward.parentSpanContext?.spanId).toBe(findSpan(spans, `process ${first}`).spanContext().spanId);
    expect(diagnostics.warnings.filter((warning) => warning.includes('left baggage off a message'))).toHaveLength(1);
    // The connection with the small frame is still open and usable.
    expect(smallClosed).toBe(false);
    await expect(outbound.checkQueue(second)).resolves.toMatchObject({ queue: second });
    await inbound.close();
    await outbound.close();
  });
});
