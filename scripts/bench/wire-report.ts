/**
 * The markdown of the wire section of docs/benchmarks.md: the bytes tracing adds to a Kafka
 * record and an AMQP basic.publish (wire.ts), and what the same bytes as static headers do to
 * each broker's untraced throughput. Nothing here measures.
 */
import { median, microsPerMessage as us, type Sample, type SectionResult } from './results.ts';
import type { WireCase } from './wire.ts';
import type { Brief } from './report.ts';

const pct = (value: number) => `${(value * 100).toFixed(1)}%`;
const BROKERS = [
  { broker: 'rabbitmq', title: 'RabbitMQ' },
  { broker: 'kafka', title: 'Kafka' },
];
const BODIES = [
  { size: 100, label: '100 B' },
  { size: 1024, label: '1 KiB' },
];

/** The summary of the wire section; `target` states that every case and broker was measured. */
export function wireSummary(section: SectionResult, target: (text: string, met: boolean, brief: Brief) => string): string[] {
  const cases = (section.samples.encoding?.[0]?.cases ?? []) as WireCase[];
  if (cases.length === 0) return ['- wire.ts did not run.'];
  const share = (added: number, whole: number) => `${pct(added / whole)} of ${whole.toLocaleString('en')}`;
  const lines = [
    'Bytes tracing adds to one message, from the clients’ own encoders (kafkajs’s record encoder; amqplib’s basic.publish method, content-header and body frames), the headers as tracebus wrote them for a sampled producer span:',
    '',
    '| headers | Kafka record: bytes added | of a 100 B record | of a 1 KiB record | AMQP publish: bytes added | of a 100 B publish | of a 1 KiB publish |',
    '|---|---:|---:|---:|---:|---:|---:|',
    ...cases.map(
      (entry) =>
        `| ${entry.name} | ${entry.kafkaAddedBytes} | ${share(entry.kafkaAddedBytes, entry.kafkaRecordBytes[100]!)} | ${share(entry.kafkaAddedBytes, entry.kafkaRecordBytes[1024]!)} | ${entry.amqpAddedBytes} | ${share(entry.amqpAddedBytes, entry.amqpPublishBytes[100]!)} | ${share(entry.amqpAddedBytes, entry.amqpPublishBytes[1024]!)} |`,
    ),
    '',
    `The headers of the last case, as tracebus wrote them on the Kafka record (the AMQP headers table carries the same): ${Object.entries(cases.at(-1)!.kafkaHeaders)
      .map(([name, value]) => `\`${name}: ${value}\``)
      .join(', ')}. amqplib always sends a headers table, so on AMQP a header costs its entry alone.`,
    '',
  ];
  const runs = section.variants.filter((variant) => (section.samples[variant] ?? []).length > 0);
  const medianOf = (variant: string, value: (sample: Sample) => number) => median(section.samples[variant]!.map(value));
  const rows: string[] = [];
  const ratios: number[] = [];
  for (const { broker, title } of BROKERS) {
    for (const { label } of BODIES) {
      const without = `${broker} ${label}`;
      const withHeaders = `${without} + headers`;
      if (!runs.includes(without) || !runs.includes(withHeaders)) continue;
      const rate = (variant: string) => 1e6 / medianOf(variant, us);
      const cpu = (variant: string) => medianOf(variant, (sample) => Number(sample.cpuMicrosPerMessage));
      ratios.push(rate(withHeaders) / rate(without));
      rows.push(`| ${title} | ${label} | ${Math.round(rate(without)).toLocaleString('en')} | ${Math.round(rate(withHeaders)).toLocaleString('en')} | ${pct(rate(withHeaders) / rate(without))} | ${cpu(without).toFixed(1)} | ${cpu(withHeaders).toFixed(1)} |`);
    }
  }
  if (rows.length > 0)
    lines.push(
      `Effect on each broker’s throughput: the untraced client (the broker sections’ workload) with bodies of 100 B and 1 KiB, without and with the headers of the last case as static headers on every message (the same bytes, none of tracing’s CPU), alternating over ${section.rounds} round${section.rounds === 1 ? '' : 's'}; medians:`,
      '',
      '| broker | body | messages/s without | messages/s with the headers | with ÷ without | client CPU µs/message without | with |',
      '|---|---|---:|---:|---:|---:|---:|',
      ...rows,
      '',
    );
  const complete = cases.length === 3 && rows.length === BROKERS.length * BODIES.length;
  const first = cases[0]!;
  const last = cases.at(-1)!;
  const range = ratios.length === 0 ? 'not measured' : `${pct(Math.min(...ratios))}–${pct(Math.max(...ratios))} of the throughput without them`;
  lines.push(
    `- ${target(`bytes on the wire, measured with the clients’ encoders and on both brokers: traceparent adds ${first.kafkaAddedBytes} bytes to a Kafka record and ${first.amqpAddedBytes} to an AMQP publish; with tracestate and baggage ${last.kafkaAddedBytes} and ${last.amqpAddedBytes}; carrying those headers, the brokers ran at ${range}`, complete, {
      goal: 'bytes on the wire, and their effect on broker throughput',
      measured: `traceparent +${first.kafkaAddedBytes} B (Kafka), +${first.amqpAddedBytes} B (AMQP); brokers at ${range}`,
    })}.`,
  );
  return lines;
}
