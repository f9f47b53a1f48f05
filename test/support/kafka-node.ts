/**
 * A Kafka broker of its own for the fault tests, which kill and restart it: the shared
 * broker the other suites use is never touched. It is `scripts/kafka/kafka.sh` on a port
 * of its own (`TRACEBUS_FAULT_KAFKA_PORT`, default 29392; the controller takes the next
 * port), with its data kept across `crash()` and `resume()`.
 *
 * @example
 * const broker = new KafkaNode();
 * await broker.start();
 * const kafka = new Kafka({ brokers: [broker.address] });
 * await broker.crash();   // SIGKILL
 * await broker.resume();  // same data
 * await broker.stop();
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../scripts/kafka/kafka.sh', import.meta.url));
const VERSION = process.env.KAFKA_VERSION ?? '3.9.2';

function onPath(command: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((directory) => directory !== '' && existsSync(join(directory, command)));
}

/** Why a dedicated broker cannot be started on this machine, or `undefined` when it can. */
export function kafkaNodeUnavailable(): string | undefined {
  if (!onPath('java')) return 'no java on the PATH (scripts/kafka/kafka.sh runs Apache Kafka from its jars)';
  const cache = process.env.KAFKA_LOCAL_DIR ?? join(homedir(), '.cache', 'tracebus-kafka');
  if (!existsSync(join(cache, `libs-${VERSION}`, `kafka_2.13-${VERSION}.jar`)) && !onPath('mvn')) return 'no Kafka jars cached and no mvn on the PATH to fetch them';
  return undefined;
}

export class KafkaNode {
  readonly port: number;
  readonly address: string;

  constructor(port = Number(process.env.TRACEBUS_FAULT_KAFKA_PORT ?? 29_392)) {
    this.port = port;
    this.address = `127.0.0.1:${port}`;
  }

  async #script(command: 'start' | 'stop' | 'crash' | 'resume' | 'status'): Promise<string> {
    const { stdout } = await run('bash', [SCRIPT, command], { env: { ...process.env, KAFKA_PORT: String(this.port) }, timeout: 600_000, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  }

  /** Starts a broker on fresh data; one left on this port by an earlier, killed run is stopped first. */
  async start(): Promise<void> {
    await this.#script('stop');
    await this.#script('start');
  }

  /** Kills the broker with SIGKILL, keeping its data. */
  async crash(): Promise<void> {
    await this.#script('crash');
  }

  /** Starts the broker again on the data it had and waits until it is ready. */
  async resume(): Promise<void> {
    await this.#script('resume');
  }

  /** Kills the broker, leaves it down for `downMs`, and starts it again on its data. */
  async crashAndResume(downMs = 2_000): Promise<void> {
    await this.crash();
    await new Promise((resolve) => setTimeout(resolve, downMs));
    await this.resume();
  }

  /** Stops the broker (no-op when it is not running). */
  async stop(): Promise<void> {
    await this.#script('stop');
  }
}
