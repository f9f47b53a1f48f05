/**
 * The markdown of the `isolated` section of docs/benchmarks.md (isolated.ts): what tracing
 * alone costs per message on clients that do nothing, tracebus beside the floor with the
 * semconv-required attributes and, for a Kafka consumer, the same floor with the attributes
 * tracebus records. It separates what tracebus's own code adds from what its attributes cost
 * in the SDK, and, from a CPU profile of each variant run alone, gives tracebus's own self
 * time per message, which the broker sections' target (c) uses. Nothing here measures.
 */
import { median, type IsolatedProfile, type SectionName, type SectionResult } from './results.ts';

interface Row {
  name: string;
  cpuMicrosPerMessage: number;
  /** The main thread's alone (results from before it was measured lack it). */
  mainThreadCpuMicrosPerMessage?: number;
}

/**
 * isolated.ts's operations: its tracebus variant is `<prefix>: tracebus`, the floor it is
 * compared with `<floor>: floor+semconv` (the no-op clients are kafkajs-shaped, so the
 * Kafka floors stand for @confluentinc/kafka-javascript too). Where the floor also ran in the
 * operation's own process under another name, `<sameProcessFloor>: floor+semconv` (the Kafka
 * floors beside the @confluentinc/kafka-javascript wrappers, ISOLATED_GROUPS), that run is the
 * one compared; a profile of the floor alone is the same code either way.
 */
export const OPERATIONS: readonly { prefix: string; floor: string; sameProcessFloor?: string; title: string }[] = [
  { prefix: 'send x100', floor: 'send x100', title: 'Kafka `send` of 100 messages, per message' },
  { prefix: 'send x1', floor: 'send x1', title: 'Kafka `send` of one message' },
  { prefix: 'eachMessage', floor: 'eachMessage', title: 'Kafka `eachMessage`' },
  { prefix: 'confluent send x100', floor: 'send x100', sameProcessFloor: 'confluent send x100', title: '@confluentinc/kafka-javascript `send` of 100 messages, per message' },
  { prefix: 'confluent eachMessage', floor: 'eachMessage', sameProcessFloor: 'confluent eachMessage', title: '@confluentinc/kafka-javascript `eachMessage`' },
  { prefix: 'amqp publish', floor: 'amqp publish', title: 'AMQP publish on a ConfirmChannel' },
  { prefix: 'amqp consume', floor: 'amqp consume', title: 'AMQP consume' },
  { prefix: 'bus publish', floor: 'bus publish', title: 'in-process bus publish' },
  { prefix: 'bus handler', floor: 'bus handler', title: 'in-process bus handler' },
];
const tracebusOf = (prefix: string) => `${prefix}: tracebus`;
/** isolated.ts's variants that run the W3C propagators alone, tracebus's and @opentelemetry/core's. */
export const W3C_TRACEBUS = 'w3c propagators: tracebus';
export const W3C_CORE = 'w3c propagators: core';
const floorOf = (floor: string) => `${floor}: floor+semconv`;
/** The floor row `rows` compare the operation `prefix` with: the one run beside it where there is one (see OPERATIONS). */
function comparedFloor(prefix: string, rows: readonly Row[]): string {
  const operation = OPERATIONS.find((each) => each.prefix === prefix)!;
  const beside = operation.sameProcessFloor === undefined ? undefined : floorOf(operation.sameProcessFloor);
  return beside !== undefined && rows.some((row) => row.name === beside) ? beside : floorOf(operation.floor);
}

/**
 * The processes run.ts's isolated section runs (isolated-transports.ts): each transport's
 * variants in a process of their own, as a service runs one client, so that V8 compiles
 * tracebus's shared code for that client's shapes alone, as it does in production. Every
 * isolated.ts variant is in exactly one (isolated.ts checks).
 */
export const ISOLATED_GROUPS: readonly { name: string; variants: RegExp }[] = [
  { name: 'kafkajs', variants: /^(send x100|send x1|eachMessage): / },
  { name: 'confluent', variants: /^confluent / },
  { name: 'amqplib', variants: /^amqp / },
  { name: 'bus', variants: /^bus / },
  { name: 'w3c', variants: /^w3c propagators: / },
];

/** The group of ISOLATED_GROUPS whose process runs `variant`, or `undefined`. */
export function isolatedGroupOf(variant: string): string | undefined {
  const groups = ISOLATED_GROUPS.filter((group) => group.variants.test(variant));
  return groups.length === 1 ? groups[0]!.name : undefined;
}
/** isolated.ts's variants of the official instrumentation (kafkajs's) on the same no-op clients. */
const officialOf = (prefix: string) => `${prefix}: otel`;
/** The official instrumentation isolated.ts runs on the no-op clients. */
export const ISOLATED_OFFICIAL = '@opentelemetry/instrumentation-kafkajs';

/** The operations isolated.ts also has a `floor+tracebus attributes` variant of: a floor that records tracebus's attributes. */
const SAME_ATTRIBUTES = [
  { prefix: 'send x1', title: 'Kafka `send` of one message' },
  { prefix: 'eachMessage', title: 'Kafka `eachMessage`' },
  { prefix: 'amqp publish', title: 'AMQP publish on a ConfirmChannel' },
];

/** The variants run.ts profiles alone, each in its own child: every tracebus variant and every floor they are compared with. */
export const ISOLATED_PROFILED = [...OPERATIONS.map(({ prefix }) => tracebusOf(prefix)), ...new Set(OPERATIONS.map(({ floor }) => floorOf(floor)))];

/** The operations that make one message of each broker section: its producer's and its consumer's. */
const TRANSPORTS: Partial<Record<SectionName, { producer: string; consumer: string }>> = {
  rabbitmq: { producer: 'amqp publish', consumer: 'amqp consume' },
  kafka: { producer: 'send x100', consumer: 'eachMessage' },
  'kafka-single': { producer: 'send x1', consumer: 'eachMessage' },
  'confluent-kafka': { producer: 'confluent send x100', consumer: 'confluent eachMessage' },
  inprocess: { producer: 'bus publish', consumer: 'bus handler' },
};

/** tracebus's own self time per message of one transport, from the isolated section's profiles (µs). */
export interface IsolatedOwnTime {
  /** The isolated.ts operations, as named there (`send x100`, `eachMessage`, …). */
  producerOperation: string;
  consumerOperation: string;
  /** tracebus's own code (src/) on each side and together, and the part of it in src/w3c. */
  producer: number;
  consumer: number;
  total: number;
  w3c: number;
  /** The hand-written floors' own code (isolated.ts, their loops included) on both sides together. */
  floor: number;
  /** The loops in isolated.ts that drive tracebus's wrappers, both sides together: about what the floors' loops cost. */
  loop: number;
  /**
   * How far `total` moved from one profiled child to the next: the lowest producer child plus
   * the lowest consumer child, and the highest of each. Absent where the results do not say.
   */
  spread?: { low: number; high: number };
}

/**
 * The rows of the isolated section's `sampler` run (`isolated`, or `isolated@1%`), one per
 * variant: the median over its processes (each process's figure is the median of its rounds).
 * A process measures every variant; one that lacks a variant leaves it out of that median.
 */
export function isolatedRows(isolated: SectionResult | undefined, sampler: 'isolated' | 'isolated@1%'): Row[] {
  const processes = processRows(isolated, sampler);
  const names = [...new Set(processes.flatMap((rows) => rows.map((row) => row.name)))];
  return names.map((name) => {
    const rows = processes.flatMap((each) => each.filter((row) => row.name === name));
    const mainThread = rows.flatMap((row) => (typeof row.mainThreadCpuMicrosPerMessage === 'number' ? [row.mainThreadCpuMicrosPerMessage] : []));
    return { name, cpuMicrosPerMessage: median(rows.map((row) => row.cpuMicrosPerMessage)), ...(mainThread.length === rows.length ? { mainThreadCpuMicrosPerMessage: median(mainThread) } : {}) };
  });
}

/** Each process's rows of the `sampler` run, for ratios taken process by process. */
function processRows(isolated: SectionResult | undefined, sampler: 'isolated' | 'isolated@1%'): Row[][] {
  return (isolated?.samples[sampler] ?? []).map((sample) => (sample.rows ?? []) as Row[]);
}

/**
 * The CPU µs per message the isolated section's unprofiled rounds measured for `variant` (every
 * trace sampled) on the main thread, the one V8's tick log samples: the process's CPU time also
 * counts V8's other threads (the GC's helpers, the optimizing compiler), whose time no tick of
 * the profile carries, and dividing it by the ticks' shares would give each function a part of
 * theirs. Results from before the main thread's time was measured give the process's.
 */
function unprofiledCpu(isolated: SectionResult, variant: string): number | undefined {
  const row = isolatedRows(isolated, 'isolated').find((each) => each.name === variant);
  return row?.mainThreadCpuMicrosPerMessage ?? row?.cpuMicrosPerMessage;
}

/**
 * The factor that turns a profile's self times (samples × the interval between them) into CPU
 * time: the main thread's CPU time per operation the unprofiled rounds measured for the variant
 * ({@link unprofiledCpu}), over what its busy samples add up to. The sampler keeps wall-clock
 * time, so where the machine's cores are shared a sample also carries the time the process
 * waited descheduled: on a busy host the busy samples came to up to 2.3 times the CPU time. The
 * profile tells how that time divides among the stack's parts; the unprofiled rounds tell how
 * much CPU there was to divide. 1 where the unprofiled rounds have no row for the variant.
 */
export function profileToCpu(isolated: SectionResult, profile: IsolatedProfile): number {
  const cpu = unprofiledCpu(isolated, profile.variant);
  return cpu === undefined || !Number.isFinite(cpu) || !(profile.busyMicrosPerOperation > 0) ? 1 : cpu / profile.busyMicrosPerOperation;
}

/**
 * What tracebus's own code costs per message on `transport` (producer operation + consumer
 * operation), measured alone on the no-op clients, in CPU µs ({@link profileToCpu});
 * `undefined` when `isolated` did not run, was not profiled, or lacks a profile the transport
 * needs.
 */
export function isolatedOwnTime(isolated: SectionResult | undefined, transport: SectionName): IsolatedOwnTime | undefined {
  const operations = TRANSPORTS[transport];
  const profiles = isolated?.isolatedProfiles;
  if (operations === undefined || profiles === undefined) return undefined;
  const find = (variant: string) => profiles.find((profile) => profile.variant === variant);
  const floorName = (prefix: string) => floorOf(OPERATIONS.find((operation) => operation.prefix === prefix)!.floor);
  const producer = find(tracebusOf(operations.producer));
  const consumer = find(tracebusOf(operations.consumer));
  const producerFloor = find(floorName(operations.producer));
  const consumerFloor = find(floorName(operations.consumer));
  if (producer === undefined || consumer === undefined || producerFloor === undefined || consumerFloor === undefined) return undefined;
  const cpu = (profile: IsolatedProfile, micros: number) => micros * profileToCpu(isolated!, profile);
  const [ownProducer, ownConsumer] = [cpu(producer, producer.tracebusMicrosPerOperation), cpu(consumer, consumer.tracebusMicrosPerOperation)];
  // Each child's share of its busy samples, times the same unprofiled CPU per message.
  const byRun = (profile: IsolatedProfile) => (profile.tracebusSharesByRun ?? []).map((share) => share * (unprofiledCpu(isolated!, profile.variant) ?? Number.NaN)).filter(Number.isFinite);
  const [producerRuns, consumerRuns] = [byRun(producer), byRun(consumer)];
  const spread = producerRuns.length < 2 || consumerRuns.length < 2 ? undefined : { low: Math.min(...producerRuns) + Math.min(...consumerRuns), high: Math.max(...producerRuns) + Math.max(...consumerRuns) };
  return {
    producerOperation: operations.producer,
    consumerOperation: operations.consumer,
    producer: ownProducer,
    consumer: ownConsumer,
    total: ownProducer + ownConsumer,
    w3c: cpu(producer, producer.w3cMicrosPerOperation) + cpu(consumer, consumer.w3cMicrosPerOperation),
    floor: cpu(producerFloor, producerFloor.scriptMicrosPerOperation) + cpu(consumerFloor, consumerFloor.scriptMicrosPerOperation),
    loop: cpu(producer, producer.scriptMicrosPerOperation) + cpu(consumer, consumer.scriptMicrosPerOperation),
    ...(spread === undefined ? {} : { spread }),
  };
}

/**
 * What tracing alone costs per message on `transport` on the no-op clients, producer
 * operation + consumer operation, tracebus's and the semconv floor's (CPU µs, the medians of
 * the unprofiled rounds; `sampled`: under the 1% sampler): the broker sections' added CPU
 * without the client's and the broker's noise around it. `undefined` when `isolated` did not
 * run that sampler or lacks an operation the transport needs.
 */
export function isolatedAdded(isolated: SectionResult | undefined, transport: SectionName, sampled: boolean): IsolatedAdded | undefined {
  const operations = TRANSPORTS[transport];
  const sampler = sampled ? 'isolated@1%' : 'isolated';
  if (operations === undefined) return undefined;
  // Producer + consumer of `name` in `rows`; undefined where either is missing.
  const both = (rows: Row[], name: (prefix: string, rows: Row[]) => string) => {
    const [producer, consumer] = [operations.producer, operations.consumer].map((prefix) => rows.find((row) => row.name === name(prefix, rows))?.cpuMicrosPerMessage);
    return producer !== undefined && consumer !== undefined && Number.isFinite(producer) && Number.isFinite(consumer) ? producer + consumer : undefined;
  };
  const rows = isolatedRows(isolated, sampler);
  const [tracebus, floor] = [both(rows, tracebusOf), both(rows, comparedFloor)];
  if (tracebus === undefined || floor === undefined) return undefined;
  // Process by process, how far the ratios to the floor and to the official instrumentation moved.
  const spread = (against: (prefix: string, rows: Row[]) => string) => {
    const ratios = processRows(isolated, sampler).flatMap((each) => {
      const [mine, theirs] = [both(each, tracebusOf), both(each, against)];
      return mine === undefined || theirs === undefined ? [] : [mine / theirs];
    });
    return ratios.length < 2 ? undefined : { low: Math.min(...ratios), high: Math.max(...ratios) };
  };
  return { producerOperation: operations.producer, consumerOperation: operations.consumer, tracebus, floor, official: both(rows, officialOf), floorSpread: spread(comparedFloor), officialSpread: spread(officialOf) };
}

/** {@link isolatedAdded}'s answer: CPU µs per message of tracing's work on the no-op clients, producer + consumer. */
export interface IsolatedAdded {
  producerOperation: string;
  consumerOperation: string;
  tracebus: number;
  floor: number;
  /** The official instrumentation's, where isolated.ts runs it on the transport's operations. */
  official: number | undefined;
  /** The lowest and highest of tracebus ÷ the floor taken in each process alone; undefined with fewer than two processes. */
  floorSpread?: { low: number; high: number } | undefined;
  /** The same of tracebus ÷ the official instrumentation. */
  officialSpread?: { low: number; high: number } | undefined;
}

/** The W3C propagators alone, tracebus's and @opentelemetry/core's, CPU µs per message (every trace sampled). */
export function isolatedW3c(isolated: SectionResult | undefined): { tracebus: number; core: number } | undefined {
  const rows = isolatedRows(isolated, 'isolated');
  const tracebus = rows.find((row) => row.name === W3C_TRACEBUS)?.cpuMicrosPerMessage;
  const core = rows.find((row) => row.name === W3C_CORE)?.cpuMicrosPerMessage;
  return tracebus === undefined || core === undefined ? undefined : { tracebus, core };
}

const TRANSPORT_TITLES: [SectionName, string][] = [
  ['rabbitmq', 'RabbitMQ'],
  ['kafka', 'Kafka'],
  ['kafka-single', 'Kafka single sends'],
  ['confluent-kafka', '@confluentinc/kafka-javascript'],
  ['inprocess', 'in-process bus'],
];

/** The table of the isolated section's profiles: whose code the self time per message was in, per operation. */
function profileTable(profiles: IsolatedProfile[], section: SectionResult): string[] {
  const find = (variant: string) => profiles.find((profile) => profile.variant === variant);
  const rows = OPERATIONS.flatMap(({ prefix, floor, title }) => {
    const tracebus = find(tracebusOf(prefix));
    const floorRun = find(floorOf(floor));
    if (tracebus === undefined) return [];
    const cpu = (profile: IsolatedProfile, micros: number) => (micros * profileToCpu(section, profile)).toFixed(2);
    return [`| ${title} | ${cpu(tracebus, tracebus.tracebusMicrosPerOperation)} | ${cpu(tracebus, tracebus.w3cMicrosPerOperation)} | ${cpu(tracebus, tracebus.scriptMicrosPerOperation)} | ${floorRun === undefined ? '—' : cpu(floorRun, floorRun.scriptMicrosPerOperation)} |`];
  });
  if (rows.length === 0) return [];
  const { operations, runs } = profiles[0]!;
  const intervals = profiles.map((profile) => profile.intervalMicros);
  // How much the samples' own timeDeltas exceed samples × interval, and how the busy samples
  // compare with the CPU time the unprofiled rounds measured (the profiled runs' own CPU time
  // also counts the profiler's thread).
  const wallExcess = profiles.map((profile) => profile.sampledMicros / (profile.samples * profile.intervalMicros) - 1);
  const busyShare = profiles.flatMap((profile) => {
    const cpu = unprofiledCpu(section, profile.variant);
    return cpu === undefined ? [] : [profile.busyMicrosPerOperation / cpu];
  });
  const range = (values: number[], format: (value: number) => string) => `${format(Math.min(...values))}–${format(Math.max(...values))}`;
  const percent = (value: number) => `${(value * 100).toFixed(0)}%`;
  // Results from before the main thread's CPU time was measured divide the process's.
  const mainThread = isolatedRows(section, 'isolated').some((row) => row.mainThreadCpuMicrosPerMessage !== undefined);
  const cpuDivided = mainThread ? "the main thread's CPU time per message in the unprofiled rounds above" : 'the CPU time per message of the unprofiled rounds above';
  const perTransport = TRANSPORT_TITLES.flatMap(([transport, title]) => {
    const own = isolatedOwnTime(section, transport);
    return own === undefined ? [] : [`${title} (\`${own.producerOperation}\` + \`${own.consumerOperation}\`) ${own.total.toFixed(2)} µs, ${own.w3c.toFixed(2)} of it in src/w3c, the floors' own code ${own.floor.toFixed(2)} µs`];
  });
  return [
    `tracebus's own self time per message, from V8's tick log of each variant run alone in its own process (every trace sampled; the measured rounds only, ${operations.toLocaleString('en')} messages; the median of ${runs} such children, run in a rotating order; CPU µs per message: ${cpuDivided}, divided as the busy ticks divide among the stack's parts${mainThread ? ", as the tick log samples the main thread alone and none of V8's other threads (the GC's helpers, the optimizing compiler), whose CPU time the tables above also count" : ''}). Each tick counts for the function whose code it was in, in that function's own file, including where V8 inlined it into another: the SDK's \`span.end()\` inlined into a tracebus closure counts as OpenTelemetry's, and tracebus's code inlined into the floor's as tracebus's. A tick in a builtin counts for the JavaScript function that called it, as in a CPU profile, or, where the builtin runs without a frame of its own, for that function's caller, which V8's stack walk sees in its place. (A CPU profile from the inspector counts inlined code as the self time of the function it was inlined into, without its file, which made tracebus's own time look larger and the floors' too.) The columns: tracebus's sources (src/), the part of it in its W3C propagators (src/w3c, the work the floors leave to @opentelemetry/core), the loop in isolated.ts that drives tracebus's wrapper, and the floor's own code in isolated.ts (the hand-written glue around the SDK, its loop included).`,
    '',
    '| operation | tracebus src/ µs | of it src/w3c | loop driving tracebus µs | floor+semconv own code µs |',
    '|---|---:|---:|---:|---:|',
    ...rows,
    '',
    ...(perTransport.length === 0 ? [] : [`- per message, producer + consumer: ${perTransport.join('; ')}.`]),
    ...heaviestLines(profiles, find, section),
    `- the ticks were ${range(intervals, (value) => value.toFixed(0))} µs apart (median; 250 µs asked). The busy ones × that interval come to ${busyShare.length === 0 ? '(no unprofiled rounds to compare)' : range(busyShare, percent)} of ${cpuDivided}${mainThread ? '' : ' (which also counts the threads of the GC)'}, which is why the figures above divide that CPU time by the ticks' shares rather than count ticks × interval; the ticks' wall-clock gaps would add ${range(wallExcess, percent)}, time the process waited descheduled.`,
    '',
  ];
}

/**
 * Where tracebus's own time went, per operation: its heaviest functions in the tick logs, each
 * with the time of its own code, wherever V8 inlined it (v8-log.ts).
 */
function heaviestLines(profiles: IsolatedProfile[], find: (variant: string) => IsolatedProfile | undefined, section: SectionResult): string[] {
  const parts = OPERATIONS.flatMap(({ prefix, title }) => {
    const profile = find(tracebusOf(prefix));
    const heaviest = profile?.heaviest;
    if (profile === undefined || heaviest === undefined || heaviest.length === 0) return [];
    const toCpu = profileToCpu(section, profile);
    return [`${title}: ${heaviest.map(({ name, at, micros }) => `\`${name}\` (${at}) ${(micros * toCpu).toFixed(2)}`).join(', ')}`];
  });
  if (parts.length === 0) return [];
  return [
    `- tracebus's heaviest functions, self time per message (µs; the children's ticks together; a function's own code, inlined or not): ${parts.join('; ')}.`,
  ];
}

/** The section's tables, one per sampler, and a line on what tracebus adds over the floors. */
export function isolatedSummary(section: SectionResult): string[] {
  const warmup = section.samples.isolated?.[0]?.warmupMillis;
  const lines = [
    (typeof warmup === 'number' ? `Each process first runs its variants for ${(warmup / 1000).toLocaleString('en')} s of CPU time, until its heap and optimized code have settled as a service's have after a while (a process measured after a few hundred milliseconds took up to 2–3 times the CPU per message); the figures count all of the process's CPU time, V8's other threads (the GC's helpers, the optimizing compiler) included. ` : '') +
    'CPU time per message of the tracing work alone: tracebus\'s wrappers around clients that do nothing (a `send` that resolves at once, a delivery made in memory, a publish confirmed on the next microtask), beside a hand-written floor that records the attributes semconv requires (`floor+semconv`; on a Kafka `send` of 100, also the CLIENT `send` span semconv gives a batch, linked to each message\'s `create` span, as tracebus\'s), with the SDK of the broker sections; each transport\'s variants run in a process of their own, as a service runs one client, so that V8 compiles tracebus\'s shared code for that client\'s shapes alone; the variants alternate over the rounds of a process, each figure is the median of its rounds, and the tables show the median of those over the processes (how many: the section’s title), since what V8 makes of the shared hot paths differs from one process to the next. The @confluentinc/kafka-javascript wrappers run on the same kafkajs-shaped clients (its KafkaJS API has their shape) and are compared with the Kafka floors, run again in their process. `floor+tracebus attributes` is a floor that records what tracebus records: on a Kafka consumer, the ten attributes of its process span, set at the start; on a Kafka `send` of one message and an AMQP publish, the semconv floor with the broker\'s address and port (and on Kafka the client id), set after the start on a span that records, as tracebus sets them. ' +
      `${ISOLATED_OFFICIAL} runs on the same no-op Kafka clients: its patch applied to a module whose \`Kafka\` hands them out, so that its own wrappers of \`send\` and \`eachMessage\` run with nothing under them (the broker sections' \`otel\`, without their noise).`,
    '',
  ];
  for (const variant of section.variants) {
    const rows = isolatedRows(section, variant as 'isolated' | 'isolated@1%');
    if (rows.length === 0) continue;
    const of = (name: string) => rows.find((row) => row.name === name)?.cpuMicrosPerMessage;
    lines.push(variant === 'isolated' ? 'Every trace sampled:' : 'Under `ParentBased(TraceIdRatioBased(0.01))`, producers starting the traces (the consumer side continues one unsampled trace):', '');
    const withOfficial = OPERATIONS.some(({ prefix }) => of(officialOf(prefix)) !== undefined);
    lines.push(
      `| operation | floor+semconv µs | tracebus µs | tracebus ÷ floor |${withOfficial ? ` ${ISOLATED_OFFICIAL} µs | tracebus ÷ it |` : ''}`,
      `|---|---:|---:|---:|${withOfficial ? '---:|---:|' : ''}`,
    );
    for (const { prefix, title } of OPERATIONS) {
      const floor = of(comparedFloor(prefix, rows));
      const tracebus = of(tracebusOf(prefix));
      if (floor === undefined || tracebus === undefined) continue;
      const official = of(officialOf(prefix));
      const officialCells = !withOfficial ? '' : official === undefined ? ' — | — |' : ` ${official.toFixed(2)} | ${(tracebus / official).toFixed(2)}× |`;
      lines.push(`| ${title} | ${floor.toFixed(2)} | ${tracebus.toFixed(2)} | ${(tracebus / floor).toFixed(2)}× |${officialCells}`);
    }
    const sameAttributes = SAME_ATTRIBUTES.flatMap(({ prefix, title }) => {
      const semconv = of(floorOf(prefix));
      const attributes = of(`${prefix}: floor+tracebus attributes`);
      const tracebus = of(tracebusOf(prefix));
      if (semconv === undefined || attributes === undefined || tracebus === undefined) return [];
      return [`- ${title}: with tracebus's attributes the floor costs ${attributes.toFixed(2)} µs (${(attributes / semconv).toFixed(2)}× \`floor+semconv\`); tracebus costs ${(tracebus / attributes).toFixed(2)}× that floor.`];
    });
    if (sameAttributes.length > 0) lines.push('', ...sameAttributes);
    const ownW3c = of(W3C_TRACEBUS);
    const coreW3c = of(W3C_CORE);
    if (ownW3c !== undefined && coreW3c !== undefined) {
      lines.push(`- The W3C propagators alone (\`traceparent\` and baggage written into a message's headers and read back from them as bytes, the propagators called as tracebus and the floors call them): tracebus's (src/w3c) ${ownW3c.toFixed(2)} µs per message, @opentelemetry/core's ${coreW3c.toFixed(2)} µs (${(ownW3c / coreW3c).toFixed(2)}×). This is the work the profiles below count as tracebus's own in src/w3c and, for the floors, as OpenTelemetry's.`);
    }
    lines.push('');
  }
  if (section.isolatedProfiles !== undefined) lines.push(...profileTable(section.isolatedProfiles, section));
  return lines;
}
