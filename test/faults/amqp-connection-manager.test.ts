/**
 * amqp-connection-manager with the broker restarted mid-stream: the ChannelWrapper
 * reconnects, runs its setup functions again, registers its consumers again and sends what
 * was published while the broker was away. Tracing must follow it: every message processed,
 * every processing span a child of its own message's send span (exact parent ids), the
 * messages published during the outage carrying the context they were published in.
 *
 * The restart runs against a RabbitMQ node of its own (test/support/rabbitmq-node.ts), so
 * the shared broker is never stopped. In CI it must run; elsewhere it is skipped, with the
 * reason, only when no RabbitMQ installation is found.
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { Channel, ConsumeMessage } from 'amqplib';
import amqp from 'amqp-connection-manager';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { traceChannelWrapper } from '../../src/amqp-connection-manager/index.ts';
import { traceChannel, type TracedChannel } from '../../src/amqplib/index.ts';
import type { MessageTrace } from '../../src/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { notInProducersTrace } from '../support/fault-checks.ts';
import { rabbitmqNodeUnavailable } from '../support/rabbitmq-node.ts';
import { restartSuite } from '../support/restart-suite.ts';
import { waitFor } from '../support/wait.ts';

const inCi = process.env.CI === 'true' || process.env.CI === '1';
const noNode = inCi ? undefined : rabbitmqNodeUnavailable();
if (noNode !== undefined) console.warn(`[faults-amqp-connection-manager] RabbitMQ restart test skipped: ${noNode}`);

const run = `${process.pid}.${Date.now().toString(36)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What one consumer saw: deliveries per message id, the ids acked, the traces its handler ran in. */
class Seen {
  readonly processed = new Map<string, number>();
  readonly acked = new Set<string>();
  readonly traces = new Map<string, Set<string>>();
  inFlight = 0;

  /** Slow work (10 at a time, 50 a second), so that deliveries are unacknowledged when the broker goes away; then `ack`. */
  async handle(message: ConsumeMessage, trace: MessageTrace, ack: () => void): Promise<void> {
    const id = message.properties.messageId as string;
    this.processed.set(id, (this.processed.get(id) ?? 0) + 1);
    this.traces.set(id, (this.traces.get(id) ?? new Set()).add(trace.traceId));
    this.inFlight++;
    try {
      await sleep(200);
      ack();
      this.acked.add(id);
    } finally {
      this.inFlight--;
    }
  }
}

describe.skipIf(noNode !== undefined)('RabbitMQ restarted under amqp-connection-manager', () => {
  const suite = restartSuite({ name: 'tracebus-faults-acm@localhost', port: 5674 });

  it('0 messages lost, those published during the outage included; every process span a child of its message send span, on both kinds of consumer', async () => {
    const TOTAL = 300;
    const viaConsume = `tracebus.faults.acm.consume.${run}`;
    const viaSetup = `tracebus.faults.acm.setup.${run}`;
    const ids = Array.from({ length: TOTAL }, (_, index) => `m-${String(index).padStart(3, '0')}`);
    const options = { reconnectTimeInSeconds: 0.2, heartbeatIntervalInSeconds: 5 };

    // The consuming application: one wrapper consumes with its own `consume`, the other
    // starts its consumer in a setup function that traces the channel itself, as code
    // written for plain amqplib does.
    const consumerConnection = amqp.connect([suite.node().url], options);
    consumerConnection.on('connectFailed', () => undefined);
    const first = new Seen();
    const second = new Seen();
    let connects = 0;
    const consuming = traceChannelWrapper()(
      consumerConnection.createChannel({
        confirm: false,
        setup: async (channel: Channel) => {
          await channel.assertQueue(viaConsume, { durable: true });
          await channel.prefetch(10);
        },
      }),
    );
    consuming.on('connect', () => connects++);
    consuming.on('error', () => undefined);
    // On a channel the restart closed, the wrapper's ack does nothing: the broker delivers the message again.
    await consuming.consume(viaConsume, (message: ConsumeMessage, trace: MessageTrace) => first.handle(message, trace, () => consuming.ack(message)));
    const setupConsumer = traceChannelWrapper()(
      consumerConnection.createChannel({
        confirm: false,
        setup: async (raw: Channel) => {
          const channel: TracedChannel<Channel> = traceChannel()(raw);
          await channel.assertQueue(viaSetup, { durable: true });
          await channel.prefetch(10);
          // On a channel the restart closed, ack throws: tracebus records the failure and the broker delivers it again.
          await channel.consume(viaSetup, (message, trace) => (message === null ? undefined : second.handle(message, trace, () => channel.ack(message))));
        },
      }),
    );
    setupConsumer.on('error', () => undefined);

    // The publishing application.
    const publisherConnection = amqp.connect([suite.node().url], options);
    publisherConnection.on('connectFailed', () => undefined);
    const publisher = traceChannelWrapper()(
      publisherConnection.createChannel({
        setup: async (channel: Channel) => {
          await channel.assertQueue(viaConsume, { durable: true });
          await channel.assertQueue(viaSetup, { durable: true });
        },
      }),
    );
    publisher.on('error', () => undefined);
    let publisherConnects = 0;
    publisher.on('connect', () => publisherConnects++);
    const publishOne = (id: string) =>
      Promise.all([viaConsume, viaSetup].map((queue) => publisher.sendToQueue(queue, Buffer.from(id), { messageId: id, persistent: true })));
    const publishAll = (from: number, to: number) => Promise.all(ids.slice(from, to).map(publishOne));

    let atStop = { processed: 0, inFlight: 0 };
    try {
      await Promise.all([consuming.waitForConnect(), setupConsumer.waitForConnect(), publisher.waitForConnect()]);
      await publishAll(0, 100);
      await waitFor(() => first.processed.size >= 30 && second.processed.size >= 30, 'the first 30 messages on each queue', 30_000);

      atStop = { processed: Math.min(first.processed.size, second.processed.size), inFlight: first.inFlight + second.inFlight };
      await suite.node().stop();
      await waitFor(() => !publisherConnection.isConnected() && !consumerConnection.isConnected(), 'both applications to see the broker gone', 30_000);
      // Published while the broker is down: the wrapper queues them, and their promises wait.
      const duringOutage = publishAll(100, 200);
      await sleep(1_000);
      await suite.node().resume();
      await duringOutage;
      await publishAll(200, TOTAL);
      await waitFor(() => first.acked.size === TOTAL && second.acked.size === TOTAL, `all ${TOTAL} messages processed and acked on both queues`, 90_000);
      await waitFor(() => first.inFlight === 0 && second.inFlight === 0, 'the handlers to return');
    } finally {
      await consumerConnection.close();
      await publisherConnection.close();
    }

    const spans = suite.recorder().spans();
    const named = (name: string) => spans.filter((span) => span.name === name);
    const errors = (list: readonly ReadableSpan[]) => list.filter((span) => span.status.code === 2).length;
    const report = [viaConsume, viaSetup].map((queue, index) => {
      const seen = index === 0 ? first : second;
      const duplicates = [...seen.processed.values()].filter((count) => count > 1).length;
      return `${index === 0 ? 'consume' : 'setup'}: ${named(`send ${queue}`).length} send spans, ${named(`process ${queue}`).length} process spans (${errors(named(`process ${queue}`))} with errors), ${duplicates} messages processed more than once`;
    });
    console.log(`[faults-amqp-connection-manager] restart with ${atStop.processed} messages delivered and ${atStop.inFlight} being handled: ${TOTAL} messages a queue; ${report.join('; ')}; consumer wrapper connected ${connects}×, publisher ${publisherConnects}×`);

    // The restart came mid-stream, and the wrappers reconnected.
    expect(atStop.inFlight).toBeGreaterThan(0);
    expect(atStop.processed).toBeLessThan(100);
    expect(connects).toBeGreaterThanOrEqual(2);
    expect(publisherConnects).toBeGreaterThanOrEqual(2);
    for (const [queue, seen] of [
      [viaConsume, first],
      [viaSetup, second],
    ] as const) {
      // Nothing lost: every message acked.
      expect([...seen.acked].sort()).toEqual(ids);
      const sends = named(`send ${queue}`);
      const processes = named(`process ${queue}`);
      // One send span per message (a message sent again after the reconnect keeps its span), ended at its confirm, none failed.
      expect(sends.map((span) => span.attributes['messaging.message.id']).sort()).toEqual(ids);
      expect(errors(sends)).toBe(0);
      // Every delivery's span is a child of the send span of that very message…
      expect(new Set(processes.map((span) => span.attributes['messaging.message.id']))).toEqual(new Set(ids));
      expect(notInProducersTrace(sends, processes, 'messaging.message.id')).toEqual([]);
      // …traced once (a process span inside another would be tracing twice)…
      const processIds = new Set(processes.map((span) => span.spanContext().spanId));
      expect(processes.filter((span) => processIds.has(span.parentSpanContext?.spanId ?? ''))).toEqual([]);
      // …and the handler ran in that trace.
      const traceOfSend = new Map(sends.map((span) => [span.attributes['messaging.message.id'], span.spanContext().traceId]));
      for (const [id, traceIds] of seen.traces) expect([...traceIds], id).toEqual([traceOfSend.get(id)]);
      // The messages published during the outage say so, and show the wait on their spans.
      const outage = new Set(ids.slice(100, 200));
      for (const span of sends) {
        const during = outage.has(span.attributes['messaging.message.id'] as string);
        expect(span.attributes['tracebus.rabbitmq.queued_while_disconnected'], String(span.attributes['messaging.message.id'])).toBe(during);
        // Queued when published, written to the channel once the wrapper had one again.
        if (during) expect(span.events.map((event) => event.name).slice(0, 2)).toEqual(['tracebus.rabbitmq.queued', 'tracebus.rabbitmq.sent']);
      }
    }
    expect(suite.recorder().openSpans()).toEqual([]);
  }, 240_000);
});
