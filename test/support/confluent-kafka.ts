/**
 * @confluentinc/kafka-javascript for the broker suites: its KafkaJS API when the native
 * addon is built (`bash scripts/clients/build-confluent.sh`), else the reason it is not.
 * With CI=true a client that cannot be had fails the run (its suites must not skip);
 * elsewhere they are skipped with the reason.
 */
import { createRequire } from 'node:module';
import type { KafkaJS } from '@confluentinc/kafka-javascript';

const require = createRequire(import.meta.url);
const inCi = process.env.CI === 'true' || process.env.CI === '1';

function load(): { api: typeof KafkaJS | undefined; unavailable: string | undefined } {
  try {
    return { api: (require('@confluentinc/kafka-javascript') as { KafkaJS: typeof KafkaJS }).KafkaJS, unavailable: undefined };
  } catch (error) {
    const reason = `@confluentinc/kafka-javascript does not load (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); build it with bash scripts/clients/build-confluent.sh`;
    if (inCi) throw new Error(`${reason}. In CI a missing client fails the run.`);
    return { api: undefined, unavailable: reason };
  }
}

const loaded = load();
/** The KafkaJS API of @confluentinc/kafka-javascript, or `undefined` outside CI when it is not built. */
export const confluent: typeof KafkaJS | undefined = loaded.api;
/** Why the client cannot be had here, or `undefined` when it can. */
export const confluentUnavailable: string | undefined = loaded.unavailable;
if (confluentUnavailable !== undefined) console.warn(`[confluent-kafka] suites skipped: ${confluentUnavailable}`);

/** A client of the KafkaJS API, quiet unless TRACEBUS_KAFKA_LOG is set. */
export function confluentKafka(clientId: string, brokers: string[]): KafkaJS.Kafka {
  const { Kafka, logLevel } = confluent!;
  return new Kafka({ kafkaJS: { clientId, brokers, logLevel: process.env.TRACEBUS_KAFKA_LOG ? logLevel.INFO : logLevel.NOTHING } });
}

/**
 * Resolves once `consumer` has partitions assigned: this client has no group-join event
 * (`consumer.on` throws "Not implemented"), so its assignment is polled.
 */
export async function assigned(consumer: Pick<KafkaJS.Consumer, 'assignment'>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (consumer.assignment().length > 0) return;
    } catch {
      // not connected yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no partitions assigned within ${timeoutMs} ms`);
}
