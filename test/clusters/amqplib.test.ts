/**
 * RabbitMQ cluster: the node that leads a quorum queue is killed with SIGKILL mid-stream,
 * then restarted, while a traced confirm-channel publisher and a traced consumer (amqplib,
 * `traceChannel()`) go on through the surviving nodes.
 *
 * The cluster is three local nodes of their own (test/support/rabbitmq-cluster.ts,
 * scripts/rabbitmq/cluster.sh); the shared broker is never touched. Both clients start on the
 * leader's node, so that the kill takes their connections: each reconnects to a surviving
 * node (test/support/amqplib-reconnecting.ts), the publisher sends again what the broker did
 * not confirm (at-least-once), and the broker delivers again, flagged `redelivered`, what the
 * consumer had not acknowledged. In CI the suite must run; elsewhere it is skipped, with the
 * reason, only when no RabbitMQ installation is found.
 */
import amqp, { type Channel, type ConfirmChannel } from 'amqplib';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ATTR_RABBITMQ_REDELIVERED } from '../../src/amqplib/attributes.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { publishUntilConfirmed, Reconnecting } from '../support/amqplib-reconnecting.ts';
import { amqpDeliveryOf, deliveryProblems, notInProducersTrace, type AmqpDelivery } from '../support/fault-checks.ts';
import { RabbitMQCluster, rabbitmqClusterUnavailable } from '../support/rabbitmq-cluster.ts';
import { waitFor } from '../support/wait.ts';

const inCi = process.env.CI === 'true' || process.env.CI === '1';
const noCluster = inCi ? undefined : rabbitmqClusterUnavailable();
if (noCluster !== undefined) console.warn(`[clusters-amqplib] RabbitMQ cluster test skipped: ${noCluster}`);

const run = `${process.pid}.${Date.now().toString(36)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Messages in all; the leader is killed once this many are confirmed. */
const TOTAL = 3000;
const KILL_AT = 1000;
/** Published before the killed node is back (more if the publisher has not reconnected by then); the rest after it has rejoined. */
const BEFORE_REJOIN = 2000;

describe.skipIf(noCluster !== undefined)('RabbitMQ cluster: the leader of a quorum queue killed mid-stream', () => {
  let cluster: RabbitMQCluster;
  let recorder: SpanRecorder;
  beforeAll(async () => {
    cluster = new RabbitMQCluster();
    await cluster.start();
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  beforeEach(() => {
    recorder = recordSpans();
  });
  afterEach(async () => {
    await recorder.shutdown();
  });

  it('every message is processed at least once, each delivery, redeliveries included, in the trace of its own send span and flagged as the broker flagged it', async () => {
    const queue = `tracebus.clusters.quorum.${run}`;
    const ids = Array.from({ length: TOTAL }, (_, index) => `q-${String(index).padStart(4, '0')}`);

    // A quorum queue with a member on each node, declared on node 1.
    const admin = await amqp.connect(cluster.urls[0]!);
    await (await admin.createChannel()).assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-quorum-initial-group-size': 3 } });
    await admin.close();
    expect(await cluster.queueOnline(queue, 1)).toEqual([1, 2, 3]);
    const leader = await cluster.queueLeader(queue);
    // The leader's node first, then the others in turn.
    const urls = [0, 1, 2].map((step) => cluster.urls[(leader - 1 + step) % 3]!);

    const deliveries: AmqpDelivery[] = [];
    const acked = new Set<string>();
    let inFlight = 0;
    const consumer = new Reconnecting<Channel>(
      urls,
      (connection) => connection.createChannel(),
      async (channel) => {
        await channel.prefetch(20);
        await channel.consume(queue, async (message, trace) => {
          if (message === null) return;
          const delivery = amqpDeliveryOf(message, trace);
          deliveries.push(delivery);
          inFlight++;
          try {
            // Some work, so that deliveries are unacknowledged when the node goes away.
            await sleep(20);
            // On a channel the kill closed, ack throws: the handler fails, tracebus records
            // it, and the broker delivers the message again.
            channel.ack(message);
            acked.add(delivery.id);
          } finally {
            inFlight--;
          }
        });
      },
    );
    const publisher = new Reconnecting<ConfirmChannel>(
      urls,
      (connection) => connection.createConfirmChannel(),
      async () => undefined,
    );
    let next = 0;
    let confirmed = 0;
    let resent = 0;
    const resentIds = new Set<string>();
    /**
     * Publishes the messages from `next` on while `more()` holds, 20 in flight without a
     * pause: each send is made as soon as one is confirmed, so that sends are under way
     * whenever the connection dies.
     */
    async function publishWhile(more: () => boolean): Promise<void> {
      const sender = async () => {
        while (next < TOTAL && more()) {
          const id = ids[next++]!;
          await publishUntilConfirmed(publisher, queue, Buffer.from(id), { messageId: id, persistent: true }, () => {
            resent++;
            resentIds.add(id);
          });
          confirmed++;
        }
      };
      await Promise.all(Array.from({ length: 20 }, sender));
    }

    let atKill = { confirmed: 0, delivered: 0, inFlight: 0 };
    let beforeRejoin = 0;
    let leaderAfter = 0;
    let onlineAfter: number[] = [];
    let restarted: Promise<void> | undefined;
    try {
      await Promise.all([consumer.start(), publisher.start()]);
      // Until the publisher has lost its connection and found another, at least.
      const outage = publishWhile(() => next < BEFORE_REJOIN || publisher.connections < 2);
      await waitFor(() => confirmed >= KILL_AT, `${KILL_AT} confirmed sends`, 120_000);
      atKill = { confirmed, delivered: deliveries.length, inFlight };
      await cluster.kill(leader);
      restarted = cluster.restart(leader);
      restarted.catch(() => undefined);
      await outage;
      beforeRejoin = next;
      // Asked of the surviving nodes (the killed one is still starting, or already back).
      leaderAfter = await cluster.queueLeader(queue);
      await restarted;
      await publishWhile(() => true);
      await waitFor(() => acked.size === TOTAL, `all ${TOTAL} messages processed and acked`, 120_000);
      onlineAfter = await cluster.queueOnline(queue, leaderAfter);
    } finally {
      await consumer.stop();
      await publisher.stop();
      // Settled before the cluster is stopped, so that a failed test leaves no node starting.
      await restarted?.catch(() => undefined);
    }
    await waitFor(() => inFlight === 0, 'the handlers to return');

    const spans = recorder.spans();
    const sends = spans.filter((span) => span.name === `send ${queue}`);
    const processes = spans.filter((span) => span.name === `process ${queue}`);
    const distinct = new Set(deliveries.map((delivery) => delivery.id)).size;
    const duplicates = deliveries.length - distinct;
    const redelivered = deliveries.filter((delivery) => delivery.redelivered).length;
    const lost = ids.filter((id) => !acked.has(id)).length;
    const open = recorder.openSpans().length;
    const name = (n: number) => cluster.names[n - 1];
    const why = new Map<string, number>();
    for (const span of sends.filter((candidate) => candidate.status.code === 2)) why.set(span.status.message ?? '', (why.get(span.status.message ?? '') ?? 0) + 1);
    console.log(
      `clusters: rabbitmq leader-kill: ${TOTAL} published (${resent} sends not confirmed and sent again, for ${resentIds.size} messages: ${[...why].map(([message, count]) => `${count}× ${message}`).join(', ')}), ${deliveries.length} consumed, ` +
        `${duplicates} duplicates (${redelivered} deliveries flagged redelivered), ${lost} lost, ${open} open spans; killed ${name(leader)} at ${atKill.confirmed} confirmed, ` +
        `${atKill.delivered} delivered, ${atKill.inFlight} being handled; ${beforeRejoin} published before it rejoined; leader then ${name(leaderAfter)}; consumer connected ${consumer.connections}× (${consumer.connectedTo.join(' ')}), ` +
        `publisher ${publisher.connections}× (${publisher.connectedTo.join(' ')}); ${processes.filter((span) => span.status.code === 2).length} process spans with errors`,
    );

    // The kill came mid-stream, took both clients' connections, and they went on elsewhere.
    expect(atKill.confirmed).toBeLessThan(beforeRejoin);
    expect(beforeRejoin).toBeLessThan(TOTAL);
    expect(leaderAfter).not.toBe(leader);
    expect(consumer.connections).toBeGreaterThanOrEqual(2);
    expect(publisher.connections).toBeGreaterThanOrEqual(2);
    expect(consumer.connectedTo[1]).not.toBe(urls[0]);
    expect(publisher.connectedTo[1]).not.toBe(urls[0]);
    // The restarted node is back in the cluster, with its member of the queue.
    expect(onlineAfter).toEqual([1, 2, 3]);

    // None lost: every message was processed and acked at least once.
    expect(lost).toBe(0);
    expect([...acked].sort()).toEqual(ids);
    // Every send ended, on the broker's confirm or on the failure that had it sent again.
    expect(resent).toBeGreaterThan(0);
    expect(sends).toHaveLength(TOTAL + resent);
    expect(sends.filter((span) => span.status.code === 2)).toHaveLength(resent);
    // One process span per delivery, each a child of the send span of its own message, in its
    // trace, named by the message's one traceparent, and flagged as the broker flagged it.
    expect(processes).toHaveLength(deliveries.length);
    expect(notInProducersTrace(sends, processes, 'messaging.message.id')).toEqual([]);
    expect(deliveryProblems(deliveries, processes, sends)).toEqual([]);
    // The kill left deliveries unacknowledged: the broker delivered them again, flagged.
    expect(redelivered).toBeGreaterThan(0);
    expect(processes.filter((span) => span.attributes[ATTR_RABBITMQ_REDELIVERED] === true)).toHaveLength(redelivered);
    // The spans count the duplicates the handler saw.
    expect(processes.length - new Set(processes.map((span) => span.attributes['messaging.message.id'])).size).toBe(duplicates);
    // A failed delivery (its ack met the closed channel) is on an ERROR span, and was delivered again.
    const deliveredTimes = new Map<string, number>();
    for (const delivery of deliveries) deliveredTimes.set(delivery.id, (deliveredTimes.get(delivery.id) ?? 0) + 1);
    for (const span of processes.filter((candidate) => candidate.status.code === 2)) {
      expect(deliveredTimes.get(span.attributes['messaging.message.id'] as string), String(span.attributes['messaging.message.id'])).toBeGreaterThan(1);
    }
    expect(open).toBe(0);
  });
});
