/**
 * Finds or starts a real Kafka broker and a real RabbitMQ. Shared by the integration
 * tests' global setup (test/support/brokers.ts) and the benchmarks (scripts/bench/run.ts),
 * so that both run against brokers found the same way.
 *
 * Each broker comes from the first of these that works:
 *   1. the environment: KAFKA_BROKERS (comma-separated host:port), AMQP_URL;
 *   2. testcontainers, when a container runtime answers;
 *   3. this machine: Kafka from Apache's jars (scripts/kafka/kafka.sh), RabbitMQ from
 *      the installed server (started with `rabbitmq-server -detached` if it is stopped).
 */
import { execFile } from 'node:child_process';
import { createConnection } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);
const KAFKA_IMAGE = 'confluentinc/cp-kafka:7.9.1';
const RABBITMQ_IMAGE = 'rabbitmq:3.13-management-alpine';
const LOCAL_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

export interface ProvidedBroker {
  /** Kafka: comma-separated bootstrap servers; RabbitMQ: an AMQP URL. */
  address: string;
  /** Stops what was started for this broker; does nothing for a broker that was found running. */
  stop: () => Promise<unknown>;
  /** Where the broker came from, for logs and reports. */
  source: string;
}

export interface ProvideOptions {
  /**
   * Whether testcontainers may be used. Left out, it is asked once per process (the
   * answer takes up to 5 s when no runtime is there).
   */
  containers?: boolean;
}

export interface ProvideKafkaOptions extends ProvideOptions {
  /**
   * Client port of a broker started from the local jars (default 9092). kafka.sh keeps one
   * broker per port, so a caller on another port neither reuses nor stops the tests' broker.
   */
  localPort?: number;
}

const nothingToStop = () => Promise.resolve();

/**
 * A broker from testcontainers, or `undefined` when its container does not start (an image that
 * cannot be pulled, a start that times out): the caller then goes on to this machine's broker.
 */
async function fromContainer(what: string, start: () => Promise<ProvidedBroker>): Promise<ProvidedBroker | undefined> {
  try {
    return await start();
  } catch (error) {
    process.stderr.write(`[brokers] ${what} from testcontainers failed (${error instanceof Error ? error.message : String(error)}); trying this machine's\n`);
    return undefined;
  }
}

let runtimeAnswer: Promise<boolean> | undefined;

/** Whether a container runtime answers within `timeoutMs`; asked once per process. */
export function containerRuntimeWorks(timeoutMs = 5_000): Promise<boolean> {
  return (runtimeAnswer ??= (async () => {
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      await Promise.race([getContainerRuntimeClient(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref())]);
      return true;
    } catch {
      return false;
    }
  })());
}

function portOpen(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function amqpWorks(url: string): Promise<boolean> {
  try {
    const amqp = await import('amqplib');
    const connection = await amqp.connect(url);
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

/** A Kafka broker: KAFKA_BROKERS, else a testcontainer, else one started from the local jars. */
export async function provideKafka(options: ProvideKafkaOptions = {}): Promise<ProvidedBroker> {
  if (process.env.KAFKA_BROKERS) return { address: process.env.KAFKA_BROKERS, stop: nothingToStop, source: 'KAFKA_BROKERS' };
  if (options.containers ?? (await containerRuntimeWorks())) {
    const provided = await fromContainer('Kafka', async () => {
      const { KafkaContainer } = await import('@testcontainers/kafka');
      // The module sets the transaction log's min ISR to 1 but not its replication factor, whose
      // default of 3 a single broker cannot meet: transactions would never find a coordinator.
      const container = await new KafkaContainer(KAFKA_IMAGE).withKraft().withEnvironment({ KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1' }).start();
      return { address: `${container.getHost()}:${container.getMappedPort(9093)}`, stop: () => container.stop(), source: `testcontainers (${KAFKA_IMAGE})` };
    });
    if (provided !== undefined) return provided;
  }
  const port = options.localPort;
  const env = port === undefined ? process.env : { ...process.env, KAFKA_PORT: String(port) };
  const { stdout } = await run('bash', ['scripts/kafka/kafka.sh', 'start'], { env, maxBuffer: 16 * 1024 * 1024, timeout: 600_000 });
  const source = `scripts/kafka/kafka.sh (Apache Kafka ${process.env.KAFKA_VERSION ?? '3.9.2'} jars)`;
  // A broker another run started (another checkout's tests, a benchmark) is used and left running:
  // stopping it would pull it from under that run.
  if (stdout.includes('already running')) return { address: `127.0.0.1:${port ?? 9092}`, stop: nothingToStop, source: `${source}, found running` };
  return { address: `127.0.0.1:${port ?? 9092}`, stop: () => run('bash', ['scripts/kafka/kafka.sh', 'stop'], { env }), source };
}

/** A RabbitMQ: AMQP_URL, else a testcontainer, else the local server (started if it is stopped, never stopped). */
export async function provideRabbitMQ(options: ProvideOptions = {}): Promise<ProvidedBroker> {
  if (process.env.AMQP_URL) return { address: process.env.AMQP_URL, stop: nothingToStop, source: 'AMQP_URL' };
  if (options.containers ?? (await containerRuntimeWorks())) {
    const provided = await fromContainer('RabbitMQ', async () => {
      const { RabbitMQContainer } = await import('@testcontainers/rabbitmq');
      const container = await new RabbitMQContainer(RABBITMQ_IMAGE).start();
      return { address: container.getAmqpUrl(), stop: () => container.stop(), source: `testcontainers (${RABBITMQ_IMAGE})` };
    });
    if (provided !== undefined) return provided;
  }
  if (!(await amqpWorks(LOCAL_AMQP_URL))) {
    if (!(await portOpen('127.0.0.1', 5672))) await run('rabbitmq-server', ['-detached']);
    const deadline = Date.now() + 90_000;
    while (!(await amqpWorks(LOCAL_AMQP_URL))) {
      if (Date.now() > deadline) throw new Error(`RabbitMQ did not accept ${LOCAL_AMQP_URL} within 90 s`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
  return { address: LOCAL_AMQP_URL, stop: nothingToStop, source: 'local rabbitmq-server' };
}
