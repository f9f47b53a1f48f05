/**
 * The markdown of the `isolated` section of docs/benchmarks.md (isolated.ts): what tracing
 * alone costs per message on clients that do nothing, tracebus beside the floor with the
 * semconv-required attributes and, for a Kafka consumer, the same floor with the attributes
 * tracebus records. It separates what tracebus's own code adds from what its attributes cost
 * in the SDK. Nothing here measures.
 */
import type { SectionResult } from './results.ts';

interface Row {
  name: string;
  cpuMicrosPerMessage: number;
}

const OPERATIONS = [
  { prefix: 'send x100', title: 'Kafka `send` of 100 messages, per message' },
  { prefix: 'send x1', title: 'Kafka `send` of one message' },
  { prefix: 'eachMessage', title: 'Kafka `eachMessage`' },
  { prefix: 'amqp publish', title: 'AMQP publish on a ConfirmChannel' },
  { prefix: 'amqp consume', title: 'AMQP consume' },
];

/** The section's tables, one per sampler, and a line on what tracebus adds over the floors. */
export function isolatedSummary(section: SectionResult): string[] {
  const lines = [
    'CPU time per message of the tracing work alone: tracebus\'s wrappers around clients that do nothing (a `send` that resolves at once, a delivery made in memory, a publish confirmed on the next microtask), beside a hand-written floor that records the attributes semconv requires (`floor+semconv`), with the SDK of the broker sections; the variants alternate over the rounds in one process and the table shows medians. `floor+tracebus attributes` is the Kafka consumer floor with the ten attributes tracebus records on a process span, set at its start.',
    '',
  ];
  for (const variant of section.variants) {
    const rows = (section.samples[variant]?.[0]?.rows ?? []) as Row[];
    if (rows.length === 0) continue;
    const of = (name: string) => rows.find((row) => row.name === name)?.cpuMicrosPerMessage;
    lines.push(variant === 'isolated' ? 'Every trace sampled:' : 'Under `ParentBased(TraceIdRatioBased(0.01))`, producers starting the traces (the consumer side continues one unsampled trace):', '');
    lines.push('| operation | floor+semconv µs | tracebus µs | tracebus ÷ floor |', '|---|---:|---:|---:|');
    for (const { prefix, title } of OPERATIONS) {
      const floor = of(`${prefix}: floor+semconv`);
      const tracebus = of(`${prefix}: tracebus`);
      if (floor === undefined || tracebus === undefined) continue;
      lines.push(`| ${title} | ${floor.toFixed(2)} | ${tracebus.toFixed(2)} | ${(tracebus / floor).toFixed(2)}× |`);
    }
    const semconv = of('eachMessage: floor+semconv');
    const attributes = of('eachMessage: floor+tracebus attributes');
    const tracebus = of('eachMessage: tracebus');
    if (semconv !== undefined && attributes !== undefined && tracebus !== undefined) {
      lines.push('', `- Kafka \`eachMessage\`: with tracebus's attributes the floor costs ${attributes.toFixed(2)} µs (${(attributes / semconv).toFixed(2)}× \`floor+semconv\`); tracebus costs ${(tracebus / attributes).toFixed(2)}× that floor.`);
    }
    lines.push('');
  }
  return lines;
}
