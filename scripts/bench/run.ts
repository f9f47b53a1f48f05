/**
 * `npm run bench`: runs every benchmark variant side by side and writes docs/benchmarks.md.
 *
 * Each variant runs in a fresh process, and the variants alternate (A B C D, B C D A, …)
 * over several rounds, so a noisy neighbour hits all of them alike; the table reports the
 * median of the rounds with their spread (min–max).
 *
 *   BENCH_ROUNDS (default 5)      BENCH_SECTIONS (default all: inprocess,memory,rabbitmq,kafka)
 *   BENCH_MESSAGES                messages per run for every section (defaults: in-process
 *                                 100000, RabbitMQ 20000, Kafka 50000)
 *   BENCH_RABBITMQ_MESSAGES, BENCH_KAFKA_MESSAGES   the same for one broker section
 *   BENCH_KAFKA_PORT (default 29092)  port of a Kafka started from the local jars
 *   BENCH_PROFILES (default 1)    0 skips the CPU profiles of the in-process and broker sections
 *
 * The brokers are found or started as the integration tests do (test/support/provision.ts):
 * KAFKA_BROKERS / AMQP_URL, else testcontainers, else this machine.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { provideKafka, provideRabbitMQ, type ProvidedBroker } from '../../test/support/provision.ts';
import { STACK_PARTS, stackPartOf, stackParts, summarize, type CpuProfile } from './profile-summary.ts';

interface Sample {
  variant: string;
  messages: number;
  seconds: number;
  latency?: { samples: number; p50: number; p99: number };
  spansPerMessage?: number;
  broker?: string;
  [extra: string]: unknown;
}

type Samples = Map<string, Sample[]>;

interface Section {
  name: string;
  title: string;
  variants: string[];
  rounds: number;
  broker?: 'rabbitmq' | 'kafka';
  command: (variant: string) => string[];
  summarize: (medians: Map<string, number>, samples: Samples) => string[];
  /** Variants run once more with their measured pass CPU-profiled, to explain a gap. */
  profiled?: string[];
  /** What to know about reading this section's profile, from the profiled samples. */
  profileNote?: (samples: Sample[]) => string;
}

interface Target {
  section: string;
  text: string;
  met: boolean;
}

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const messagesFor = (specific: string | undefined, fallback: number) => Number(specific ?? process.env.BENCH_MESSAGES ?? fallback);
const messages = messagesFor(undefined, 100_000);
const rabbitmqMessages = messagesFor(process.env.BENCH_RABBITMQ_MESSAGES, 20_000);
const kafkaMessages = messagesFor(process.env.BENCH_KAFKA_MESSAGES, 50_000);
const wanted = process.env.BENCH_SECTIONS?.split(',');
const inCi = process.env.CI === 'true' || process.env.CI === '1';

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const us = (sample: Sample) => (sample.seconds / sample.messages) * 1e6;
const pct = (value: number) => `${(value * 100).toFixed(1)}%`;
const verdict = (met: boolean) => (met ? '**met**' : '**missed**');

const targets: Target[] = [];
function target(section: string, text: string, met: boolean): string {
  targets.push({ section, text, met });
  return `${text} — ${verdict(met)}`;
}

function runChild(args: string[], env: NodeJS.ProcessEnv): Sample {
  const output = execFileSync(process.execPath, args, { encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000 });
  const line = output.trim().split('\n').pop()!;
  return JSON.parse(line) as Sample;
}

/**
 * The summary of a broker section: the throughput targets (tracebus at 97% or more of
 * untraced, and no slower than the official instrumentation) and the consumer-side
 * latency the wrappers add.
 */
function brokerSummary(name: string, official: string) {
  return (medians: Map<string, number>, samples: Samples): string[] => {
    const untraced = medians.get('untraced')!;
    const tracebus = medians.get('tracebus')!;
    const otel = medians.get('otel')!;
    const floor = medians.get('floor')!;
    const nosdk = medians.get('tracebus-nosdk');
    const cpu = (variant: string) => median(samples.get(variant)!.map((sample) => Number(sample.cpuMicrosPerMessage)));
    const cpuAdded = (variant: string) => cpu(variant) - cpu('untraced');
    const latency = (variant: string, key: 'p50' | 'p99') => median(samples.get(variant)!.map((sample) => sample.latency![key]));
    const met = untraced / tracebus >= 0.97;
    // A miss is stated with what explains it: the floor, where no instrumentation that
    // records a producer and a consumer span per message can go above.
    const why = met ? '' : `; the floor reaches ${pct(untraced / floor)}, see the section's profile`;
    const lines = [
      `- ${target(name, `tracebus: ${pct(untraced / tracebus)} of untraced throughput (target ≥ 97%${why})`, met)}.`,
      `- ${target(name, `tracebus: ${pct(otel / tracebus)} of the throughput of ${official} (target ≥ 100%)`, otel / tracebus >= 1)}.`,
    ];
    if (nosdk !== undefined) lines.push(`- tracebus with no SDK registered: ${pct(untraced / nosdk)} of untraced throughput.`);
    lines.push(
      `- the floor, only the OpenTelemetry work each message cannot avoid, reaches ${pct(untraced / floor)} of untraced throughput: an instrumentation that records a producer and a consumer span for every message cannot do better on this workload.`,
      `- client CPU added per message over untraced: tracebus ${cpuAdded('tracebus').toFixed(1)} µs, ${official} ${cpuAdded('otel').toFixed(1)} µs, the floor ${cpuAdded('floor').toFixed(1)} µs; the untraced client itself spends ${cpu('untraced').toFixed(1)} µs.`,
      `- while the process is CPU-bound, throughput can reach at most untraced CPU ÷ traced CPU per message: ${pct(cpu('untraced') / cpu('floor'))} with the floor, ${pct(cpu('untraced') / cpu('tracebus'))} with tracebus, ${pct(cpu('untraced') / cpu('otel'))} with ${official}.`,
      '',
      'Consumer-side latency of the handler wrapper, per message (medians over the rounds of each run’s percentiles, µs):',
      '',
      '| variant | p50 | p99 | added p50 | added p99 |',
      '|---|---:|---:|---:|---:|',
    );
    const baseP50 = latency('untraced', 'p50');
    const baseP99 = latency('untraced', 'p99');
    for (const variant of samples.keys()) {
      const p50 = latency(variant, 'p50');
      const p99 = latency(variant, 'p99');
      const added = (value: number) => (variant === 'untraced' ? '—' : (value >= 0 ? '+' : '') + value.toFixed(2));
      lines.push(`| ${variant} | ${p50.toFixed(2)} | ${p99.toFixed(2)} | ${added(p50 - baseP50)} | ${added(p99 - baseP99)} |`);
    }
    const spans = [...samples.keys()].filter((variant) => variant === 'tracebus' || variant === 'otel' || variant === 'floor').map((variant) => `${variant} ${median(samples.get(variant)!.map((sample) => sample.spansPerMessage ?? 0)).toFixed(2)}`);
    lines.push('', `Spans exported per message during the throughput pass (checked, so that both traced variants really trace): ${spans.join(', ')}.`);
    // The SDK checks and copies every attribute twice when a span starts, so how much each
    // variant records explains part of its cost.
    const recorded = (variant: string, key: 'attributesPerMessage' | 'linksPerMessage') => median(samples.get(variant)!.map((sample) => Number(sample[key] ?? 0))).toFixed(1);
    lines.push('', `Recorded per message, all its spans together: attributes tracebus ${recorded('tracebus', 'attributesPerMessage')}, ${official} ${recorded('otel', 'attributesPerMessage')}, the floor ${recorded('floor', 'attributesPerMessage')}; links tracebus ${recorded('tracebus', 'linksPerMessage')}, ${official} ${recorded('otel', 'linksPerMessage')}.`);
    return lines;
  };
}

/** A broker section: its child script is scripts/bench/<name>.ts. */
function brokerSection(name: 'rabbitmq' | 'kafka', title: string, count: number, official: string): Section {
  return {
    name,
    title: `${title}: ${count.toLocaleString('en')} messages per run`,
    variants: ['untraced', 'tracebus', 'otel', 'floor', 'tracebus-nosdk'],
    rounds,
    broker: name,
    profiled: ['untraced', 'floor', 'tracebus', 'otel'],
    command: (variant) => [`scripts/bench/${name}.ts`, variant, String(count)],
    summarize: brokerSummary(name, official),
  };
}

const sections: Section[] = [
  {
    name: 'inprocess',
    title: `In-process bus: ${messages.toLocaleString('en')} messages per run`,
    variants: ['untraced', 'nosdk', 'sdk', 'floor', 'floor+attributes', 'bus+floor', 'bus+floor+attributes', 'untraced+sdk'],
    rounds,
    profiled: ['untraced', 'floor', 'bus+floor+attributes', 'sdk'],
    profileNote(samples) {
      const busy = samples.map((sample) => Number(sample.eventLoopUtilization));
      return `The \`idle\` row is not waiting: the event loop was busy ${pct(Math.min(...busy))}–${pct(Math.max(...busy))} of each profiled pass (\`performance.eventLoopUtilization()\`), but V8 counts part of the time Node spends running setImmediate callbacks, where the bus delivers every message, as idle, without a stack. The consumer side's work is partly in that row; compare the variants by their total (busy and idle).`;
    },
    command: (variant) => ['scripts/bench/inprocess.ts', variant, String(messages)],
    summarize(medians) {
      const untraced = medians.get('untraced')!;
      const nosdk = medians.get('nosdk')!;
      const floor = medians.get('floor')!;
      const floorAttributes = medians.get('floor+attributes')!;
      const untracedSdk = medians.get('untraced+sdk')!;
      // What each traced variant adds to the untraced bus.
      const added = medians.get('sdk')! - untraced;
      const byHand = medians.get('bus+floor')! - untraced;
      const byHandAttributes = medians.get('bus+floor+attributes')! - untraced;
      const times = (value: number) => `${value.toFixed(2)}×`;
      const met = added / floor <= 1.2;
      return [
        `- ${target('inprocess', `tracebus with no SDK: ${pct(untraced / nosdk)} of untraced throughput (target ≥ 90%)`, untraced / nosdk >= 0.9)}.`,
        `- ${target('inprocess', `tracebus with the SDK adds ${added.toFixed(2)} µs per message to the bus; the floor is ${floor.toFixed(2)} µs: ${times(added / floor)} the floor (target ≤ 1.2×${met ? '' : '; the same work by hand on the bus is ' + times(byHand / floor) + ' the floor, see below'})`, met)}.`,
        `- The floor's work written by hand around the bus (\`bus+floor\`) adds ${byHand.toFixed(2)} µs, ${times(byHand / floor)} the floor: the same two spans, inject and extract cost more spread over a real publish and an asynchronous delivery than in a tight loop. tracebus adds ${times(added / byHand)} that.`,
        `- With the attributes tracebus records (semconv requires \`messaging.system.name\` and \`messaging.operation.name\`; tracebus also sets the operation type, the destination and the message id), the hand-written version adds ${byHandAttributes.toFixed(2)} µs: tracebus adds ${times(added / byHandAttributes)} that, ${(added - byHandAttributes).toFixed(2)} µs per message for its own code. In the tight loop the attributes alone take the floor from ${floor.toFixed(2)} to ${floorAttributes.toFixed(2)} µs (${times(floorAttributes / floor)}): the SDK checks and copies every attribute twice.`,
        `- Registering the SDK alone (its AsyncLocalStorage context manager acts on every promise and timer of the bus) costs the untraced bus ${(untracedSdk - untraced).toFixed(2)} µs per message.`,
      ];
    },
  },
  {
    name: 'memory',
    title: 'Memory: 1,000,000 traced in-process messages',
    variants: ['memory'],
    rounds: Math.min(rounds, 3),
    command: () => ['--expose-gc', 'scripts/bench/memory.ts', '1000000'],
    summarize(_medians, samples) {
      const runs = samples.get('memory')!;
      const growth = median(runs.map((sample) => Number(sample.heapGrowthBytes)));
      const perMessage = median(runs.map((sample) => Number(sample.allocatedBytesPerMessage)));
      return [
        `- heap after GC grew by **${(growth / 1024).toFixed(0)} KiB** over 1M messages (median of ${runs.length}; per run: ${runs.map((sample) => `${(Number(sample.heapGrowthBytes) / 1024).toFixed(0)} KiB`).join(', ')}).`,
        `- allocation: **${perMessage.toFixed(0)} bytes per message** (bus, tracing and SDK together).`,
      ];
    },
  },
  brokerSection('rabbitmq', 'RabbitMQ (amqplib)', rabbitmqMessages, '@opentelemetry/instrumentation-amqplib'),
  brokerSection('kafka', 'Kafka (kafkajs)', kafkaMessages, '@opentelemetry/instrumentation-kafkajs'),
];

const brokers = new Map<string, { provided?: ProvidedBroker; problem?: string; version?: string }>();
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
function profileSection(section: Section, env: NodeJS.ProcessEnv): string[] {
  const directory = mkdtempSync(join(os.tmpdir(), 'tracebus-bench-'));
  try {
    const parts = new Map<string, Map<string, number>>();
    const top = new Map<string, string>();
    const variants = section.profiled ?? [];
    const profiledSamples: Sample[] = [];
    for (const variant of variants) {
      const file = join(directory, `${variant}.cpuprofile`);
      const sample = runChild(section.command(variant), { ...env, BENCH_PROFILE: file });
      profiledSamples.push(sample);
      const summary = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
      const perMessage = new Map([...stackParts(summary)].map(([part, time]) => [part, time / sample.messages]));
      parts.set(variant, perMessage);
      console.error(`[bench] ${section.name} profiled ${variant}`);
      const tracing = [...summary.byFunction]
        .filter(([, { origin }]) => ['OpenTelemetry API and SDK', 'tracebus', 'official instrumentation'].includes(stackPartOf(origin)))
        .sort((a, b) => b[1].time - a[1].time)
        .slice(0, 6)
        .map(([name, { time, origin }]) => `\`${name.split('  ')[0]}\` (${origin}) ${(time / sample.messages).toFixed(2)}`);
      if (tracing.length > 0) top.set(variant, tracing.join(', '));
    }
    const cell = (variant: string, part: string) => (parts.get(variant)!.get(part as never) ?? 0).toFixed(2);
    const lines = [
      'Where the time goes: one more run per variant with its throughput pass CPU-profiled (self time per message, µs; samples are wall-clock, so time the process waited descheduled inside a socket write counts under Node.js):',
      '',
      `| part of the stack | ${variants.join(' | ')} |`,
      `|---|${variants.map(() => '---:|').join('')}`,
      ...STACK_PARTS.map((part) => `| ${part} | ${variants.map((variant) => cell(variant, part)).join(' | ')} |`),
      `| **busy, all parts** | ${variants.map((variant) => `**${[...parts.get(variant)!].filter(([part]) => part !== 'idle').reduce((sum, [, time]) => sum + time, 0).toFixed(2)}**`).join(' | ')} |`,
      `| idle | ${variants.map((variant) => cell(variant, 'idle')).join(' | ')} |`,
      ...(section.profileNote === undefined ? [] : ['', section.profileNote(profiledSamples)]),
      '',
      ...[...top].map(([variant, functions]) => `- heaviest tracing functions in the ${variant} run (µs per message): ${functions}.`),
    ];
    return lines;
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

const results: string[] = [];
const failures: string[] = [];
try {
  for (const section of sections) {
    if (wanted && !wanted.includes(section.name)) continue;
    let env: NodeJS.ProcessEnv = process.env;
    if (section.broker !== undefined) {
      const found = await brokerEnv(section.broker);
      if (typeof found === 'string') {
        const message = `no ${section.broker} broker: ${found}`;
        if (inCi) throw new Error(`[bench] ${message}`);
        console.error(`[bench] skipping ${section.name}: ${message}`);
        failures.push(`- ${section.title}: not run (${message}).`);
        continue;
      }
      env = found;
    }
    const samples: Samples = new Map(section.variants.map((variant) => [variant, []]));
    const loadBefore = os.loadavg()[0]!;
    for (let round = 0; round < section.rounds; round++) {
      const order = section.variants.map((_, index) => section.variants[(index + round) % section.variants.length]!);
      for (const variant of order) {
        const sample = runChild(section.command(variant), env);
        samples.get(variant)!.push(sample);
        const latency = sample.latency === undefined ? '' : `, wrapper p50 ${sample.latency.p50.toFixed(2)} µs p99 ${sample.latency.p99.toFixed(2)} µs`;
        console.error(`[bench] ${section.name} round ${round + 1}/${section.rounds} ${variant}: ${us(sample).toFixed(2)} µs/message${latency}`);
      }
    }
    const loadAfter = os.loadavg()[0]!;
    if (section.broker !== undefined) brokers.get(section.broker)!.version = samples.get(section.variants[0]!)![0]?.broker;
    const medians = new Map(section.variants.map((variant) => [variant, median(samples.get(variant)!.map(us))]));
    const lines = [`### ${section.title}`, ''];
    if (section.name !== 'memory') {
      const base = medians.get(section.variants[0]!)!;
      // The broker children also report the CPU time their process spent per message: less
      // disturbed by neighbours than the wall clock, it shows what each variant itself costs.
      const cpu = section.broker !== undefined;
      lines.push(
        `| variant | messages/s (median) | µs/message (median) | spread (min–max µs) | throughput vs first |${cpu ? ' client CPU µs/message (median) |' : ''}`,
        `|---|---:|---:|---:|---:|${cpu ? '---:|' : ''}`,
      );
      for (const variant of section.variants) {
        const values = samples.get(variant)!.map(us);
        const value = medians.get(variant)!;
        const cpuCell = cpu ? ` ${median(samples.get(variant)!.map((sample) => Number(sample.cpuMicrosPerMessage))).toFixed(1)} |` : '';
        lines.push(`| ${variant} | ${Math.round(1e6 / value).toLocaleString('en')} | ${value.toFixed(2)} | ${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)} | ${pct(base / value)} |${cpuCell}`);
      }
      lines.push('');
    }
    lines.push(...section.summarize(medians, samples), '');
    if (section.profiled !== undefined && process.env.BENCH_PROFILES !== '0') lines.push(...profileSection(section, env), '');
    lines.push(`<sub>${section.rounds} round${section.rounds === 1 ? '' : 's'}; 1-minute load average ${loadBefore.toFixed(1)} before, ${loadAfter.toFixed(1)} after.</sub>`, '');
    results.push(...lines);
    console.log(lines.join('\n'));
  }
} finally {
  for (const [kind, entry] of brokers) await entry.provided?.stop().catch((error: unknown) => console.error(`[bench] could not stop ${kind}:`, error));
}

const version = (name: string) => (JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;
const brokerLines = [...brokers].flatMap(([kind, entry]) => {
  if (entry.provided === undefined) return [];
  const [title, client, official] = kind === 'kafka' ? ['Kafka', 'kafkajs', '@opentelemetry/instrumentation-kafkajs'] : ['RabbitMQ', 'amqplib', '@opentelemetry/instrumentation-amqplib'];
  return [`- ${title}: ${client} ${version(client)}, broker ${entry.version === undefined ? '' : `${entry.version} `}from ${entry.provided.source}; official instrumentation ${official} ${version(official)}`];
});
const header = [
  '# Benchmarks',
  '',
  'Written by `npm run bench` (scripts/bench/run.ts). Every variant runs in its own process; the',
  `variants alternate over ${rounds} round${rounds === 1 ? '' : 's'} (the memory section: ${Math.min(rounds, 3)}) and the tables show medians with`,
  'their spread.',
  '',
  `- machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}`,
  `- Node.js ${process.version}; @opentelemetry/api ${version('@opentelemetry/api')}, sdk-trace ${version('@opentelemetry/sdk-trace')}, core ${version('@opentelemetry/core')}`,
  ...brokerLines,
  `- messages per run: in-process ${messages.toLocaleString('en')}, memory 1,000,000, RabbitMQ ${rabbitmqMessages.toLocaleString('en')}, Kafka ${kafkaMessages.toLocaleString('en')}`,
  `- run on ${new Date().toISOString().slice(0, 10)}`,
  '',
  '## Targets',
  '',
  ...(targets.length === 0 ? ['No section with a target was run.'] : targets.map((entry) => `- ${entry.section}: ${entry.text} — ${verdict(entry.met)}`)),
  ...failures,
  '',
  '## Variants',
  '',
  'In-process bus: `untraced` is the bus alone; `nosdk` adds tracebus with no SDK registered; `sdk`',
  'adds a TracerProvider with a BatchSpanProcessor in front of a no-op exporter, the',
  'AsyncLocalStorage context manager and the W3C propagators; `floor` is no bus at all, only the',
  'OpenTelemetry work each message cannot avoid with that SDK (start and end a producer span, inject,',
  'extract, start and end a consumer span, run the handler in its context), in a loop that returns to',
  'the event loop every 1,000 messages so that the batch processor exports rather than drops;',
  '`floor+attributes` adds the attributes tracebus records; `bus+floor` is the floor’s work written',
  'by hand around the untraced bus (a publisher that starts the producer span, injects and ends the',
  'span once the bus has the message; a handler that extracts and runs in the consumer span), and',
  '`bus+floor+attributes` the same with the attributes; `untraced+sdk` is the bus alone with the SDK',
  'registered. Every variant with an SDK checks that it exported two spans per message.',
  '',
  'Brokers: `untraced` is the client alone, no SDK; `tracebus` wraps the client with tracebus',
  '(`traceChannel()`, `traceProducer()`/`traceConsumer()`) under the SDK above; `otel` is the official',
  'OpenTelemetry instrumentation of the client under the same SDK; `floor` is the client with only',
  'the OpenTelemetry work each message cannot avoid, under the same SDK (a producer span started,',
  'its context injected, ended; the context extracted, a consumer span around the handler, no',
  'attributes); `tracebus-nosdk` is tracebus with no SDK registered. Producer and consumer run in',
  'one process, so the tables show the cost of tracing both sides, and the broker runs on the same',
  'machine. Each run has a fresh queue or topic, a warm-up pass, a throughput pass (messages/s from',
  'the first send to the last message consumed; the client CPU column is the process’s CPU time',
  'over that pass) and a latency pass of the same size.',
  '',
  '- RabbitMQ: a ConfirmChannel publishes 256-byte messages to the queue through the default',
  '  exchange, waiting for the confirms after every 1,000; a consumer on its own connection',
  '  (prefetch 500) acks each message in its handler.',
  '- Kafka: a topic of 3 partitions; 256-byte keyless messages go out in `send` calls of 100, at',
  '  most 4 calls in flight (acks from all in-sync replicas); one consumer in its own group runs an',
  '  `eachMessage` handler.',
  '',
  'The latency is the consumer-side cost of the handler wrapper: from the client invoking',
  'its callback to the user handler starting, plus from the handler’s end to the callback returning',
  '(kafkajs: to its promise settling), measured at the client’s own call site with',
  '`process.hrtime.bigint()` (scripts/bench/probe.ts). The RabbitMQ handler acks after its end mark,',
  'so the ack, and whatever tracing does in it, counts as overhead for every variant alike.',
  '',
  '## Results',
  '',
];
writeFileSync('docs/benchmarks.md', `${[...header, ...results].join('\n').trimEnd()}\n`);
console.error('[bench] wrote docs/benchmarks.md');
