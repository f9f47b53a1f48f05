/**
 * The broker sections' second measure of what tracing adds (scripts/bench/isolated-report.ts):
 * the producer and consumer operations of each transport, taken from the isolated section's
 * unprofiled rows, tracebus's beside the semconv floor's, for the sampler asked for.
 */
import { describe, expect, it } from 'vitest';
import { ISOLATED_GROUPS, isolatedAdded, isolatedGroupOf, isolatedOwnTime, isolatedRows, isolatedSummary, profileToCpu } from '../../scripts/bench/isolated-report.ts';
import type { SectionResult } from '../../scripts/bench/results.ts';

const rows = (values: Record<string, number>) => Object.entries(values).map(([name, cpuMicrosPerMessage]) => ({ name, cpuMicrosPerMessage }));

function isolated(all: Record<string, number>, sampled?: Record<string, number>): SectionResult {
  const samples: SectionResult['samples'] = { isolated: [{ variant: 'isolated', messages: 1_000, seconds: 1, rows: rows(all) }] };
  if (sampled !== undefined) samples['isolated@1%'] = [{ variant: 'isolated@1%', messages: 1_000, seconds: 1, rows: rows(sampled) }];
  return { name: 'isolated', title: 'isolated', variants: Object.keys(samples), rounds: 1, samples, load: { before: 0, after: 0 } };
}

const EVERY_TRACE = {
  'send x1: tracebus': 2.5,
  'send x1: floor+semconv': 2,
  'send x100: tracebus': 1.5,
  'send x100: floor+semconv': 1.25,
  'eachMessage: tracebus': 3.25,
  'eachMessage: floor+semconv': 3,
  'confluent send x100: tracebus': 1.75,
  'confluent eachMessage: tracebus': 3.5,
};

describe('isolatedAdded', () => {
  it('adds each transport’s producer and consumer operation, tracebus’s and its floors’', () => {
    const section = isolated(EVERY_TRACE);
    expect(isolatedAdded(section, 'kafka-single', false)).toEqual({ producerOperation: 'send x1', consumerOperation: 'eachMessage', tracebus: 5.75, floor: 5 });
    expect(isolatedAdded(section, 'kafka', false)).toEqual({ producerOperation: 'send x100', consumerOperation: 'eachMessage', tracebus: 4.75, floor: 4.25 });
    // @confluentinc/kafka-javascript's wrappers are compared with the Kafka floors.
    expect(isolatedAdded(section, 'confluent-kafka', false)).toEqual({ producerOperation: 'confluent send x100', consumerOperation: 'confluent eachMessage', tracebus: 5.25, floor: 4.25 });
  });

  it('compares @confluentinc/kafka-javascript’s wrappers with the Kafka floors run in their own process, where those ran', () => {
    const beside = { ...EVERY_TRACE, 'confluent send x100: floor+semconv': 1.5, 'confluent eachMessage: floor+semconv': 3.5 };
    expect(isolatedAdded(isolated(beside), 'confluent-kafka', false)).toEqual({ producerOperation: 'confluent send x100', consumerOperation: 'confluent eachMessage', tracebus: 5.25, floor: 5 });
    // kafkajs's wrappers keep the floors of their own process.
    expect(isolatedAdded(isolated(beside), 'kafka', false)).toEqual({ producerOperation: 'send x100', consumerOperation: 'eachMessage', tracebus: 4.75, floor: 4.25 });
    expect(isolatedSummary(isolated(beside)).join('\n')).toContain('| @confluentinc/kafka-javascript `send` of 100 messages, per message | 1.50 | 1.75 | 1.17× |');
  });

  it('reads the sampled rows for the sampled figures, and gives none where they did not run', () => {
    const sampled = isolated(EVERY_TRACE, { 'send x1: tracebus': 1.5, 'send x1: floor+semconv': 1.25, 'eachMessage: tracebus': 2, 'eachMessage: floor+semconv': 2.5 });
    expect(isolatedAdded(sampled, 'kafka-single', true)).toEqual({ producerOperation: 'send x1', consumerOperation: 'eachMessage', tracebus: 3.5, floor: 3.75 });
    expect(isolatedAdded(isolated(EVERY_TRACE), 'kafka-single', true)).toBeUndefined();
  });

  it('adds the official instrumentation’s operations where it ran on the no-op clients', () => {
    const section = isolated({ ...EVERY_TRACE, 'send x1: otel': 2.25, 'eachMessage: otel': 2.75, 'send x100: otel': 1 });
    expect(isolatedAdded(section, 'kafka-single', false)?.official).toBe(5);
    expect(isolatedAdded(section, 'kafka', false)?.official).toBe(3.75);
    // It has no wrappers of Confluent's client.
    expect(isolatedAdded(section, 'confluent-kafka', false)?.official).toBeUndefined();
  });

  it('gives nothing for a transport whose operations are missing, or for a section that is not one', () => {
    const section = isolated(EVERY_TRACE);
    expect(isolatedAdded(section, 'rabbitmq', false)).toBeUndefined();
    expect(isolatedAdded(isolated({ ...EVERY_TRACE, 'eachMessage: floor+semconv': Number.NaN }), 'kafka', false)).toBeUndefined();
    expect(isolatedAdded(section, 'wire', false)).toBeUndefined();
    expect(isolatedAdded(undefined, 'kafka', false)).toBeUndefined();
  });
});

describe('several isolated processes', () => {
  /** An isolated section of one process per entry of `processes` (every trace sampled). */
  const processes = (...each: Record<string, number>[]): SectionResult => ({
    name: 'isolated',
    title: 'isolated',
    variants: ['isolated'],
    rounds: each.length,
    samples: { isolated: each.map((values) => ({ variant: 'isolated', messages: 1_000, seconds: 1, rows: rows(values) })) },
    load: { before: 0, after: 0 },
  });
  // tracebus ÷ the floor, send x1 + eachMessage: 0.8×, 1.25×, 1.5× in the three processes.
  const SECTION = processes(
    { 'send x1: tracebus': 2, 'eachMessage: tracebus': 2, 'send x1: floor+semconv': 2.5, 'eachMessage: floor+semconv': 2.5, 'send x1: otel': 2, 'eachMessage: otel': 2 },
    { 'send x1: tracebus': 3, 'eachMessage: tracebus': 2, 'send x1: floor+semconv': 2, 'eachMessage: floor+semconv': 2, 'send x1: otel': 3, 'eachMessage: otel': 3 },
    { 'send x1: tracebus': 3, 'eachMessage: tracebus': 3, 'send x1: floor+semconv': 2, 'eachMessage: floor+semconv': 2, 'send x1: otel': 1.5, 'eachMessage: otel': 1.5 },
  );

  it('take each variant’s median over the processes', () => {
    expect(isolatedRows(SECTION, 'isolated')).toEqual(rows({ 'send x1: tracebus': 3, 'eachMessage: tracebus': 2, 'send x1: floor+semconv': 2, 'eachMessage: floor+semconv': 2, 'send x1: otel': 2, 'eachMessage: otel': 2 }));
    expect(isolatedRows(SECTION, 'isolated@1%')).toEqual([]);
  });

  it('give the ratios’ spread process by process, beside the ratio of the medians', () => {
    expect(isolatedAdded(SECTION, 'kafka-single', false)).toEqual({
      producerOperation: 'send x1',
      consumerOperation: 'eachMessage',
      tracebus: 5,
      floor: 4,
      official: 4,
      floorSpread: { low: 0.8, high: 1.5 },
      // tracebus ÷ the official instrumentation: 1×, 5/6×, 2×.
      officialSpread: { low: 5 / 6, high: 2 },
    });
    // One process gives no spread.
    expect(isolatedAdded(isolated(EVERY_TRACE), 'kafka-single', false)?.floorSpread).toBeUndefined();
  });
});

describe('isolatedOwnTime', () => {
  /** A profile of `variant` whose busy samples came to `busy` µs per operation, `tracebus` and `script` µs of it in those parts. */
  const profile = (variant: string, busy: number, tracebus: number, w3c: number, script: number) => ({ variant, runs: 3, operations: 100_000, samples: 1_000, intervalMicros: 400, sampledMicros: 400_000, busyMicrosPerOperation: busy, tracebusMicrosPerOperation: tracebus, w3cMicrosPerOperation: w3c, scriptMicrosPerOperation: script });

  it('divides the unprofiled CPU time per message as the busy samples divide among the parts', () => {
    // The samples counted twice the CPU time on the producer's side and as much on the consumer's.
    const section = isolated(EVERY_TRACE);
    section.isolatedProfiles = [
      profile('send x1: tracebus', 5, 1, 0.2, 0.1),
      profile('eachMessage: tracebus', 3.25, 0.5, 0.25, 0.05),
      profile('send x1: floor+semconv', 4, 0, 0, 0.4),
      profile('eachMessage: floor+semconv', 3, 0, 0, 0.3),
    ];
    expect(profileToCpu(section, section.isolatedProfiles[0]!)).toBe(0.5);
    expect(isolatedOwnTime(section, 'kafka-single')).toEqual({ producerOperation: 'send x1', consumerOperation: 'eachMessage', producer: 0.5, consumer: 0.5, total: 1, w3c: 0.35, floor: 0.5, loop: 0.1 });
  });

  it('gives how far the children moved: the lowest producer and consumer children together, and the highest', () => {
    const section = isolated(EVERY_TRACE);
    // The unprofiled rounds: 2.5 µs per `send x1`, 3.25 µs per `eachMessage`.
    section.isolatedProfiles = [
      { ...profile('send x1: tracebus', 5, 1, 0.2, 0.1), tracebusSharesByRun: [0.2, 0.3, 0.15] },
      { ...profile('eachMessage: tracebus', 3.25, 0.5, 0.25, 0.05), tracebusSharesByRun: [0.16, 0.1, 0.2] },
      profile('send x1: floor+semconv', 4, 0, 0, 0.4),
      profile('eachMessage: floor+semconv', 3, 0, 0, 0.3),
    ];
    const spread = isolatedOwnTime(section, 'kafka-single')?.spread;
    expect(spread?.low).toBeCloseTo(0.15 * 2.5 + 0.1 * 3.25, 10);
    expect(spread?.high).toBeCloseTo(0.3 * 2.5 + 0.2 * 3.25, 10);
    // One child alone says nothing of a spread.
    section.isolatedProfiles[0] = { ...section.isolatedProfiles[0]!, tracebusSharesByRun: [0.2] };
    expect(isolatedOwnTime(section, 'kafka-single')?.spread).toBeUndefined();
  });

  it('divides the main thread’s CPU time where the unprofiled rounds measured it: the ticks sample no other thread', () => {
    const section = isolated(EVERY_TRACE);
    const main: Record<string, number> = { 'send x1: tracebus': 2, 'eachMessage: tracebus': 2.6, 'send x1: floor+semconv': 1.6, 'eachMessage: floor+semconv': 2.4 };
    section.samples.isolated![0]!.rows = rows(EVERY_TRACE).map((row) => (row.name in main ? { ...row, mainThreadCpuMicrosPerMessage: main[row.name] } : row));
    section.isolatedProfiles = [
      { ...profile('send x1: tracebus', 5, 1, 0.2, 0.1), tracebusSharesByRun: [0.2, 0.25] },
      profile('eachMessage: tracebus', 3.25, 0.5, 0.25, 0.05),
      profile('send x1: floor+semconv', 4, 0, 0, 0.4),
      profile('eachMessage: floor+semconv', 3, 0, 0, 0.3),
    ];
    // 2 µs of the main thread's over 5 µs of busy samples, where the process's 2.5 µs gave 0.5.
    expect(profileToCpu(section, section.isolatedProfiles[0]!)).toBe(0.4);
    const own = isolatedOwnTime(section, 'kafka-single')!;
    expect(own.producer).toBeCloseTo(0.4, 10);
    expect(own.consumer).toBeCloseTo(0.4, 10);
    expect(own.total).toBeCloseTo(0.8, 10);
    expect(own.floor).toBeCloseTo(0.16 + 0.24, 10);
    // The rows still give the process's CPU time, and the main thread's beside it.
    expect(isolatedRows(section, 'isolated').find((row) => row.name === 'send x1: tracebus')).toEqual({ name: 'send x1: tracebus', cpuMicrosPerMessage: 2.5, mainThreadCpuMicrosPerMessage: 2 });
    expect(isolatedSummary(section).join('\n')).toContain("CPU µs per message: the main thread's CPU time per message in the unprofiled rounds above, divided as the busy ticks divide");
  });

  it('gives no main-thread figure for a variant that some process measured without it', () => {
    const section = isolated({ 'send x1: tracebus': 2.5 });
    section.samples.isolated![0]!.rows = [{ name: 'send x1: tracebus', cpuMicrosPerMessage: 2.5, mainThreadCpuMicrosPerMessage: 2 }];
    section.samples.isolated!.push({ variant: 'isolated', messages: 1_000, seconds: 1, rows: rows({ 'send x1: tracebus': 3.5 }) });
    // The median of two processes is their mean.
    expect(isolatedRows(section, 'isolated')).toEqual([{ name: 'send x1: tracebus', cpuMicrosPerMessage: 3 }]);
    section.samples.isolated![1]!.rows = [{ name: 'send x1: tracebus', cpuMicrosPerMessage: 3.5, mainThreadCpuMicrosPerMessage: 3 }];
    expect(isolatedRows(section, 'isolated')).toEqual([{ name: 'send x1: tracebus', cpuMicrosPerMessage: 3, mainThreadCpuMicrosPerMessage: 2.5 }]);
  });

  it('says how long each process warmed up, where the results tell', () => {
    const section = isolated(EVERY_TRACE);
    expect(isolatedSummary(section).join('\n')).not.toContain('Each process first runs its variants');
    section.samples.isolated![0]!.warmupMillis = 3000;
    expect(isolatedSummary(section)[0]).toMatch(/^Each process first runs its variants for 3 s of CPU time, /);
  });

  it('keeps samples × interval for a variant the unprofiled rounds have no figure for', () => {
    const section = isolated({});
    expect(profileToCpu(section, profile('send x1: tracebus', 5, 1, 0.2, 0.1))).toBe(1);
    expect(isolatedOwnTime(section, 'kafka-single')).toBeUndefined();
  });
});

describe('isolatedSummary', () => {
  it('sets tracebus beside a floor that records its attributes, for each operation that has one', () => {
    const section = isolated({
      ...EVERY_TRACE,
      'send x1: floor+tracebus attributes': 2.25,
      'eachMessage: floor+tracebus attributes': 3.25,
      'amqp publish: tracebus': 2,
      'amqp publish: floor+semconv': 1.5,
    });
    const lines = isolatedSummary(section);
    expect(lines).toContain('- Kafka `send` of one message: with tracebus\'s attributes the floor costs 2.25 µs (1.13× `floor+semconv`); tracebus costs 1.11× that floor.');
    expect(lines).toContain('- Kafka `eachMessage`: with tracebus\'s attributes the floor costs 3.25 µs (1.08× `floor+semconv`); tracebus costs 1.00× that floor.');
    // No AMQP line without its floor+tracebus attributes row.
    expect(lines.filter((line) => line.includes('with tracebus\'s attributes'))).toHaveLength(2);
    expect(lines).toContain('| Kafka `send` of one message | 2.00 | 2.50 | 1.25× |');
  });

  it('gives the official instrumentation’s figure beside tracebus’s, where it ran', () => {
    const text = isolatedSummary(isolated({ ...EVERY_TRACE, 'send x1: otel': 2.25, 'eachMessage: otel': 2.75 })).join('\n');
    expect(text).toContain('| operation | floor+semconv µs | tracebus µs | tracebus ÷ floor | @opentelemetry/instrumentation-kafkajs µs | tracebus ÷ it |');
    expect(text).toContain('| Kafka `send` of one message | 2.00 | 2.50 | 1.25× | 2.25 | 1.11× |');
    expect(text).toContain('| Kafka `send` of 100 messages, per message | 1.25 | 1.50 | 1.20× | — | — |');
    expect(isolatedSummary(isolated(EVERY_TRACE)).join('\n')).toContain('| operation | floor+semconv µs | tracebus µs | tracebus ÷ floor |\n');
  });
});

describe('isolatedGroupOf', () => {
  it('puts each transport’s variants, and the floors they are compared with, in one process', () => {
    expect(['send x100: tracebus', 'send x1: floor+semconv', 'eachMessage: otel', 'eachMessage: floor+tracebus attributes', 'send x100: tracebus (base)'].map(isolatedGroupOf)).toEqual(['kafkajs', 'kafkajs', 'kafkajs', 'kafkajs', 'kafkajs']);
    expect(['confluent send x100: tracebus', 'confluent eachMessage: floor+semconv'].map(isolatedGroupOf)).toEqual(['confluent', 'confluent']);
    expect(['amqp publish: floor+tracebus attributes', 'amqp consume: tracebus'].map(isolatedGroupOf)).toEqual(['amqplib', 'amqplib']);
    expect(['bus publish: tracebus', 'bus handler: floor+semconv'].map(isolatedGroupOf)).toEqual(['bus', 'bus']);
    expect(isolatedGroupOf('w3c propagators: core')).toBe('w3c');
  });

  it('answers undefined for a variant no process runs, which isolated.ts refuses', () => {
    expect(isolatedGroupOf('send x10: tracebus')).toBeUndefined();
    expect(isolatedGroupOf('nats publish: tracebus')).toBeUndefined();
    expect(ISOLATED_GROUPS.map(({ name }) => name)).toEqual(['kafkajs', 'confluent', 'amqplib', 'bus', 'w3c']);
  });
});
