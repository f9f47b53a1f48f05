/**
 * A three-node Kafka cluster (KRaft, every node a broker and a controller) for the cluster
 * tests, which kill and restart its nodes: `scripts/kafka/cluster.sh` on ports of its own
 * (`KAFKA_CLUSTER_BASE_PORT`, default 39092: clients on 39092-39094, controllers on
 * 39192-39194), with each node's data kept across `kill()` and `restart()`. Topics are
 * replicated to all three nodes with `min.insync.replicas=2`.
 *
 * @example
 * const cluster = new KafkaCluster();
 * await cluster.start();
 * const kafka = new Kafka({ brokers: cluster.addresses });
 * await cluster.createTopic('orders', 6);
 * const node = await cluster.partitionLeader('orders', 0);
 * await cluster.kill(node);     // SIGKILL
 * await cluster.restart(node);  // same data
 * await cluster.stop();
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Kafka, logLevel, type Admin, type PartitionMetadata } from 'kafkajs';
import { kafkaNodeUnavailable } from './kafka-node.ts';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../scripts/kafka/cluster.sh', import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The node numbers of the cluster, which are also its Kafka node ids. */
export const NODES = [1, 2, 3] as const;
export type KafkaClusterNode = (typeof NODES)[number];

/**
 * Why the cluster cannot be started on this machine, or `undefined` when it can: it runs
 * from the same jars as the single node of `kafka-node.ts`, so it needs the same.
 */
export function kafkaClusterUnavailable(): string | undefined {
  return kafkaNodeUnavailable();
}

export class KafkaCluster {
  readonly basePort: number;
  /** `host:port` of each node's client listener, node 1 first. */
  readonly addresses: string[];
  #admin: Admin | undefined;

  constructor(basePort = Number(process.env.KAFKA_CLUSTER_BASE_PORT ?? 39_092)) {
    this.basePort = basePort;
    this.addresses = NODES.map((node) => this.address(node));
  }

  /** The client address of one node. */
  address(node: KafkaClusterNode): string {
    return `127.0.0.1:${this.basePort + node - 1}`;
  }

  async #script(...args: string[]): Promise<string> {
    const { stdout } = await run('bash', [SCRIPT, ...args], { env: { ...process.env, KAFKA_CLUSTER_BASE_PORT: String(this.basePort) }, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  }

  /** An admin client of the cluster's own, for the metadata questions below. */
  async admin(): Promise<Admin> {
    if (this.#admin === undefined) {
      const admin = new Kafka({ clientId: 'tracebus-cluster-admin', brokers: this.addresses, logLevel: logLevel.NOTHING, retry: { initialRetryTime: 200, maxRetryTime: 2_000, retries: 20 } }).admin();
      await admin.connect();
      this.#admin = admin;
    }
    return this.#admin;
  }

  /** Starts the three nodes on fresh data; a cluster left on these ports by an earlier, killed run is stopped first. */
  async start(): Promise<void> {
    await this.#script('stop');
    await this.#script('start');
  }

  /** Stops every node (no-op for nodes not running). */
  async stop(): Promise<void> {
    await Promise.allSettled([this.#admin?.disconnect()]);
    this.#admin = undefined;
    await this.#script('stop');
  }

  /** Kills one node with SIGKILL, keeping its data. */
  async kill(node: KafkaClusterNode): Promise<void> {
    await this.#script('kill', String(node));
  }

  /** Starts a killed node again on its data and waits until it is ready. */
  async restart(node: KafkaClusterNode): Promise<void> {
    await this.#script('restart', String(node));
  }

  /** The node id of the active controller: the leader of the KRaft metadata quorum. */
  async activeController(): Promise<KafkaClusterNode> {
    const leader = Number((await this.#script('leader')).trim());
    if (!isNode(leader)) throw new Error(`the metadata quorum has no leader (LeaderId ${leader})`);
    return leader;
  }

  /** What the cluster's metadata says of each partition of `topic`. */
  async partitions(topic: string): Promise<PartitionMetadata[]> {
    const { topics } = await (await this.admin()).fetchTopicMetadata({ topics: [topic] });
    return [...(topics[0]?.partitions ?? [])].sort((a, b) => a.partitionId - b.partitionId);
  }

  /** The node that leads one partition of `topic` now. */
  async partitionLeader(topic: string, partition: number): Promise<KafkaClusterNode> {
    const leader = (await this.partitions(topic)).find((metadata) => metadata.partitionId === partition)?.leader;
    if (leader === undefined || !isNode(leader)) throw new Error(`${topic}-${partition} has no leader (${String(leader)})`);
    return leader;
  }

  /** Each partition's committed offset of `groupId` against its end, as text for a failure message. */
  async lag(topic: string, groupId: string): Promise<string> {
    try {
      const admin = await this.admin();
      const [ends, [committed]] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
      const at = new Map(committed?.partitions.map(({ partition, offset }) => [partition, offset]));
      const leaders = new Map((await this.partitions(topic)).map(({ partitionId, leader, isr }) => [partitionId, `leader ${leader}, isr ${isr.join(',')}`]));
      return `committed/end offsets of ${groupId}: ${ends
        .sort((a, b) => a.partition - b.partition)
        .map(({ partition, high }) => `${partition}: ${at.get(partition) ?? '?'}/${high} (${leaders.get(partition) ?? 'no metadata'})`)
        .join('; ')}`;
    } catch (error) {
      return `no offsets (${error instanceof Error ? error.message : String(error)})`;
    }
  }

  /**
   * Creates `topic` with `partitions` partitions on all three nodes and `min.insync.replicas=2`,
   * then waits until every partition has a leader and all three replicas in sync: kafkajs'
   * `waitForLeaders` only retries LEADER_NOT_AVAILABLE, which KRaft does not answer.
   */
  async createTopic(topic: string, partitions: number): Promise<string> {
    const admin = await this.admin();
    // A node restarted moments ago may still be fenced: creation then fails until it is back.
    for (let tries = 0; ; tries++) {
      try {
        await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 3, configEntries: [{ name: 'min.insync.replicas', value: '2' }] }], waitForLeaders: false });
        break;
      } catch (error) {
        if (tries >= 60) throw error;
        await sleep(500);
      }
    }
    await this.fullyReplicated(topic, partitions);
    return topic;
  }

  /** Waits until each of the `partitions` partitions of `topic` has a leader and three replicas in sync. */
  async fullyReplicated(topic: string, partitions: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no metadata';
    while (Date.now() < deadline) {
      try {
        const metadata = await this.partitions(topic);
        last = JSON.stringify(metadata.map(({ partitionId, leader, isr }) => ({ partitionId, leader, isr })));
        if (metadata.length === partitions && metadata.every((partition) => partition.leader >= 0 && partition.isr.length === 3)) return;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      await sleep(200);
    }
    throw new Error(`${topic} is not fully replicated after ${timeoutMs} ms: ${last}`);
  }
}

function isNode(id: number): id is KafkaClusterNode {
  return (NODES as readonly number[]).includes(id);
}
