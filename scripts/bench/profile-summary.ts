/**
 * Summaries of V8 CPU profiles (`node --cpu-prof`, or the inspector's `Profiler.stop`): self
 * time by function, by package, and by the part of the stack it belongs to, so that a
 * benchmark gap can be traced to the code that costs it.
 *
 *   node scripts/bench/profile-summary.ts <file.cpuprofile> [top=25]
 *
 * The broker benchmarks record such a profile of one throughput pass per variant
 * (BENCH_PROFILE, see cpu-profile.ts); run.ts splits it with `stackParts` and report.ts
 * tabulates the parts.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Microseconds sampled, idle included. */
  total: number;
  /** Self time (µs) by package, `tracebus src/<dir>`, or a V8 pseudo-frame. */
  byOrigin: Map<string, number>;
  /** Self time (µs) by `function  file:line`, with the origin of the function. */
  byFunction: Map<string, { time: number; origin: string }>;
}

/** Where a frame comes from: a package under node_modules, this repository's own code, or Node/V8. */
export function originOf(url: string): string {
  if (url === '') return '(v8 / native)';
  const packaged = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (packaged) return packaged[1]!;
  if (url.startsWith('node:')) return '(node core)';
  if (url.startsWith('wasm://')) return '(node core)';
  // The in-process bus is the messaging client of the in-process benchmark, not tracing.
  if (url.endsWith('/src/memory/bus.ts')) return 'tracebus src/memory/bus.ts';
  const local = /\/(src|scripts)\/(.*)$/.exec(url);
  return local ? `tracebus ${local[1]}/${local[2]!.split('/')[0]}` : url;
}

export function summarize(profile: CpuProfile): ProfileSummary {
  const selfTime = new Map<number, number>();
  profile.samples.forEach((id, index) => selfTime.set(id, (selfTime.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  let total = 0;
  const byFunction = new Map<string, { time: number; origin: string }>();
  const byOrigin = new Map<string, number>();
  for (const node of profile.nodes) {
    const time = selfTime.get(node.id) ?? 0;
    if (time === 0) continue;
    total += time;
    const { functionName, url, lineNumber } = node.callFrame;
    const key = `${functionName || '(anonymous)'}  ${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(src|scripts)\//, '$1/')}:${lineNumber + 1}`;
    const from = ['(idle)', '(program)', '(garbage collector)'].includes(functionName) ? functionName : originOf(url);
    const entry = byFunction.get(key);
    if (entry === undefined) byFunction.set(key, { time, origin: from });
    else entry.time += time;
    byOrigin.set(from, (byOrigin.get(from) ?? 0) + time);
  }
  return { total, byOrigin, byFunction };
}

/** The parts of a messaging stack that the benchmark tables break the time into. */
export const STACK_PARTS = ['messaging client', 'OpenTelemetry API and SDK', 'tracebus', 'official instrumentation', 'garbage collector', 'Node.js, V8 and socket I/O', 'benchmark harness'] as const;
export type StackPart = (typeof STACK_PARTS)[number] | 'idle';

export function stackPartOf(origin: string): StackPart {
  if (origin === '(idle)') return 'idle';
  if (origin === '(garbage collector)') return 'garbage collector';
  if (['amqplib', 'kafkajs', '@confluentinc/kafka-javascript', 'tracebus src/memory/bus.ts'].includes(origin)) return 'messaging client';
  if (origin.startsWith('tracebus src/')) return 'tracebus';
  if (origin.startsWith('tracebus scripts/')) return 'benchmark harness';
  if (origin.startsWith('@opentelemetry/instrumentation') || ['require-in-the-middle', 'import-in-the-middle', 'module-details-from-path'].includes(origin)) return 'official instrumentation';
  if (origin.startsWith('@opentelemetry/')) return 'OpenTelemetry API and SDK';
  return 'Node.js, V8 and socket I/O';
}

/**
 * Self time (µs) by part of the stack. The samples are wall-clock: time the thread spent
 * descheduled inside a system call (a socket write that woke the broker, say) counts for
 * the frame it was in, which lands in 'Node.js, V8 and socket I/O'.
 */
export function stackParts(summary: ProfileSummary): Map<StackPart, number> {
  const parts = new Map<StackPart, number>();
  for (const [origin, time] of summary.byOrigin) {
    const part = stackPartOf(origin);
    parts.set(part, (parts.get(part) ?? 0) + time);
  }
  return parts;
}

if (import.meta.main) {
  const [file, topArg = '25'] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: node scripts/bench/profile-summary.ts <file.cpuprofile> [top]');
  const { total, byOrigin, byFunction } = summarize(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile);
  const share = (time: number) => `${((time / total) * 100).toFixed(1).padStart(5)}%  ${(time / 1e3).toFixed(0).padStart(6)} ms`;
  console.log(`${file}: ${(total / 1e3).toFixed(0)} ms sampled\n\nself time by origin:`);
  for (const [name, time] of [...byOrigin].sort((a, b) => b[1] - a[1])) console.log(`  ${share(time)}  ${name}`);
  console.log(`\nself time by function (top ${topArg}):`);
  for (const [name, { time }] of [...byFunction].sort((a, b) => b[1].time - a[1].time).slice(0, Number(topArg))) console.log(`  ${share(time)}  ${name}`);
}
