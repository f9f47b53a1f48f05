/**
 * A RabbitMQ node of its own for the fault tests, which stop and restart it: the shared
 * node (`rabbit@…` on 5672) that the other suites use is never touched.
 *
 * The node runs from the locally installed server (Debian's `rabbitmq-server` package, or
 * any install whose scripts are on the PATH), as the current user, with everything in one
 * directory under the system temp dir: its own `HOME` (so its own Erlang cookie, which
 * `rabbitmqctl` then finds), config file, enabled-plugins file, database and logs. Its
 * database is kept across `stop()` and `start()`, as a restarted server keeps its disk;
 * `destroy()` stops it and removes the directory.
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
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface RabbitMQNodeOptions {
  /** Erlang node name. Default `tracebus-faults@localhost`. */
  name?: string;
  /** AMQP port on 127.0.0.1. Default 5673. */
  port?: number;
  /** Erlang distribution port, for `rabbitmqctl`. Default `port + 20000`. */
  distPort?: number;
  /** How long to wait for the node to accept AMQP connections. Default 90 s. */
  startTimeoutMs?: number;
}

/**
 * Where the server's own scripts are. Debian's `/usr/sbin/rabbitmq-server` is a wrapper
 * that switches to the `rabbitmq` user (and so to that user's cookie and home); the
 * scripts it wraps are in `/usr/lib/rabbitmq/bin`.
 */
function scriptsDirectory(): string | undefined {
  const candidates = [process.env.RABBITMQ_SCRIPTS_DIR, '/usr/lib/rabbitmq/bin', ...(process.env.PATH ?? '').split(delimiter)];
  return candidates.find((directory) => directory !== undefined && directory !== '' && existsSync(join(directory, 'rabbitmq-server')) && existsSync(join(directory, 'rabbitmqctl')));
}

/** Why a dedicated node cannot be started on this machine, or `undefined` when it can. */
export function rabbitmqNodeUnavailable(): string | undefined {
  return scriptsDirectory() === undefined ? 'no rabbitmq-server installation found (looked in RABBITMQ_SCRIPTS_DIR, /usr/lib/rabbitmq/bin and the PATH)' : undefined;
}

function portOpen(port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

async function amqpAccepts(url: string): Promise<boolean> {
  try {
    const amqp = await import('amqplib');
    const connection = await amqp.connect(url);
    connection.on('error', () => undefined);
    await connection.close();
    return true;
  } catch {
    return false;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class RabbitMQNode {
  readonly name: string;
  readonly port: number;
  readonly distPort: number;
  readonly url: string;
  readonly directory: string;
  readonly #startTimeoutMs: number;
  readonly #scripts: string;

  constructor(options: RabbitMQNodeOptions = {}) {
    const { name = 'tracebus-faults@localhost', port = 5673, distPort = port + 20_000, startTimeoutMs = 90_000 } = options;
    const scripts = scriptsDirectory();
    if (scripts === undefined) throw new Error(`RabbitMQNode: ${rabbitmqNodeUnavailable()}`);
    this.name = name;
    this.port = port;
    this.distPort = distPort;
    this.url = `amqp://guest:guest@127.0.0.1:${port}`;
    this.directory = join(tmpdir(), `tracebus-rabbitmq-${name.replace(/[^A-Za-z0-9_.-]/g, '_')}`);
    this.#startTimeoutMs = startTimeoutMs;
    this.#scripts = scripts;
  }

  get #env(): NodeJS.ProcessEnv {
    const directory = this.directory;
    return {
      ...process.env,
      // Its own home, hence its own Erlang cookie, shared by the server and rabbitmqctl.
      HOME: directory,
      RABBITMQ_NODENAME: this.name,
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.port),
      RABBITMQ_DIST_PORT: String(this.distPort),
      // Not /etc/rabbitmq's files: they name the shared node and its listener on 5672.
      RABBITMQ_CONF_ENV_FILE: join(directory, 'rabbitmq-env.conf'),
      RABBITMQ_CONFIG_FILE: join(directory, 'rabbitmq.conf'),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(directory, 'advanced.config'),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(directory, 'enabled_plugins'),
      RABBITMQ_MNESIA_BASE: join(directory, 'mnesia'),
      RABBITMQ_LOG_BASE: join(directory, 'log'),
      RABBITMQ_PID_FILE: join(directory, 'rabbitmq.pid'),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
      ERL_EPMD_ADDRESS: '127.0.0.1',
    };
  }

  async #ctl(...args: string[]): Promise<string> {
    const { stdout } = await run(join(this.#scripts, 'rabbitmqctl'), ['-n', this.name, ...args], { env: this.#env, timeout: 60_000 });
    return stdout;
  }

  /** Starts the node on a fresh database and waits until it accepts AMQP connections. */
  async start(): Promise<void> {
    // A node of this name left behind by an earlier run that was killed is ours to stop.
    await this.stop();
    if (await portOpen(this.port)) throw new Error(`RabbitMQNode: port ${this.port} is in use by another process; pass another port`);
    const directory = this.directory;
    await rm(join(directory, 'mnesia'), { recursive: true, force: true });
    await rm(join(directory, 'log'), { recursive: true, force: true });
    await mkdir(directory, { recursive: true });
    await writeFile(join(directory, 'rabbitmq-env.conf'), '');
    await writeFile(join(directory, 'rabbitmq.conf'), `listeners.tcp.1 = 127.0.0.1:${this.port}\n`);
    await writeFile(join(directory, 'advanced.config'), '[].\n');
    await writeFile(join(directory, 'enabled_plugins'), '[].\n');
    await this.#launch();
  }

  /** Starts the node again on the database it had, as after a server restart. */
  async resume(): Promise<void> {
    await this.#launch();
  }

  /** Stops the whole node (the Erlang VM exits), as `systemctl stop` would; no-op when it is not running. */
  async stop(): Promise<void> {
    const pid = await this.#pid();
    let stopped = false;
    try {
      // Without the pid-file argument: with it, rabbitmqctl waits for a file that a node
      // that is not running never writes.
      await this.#ctl('stop');
      stopped = true;
    } catch {
      // Not running (or never started): nothing to stop.
    }
    const deadline = Date.now() + 30_000;
    while ((stopped && pid !== undefined && processAlive(pid)) || (await portOpen(this.port))) {
      if (Date.now() > deadline) throw new Error(`RabbitMQNode: ${this.name} still runs 30 s after stop`);
      await sleep(100);
    }
  }

  async #pid(): Promise<number | undefined> {
    try {
      const pid = Number.parseInt(await readFile(join(this.directory, 'rabbitmq.pid'), 'utf8'), 10);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** Stops the node and starts it again on the same database. */
  async restart(): Promise<void> {
    await this.stop();
    await this.resume();
  }

  /** Stops the node and removes its directory. */
  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.directory, { recursive: true, force: true });
  }

  async #launch(): Promise<void> {
    await run(join(this.#scripts, 'rabbitmq-server'), ['-detached'], { env: this.#env, timeout: 60_000 });
    const deadline = Date.now() + this.#startTimeoutMs;
    while (!(await amqpAccepts(this.url))) {
      if (Date.now() > deadline) throw new Error(`RabbitMQNode: ${this.name} did not accept ${this.url} within ${this.#startTimeoutMs} ms${await this.#logTail()}`);
      await sleep(250);
    }
  }

  async #logTail(): Promise<string> {
    try {
      const logs = join(this.directory, 'log');
      const files = (await readdir(logs)).filter((file) => file.endsWith('.log'));
      const tails = await Promise.all(files.map(async (file) => `--- ${file}\n${(await readFile(join(logs, file), 'utf8')).split('\n').slice(-30).join('\n')}`));
      return tails.length === 0 ? '' : `\n${tails.join('\n')}`;
    } catch {
      return '';
    }
  }
}
