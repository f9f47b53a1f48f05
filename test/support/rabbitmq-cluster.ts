/**
 * A local RabbitMQ cluster of three nodes for the cluster tests, which kill and restart its
 * nodes: `scripts/rabbitmq/cluster.sh` (see its header), whose nodes are nodes of their own
 * (`scripts/rabbitmq/node.sh`) sharing one Erlang cookie, with nodes 2 and 3 joined to node 1.
 * The shared node (`rabbit@…` on 5672) is never touched.
 *
 * Names, ports and the directory come from the options, else from the environment the script
 * reads (`TRACEBUS_RABBITMQ_CLUSTER_NAME`, `_PORT`, `_DIST_PORT`, `_DIR`), else its defaults:
 * `tracebus-c1@localhost` … `tracebus-c3@localhost` on 127.0.0.1:5691, 5692 and 5693.
 *
 * @example
 * const cluster = new RabbitMQCluster();
 * await cluster.start();
 * const connection = await amqp.connect(cluster.urls[0]);
 * const leader = await cluster.queueLeader('orders');  // 1, 2 or 3
 * await cluster.kill(leader);     // SIGKILL
 * await cluster.restart(leader);  // same database; back in the cluster
 * await cluster.stop();
 */
import { fileURLToPath } from 'node:url';
import { rabbitmqNodeUnavailable, runRabbitMQScript } from './rabbitmq-node.ts';

const SCRIPT = fileURLToPath(new URL('../../scripts/rabbitmq/cluster.sh', import.meta.url));

export interface RabbitMQClusterOptions {
  /** Node names are `<name><n>@localhost`. Default `tracebus-c`. */
  name?: string;
  /** AMQP port of node 1 on 127.0.0.1; node n listens on `port + n - 1`. Default 5691. */
  port?: number;
  /** Erlang distribution port of node 1; node n uses `distPort + n - 1`. Default 25691. */
  distPort?: number;
}

/** Why a local cluster cannot be started on this machine, or `undefined` when it can. */
export function rabbitmqClusterUnavailable(): string | undefined {
  return rabbitmqNodeUnavailable();
}

const SIZE = 3;

export class RabbitMQCluster {
  /** Erlang node names, node 1 first. */
  readonly names: readonly string[];
  /** AMQP URLs (guest/guest), node 1 first. */
  readonly urls: readonly string[];
  readonly #env: Record<string, string>;

  constructor(options: RabbitMQClusterOptions = {}) {
    const env = process.env;
    const { name = env.TRACEBUS_RABBITMQ_CLUSTER_NAME ?? 'tracebus-c', port = Number(env.TRACEBUS_RABBITMQ_CLUSTER_PORT ?? 5691), distPort = Number(env.TRACEBUS_RABBITMQ_CLUSTER_DIST_PORT ?? 25_691) } = options;
    const nodes = Array.from({ length: SIZE }, (_, index) => index + 1);
    this.names = nodes.map((n) => `${name}${n}@localhost`);
    this.urls = nodes.map((n) => `amqp://guest:guest@127.0.0.1:${port + n - 1}`);
    this.#env = {
      TRACEBUS_RABBITMQ_CLUSTER_NAME: name,
      TRACEBUS_RABBITMQ_CLUSTER_SIZE: String(SIZE),
      TRACEBUS_RABBITMQ_CLUSTER_PORT: String(port),
      TRACEBUS_RABBITMQ_CLUSTER_DIST_PORT: String(distPort),
    };
  }

  #script(...args: string[]): Promise<string> {
    return runRabbitMQScript(SCRIPT, args, this.#env, 300_000);
  }

  #check(n: number): string {
    if (!Number.isInteger(n) || n < 1 || n > SIZE) throw new RangeError(`RabbitMQCluster: no node ${n}; nodes are 1 to ${SIZE}`);
    return String(n);
  }

  /** Starts every node on a fresh database (stopping ones left running), joins them, and waits until all are up in the cluster. */
  async start(): Promise<void> {
    await this.#script('start');
  }

  /** Stops every node; no-op for nodes that are down. */
  async stop(): Promise<void> {
    await this.#script('stop');
  }

  /** Kills node `n` (1-based) with SIGKILL; its database stays. */
  async kill(n: number): Promise<void> {
    await this.#script('kill', this.#check(n));
  }

  /** Starts node `n` again on its database and waits until it is back in the cluster. */
  async restart(n: number): Promise<void> {
    await this.#script('restart', this.#check(n));
  }

  /** The node (1-based) that leads the quorum queue `queue`, as a node that is up reports it. */
  async queueLeader(queue: string): Promise<number> {
    const leader = (await this.#script('leader', queue)).trim();
    const n = this.names.indexOf(leader) + 1;
    if (n === 0) throw new Error(`RabbitMQCluster: ${queue} is led by '${leader}', not a node of this cluster`);
    return n;
  }

  /** The nodes (1-based, ascending) on which the quorum queue `queue` has a member that is up, as node `from` reports it. */
  async queueOnline(queue: string, from: number): Promise<number[]> {
    const rows = await this.#script('ctl', this.#check(from), '-q', 'list_queues', '--no-table-headers', 'name', 'online');
    // One row per queue: `<name>\t[<node>, <node>, …]`.
    const row = rows.split('\n').find((line) => line.split('\t')[0] === queue);
    if (row === undefined) throw new Error(`RabbitMQCluster: node ${from} lists no queue ${queue}`);
    const online = new Set(row.split('\t')[1]!.replace(/[[\]\s]/g, '').split(','));
    return this.names.flatMap((name, index) => (online.has(name) ? [index + 1] : []));
  }
}
