/**
 * Vitest global setup for the integration project: finds or starts a real Kafka broker
 * and a real RabbitMQ, and hands their addresses to the tests (`inject('kafkaBrokers')`,
 * `inject('amqpUrl')`).
 *
 * Each broker comes from the first of these that works (scripts/brokers/provision.ts, which
 * the benchmarks use too):
 *   1. the environment: KAFKA_BROKERS (comma-separated host:port), AMQP_URL;
 *   2. testcontainers, when a container runtime answers;
 *   3. this machine: Kafka from Apache's jars (scripts/kafka/kafka.sh), RabbitMQ from
 *      the installed server (started with `rabbitmq-server -detached` if it is stopped).
 *
 * With CI=true a broker that cannot be had fails the run. Elsewhere its suites are
 * skipped with a warning.
 */
import type { TestProject } from 'vitest/node';
import { containerRuntimeWorks, provideKafka, provideRabbitMQ } from '../../scripts/brokers/provision.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string | undefined;
    amqpUrl: string | undefined;
  }
}

const inCi = process.env.CI === 'true' || process.env.CI === '1';

type Stop = () => Promise<unknown>;

export default async function setup(project: TestProject) {
  const docker = !process.env.KAFKA_BROKERS || !process.env.AMQP_URL ? await containerRuntimeWorks() : false;
  const stops: Stop[] = [];
  const problems: string[] = [];
  for (const [name, key, start] of [
    ['Kafka', 'kafkaBrokers', provideKafka],
    ['RabbitMQ', 'amqpUrl', provideRabbitMQ],
  ] as const) {
    try {
      const broker = await start({ containers: docker });
      stops.push(broker.stop);
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
