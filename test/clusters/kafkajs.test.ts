/**
 * Traces through what production Kafka clusters do, with kafkajs: a three-node KRaft cluster
 * of the test's own (test/support/kafka-cluster.ts), topics of six partitions replicated to
 * all three nodes with `min.insync.replicas=2`, an idempotent producer (`acks: -1`, one
 * request in flight) wrapped with `traceProducer()`, consumers wrapped with `traceConsumer()`.
 * Mid-stream, with 3000 messages each:
 *
 * - leader-kill: the leader of a partition is killed (SIGKILL), leadership moves, the node is
 *   restarted;
 * - member-kill: of a consumer group of two processes, one is killed; the other takes over
 *   its partitions and gets its uncommitted messages again (the duplicates);
 * - controller-kill: the active KRaft controller is killed, another is elected, the node is
 *   restarted.
 *
 * leader-kill runs with @confluentinc/kafka-javascript too (its own describe, skipped with the
 * reason outside CI when the client is not built; in CI a client that cannot load fails it).
 * The three-node cluster is started once for the file and stopped after it.
 *
 * After each: no message lost; every consumer span, redeliveries included, the child of the
 * producer span of its own message, with the exact parent span id the message carried; one
 * `traceparent` per message as delivered; no span left open in any process that survived;
 * the duplicates counted and printed. In CI the suite must run; elsewhere it is skipped, with
 * the reason, only when the cluster cannot be had here (no Java, or no jars and no Maven).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { traceConfluentConsumer, traceConfluentProducer } from '../../src/confluent-kafka/index.ts';
import { traceConsumer, traceProducer, type TracedConsumer } from '../../src/kafkajs/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { assigned, confluentKafka, confluentUnavailable } from '../support/confluent-kafka.ts';
import { allConsumed, eventually, messageIds, newSent, processedBy, sendFailed, tally, within, type Sent } from '../support/cluster-stream.ts';
import { deliveredContextProblems, headerValues, recoveredStreamProblems, type Delivery, type SpanView } from '../support/fault-checks.ts';
import { KafkaCluster, kafkaClusterUnavailable, type KafkaClusterNode } from '../support/kafka-cluster.ts';
import { groupJoined, subscribeWhenKnown } from '../support/kafka-topics.ts';
import { waitFor } from '../support/wait.ts';
import type { ExportedSpan } from './workers/kafkajs-consumer.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const unavailable = inCi ? undefined : kafkaClusterUnavailable();
if (unavailable !== undefined) console.warn(`[clusters-kafka] Kafka cluster tests skipped: ${unavailable}`);
const noConfluent = unavailable ?? confluentUnavailable;

const TOTAL = 3_000;
const PARTITIONS = 6;
/** Messages per `send` call; each gets a `create` span, whose context it carries. */
const BATCH = 10;
const KEY = 'kafka.message.key';
const WORKER = fileURLToPath(new URL('./workers/kafkajs-consumer.ts', import.meta.url));
const run = `${process.pid}.${Date.now().toString(36)}`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// kafkajs gives up on a send after about 2 s of retries (a failover takes longer); the test's loop then sends it again.
const PRODUCER_RETRY = { initialRetryTime: 100, maxRetryTime: 1_000, retries: 4 };
const CONSUMER_RETRY = { initialRetryTime: 100, maxRetryTime: 1_000, retries: 30 };
/** kafkajs is quiet unless TRACEBUS_KAFKA_LOG is set. */
const LOG_LEVEL = process.env.TRACEBUS_KAFKA_LOG ? logLevel.INFO : logLevel.NOTHING;

/** A delivery as a worker reports it: with the partition it came from. */
interface WorkerDelivery extends Delivery {
  partition: number;
}

/** A consumer group member in a child process (workers/kafkajs-consumer.ts), and what it has said so far. */
class ConsumerWorker {
  readonly child: ChildProcess;
  readonly deliveries: WorkerDelivery[] = [];
  readonly spans: ExportedSpan[] = [];
  readonly assignments: number[][] = [];
  readonly crashes: string[] = [];
  stopped: { open: number; error?: string } | undefined;
  stderr = '';
  /** Resolves when the process has exited and everything it wrote has been read. */
  readonly closed: Promise<void>;

  constructor(env: Record<string, string>) {
    this.child = spawn(process.execPath, [WORKER], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr = (this.stderr + chunk.toString()).slice(-4_000)));
    createInterface({ input: this.child.stdout! }).on('line', (line) => this.#read(line));
    this.closed = new Promise((resolve) => this.child.once('close', () => resolve()));
  }

  #read(line: string): void {
    let event: { type: string } & Record<string, unknown>;
    try {
      event = JSON.parse(line);
    } catch {
      return; // a line cut short by SIGKILL
    }
    if (event.type === 'delivery') this.deliveries.push(event as unknown as WorkerDelivery);
    else if (event.type === 'span') this.spans.push(event as unknown as ExportedSpan);
    else if (event.type === 'assigned') this.assignments.push(event.partitions as number[]);
    else if (event.type === 'crash') this.crashes.push(`${String(event.error)} (restart: ${String(event.restart)})`);
    else if (event.type === 'stopped') this.stopped = event as unknown as { open: number };
  }

  /** The partitions of its latest group join. */
  get assignment(): number[] {
    return [...(this.assignments.at(-1) ?? [])].sort((a, b) => a - b);
  }

  /** Its consumer spans, as the checks read spans. */
  processes(): SpanView[] {
    return this.spans.filter((span) => span.name.startsWith('process ')).map(spanView);
  }

  /** A worker started with PAUSED=1 starts consuming. */
  resume(): void {
    this.child.stdin!.write('resume\n');
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.closed;
  }

  /** SIGTERM: the worker leaves the group and reports its open spans. */
  async stop(): Promise<{ open: number; error?: string }> {
    this.child.kill('SIGTERM');
    await within(this.closed, 60_000, () => `the worker did not exit after SIGTERM; stderr: ${this.stderr}`);
    if (this.stopped === undefined) throw new Error(`the worker exited without reporting its open spans; stderr: ${this.stderr}`);
    return this.stopped;
  }
}

/** A span exported by a worker, with the members the checks read. */
function spanView(span: ExportedSpan): SpanView {
  const own = { traceId: span.traceId, spanId: span.spanId, traceFlags: 1 };
  const parent = span.parentSpanId === undefined ? undefined : { traceId: span.parentTraceId!, spanId: span.parentSpanId, traceFlags: 1 };
  return { name: span.name, attributes: span.attributes, parentSpanContext: parent, spanContext: () => own };
}

const cluster = new KafkaCluster();
let recorder: SpanRecorder;
/** What each test started, undone after it whether it passed or not (last first). */
const cleanups: Array<() => Promise<unknown> | void> = [];

beforeAll(async () => {
  if (unavailable === undefined) await cluster.start();
}, 600_000);
afterAll(async () => {
  if (unavailable === undefined) await cluster.stop();
}, 120_000);
beforeEach(() => {
  recorder = recordSpans();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.allSettled([cleanup()]);
  await recorder.shutdown();
});

/** One message as the producer loop sends it: its id as key and value, to a partition of the loop's choosing. */
interface OutgoingMessage {
  key: string;
  value: string;
  partition: number;
}

/** What a fault needs of a Kafka client, both traced by tracebus. */
interface TracedClient {
  /** A connected idempotent producer (acks=all); its send resolves once the messages are acknowledged. */
  producer(): Promise<(topic: string, messages: OutgoingMessage[]) => Promise<unknown>>;
  /** A consumer in this process, from the beginning of `topic`, recording each delivery; resolves once it has partitions. */
  consume(topic: string, deliveries: Delivery[], crashes: string[]): Promise<void>;
}

/** kafkajs: the producer idempotent with one request in flight, retries short enough that a failover outlasts them. */
function kafkajsClient(): TracedClient {
  const kafka = new Kafka({ clientId: 'tracebus-clusters', brokers: cluster.addresses, logLevel: LOG_LEVEL, retry: PRODUCER_RETRY });
  return {
    async producer() {
      const raw = kafka.producer({ idempotent: true, maxInFlightRequests: 1, retry: PRODUCER_RETRY });
      await raw.connect();
      cleanups.push(() => raw.disconnect());
      const producer = traceProducer({ brokers: cluster.addresses, clientId: 'tracebus-clusters' })(raw);
      return (topic, messages) => producer.send({ topic, acks: -1, messages });
    },
    // kafkajs restarts a consumer after a retriable crash itself; after any other, a new one
    // is started, as an application must.
    async consume(topic, deliveries, crashes) {
      const groupId = `${topic}.group`;
      const start = async (): Promise<void> => {
        const consumer: TracedConsumer = traceConsumer()(kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 200, retry: CONSUMER_RETRY }));
        cleanups.push(() => consumer.disconnect());
        consumer.on(consumer.events.CRASH, ({ payload }) => {
          crashes.push(`${payload.error.name}: ${payload.error.message} (restart: ${payload.restart})`);
          if (!payload.restart) void consumer.disconnect().then(start).catch((error: unknown) => crashes.push(`restart failed: ${String(error)}`));
        });
        const joined = groupJoined(consumer, 60_000);
        await consumer.connect();
        await subscribeWhenKnown(consumer, { topics: [topic], fromBeginning: true });
        await consumer.run({
          eachMessage: async ({ message }, trace) => {
            deliveries.push({ id: message.key!.toString(), traceparents: headerValues(message.headers?.traceparent), traceId: trace.traceId, spanId: trace.spanId });
          },
        });
        await joined;
      };
      await start();
    },
  };
}

/**
 * @confluentinc/kafka-javascript (librdkafka): the producer idempotent (librdkafka keeps order
 * with up to 5 requests in flight), a message that is not acknowledged within 10 s fails its
 * send, which the loop makes again.
 */
function confluentClient(): TracedClient {
  const kafka = confluentKafka('tracebus-clusters', cluster.addresses);
  const reconnect = { 'reconnect.backoff.ms': 100, 'reconnect.backoff.max.ms': 1_000 };
  return {
    async producer() {
      const raw = kafka.producer({ ...reconnect, 'enable.idempotence': true, acks: -1, 'linger.ms': 0, 'message.timeout.ms': 10_000 });
      await raw.connect();
      cleanups.push(() => raw.disconnect());
      const producer = traceConfluentProducer({ brokers: cluster.addresses, clientId: 'tracebus-clusters' })(raw);
      return (topic, messages) => producer.send({ topic, messages });
    },
    async consume(topic, deliveries) {
      const consumer = traceConfluentConsumer()(kafka.consumer({ ...reconnect, kafkaJS: { groupId: `${topic}.group`, fromBeginning: true, maxWaitTimeInMs: 100 } }));
      cleanups.push(() => consumer.disconnect());
      await consumer.connect();
      await consumer.subscribe({ topics: [topic] });
      await consumer.run({
        eachMessage: async ({ message }, trace) => {
          deliveries.push({ id: message.key!.toString(), traceparents: headerValues(message.headers?.traceparent), traceId: trace.traceId, spanId: trace.spanId });
        },
      });
      await assigned(consumer, 60_000);
    },
  };
}

/**
 * Sends the ids, each as the key and value of one message, BATCH messages per `send` call,
 * one call at a time. A call that fails after the client's retries is made again with the
 * same messages (at least once); `hold` pauses the loop before the message at that index
 * until the fault is over, so that messages flow before, during and after it.
 *
 * Each call goes to one partition, the partitions in turn: kafkajs 2.2.4 loses the messages
 * of a call that spans brokers when a partition's leadership moves, mid-retry, to a broker
 * that has already answered for its own partitions (it is not asked again, and `send`
 * resolves; tulios/kafkajs#1303). One partition per call is the way around it.
 */
async function produce(send: (topic: string, messages: OutgoingMessage[]) => Promise<unknown>, topic: string, ids: readonly string[], sent: Sent, hold?: { before: number; until: Promise<unknown> }): Promise<void> {
  for (let index = 0; index < ids.length; index += BATCH) {
    if (hold !== undefined && index === hold.before) await hold.until;
    const batch = ids.slice(index, index + BATCH);
    const partition = (index / BATCH) % PARTITIONS;
    for (;;) {
      sent.calls++;
      sent.attempts += batch.length;
      const began = Date.now();
      try {
        await send(topic, batch.map((id) => ({ key: id, value: id, partition })));
        break;
      } catch (error) {
        sendFailed(sent, error);
        await sleep(100);
      } finally {
        sent.longestCallMs = Math.max(sent.longestCallMs, Date.now() - began);
      }
    }
    sent.produced += batch.length;
  }
}

/** This process's producer spans: one `send` span per call, one `create` span per message sent. */
function producerSpans() {
  const spans = recorder.spans();
  return { sends: spans.filter((span) => span.name.startsWith('send ')), creates: spans.filter((span) => span.name.startsWith('create ')) };
}

/** Disconnects what the test started (consumers and producers), so that every span has ended before the checks. */
async function disconnectAll(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) await Promise.allSettled([cleanup()]);
}

/**
 * A node is killed with SIGKILL a third of the way through the stream; the next third is
 * sent while the cluster fails over (`failover` resolves with the node the role went to),
 * then the node is restarted and the last third follows. One consumer, in this process.
 */
async function nodeFault(client: TracedClient, fault: string, topic: string, victim: KafkaClusterNode, failover: () => Promise<KafkaClusterNode>) {
  const ids = messageIds(fault, TOTAL);
  const deliveries: Delivery[] = [];
  const crashes: string[] = [];
  await client.consume(topic, deliveries, crashes);
  const send = await client.producer();
  const sent = newSent();
  let release!: () => void;
  const recovered = new Promise<void>((resolve) => (release = resolve));
  const producing = produce(send, topic, ids, sent, { before: (2 * TOTAL) / 3, until: recovered });
  producing.catch(() => undefined);
  try {
    await waitFor(() => sent.produced >= TOTAL / 3, `${TOTAL / 3} messages produced`, 120_000);
    const atKill = { produced: sent.produced, consumed: deliveries.length };
    await cluster.kill(victim);
    const movedTo = await failover();
    await cluster.restart(victim);
    release();
    await within(producing, 180_000, () => `${sent.produced} of ${TOTAL} produced`);
    await waitFor(allConsumed(ids, deliveries), `all ${TOTAL} messages consumed`, 180_000).catch(async (error: Error) => {
      throw new Error(`${error.message} (${new Set(deliveries.map((delivery) => delivery.id)).size} were); ${await cluster.lag(topic, `${topic}.group`)}; consumer crashes ${JSON.stringify(crashes)}`);
    });
    await disconnectAll();
    return { ids, deliveries, sent, atKill, movedTo, crashes };
  } finally {
    release();
  }
}

/** The checks a node fault ends with: spans and deliveries all in this process. */
function expectTracesSurvived(label: string, result: Awaited<ReturnType<typeof nodeFault>>, details: string) {
  const { ids, deliveries, sent, atKill, crashes } = result;
  const { sends, creates } = producerSpans();
  const processes = recorder.spans().filter((span) => span.name.startsWith('process '));
  const open = recorder.openSpans();
  const { consumed, duplicates, lost } = tally(label, ids, sent, deliveries, open.length, `${details}; killed at ${atKill.produced} produced, ${atKill.consumed} consumed; consumer crashes ${JSON.stringify(crashes)}`);
  // Mid-stream: messages produced and consumed before the kill, and sent after it.
  expect(atKill.produced).toBeLessThan(TOTAL);
  expect(atKill.consumed).toBeGreaterThan(0);
  expect(sent.produced).toBe(TOTAL);
  expect(lost).toEqual([]);
  // One span per send call and per message sent, failed attempts included; one process span
  // per delivery, so duplicates in the spans are exactly the duplicates delivered.
  expect(sends.length).toBe(sent.calls);
  expect(creates.length).toBe(sent.attempts);
  expect(processes.length).toBe(consumed);
  expect(processes.length - new Set(processes.map((span) => span.attributes[KEY])).size).toBe(duplicates);
  const { counts, traces } = processedBy(deliveries);
  expect(recoveredStreamProblems(ids, counts, traces, creates, processes)).toEqual([]);
  expect(deliveredContextProblems(deliveries, processes, KEY)).toEqual([]);
  expect(open).toEqual([]);
}

/** leader-kill with `client`: the leader of a partition that is not the active controller is killed, then restarted. */
async function leaderKill(client: TracedClient, label: string): Promise<void> {
  const topic = await cluster.createTopic(`tracebus.clusters.leader.${label.replace(/\W+/g, '-')}.${run}`, PARTITIONS);
  const controller = await cluster.activeController();
  const led = (await cluster.partitions(topic)).find((partition) => partition.leader !== controller);
  expect(led, `a partition of ${topic} led by a node other than the active controller ${controller}`).toBeDefined();
  const victim = led!.leader as KafkaClusterNode;
  const result = await nodeFault(client, 'leader-kill', topic, victim, () =>
    eventually(async () => {
      const leader = await cluster.partitionLeader(topic, led!.partitionId);
      return leader === victim ? undefined : leader;
    }, `a leader of ${topic}-${led!.partitionId} other than the killed node ${victim}`),
  );
  expect(result.movedTo).not.toBe(victim);
  expectTracesSurvived(`kafka leader-kill (${label})`, result, `node ${victim} (leader of partition ${led!.partitionId}; active controller ${controller}) killed, leadership moved to node ${result.movedTo}, node restarted`);
}

describe.skipIf(unavailable !== undefined)('Kafka three-node KRaft cluster, kafkajs: traces through node, member and controller failures', () => {
  it('leader-kill: the leader of a partition (not the active controller) is killed and restarted; every message is consumed, in its producer span trace', async () => {
    await leaderKill(kafkajsClient(), 'kafkajs');
  });

  it('member-kill: one of two consumer processes is killed; the other takes over its partitions, redeliveries included, each in its producer span trace', async () => {
    const topic = await cluster.createTopic(`tracebus.clusters.member.${run}`, PARTITIONS);
    const env = { KAFKA_BROKERS: cluster.addresses.join(','), TOPIC: topic, GROUP_ID: `${topic}.group`, HANDLER_DELAY_MS: '2', PAUSED: '1' };
    const killed = new ConsumerWorker(env);
    cleanups.push(() => killed.kill());
    await waitFor(() => killed.assignment.length === PARTITIONS, 'the first worker to join', 60_000).catch((error: Error) => {
      throw new Error(`${error.message}; stderr: ${killed.stderr}`);
    });
    const survivor = new ConsumerWorker(env);
    cleanups.push(() => survivor.kill());
    // Both in the group, the partitions split between them.
    await waitFor(
      () => killed.assignment.length > 0 && survivor.assignment.length > 0 && new Set([...killed.assignment, ...survivor.assignment]).size === PARTITIONS && killed.assignment.length + survivor.assignment.length === PARTITIONS,
      'the partitions split between the two workers',
      60_000,
    );
    // A third of the messages wait for the group (a backlog, fetched in large batches); then
    // both members consume while the rest is sent.
    const ids = messageIds('member-kill', TOTAL);
    const sent = newSent();
    let release!: () => void;
    const consuming = new Promise<void>((resolve) => (release = resolve));
    const producing = produce(await kafkajsClient().producer(), topic, ids, sent, { before: TOTAL / 3, until: consuming });
    producing.catch(() => undefined);
    await waitFor(() => sent.produced >= TOTAL / 3, `${TOTAL / 3} messages produced`, 120_000).finally(release);
    killed.resume();
    survivor.resume();
    // Half its share of the backlog processed: it is killed in the middle of a batch, whose
    // offsets kafkajs commits when the whole batch is done.
    await waitFor(() => killed.deliveries.length >= TOTAL / 12, `${TOTAL / 12} messages consumed by the first worker`, 120_000);
    const atKill = { produced: sent.produced, killed: killed.deliveries.length, survivor: survivor.deliveries.length, partitions: killed.assignment };
    await killed.kill();
    await within(producing, 180_000, () => `${sent.produced} of ${TOTAL} produced`);
    await waitFor(allConsumed(ids, killed.deliveries, survivor.deliveries), `all ${TOTAL} messages consumed`, 180_000).catch(async (error: Error) => {
      throw new Error(`${error.message}; ${await cluster.lag(topic, env.GROUP_ID)}; survivor crashes ${JSON.stringify(survivor.crashes)}, stderr: ${survivor.stderr}`);
    });
    const { open } = await survivor.stop();
    await disconnectAll();

    const deliveries = [...killed.deliveries, ...survivor.deliveries];
    const { sends, creates } = producerSpans();
    const processes = [...killed.processes(), ...survivor.processes()];
    const inKilled = new Set(killed.deliveries.map((delivery) => delivery.id));
    const redelivered = survivor.deliveries.filter((delivery) => inKilled.has(delivery.id));
    const takenOver = survivor.deliveries.slice(atKill.survivor).filter((delivery) => atKill.partitions.includes(delivery.partition));
    const { duplicates, redelivered: sameRecord, lost } = tally(
      'kafka member-kill (kafkajs)',
      ids,
      sent,
      deliveries,
      open + recorder.openSpans().length,
      `consumer process killed with ${atKill.killed} messages consumed (partitions ${atKill.partitions.join(',')}; ${atKill.produced} produced), ` +
        `the survivor consumed ${takenOver.length} from them after the kill, ${redelivered.length} of them again; survivor crashes ${JSON.stringify(survivor.crashes)}`,
    );
    expect(atKill.produced).toBeLessThan(TOTAL);
    expect(sent.produced).toBe(TOTAL);
    expect(lost).toEqual([]);
    // The survivor took over every partition, and consumed from the killed member's after the kill.
    expect(survivor.assignment).toEqual(Array.from({ length: PARTITIONS }, (_, partition) => partition));
    expect(takenOver.length).toBeGreaterThan(0);
    // The duplicates are the killed member's uncommitted messages, each delivered once more, to the survivor.
    expect(new Set(killed.deliveries.map((delivery) => delivery.id)).size).toBe(killed.deliveries.length);
    expect(new Set(survivor.deliveries.map((delivery) => delivery.id)).size).toBe(survivor.deliveries.length);
    expect(redelivered.length).toBe(duplicates);
    expect(duplicates).toBeGreaterThan(0);
    // Redelivered records, not records written twice: each duplicate carries the traceparent its first delivery had.
    expect(sameRecord).toBe(duplicates);
    // Spans: one per send call and per message sent; every consumer span, in either process,
    // redeliveries included, a child of its own message's create span with the delivered
    // parent; the killed process may have been killed between a handler and its span's end.
    expect(sends.length).toBe(sent.calls);
    expect(creates.length).toBe(sent.attempts);
    const { counts, traces } = processedBy(deliveries);
    expect(recoveredStreamProblems(ids, counts, traces, creates, processes)).toEqual([]);
    expect(deliveredContextProblems(killed.deliveries, killed.processes(), KEY, 1)).toEqual([]);
    expect(deliveredContextProblems(survivor.deliveries, survivor.processes(), KEY)).toEqual([]);
    expect(survivor.processes().length).toBe(survivor.deliveries.length);
    expect(open).toBe(0);
    expect(recorder.openSpans()).toEqual([]);
  });

  it('controller-kill: the active KRaft controller is killed and restarted; another is elected, every message is consumed, in its producer span trace', async () => {
    const topic = await cluster.createTopic(`tracebus.clusters.controller.${run}`, PARTITIONS);
    const victim = await cluster.activeController();
    const result = await nodeFault(kafkajsClient(), 'controller-kill', topic, victim, () =>
      eventually(async () => {
        const controller = await cluster.activeController();
        return controller === victim ? undefined : controller;
      }, `an active controller other than the killed node ${victim}`),
    );
    expect(result.movedTo).not.toBe(victim);
    expectTracesSurvived('kafka controller-kill (kafkajs)', result, `active controller node ${victim} killed, node ${result.movedTo} elected, node restarted`);
  });
});

describe.skipIf(noConfluent !== undefined)('Kafka three-node KRaft cluster, @confluentinc/kafka-javascript: traces through a node failure', () => {
  it('leader-kill: the leader of a partition (not the active controller) is killed and restarted; every message is consumed, in its producer span trace', async () => {
    await leaderKill(confluentClient(), 'confluent-kafka');
  });
});
