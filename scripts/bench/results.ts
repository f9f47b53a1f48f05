/**
 * What `npm run bench` measured, as plain data: run.ts fills it in, report.ts writes
 * docs/benchmarks.md from it. Nothing here measures.
 */

/** One run of one variant: the JSON line a benchmark child prints. */
export interface Sample {
  variant: string;
  messages: number;
  seconds: number;
  latency?: { samples: number; p50: number; p99: number };
  spansPerMessage?: number;
  /** The broker's product and version, when the client can tell it. */
  broker?: string;
  [extra: string]: unknown;
}

/** One more run of a variant, with its measured pass CPU-profiled. */
export interface ProfiledRun {
  variant: string;
  /** What the profiled run itself printed. */
  sample: Sample;
  /**
   * Self time per message (µs) by part of the stack (profile-summary.ts), `idle` included,
   * in the order the profile first met each part.
   */
  parts: Record<string, number>;
  /** The functions of OpenTelemetry, tracebus and the official instrumentations, heaviest first. */
  tracingFunctions: { name: string; origin: string; microsPerMessage: number }[];
}

/**
 * One isolated.ts variant run alone with its measured rounds CPU-profiled (run.ts's
 * `isolated` section), in several children: self time per operation (one message sent or
 * consumed) by whose code it was in, where no broker competes for the CPU.
 */
export interface IsolatedProfile {
  /** The isolated.ts variant, e.g. `send x100: tracebus` or `send x100: floor+semconv`. */
  variant: string;
  /** Profiled children of the variant, and the operations (messages) each one's profiled rounds ran. */
  runs: number;
  operations: number;
  /** Samples in the children's profiles together, and the median time between two of them (µs; 250 asked). */
  samples: number;
  intervalMicros: number;
  /** The profiles' timeDeltas summed (µs), each one's first (profiler start to first sample) aside: more than samples × interval by the time the process waited descheduled. */
  sampledMicros: number;
  /** Self time per operation (µs), samples × interval, the median of the children: all but idle, */
  busyMicrosPerOperation: number;
  /** in tracebus's sources (`tracebus src/…`, the in-process bus aside), */
  tracebusMicrosPerOperation: number;
  /** of that in its W3C propagators (`tracebus src/w3c`), */
  w3cMicrosPerOperation: number;
  /** and in scripts/bench/isolated.ts itself: a floor's hand-written code, or the loop that drives tracebus's wrapper. */
  scriptMicrosPerOperation: number;
  /**
   * Child by child, the share of its busy samples in tracebus's sources: how far the figure
   * above moves from one process to the next. Absent in results written before it was recorded.
   */
  tracebusSharesByRun?: number[];
  /**
   * tracebus's heaviest functions by self time per operation (µs), over the children together
   * (their samples summed, over their operations summed), heaviest first. Absent in results
   * written before it was recorded.
   */
  heaviest?: HeavyFunction[];
}

/** A function of tracebus's sources and its self time per operation. */
export interface HeavyFunction {
  /** The function's name as V8 reports it (`(anonymous)` for an arrow function). */
  name: string;
  /** Its file and line, `src/kafka/publisher.ts:173`. */
  at: string;
  micros: number;
}

export type SectionName = 'inprocess' | 'memory' | 'rabbitmq' | 'kafka' | 'kafka-single' | 'confluent-kafka' | 'memory-rabbitmq' | 'memory-kafka' | 'wire' | 'isolated';

/** Everything one section measured. */
export interface SectionResult {
  name: SectionName;
  title: string;
  /** In the order of the tables; the first is the one the others are compared with. */
  variants: string[];
  rounds: number;
  /** Every round's sample, by variant; the wire section's also hold `encoding`, the one run of wire.ts. */
  samples: Record<string, Sample[]>;
  /** The 1-minute load average before and after the rounds. */
  load: { before: number; after: number };
  /** A broker section's client library. */
  client?: string;
  /** A broker section's official instrumentation, which tracebus is compared with, when the client has one. */
  official?: string;
  /** The profiled runs, when the section was profiled. */
  profiles?: ProfiledRun[];
  /** The `isolated` section's variants, each run alone CPU-profiled, when it was profiled. */
  isolatedProfiles?: IsolatedProfile[];
}

/** A section that was asked for but could not run. */
export interface SkippedSection {
  title: string;
  reason: string;
}

/** A broker a section ran against, and the client libraries it ran with. */
export interface BrokerUsed {
  title: string;
  client: string;
  clientVersion: string;
  /** The broker's product and version, when the client could tell it. */
  brokerVersion: string | undefined;
  /** Where the broker came from (scripts/brokers/provision.ts). */
  source: string;
  /** The client's official instrumentation, when it has one. */
  official?: string;
  officialVersion?: string;
}

/** Where the benchmarks ran. */
export interface Environment {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  platform: string;
  release: string;
  node: string;
  /** Versions of @opentelemetry/api, @opentelemetry/sdk-trace and @opentelemetry/core. */
  api: string;
  sdkTrace: string;
  core: string;
  /** The day of the run, YYYY-MM-DD. */
  date: string;
}

/** The results of one `npm run bench`. */
export interface BenchResults {
  /** Rounds per section; the in-process memory and the wire sections make `memoryRounds`, the broker memory sections one. */
  rounds: number;
  memoryRounds: number;
  /** Messages per run of each section. */
  messages: Record<SectionName, number>;
  environment: Environment;
  brokers: BrokerUsed[];
  /** The sections that ran, in the order they ran. */
  sections: SectionResult[];
  skipped: SkippedSection[];
}

/** The median of `values`: the middle one, or the mean of the two middle ones. */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * The floor whose send span ends when the broker confirms the message, as tracebus's does,
 * rather than right after the publish: RabbitMQ's (rabbitmq.ts), and Kafka's for a `send` of
 * one message (kafka-workload.ts), which the broker acknowledges; a `send` of several already
 * has a batch span that lasts as long.
 */
export const CONFIRM_FLOOR = 'floor+semconv+confirm';

/** Where run.ts keeps what a run measured, beside docs/benchmarks.md, and where render.ts reads it. */
export const RESULTS_FILE = 'docs/benchmarks.json';

/** Wall-clock microseconds per message of one run. */
export const microsPerMessage = (sample: Sample): number => (sample.seconds / sample.messages) * 1e6;

/**
 * The slope of the Theil–Sen line through `points` (the median of the slopes between every
 * two of them), in units of y per unit of x: how fast the heap after GC rose over a memory
 * run, in bytes per message. Unlike a least-squares fit, one sample that caught a client's
 * buffers full does not tilt it.
 */
export function slope(points: { x: number; y: number }[]): number {
  const slopes: number[] = [];
  for (let i = 0; i < points.length; i++) for (let j = i + 1; j < points.length; j++) if (points[j]!.x !== points[i]!.x) slopes.push((points[j]!.y - points[i]!.y) / (points[j]!.x - points[i]!.x));
  return median(slopes);
}
