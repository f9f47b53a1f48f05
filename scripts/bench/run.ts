/**
 * `npm run bench`: runs every benchmark variant side by side and writes docs/benchmarks.md.
 *
 * Each variant runs in a fresh process, and the variants alternate (A B C D, B C D A, …)
 * over several rounds, so a noisy neighbour hits all of them alike; the table reports the
 * median of the rounds with their spread (min–max).
 *
 *   BENCH_ROUNDS (default 5)  BENCH_MESSAGES (default 100000)  BENCH_SECTIONS (default all)
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';

interface Sample {
  variant: string;
  messages: number;
  seconds: number;
  [extra: string]: unknown;
}

interface Section {
  name: string;
  title: string;
  variants: string[];
  command: (variant: string) => string[];
  summarize: (medians: Map<string, number>, samples: Map<string, Sample[]>) => string[];
}

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const messages = Number(process.env.BENCH_MESSAGES ?? 100_000);
const wanted = process.env.BENCH_SECTIONS?.split(',');

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};
const us = (sample: Sample) => (sample.seconds / sample.messages) * 1e6;
const pct = (value: number) => `${(value * 100).toFixed(1)}%`;

function runChild(args: string[]): Sample {
  const output = execFileSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = output.trim().split('\n').pop()!;
  return JSON.parse(line) as Sample;
}

const sections: Section[] = [
  {
    name: 'inprocess',
    title: `In-process bus: ${messages.toLocaleString('en')} messages per run`,
    variants: ['untraced', 'nosdk', 'sdk', 'floor'],
    command: (variant) => ['scripts/bench/inprocess.ts', variant, String(messages)],
    summarize(medians) {
      const untraced = medians.get('untraced')!;
      const nosdk = medians.get('nosdk')!;
      const sdk = medians.get('sdk')!;
      const floor = medians.get('floor')!;
      const added = sdk - untraced;
      return [
        `- tracebus with no SDK: **${pct(untraced / nosdk)}** of untraced throughput (target ≥ 90%).`,
        `- tracebus with the SDK adds **${added.toFixed(2)} µs** per message to the bus; the floor is **${floor.toFixed(2)} µs**: **${(added / floor).toFixed(2)}×** the floor (target ≤ 1.2×).`,
      ];
    },
  },
  {
    name: 'memory',
    title: 'Memory: 1,000,000 traced in-process messages',
    variants: ['memory'],
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
];

const results: string[] = [];
for (const section of sections) {
  if (wanted && !wanted.includes(section.name)) continue;
  const samples = new Map<string, Sample[]>(section.variants.map((variant) => [variant, []]));
  const sectionRounds = section.name === 'memory' ? Math.min(rounds, 3) : rounds;
  for (let round = 0; round < sectionRounds; round++) {
    const order = section.variants.map((_, index) => section.variants[(index + round) % section.variants.length]!);
    for (const variant of order) {
      const sample = runChild(section.command(variant));
      samples.get(variant)!.push(sample);
      console.error(`[bench] ${section.name} round ${round + 1}/${sectionRounds} ${variant}: ${us(sample).toFixed(2)} µs/message`);
    }
  }
  const medians = new Map(section.variants.map((variant) => [variant, median(samples.get(variant)!.map(us))]));
  const lines = [`### ${section.title}`, ''];
  if (section.name !== 'memory') {
    const base = medians.get(section.variants[0]!)!;
    lines.push('| variant | messages/s (median) | µs/message (median) | spread (min–max µs) | throughput vs first |', '|---|---:|---:|---:|---:|');
    for (const variant of section.variants) {
      const values = samples.get(variant)!.map(us);
      const value = medians.get(variant)!;
      lines.push(`| ${variant} | ${Math.round(1e6 / value).toLocaleString('en')} | ${value.toFixed(2)} | ${Math.min(...values).toFixed(2)}–${Math.max(...values).toFixed(2)} | ${pct(base / value)} |`);
    }
    lines.push('');
  }
  lines.push(...section.summarize(medians, samples), '');
  results.push(...lines);
  console.log(lines.join('\n'));
}

const version = (name: string) => (JSON.parse(readFileSync(`node_modules/${name}/package.json`, 'utf8')) as { version: string }).version;
const header = [
  '# Benchmarks',
  '',
  'Written by `npm run bench` (scripts/bench/run.ts). Every variant runs in its own process; the',
  `variants alternate over ${rounds} rounds and the table shows medians with their spread.`,
  '',
  `- machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}`,
  `- Node.js ${process.version}; @opentelemetry/api ${version('@opentelemetry/api')}, sdk-trace ${version('@opentelemetry/sdk-trace')}, core ${version('@opentelemetry/core')}`,
  `- run on ${new Date().toISOString().slice(0, 10)}`,
  '',
  'Variants of the in-process bus: `untraced` is the bus alone; `nosdk` adds tracebus with no SDK',
  'registered; `sdk` adds a TracerProvider with a BatchSpanProcessor in front of a no-op exporter,',
  'the AsyncLocalStorage context manager and the W3C propagators; `floor` is no bus at all, only the',
  'OpenTelemetry work each message cannot avoid with that SDK (start and end a producer span, inject,',
  'extract, start and end a consumer span, run the handler in its context).',
  '',
];
writeFileSync('docs/benchmarks.md', `${[...header, ...results].join('\n').trimEnd()}\n`);
console.error('[bench] wrote docs/benchmarks.md');
