/**
 * A RabbitMQ node of its own for the fault tests, which stop, kill and restart it: the
 * shared node (`rabbit@…` on 5672) that the other suites use is never touched.
 *
 * It is `scripts/rabbitmq/node.sh` (see its header): the locally installed server (Debian's
 * `rabbitmq-server` package, or any install whose scripts are on the PATH) run as the
 * current user, with everything in one directory under the system temp dir: its own `HOME`
 * (so its own Erlang cookie, which `rabbitmqctl` then finds), config file, enabled-plugins
 * file, database and logs. Its database is kept across `stop()`/`kill()` and `resume()`,
 * as a restarted server keeps its disk; `destroy()` stops it and removes the directory.
 *
 * @example
 * const node = new RabbitMQNode();
 * await node.start();
 * const connection = await amqp.connect(node.url);
 * await node.restart();
 * await node.destroy();
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL('../../scripts/rabbitmq/node.sh', import.meta.url));

export interface RabbitMQNodeOptions {
  /** Erlang node name. Default `tracebus-faults@localhost`. */
  name?: string;
  /** AMQP port on 127.0.0.1. Default 5673. */
  port?: number;
  /** Erlang distribution port, for `rabbitmqctl` and other nodes. Default `port + 20000`. */
  distPort?: number;
  /** How long to wait for the node to accept AMQP connections. Default 90 s. */
  startTimeoutMs?: number;
}

/** Why a dedicated node cannot be started on this machine, or `undefined` when it can. */
export function rabbitmqNodeUnavailable(): string | undefined {
  // The places scripts/rabbitmq/node.sh looks in, in its order.
  const candidates = [process.env.RABBITMQ_SCRIPTS_DIR, '/usr/lib/rabbitmq/bin', ...(process.env.PATH ?? '').split(delimiter)];
  const found = candidates.some((directory) => directory !== undefined && directory !== '' && existsSync(join(directory, 'rabbitmq-server')) && existsSync(join(directory, 'rabbitmqctl')));
  return found ? undefined : 'no rabbitmq-server installation found (looked in RABBITMQ_SCRIPTS_DIR, /usr/lib/rabbitmq/bin and the PATH)';
}

/**
 * Runs one of the scripts in `scripts/rabbitmq` with bash and returns its stdout; a failure
 * throws with the script's stderr (a node that did not start adds the tail of its logs).
 */
export async function runRabbitMQScript(script: string, args: readonly string[], env: Record<string, string>, timeoutMs: number): Promise<string> {
  try {
    const { stdout } = await run('bash', [script, ...args], { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 });
    return stdout;
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: string; stdout?: string };
    throw new Error(`${script} ${args.join(' ')} failed: ${error instanceof Error ? error.message : String(error)}\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

export class RabbitMQNode {
  readonly name: string;
  readonly port: number;
  readonly distPort: number;
  readonly url: string;
  readonly directory: string;
  readonly #startTimeoutMs: number;

  constructor(options: RabbitMQNodeOptions = {}) {
    const { name = 'tracebus-faults@localhost', port = 5673, distPort = port + 20_000, startTimeoutMs = 90_000 } = options;
    const unavailable = rabbitmqNodeUnavailable();
    if (unavailable !== undefined) throw new Error(`RabbitMQNode: ${unavailable}`);
    this.name = name;
    this.port = port;
    this.distPort = distPort;
    this.url = `amqp://guest:guest@127.0.0.1:${port}`;
    this.directory = join(tmpdir(), `tracebus-rabbitmq-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}`);
    this.#startTimeoutMs = startTimeoutMs;
  }

  #script(command: 'start' | 'resume' | 'stop' | 'kill' | 'destroy'): Promise<string> {
    const env = {
      TRACEBUS_RABBITMQ_NODE: this.name,
      TRACEBUS_RABBITMQ_PORT: String(this.port),
      TRACEBUS_RABBITMQ_DIST_PORT: String(this.distPort),
      TRACEBUS_RABBITMQ_DIR: this.directory,
      TRACEBUS_RABBITMQ_START_TIMEOUT: String(Math.ceil(this.#startTimeoutMs / 1000)),
    };
    return runRabbitMQScript(SCRIPT, [command], env, this.#startTimeoutMs + 60_000);
  }

  /** Starts the node on a fresh database (stopping one of this name left running) and waits until it accepts AMQP connections. */
  async start(): Promise<void> {
    await this.#script('start');
  }

  /** Starts the node again on the database it had, as after a server restart. */
  async resume(): Promise<void> {
    await this.#script('resume');
  }

  /** Stops the whole node (the Erlang VM exits), as `systemctl stop` would; no-op when it is not running. */
  async stop(): Promise<void> {
    await this.#script('stop');
  }

  /** Kills the node's VM with SIGKILL, as a crash would; its database stays. */
  async kill(): Promise<void> {
    await this.#script('kill');
  }

  /** Stops the node and starts it again on the same database. */
  async restart(): Promise<void> {
    await this.stop();
    await this.resume();
  }

  /** Stops the node and removes its directory. */
  async destroy(): Promise<void> {
    await this.#script('destroy');
  }
}
