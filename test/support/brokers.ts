/**
 * Vitest global setup for the integration project: finds or starts a real Kafka broker
 * and a real RabbitMQ, and hands their addresses to the tests (`inject('kafkaBrokers')`,
 * `inject('amqpUrl')`).
 *
 * Each broker comes from the first of these that works:
 *   1. the environment: KAFKA_BROKERS (comma-separated host:port), AMQP_URL;
 *   2. testcontainers, when a container runtime answers;
 *   3. this machine: Kafka from Apache's jars (scripts/kafka/kafka.sh), RabbitMQ from
 *      the installed server (started with `rabbitmq-server -detached` if it is stopped).
 *
 * With CI=true a broker that cannot be had fails the run. Elsewhere its suites are
 * skipped with a warning.
 */
import { execFile } from 'node:child_process';
import { createConnection } from 'node:net';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string | undefined;
    amqpUrl: string | undefined;
  }
}

const run = promisify(execFile);
const inCi = process.env.CI === 'true' || process.env.CI === '1';
const KAFKA_IMAGE = 'confluentinc/cp-kafka:7.9.1';
const RABBITMQ_IMAGE = 'rabbitmq:3.13-management-alpine';
const LOCAL_AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

type Stop = () => Promise<unknown>;

async function containerRuntimeWorks(timeoutMs = 5_000): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([getContainerRuntimeClient(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref())]);
    return true;
  } catch {
    return false;
  }
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

async function kafka(docker: boolean): Promise<{ address: string; stop?: Stop; source: string }> {
  if (process.env.KAFKA_BROKERS) return { address: process.env.KAFKA_BROKERS, source: 'KAFKA_BROKERS' };
  if (docker) {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    const container = await new KafkaContainer(KAFKA_IMAGE).withKraft().start();
    return { address: `${container.getHost()}:${container.getMappedPort(9093)}`, stop: () => container.stop(), source: `testcontainers (${KAFKA_IMAGE})` };
  }
  await run('bash', ['scripts/kafka/kafka.sh', 'start'], { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 });
  return { address: '127.0.0.1:9092', stop: () => run('bash', ['scripts/kafka/kafka.sh', 'stop']), source: 'scripts/kafka/kafka.sh (Apache Kafka jars)' };
}

async function rabbitmq(docker: boolean): Promise<{ address: string; stop?: Stop; source: string }> {
  if (process.env.AMQP_URL) return { address: process.env.AMQP_URL, source: 'AMQP_URL' };
  if (docker) {
    const { RabbitMQContainer } = await import('@testcontainers/rabbitmq');
    const container = await new RabbitMQContainer(RABBITMQ_IMAGE).start();
    return { address: container.getAmqpUrl(), stop: () => container.stop(), source: `testcontainers (${RABBITMQ_IMAGE})` };
  }
  if (!(await amqpWorks(LOCAL_AMQP_URL))) {
    if (!(await portOpen('127.0.0.1', 5672))) await run('rabbitmq-server', ['-detached']);
    const deadline = Date.now() + 90_000;
    while (!(await amqpWorks(LOCAL_AMQP_URL))) {
      if (Date.now() > deadline) throw new Error(`RabbitMQ did not accept ${LOCAL_AMQP_URL} within 90 s`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
  return { address: LOCAL_AMQP_URL, source: 'local rabbitmq-server' };
}

export default async function setup(project: TestProject) {
  const docker = !process.env.KAFKA_BROKERS || !process.env.AMQP_URL ? await containerRuntimeWorks() : false;
  const stops: Stop[] = [];
  const problems: string[] = [];
  for (const [name, key, start] of [
    ['Kafka', 'kafkaBrokers', kafka],
    ['RabbitMQ', 'amqpUrl', rabbitmq],
  ] as const) {
    try {
      const broker = await start(docker);
      if (broker.stop) stops.push(broker.stop);
      project.provide(key, broker.address);
      console.log(`[brokers] ${name} at ${broker.address.replace(/\/\/[^@/]*@/, '//')} from ${broker.source}`);
    } catch (error) {
      project.provide(key, undefined);
      problems.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) {
    const message = `[brokers] no broker for: ${problems.join('; ')}`;
    if (inCi) {
      await Promise.allSettled(stops.map((stop) => stop()));
      throw new Error(`${message}. In CI a missing broker fails the run.`);
    }
    console.warn(`${message}. Their integration suites are skipped; set KAFKA_BROKERS / AMQP_URL or see DEVELOPERS.md.`);
  }
  return async () => {
    await Promise.allSettled(stops.map((stop) => stop()));
  };
}
