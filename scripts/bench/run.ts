/**
 * `npm run bench`: runs every benchmark variant side by side, collects what they measured
 * (results.ts) and has report.ts write it to docs/benchmarks.md.
 *
 * Each variant runs in a fresh process, and the variants alternate (A B C D, B C D A, …)
 * over several rounds, so a noisy neighbour hits all of them alike; the table reports the
 * median of the rounds with their spread (min–max).
 *
 *   BENCH_ROUNDS (default 5)      BENCH_SECTIONS (default all: inprocess,memory,rabbitmq,kafka,
 *                                 kafka-single,confluent-kafka,memory-rabbitmq,memory-kafka,wire,
 *                                 isolated)
 *   BENCH_MESSAGES                messages per run for every section (defaults: in-process
 *                                 100000, RabbitMQ 50000, Kafka 50000, Kafka single sends 20000, in at least five rounds);
 *                                 a broker child warms up with as many, at least 30000 (passes.ts;
 *                                 BENCH_WARMUP_MESSAGES sets the warm-up instead)
 *   BENCH_RABBITMQ_MESSAGES, BENCH_KAFKA_MESSAGES   the same for the RabbitMQ section, for the
 *                                 two Kafka sections (kafkajs and @confluentinc/kafka-javascript)
 *   BENCH_KAFKA_SINGLE_MESSAGES   the same for the kafka-single section (kafkajs, one message
 *                                 per `send`: each message costs a produce request, so fewer)
 *   BENCH_KAFKA_PORT (default 29092)  port of a Kafka started from the local jars
 *   BENCH_PROFILES (default 1)    0 skips the CPU profiles of the in-process, broker and isolated
 *                                 sections
 *   BENCH_MEMORY_MESSAGES (default 1000000)  tracebus's messages in each memory section (the
 *                                 untraced and floor runs, which only count allocation, make a fifth)
 *   BENCH_WIRE_MESSAGES (default 20000)  messages per throughput run of the wire section
 *   BENCH_ISOLATED_MESSAGES (default 50000)  messages per variant and round of isolated.ts; its
 *                                 profiled runs (each tracebus variant and floor alone, for the
 *                                 broker sections' target (c)) make two rounds of as many, in
 *                                 five children per variant
 *   BENCH_RESULTS=<file>          also writes what was measured there, as JSON; it always goes
 *                                 to docs/benchmarks.json, beside the report (render.ts)
 *
 * The brokers are found or started as the integration tests do (scripts/brokers/provision.ts):
 * KAFKA_BROKERS / AMQP_URL, else testcontainers, else this machine. The confluent-kafka
 * section needs its client built (bash scripts/clients/build-confluent.sh).
 *
 * Five rounds by default: with three, two full runs of the same code put tracebus's
 * throughput against the official instrumentation's 15 points apart on RabbitMQ (the target is
 * a share of it); each section logs how long it took.
 *
 * Besides docs/benchmarks.md, it writes docs/benchmarks.svg, the chart of the same results
 * (chart.ts), and docs/benchmarks.json, the results themselves.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join } from 'node:path';
import { provideKafka, provideRabbitMQ, type ProvidedBroker } from '../brokers/provision.ts';
import { benchmarkChart } from './chart.ts';
import { ISOLATED_PROFILED } from './isolated-report.ts';
import { originOf, stackPartOf, stackParts, summarize, type CpuProfile, type StackPart } from './profile-summary.ts';
import { benchmarkReport, sectionReport } from './report.ts';
import { summarizeTickLog, tickLogFlags, type TickSummary } from './v8-log.ts';
import { CONFIRM_FLOOR, RESULTS_FILE, median, microsPerMessage as us, type BenchResults, type BrokerUsed, type HeavyFunction, type IsolatedProfile, type ProfiledRun, type Sample, type SectionName, type SectionResult, type SkippedSection } from './results.ts';

/** How to run one section: its variants, the child that measures each, and which to profile. */
interface Section {
  name: SectionName;
  title: string;
  variants: string[];
  rounds: number;
  broker?: 'rabbitmq' | 'kafka';
  /** A broker section's client (BROKER_CLIENTS). */
  client?: BrokerClient;
  command: (variant: string) => string[];
  /** What a variant's child needs in its environment besides the section's, if anything. */
  env?: (variant: string) => NodeJS.ProcessEnv;
  /** Variants run once more with their measured pass CPU-profiled, to explain a gap. */
  profiled?: string[];
  /** The isolated section's: isolated.ts variants run once more each, alone, with their measured rounds CPU-profiled. */
  isolatedProfiled?: string[];
}

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const memoryRounds = Math.min(rounds, 3);
const messagesFor = (specific: string | undefined, fallback: number) => Number(specific ?? process.env.BENCH_MESSAGES ?? fallback);
const messages = messagesFor(undefined, 100_000);
const rabbitmqMessages = messagesFor(process.env.BENCH_RABBITMQ_MESSAGES, 50_000);
const kafkaMessages = messagesFor(process.env.BENCH_KAFKA_MESSAGES, 50_000);
const kafkaSingleMessages = messagesFor(process.env.BENCH_KAFKA_SINGLE_MESSAGES, 20_000);
// Single sends wait on the broker's acks, whose timing varies more from run to run than a
// client's CPU: the kafka-single section takes at least five rounds for its medians.
const kafkaSingleRounds = Math.max(rounds, 5);
const memoryMessages = Number(process.env.BENCH_MEMORY_MESSAGES ?? 1_000_000);
const wireMessages = Number(process.env.BENCH_WIRE_MESSAGES ?? 20_000);
const isolatedMessages = messagesFor(process.env.BENCH_ISOLATED_MESSAGES, 50_000);
// The isolated section runs isolated.ts in ISOLATED_PROCESSES children per sampler and
// transport, each alternating its variants over ISOLATED_ROUNDS rounds: two processes of the
// same code put a ratio of tracebus's to the floor's CPU 0.89× and 1.36× apart (what V8 makes
// of the shared hot paths differs from one process to the next, as the machine's noise does),
// so the report takes the median process and shows the spread. Nine processes: with five, two
// full runs of the same code put the RabbitMQ ratio under 1% sampling at 0.79× and 1.09×,
// either side of its line; the children of all transports take about 45 s a process, each
// child warming up for 3 s of CPU time first (isolated.ts, ISOLATED_WARMUP_MS).
const ISOLATED_PROCESSES = 9;
const ISOLATED_ROUNDS = 3;
// The isolated section's profiled runs: each variant alone in ISOLATED_PROFILE_RUNS children,
// the variants in a rotating order, so that a busy spell of the machine slows one child
// rather than one variant, and the median child counts; each child profiles
// ISOLATED_PROFILE_ROUNDS rounds (a thousand samples or more at the default 50,000 messages).
// Five children, so that one whose JIT made a slower hot path moves the median less.
const ISOLATED_PROFILE_RUNS = 5;
const ISOLATED_PROFILE_ROUNDS = 2;
const wanted = process.env.BENCH_SECTIONS?.split(',');
const inCi = process.env.CI === 'true' || process.env.CI === '1';

/**
 * The broker, the client library and the official instrumentation of each broker section, by
 * section name; @confluentinc/kafka-javascript has no official instrumentation. Each
 * section's child is scripts/bench/<script>.ts with `args` after the variant and count;
 * `sampled` sections also run the variants under the 1% sampler.
 */
const BROKER_CLIENTS: Record<'rabbitmq' | 'kafka' | 'kafka-single' | 'confluent-kafka', { title: string; broker: 'rabbitmq' | 'kafka'; client: string; official?: string; messages: number; script: string; args?: string[]; shape?: string; sampled: boolean }> = {
  rabbitmq: { title: 'RabbitMQ', broker: 'rabbitmq', client: 'amqplib', official: '@opentelemetry/instrumentation-amqplib', messages: rabbitmqMessages, script: 'rabbitmq', sampled: true },
  kafka: { title: 'Kafka', broker: 'kafka', client: 'kafkajs', official: '@opentelemetry/instrumentation-kafkajs', messages: kafkaMessages, script: 'kafka', sampled: true },
  'kafka-single': { title: 'Kafka', broker: 'kafka', client: 'kafkajs', official: '@opentelemetry/instrumentation-kafkajs', messages: kafkaSingleMessages, script: 'kafka', args: ['single'], shape: 'one message per send', sampled: false },
  'confluent-kafka': { title: 'Kafka', broker: 'kafka', client: '@confluentinc/kafka-javascript', messages: kafkaMessages, script: 'confluent-kafka', sampled: true },
};
type BrokerClient = keyof typeof BROKER_CLIENTS;

/** The parts of the stack whose functions a profile lists by name: tracing's own. */
const TRACING_PARTS: StackPart[] = ['OpenTelemetry API and SDK', 'tracebus', 'official instrumentation'];

/** The environment of one variant's child: the section's, and what the variant adds. */
const variantEnv = (section: Section, env: NodeJS.ProcessEnv, variant: string): NodeJS.ProcessEnv => (section.env === undefined ? env : { ...env, ...section.env(variant) });

// A run's time limit: a million messages through RabbitMQ, in its memory section, take minutes
// on a quiet machine and many more on a busy one.
const CHILD_TIMEOUT_MS = 1_800_000;

function runChild(args: string[], env: NodeJS.ProcessEnv): Sample {
  const output = execFileSync(process.execPath, args, { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'], timeout: CHILD_TIMEOUT_MS });
  const line = output.trim().split('\n').pop()!;
  return JSON.parse(line) as Sample;
}

/** A broker section: `otel` where the client has an official instrumentation, the sampled variants where the section has them. */
function brokerSection(name: BrokerClient): Section {
  const { title, broker, client, official, messages: count, script, args = [], shape, sampled } = BROKER_CLIENTS[name];
  const otel = official === undefined ? [] : ['otel'];
  const atOnePercent = sampled ? ['tracebus@1%', ...otel.map((variant) => `${variant}@1%`), 'floor+semconv@1%'] : [];
  return {
    name,
    title: `${title} (${client}${shape === undefined ? '' : `, ${shape}`}): ${count.toLocaleString('en')} messages per run`,
    // RabbitMQ's send spans may end at the broker's confirm, as tracebus's do, and a Kafka send
    // of one message's at the broker's acknowledgement: a floor does that too.
    variants: ['untraced', 'tracebus', ...otel, 'floor', 'floor+semconv', ...(broker === 'rabbitmq' || name === 'kafka-single' ? [CONFIRM_FLOOR] : []), 'tracebus-nosdk', ...atOnePercent],
    rounds: name === 'kafka-single' ? kafkaSingleRounds : rounds,
    broker,
    client: name,
    // The sampled variants too: their target compares tracebus's added CPU with the floor's.
    profiled: ['untraced', 'floor', 'floor+semconv', 'tracebus', ...otel, ...(sampled ? ['tracebus@1%', 'floor+semconv@1%'] : [])],
    command: (variant) => [`scripts/bench/${script}.ts`, variant, String(count), ...args],
  };
}

/**
 * The variants of the memory sections: tracebus's long run, and the untraced and floor runs next
 * to it: the attribute-free floor, and the floor with the attributes semantic conventions require
 * (on the bus: those tracebus records there), as in the CPU targets.
 */
const memoryVariants = (semconvFloor: string) => ['untraced', 'floor', semconvFloor, 'tracebus'];
/** Messages of one memory run: tracebus's long run, a fifth for the runs that only count allocation. */
const memoryCount = (variant: string) => (variant === 'tracebus' ? memoryMessages : Math.ceil(memoryMessages / 5));

/**
 * A memory section: the in-process bus (memory.ts, as many rounds as fit in three) or a
 * broker's child in memory mode (one round: a million messages through RabbitMQ take minutes).
 */
function memorySection(name: 'memory' | 'memory-rabbitmq' | 'memory-kafka'): Section {
  const broker = name === 'memory' ? undefined : BROKER_CLIENTS[name === 'memory-rabbitmq' ? 'rabbitmq' : 'kafka'];
  const where = broker === undefined ? 'in-process bus' : `${broker.title} (${broker.client})`;
  const counts = `${memoryMessages.toLocaleString('en')} messages through tracebus, ${memoryCount('untraced').toLocaleString('en')} untraced and through the floors`;
  const common = { name, title: `Memory, ${where}: ${counts}`, variants: memoryVariants(broker === undefined ? 'floor+attributes' : 'floor+semconv') };
  if (broker === undefined) return { ...common, rounds: memoryRounds, command: (variant) => ['--expose-gc', 'scripts/bench/memory.ts', variant, String(memoryCount(variant))] };
  const child = name === 'memory-rabbitmq' ? 'rabbitmq' : 'kafka';
  return { ...common, rounds: 1, broker: broker.broker, command: (variant) => ['--expose-gc', `scripts/bench/${child}.ts`, variant, String(memoryCount(variant))], env: () => ({ BENCH_MEMORY: '1' }) };
}

/**
 * The wire section's throughput runs: each broker's untraced child with 100-byte and 1 KiB
 * bodies, without and with the trace headers of wire.ts's last case as static headers.
 */
const WIRE_RUNS = (['rabbitmq', 'kafka'] as const).flatMap((broker) =>
  [100, 1024].flatMap((bytes) => [false, true].map((headers) => ({ variant: `${broker} ${bytes === 1024 ? '1 KiB' : `${bytes} B`}${headers ? ' + headers' : ''}`, broker, bytes, headers }))),
);
const wireRun = (variant: string) => WIRE_RUNS.find((run) => run.variant === variant)!;

/**
 * The wire section: wire.ts's encoding first (its sample goes under `encoding`), then the
 * throughput runs of each broker that can be had, its static headers those the encoding saw
 * tracebus write.
 */
async function runWireSection(section: Section): Promise<SectionResult> {
  const encoding = runChild(['scripts/bench/wire.ts'], process.env);
  const headers = JSON.stringify(encoding.staticHeaders);
  let env: NodeJS.ProcessEnv = process.env;
  const variants: string[] = [];
  for (const broker of ['rabbitmq', 'kafka'] as const) {
    const found = await brokerEnv(broker);
    if (typeof found === 'string') {
      const message = `no ${broker} broker: ${found}`;
      if (inCi) throw new Error(`[bench] ${message}`);
      console.error(`[bench] wire: skipping the ${broker} runs: ${message}`);
      skipped.push({ title: `${section.title}, on ${broker}`, reason: message });
      continue;
    }
    env = { ...env, ...found };
    variants.push(...section.variants.filter((variant) => wireRun(variant).broker === broker));
  }
  const wireEnv = (variant: string) => ({ BENCH_PAYLOAD_BYTES: String(wireRun(variant).bytes), ...(wireRun(variant).headers ? { BENCH_STATIC_HEADERS: headers } : {}) });
  const result = runSection({ ...section, variants, env: wireEnv }, env);
  result.samples.encoding = [encoding];
  return result;
}

const sections: Section[] = [
  {
    name: 'inprocess',
    title: `In-process bus: ${messages.toLocaleString('en')} messages per run`,
    variants: ['untraced', 'nosdk', 'sdk', 'floor', 'floor+attributes', 'bus+floor', 'bus+floor+attributes', 'untraced+sdk', 'sdk@1%', 'bus+floor+attributes@1%'],
    rounds,
    profiled: ['untraced', 'floor', 'bus+floor+attributes', 'sdk', 'sdk@1%', 'bus+floor+attributes@1%'],
    command: (variant) => ['scripts/bench/inprocess.ts', variant, String(messages)],
  },
  memorySection('memory'),
  brokerSection('rabbitmq'),
  brokerSection('kafka'),
  brokerSection('kafka-single'),
  brokerSection('confluent-kafka'),
  memorySection('memory-rabbitmq'),
  memorySection('memory-kafka'),
  {
    name: 'wire',
    title: `Bytes on the wire: the trace headers on every message, ${wireMessages.toLocaleString('en')} untraced messages per run`,
    variants: WIRE_RUNS.map(({ variant }) => variant),
    rounds: memoryRounds,
    command: (variant) => [`scripts/bench/${wireRun(variant).broker}.ts`, 'untraced', String(wireMessages)],
  },
  {
    name: 'isolated',
    title: `Tracing alone, on clients that do nothing: ${isolatedMessages.toLocaleString('en')} messages per variant and round, ${ISOLATED_ROUNDS} rounds in each of ${ISOLATED_PROCESSES} processes per transport`,
    variants: ['isolated', 'isolated@1%'],
    // isolated.ts alternates its variants over its own rounds, in one process per transport
    // (isolated-transports.ts); each round here is one such process of every transport.
    rounds: ISOLATED_PROCESSES,
    command: () => ['scripts/bench/isolated-transports.ts', String(isolatedMessages), String(ISOLATED_ROUNDS)],
    env: (variant) => ({ ISOLATED_JSON: '1', ...(variant === 'isolated@1%' ? { ISOLATED_SAMPLED: '1' } : {}) }),
    // Every trace sampled: the broker sections' target (c) is about that SDK.
    isolatedProfiled: ISOLATED_PROFILED,
  },
];

/** Why a section's client cannot run here (@confluentinc/kafka-javascript's addon not built), or `undefined`. */
function clientProblem(section: Section): string | undefined {
  if (section.client !== 'confluent-kafka') return undefined;
  try {
    createRequire(import.meta.url)('@confluentinc/kafka-javascript');
    return undefined;
  } catch (error) {
    return `@confluentinc/kafka-javascript does not load (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); build it with bash scripts/clients/build-confluent.sh`;
  }
}

const brokers = new Map<'rabbitmq' | 'kafka', { provided?: ProvidedBroker; problem?: string; version?: string }>();
async function brokerEnv(kind: 'rabbitmq' | 'kafka'): Promise<NodeJS.ProcessEnv | string> {
  let entry = brokers.get(kind);
  if (entry === undefined) {
    entry = {};
    brokers.set(kind, entry);
    try {
      entry.provided = kind === 'rabbitmq' ? await provideRabbitMQ() : await provideKafka({ localPort: Number(process.env.BENCH_KAFKA_PORT ?? 29_092) });
      console.error(`[bench] ${kind} at ${entry.provided.address.replace(/\/\/[^@/]*@/, '//')} from ${entry.provided.source}`);
    } catch (error) {
      entry.problem = error instanceof Error ? error.message : String(error);
    }
  }
  if (entry.provided === undefined) return entry.problem!;
  return kind === 'rabbitmq' ? { ...process.env, AMQP_URL: entry.provided.address } : { ...process.env, KAFKA_BROKERS: entry.provided.address };
}

/**
 * Where the time of one throughput pass goes, per variant: one more run of each with the
 * pass CPU-profiled (BENCH_PROFILE), its self time split by part of the stack, per message.
 * This is the profile that explains a throughput gap.
 */
function profileRuns(section: Section, env: NodeJS.ProcessEnv): ProfiledRun[] {
  const directory = mkdtempSync(join(os.tmpdir(), 'tracebus-bench-'));
  try {
    return (section.profiled ?? []).map((variant) => {
      const file = join(directory, `${variant}.cpuprofile`);
      const sample = runChild(section.command(variant), { ...variantEnv(section, env, variant), BENCH_PROFILE: file });
      const summary = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
      const parts = Object.fromEntries([...stackParts(summary)].map(([part, time]) => [part, time / sample.messages]));
      console.error(`[bench] ${section.name} profiled ${variant}`);
      const tracingFunctions = [...summary.byFunction]
        .filter(([, { origin }]) => TRACING_PARTS.includes(stackPartOf(origin)))
        .sort((a, b) => b[1].time - a[1].time)
        .map(([name, { time, origin }]) => ({ name: name.split('  ')[0]!, origin, microsPerMessage: time / sample.messages }));
      return { variant, sample, parts, tracingFunctions };
    });
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** Self time per operation (µs) by whose code it was in, in one isolated.ts child run under V8's tick log. */
interface IsolatedChildProfile {
  operations: number;
  samples: number;
  intervalMicros: number;
  sampledMicros: number;
  busy: number;
  tracebus: number;
  w3c: number;
  script: number;
  /** Self time (µs, ticks × interval) of each function of tracebus's sources, by `name  src/<file>:line`. */
  functions: Map<string, number>;
}

/**
 * Self time per operation by whose code it was in, from the tick log of an isolated.ts child
 * that ran one variant alone and printed `sample` (v8-log.ts): each tick counts for the
 * innermost function at its program counter, in that function's own file, so that the
 * OpenTelemetry code V8 inlined into tracebus's functions (and tracebus's into the floors')
 * counts as OpenTelemetry's. A CPU profile from the inspector cannot tell them apart: it
 * counts inlined code as the self time of the function it was inlined into.
 *
 * Each tick counts for the interval the sampler kept (the median gap between ticks), not for
 * its own gap. With no broker the two would agree if nothing else ran, but on a machine of two
 * cores this process too is descheduled now and then (by other work on the machine, and the
 * profiler's own thread), and a wall-clock gap hands the whole wait to the frame the next tick
 * lands in. Counted ticks weigh alike; the median gap, rather than the 250 µs asked, because
 * the sampler keeps a somewhat longer period than it is asked for. The busy ticks so counted
 * come close to the CPU time the section's unprofiled rounds measured (the isolated section's
 * profile table compares them); the gaps summed come to more.
 */
function isolatedChildProfile(summary: TickSummary, sample: Sample): IsolatedChildProfile {
  const operations = Number(sample.profiledOperations);
  const intervalMicros = summary.intervalMicros;
  const perOperation = (ticks: number) => (ticks * intervalMicros) / operations;
  let tracebus = 0;
  let w3c = 0;
  let script = 0;
  const functions = new Map<string, number>();
  for (const { owner, ticks } of summary.owners.values()) {
    const origin = originOf(owner.url);
    if (owner.url.endsWith('/scripts/bench/isolated.ts')) script += ticks;
    if (stackPartOf(origin) !== 'tracebus') continue;
    tracebus += ticks;
    if (origin === 'tracebus src/w3c') w3c += ticks;
    // heaviestFunctions's key: `name  src/<file>:line`.
    const key = `${owner.functionName}  ${owner.url.replace(/^.*?\/src\//, 'src/')}:${owner.line}`;
    functions.set(key, (functions.get(key) ?? 0) + ticks * intervalMicros);
  }
  return {
    operations,
    samples: summary.ticks,
    intervalMicros,
    sampledMicros: summary.sampledMicros,
    busy: perOperation(summary.ticks - (summary.apart.get('idle') ?? 0)),
    tracebus: perOperation(tracebus),
    w3c: perOperation(w3c),
    script: perOperation(script),
    functions,
  };
}

/** How many of tracebus's heaviest functions an isolated profile keeps. */
const HEAVIEST_KEPT = 6;

/**
 * tracebus's heaviest functions over a variant's profiled children: each function's samples
 * summed over the children, per operation of all of them. Summed rather than the median of
 * the children, whose few samples per function would make a median jumpy.
 */
function heaviestFunctions(children: IsolatedChildProfile[]): HeavyFunction[] {
  const operations = children.reduce((all, child) => all + child.operations, 0);
  const times = new Map<string, number>();
  for (const child of children) for (const [key, time] of child.functions) times.set(key, (times.get(key) ?? 0) + time);
  return [...times]
    .sort((a, b) => b[1] - a[1])
    .slice(0, HEAVIEST_KEPT)
    .map(([key, time]) => {
      const [name = key, at = ''] = key.split('  ');
      return { name, at, micros: time / operations };
    });
}

/**
 * tracebus's own time where nothing else competes for the CPU: each of the isolated
 * section's `isolatedProfiled` variants alone in its own child (ISOLATED_VARIANTS its whole
 * name), under V8's tick log with its measured rounds marked (BENCH_TICK_LOG, v8-log.ts),
 * ISOLATED_PROFILE_RUNS times in a rotating order; each figure is the median of the
 * variant's children.
 */
function isolatedProfileRuns(section: Section, env: NodeJS.ProcessEnv): IsolatedProfile[] {
  const variants = section.isolatedProfiled ?? [];
  const children = new Map<string, IsolatedChildProfile[]>(variants.map((variant) => [variant, []]));
  const directory = mkdtempSync(join(os.tmpdir(), 'tracebus-bench-'));
  try {
    for (let run = 0; run < ISOLATED_PROFILE_RUNS; run++) {
      for (let index = 0; index < variants.length; index++) {
        const variant = variants[(index + run) % variants.length]!;
        const file = join(directory, `${run}-${index}.log`);
        const sample = runChild([...tickLogFlags(file), 'scripts/bench/isolated.ts', String(isolatedMessages), String(ISOLATED_PROFILE_ROUNDS)], { ...env, ISOLATED_JSON: '1', ISOLATED_VARIANTS: variant, BENCH_TICK_LOG: '1' });
        const child = isolatedChildProfile(summarizeTickLog(readFileSync(file, 'latin1')), sample);
        children.get(variant)!.push(child);
        console.error(`[bench] ${section.name} profiled ${run + 1}/${ISOLATED_PROFILE_RUNS} ${variant} alone: tracebus ${child.tracebus.toFixed(2)} µs/message (src/w3c ${child.w3c.toFixed(2)}), isolated.ts ${child.script.toFixed(2)}`);
      }
    }
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
  return variants.map((variant) => {
    const runs = children.get(variant)!;
    const medianOf = (value: (child: IsolatedChildProfile) => number) => median(runs.map(value));
    const sumOf = (value: (child: IsolatedChildProfile) => number) => runs.reduce((all, child) => all + value(child), 0);
    return {
      variant,
      runs: runs.length,
      operations: runs[0]!.operations,
      samples: sumOf((child) => child.samples),
      intervalMicros: medianOf((child) => child.intervalMicros),
      sampledMicros: sumOf((child) => child.sampledMicros),
      busyMicrosPerOperation: medianOf((child) => child.busy),
      tracebusMicrosPerOperation: medianOf((child) => child.tracebus),
      w3cMicrosPerOperation: medianOf((child) => child.w3c),
      scriptMicrosPerOperation: medianOf((child) => child.script),
      tracebusSharesByRun: runs.map((child) => (child.busy > 0 ? child.tracebus / child.busy : 0)),
      heaviest: heaviestFunctions(runs),
    };
  });
}

/** Runs a section's rounds, the variants in a rotating order, then its profiled runs. */
function runSection(section: Section, env: NodeJS.ProcessEnv): SectionResult {
  const samples: Record<string, Sample[]> = Object.fromEntries(section.variants.map((variant) => [variant, []]));
  const loadBefore = os.loadavg()[0]!;
  for (let round = 0; round < section.rounds; round++) {
    const order = section.variants.map((_, index) => section.variants[(index + round) % section.variants.length]!);
    for (const variant of order) {
      const sample = runChild(section.command(variant), variantEnv(section, env, variant));
      samples[variant]!.push(sample);
      const latency = sample.latency === undefined ? '' : `, wrapper p50 ${sample.latency.p50.toFixed(2)} µs p99 ${sample.latency.p99.toFixed(2)} µs`;
      console.error(`[bench] ${section.name} round ${round + 1}/${section.rounds} ${variant}: ${us(sample).toFixed(2)} µs/message${latency}`);
    }
  }
  const loadAfter = os.loadavg()[0]!;
  const result: SectionResult = { name: section.name, title: section.title, variants: section.variants, rounds: section.rounds, samples, load: { before: loadBefore, after: loadAfter } };
  if (section.client !== undefined) {
    result.client = BROKER_CLIENTS[section.client].client;
    const official = BROKER_CLIENTS[section.client].official;
    if (official !== undefined) result.official = official;
  }
  if (section.profiled !== undefined && process.env.BENCH_PROFILES !== '0') result.profiles = profileRuns(section, env);
  if (section.isolatedProfiled !== undefined && process.env.BENCH_PROFILES !== '0') result.isolatedProfiles = isolatedProfileRuns(section, env);
  return result;
}

const results: SectionResult[] = [];
const skipped: SkippedSection[] = [];
try {
  for (const section of sections) {
    if (wanted && !wanted.includes(section.name)) continue;
    if (section.name === 'wire') {
      const result = await runWireSection(section);
      results.push(result);
      console.log(sectionReport(result, results).lines.join('\n'));
      continue;
    }
    let env: NodeJS.ProcessEnv = process.env;
    const problem = clientProblem(section);
    if (problem !== undefined) {
      if (inCi) throw new Error(`[bench] ${problem}`);
      console.error(`[bench] skipping ${section.name}: ${problem}`);
      skipped.push({ title: section.title, reason: problem });
      continue;
    }
    if (section.broker !== undefined) {
      const found = await brokerEnv(section.broker);
      if (typeof found === 'string') {
        const message = `no ${section.broker} broker: ${found}`;
        if (inCi) throw new Error(`[bench] ${message}`);
        console.error(`[bench] skipping ${section.name}: ${message}`);
        skipped.push({ title: section.title, reason: message });
        continue;
      }
      env = found;
    }
    const started = Date.now();
    const result = runSection(section, env);
    console.error(`[bench] ${section.name} took ${((Date.now() - started) / 1000).toFixed(0)} s`);
    if (section.broker !== undefined) brokers.get(section.broker)!.version ??= result.samples[section.variants[0]!]![0]?.broker;
    results.push(result);
    console.log(sectionReport(result, results).lines.join('\n'));
  }
} finally {
  for (const [kind, entry] of brokers) await entry.provided?.stop().catch((error: unknown) => console.error(`[bench] could not stop ${kind}:`, error));
}

const version = (name: string) => (JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;
// One line per client that ran: the Kafka sections share their broker, kafka and kafka-single their client.
const clientsListed = new Set<string>();
const brokersUsed = sections.flatMap(({ name, client: section }): BrokerUsed[] => {
  if (section === undefined || !results.some((result) => result.name === name)) return [];
  const { title, broker, client, official } = BROKER_CLIENTS[section];
  if (clientsListed.has(client)) return [];
  clientsListed.add(client);
  const entry = brokers.get(broker);
  if (entry?.provided === undefined) return [];
  const used: BrokerUsed = { title, client, clientVersion: version(client), brokerVersion: entry.version, source: entry.provided.source };
  return [official === undefined ? used : { ...used, official, officialVersion: version(official) }];
});
const bench: BenchResults = {
  rounds,
  memoryRounds,
  messages: { inprocess: messages, memory: memoryMessages, rabbitmq: rabbitmqMessages, kafka: kafkaMessages, 'kafka-single': kafkaSingleMessages, 'confluent-kafka': kafkaMessages, 'memory-rabbitmq': memoryMessages, 'memory-kafka': memoryMessages, wire: wireMessages, isolated: isolatedMessages },
  environment: {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown CPU',
    memoryBytes: os.totalmem(),
    platform: os.platform(),
    release: os.release(),
    node: process.version,
    api: version('@opentelemetry/api'),
    sdkTrace: version('@opentelemetry/sdk-trace'),
    core: version('@opentelemetry/core'),
    date: new Date().toISOString().slice(0, 10),
  },
  brokers: brokersUsed,
  sections: results,
  skipped,
};
// docs/benchmarks.json keeps what was measured beside the report, so that render.ts can write
// the report again after a change to it; BENCH_RESULTS=<file> also keeps it there.
const measured = `${JSON.stringify(bench, null, 1)}\n`;
if (process.env.BENCH_RESULTS) writeFileSync(process.env.BENCH_RESULTS, measured);
writeFileSync(RESULTS_FILE, measured);
writeFileSync('docs/benchmarks.md', benchmarkReport(bench));
writeFileSync('docs/benchmarks.svg', benchmarkChart(bench));
console.error(`[bench] wrote docs/benchmarks.md, docs/benchmarks.svg and ${RESULTS_FILE}`);
