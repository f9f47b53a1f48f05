/**
 * The chart `npm run bench` writes (scripts/bench/chart.ts): which bars it draws from a
 * small set of results, with what values, and which variants and transports it leaves out.
 */
import { describe, expect, it } from 'vitest';
import { benchmarkChart, chartBars, chartSummary } from '../../scripts/bench/chart.ts';
import type { BenchResults, Sample, SectionName, SectionResult } from '../../scripts/bench/results.ts';

/** A run of `messages` that took `seconds`, with the client CPU per message when given. */
const sample = (variant: string, seconds: number, cpuMicrosPerMessage?: number): Sample => ({ variant, messages: 1_000, seconds, ...(cpuMicrosPerMessage === undefined ? {} : { cpuMicrosPerMessage }) });

function section(name: SectionName, samples: Record<string, Sample[]>): SectionResult {
  return { name, title: name, variants: Object.keys(samples), rounds: samples.untraced?.length ?? 1, samples, load: { before: 0, after: 0 } };
}

function results(sections: SectionResult[]): BenchResults {
  return {
    rounds: 3,
    memoryRounds: 1,
    // The chart reads no message counts; sections added later need no entry here.
    messages: { inprocess: 1_000, rabbitmq: 1_000, kafka: 1_000 } as BenchResults['messages'],
    environment: { cpus: 2, cpuModel: 'test CPU', memoryBytes: 2 ** 30, platform: 'linux', release: '6', node: 'v24.0.0', api: '1', sdkTrace: '3', core: '3', date: '2026-01-02' },
    brokers: [],
    sections,
    skipped: [],
  };
}

// In-process: wall clock only (15 µs untraced); RabbitMQ: no floor+semconv; Confluent: no
// otel; Kafka did not run; memory is no transport. Medians of three rounds where there are three.
const sample3 = (variant: string, seconds: number, cpu?: number) => [sample(variant, seconds * 1.2, cpu), sample(variant, seconds, cpu), sample(variant, seconds * 0.9, cpu)];
const BENCH = results([
  section('inprocess', { untraced: sample3('untraced', 0.015), nosdk: sample3('nosdk', 0.016), sdk: sample3('sdk', 0.035), floor: sample3('floor', 0.01), 'bus+floor': sample3('bus+floor', 0.025), 'bus+floor+attributes': sample3('bus+floor+attributes', 0.03) }),
  section('memory', { tracebus: [sample('tracebus', 1)] }),
  section('rabbitmq', { untraced: [sample('untraced', 0.05, 30)], tracebus: [sample('tracebus', 0.1, 50)], otel: [sample('otel', 0.125, 62.5)], floor: [sample('floor', 0.08, 41)], 'tracebus-nosdk': [sample('tracebus-nosdk', 0.051, 30.5)] }),
  section('confluent-kafka', { untraced: [sample('untraced', 0.04, 35)], tracebus: [sample('tracebus', 0.08, 74)], floor: [sample('floor', 0.064, 63)] }),
]);

/** The attribute values of every element `<tag class="…">` of `svg`. */
function elements(svg: string, tag: string, className: string): Record<string, string>[] {
  return [...svg.matchAll(new RegExp(`<${tag} class="${className}"([^>]*)>`, 'g'))].map((match) => Object.fromEntries([...match[1]!.matchAll(/([\w-]+)="([^"]*)"/g)].map(([, key, value]) => [key!, value!])));
}

/** The text of every `<text class="…">` of `svg`. */
const texts = (svg: string, className: string) => [...svg.matchAll(new RegExp(`<text class="${className}"[^>]*>([^<]*)</text>`, 'g'))].map((match) => match[1]!);

describe('the benchmark chart', () => {
  it('has one bar per variant a transport ran, in the chart’s order, with its throughput share and added CPU', () => {
    const bars = chartBars(BENCH).map(({ transport, variant, throughput, addedCpu }) => [transport, variant, Number(throughput.toFixed(4)), Number(addedCpu.toFixed(2))]);
    expect(bars).toEqual([
      // In-process: µs per message from the wall clock, the median round (15 µs untraced).
      ['In-process', 'tracebus', 0.4286, 20],
      ['In-process', 'floor', 0.6, 10],
      ['In-process', 'floor+semconv', 0.5, 15],
      ['RabbitMQ', 'tracebus', 0.5, 20],
      ['RabbitMQ', 'otel', 0.4, 32.5],
      ['RabbitMQ', 'floor', 0.625, 11],
      ['Confluent', 'tracebus', 0.5, 39],
      ['Confluent', 'floor', 0.625, 28],
    ]);
  });

  it('draws each bar in both panels, and nothing for a variant or transport that did not run', () => {
    const svg = benchmarkChart(BENCH);
    const rects = elements(svg, 'rect', 'bar');
    expect(rects).toHaveLength(16);
    const drawn = rects.map((rect) => `${rect['data-transport']}/${rect['data-variant']}`);
    const expected = ['In-process/tracebus', 'In-process/floor', 'In-process/floor+semconv', 'RabbitMQ/tracebus', 'RabbitMQ/otel', 'RabbitMQ/floor', 'Confluent/tracebus', 'Confluent/floor'];
    expect(drawn).toEqual([...expected, ...expected]);
    // Not drawn as zero: absent.
    expect(drawn).not.toContain('Confluent/otel');
    expect(drawn).not.toContain('RabbitMQ/floor+semconv');
    expect(drawn.some((bar) => bar.includes('@1%') || bar.includes('nosdk') || bar.includes('untraced'))).toBe(false);
    expect(texts(svg, 'transport')).toEqual(['In-process', 'RabbitMQ', 'Confluent', 'In-process', 'RabbitMQ', 'Confluent']);
    expect(texts(svg, 'legend')).toEqual(['tracebus', 'otel', 'floor', 'floor+semconv', 'untraced (100%, +0 µs)']);
  });

  it('labels every bar with its value: a share of untraced above, µs of CPU added below', () => {
    const svg = benchmarkChart(BENCH);
    const values = texts(svg, 'value');
    expect(values).toEqual(['43%', '60%', '50%', '50%', '40%', '63%', '50%', '63%', '20.0', '10.0', '15.0', '20.0', '32.5', '11.0', '39.0', '28.0']);
    expect(svg).toContain('<title>RabbitMQ, otel: 40%</title>');
    expect(svg).toContain('<title>Confluent, tracebus: 39.0</title>');
    expect(svg).toContain('Throughput, % of untraced (higher is better)');
    expect(svg).toContain('Client CPU added per message, µs (lower is better)');
  });

  it('is one SVG document, 900 px wide', () => {
    const svg = benchmarkChart(BENCH);
    expect(svg.match(/<svg /g)).toHaveLength(1);
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="900" height="\d+" viewBox="0 0 900 \d+">\n/);
    expect(svg.endsWith('</svg>\n')).toBe(true);
  });

  it('says what it drew for the report, and that nothing was drawn when no transport ran', () => {
    expect(chartSummary(BENCH)).toEqual({
      text: 'docs/benchmarks.svg drawn from this run: throughput as a share of untraced and client CPU added per message, 8 variants on 3 transports',
      met: true,
      brief: { goal: 'a chart drawn from the same run', measured: '8 variants on 3 transports' },
    });
    const empty = results([section('memory', { tracebus: [sample('tracebus', 1)] })]);
    expect(chartSummary(empty).met).toBe(false);
    const svg = benchmarkChart(empty);
    expect(elements(svg, 'rect', 'bar')).toHaveLength(0);
    expect(svg).toContain('No transport section ran.');
  });
});
