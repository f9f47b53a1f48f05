/**
 * The markdown of a memory section of docs/benchmarks.md (the in-process bus, RabbitMQ,
 * Kafka): whether the heap after GC stayed flat over tracebus's long run, and the bytes each
 * variant allocated per message. Nothing here measures (heap.ts does).
 */
import type { HeapSample } from './heap.ts';
import { median, slope, type Sample, type SectionResult } from './results.ts';
import type { Brief } from './report.ts';

/**
 * The bound of a flat heap: a line fit through the heap after GC (Theil–Sen, results.ts)
 * rising at most 1 byte per message. Anything a message left behind would rise much faster: one object kept per message
 * is 16 bytes or more, so 1.5 MiB or more per 100,000 messages.
 */
export const FLAT_BYTES_PER_MESSAGE = 1;
const PER = 100_000;

const heapSamplesOf = (sample: Sample) => sample.heapSamples as HeapSample[];
/** The slope of one run's heap after GC, in bytes per 100,000 messages. */
const slopeOf = (sample: Sample) => slope(heapSamplesOf(sample).map(({ messages, heapUsedBytes }) => ({ x: messages, y: heapUsedBytes }))) * PER;
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(2);

/** The summary of a memory section; `target` states the flat-heap target of tracebus's run. */
export function memorySummary(section: SectionResult, target: (text: string, met: boolean, brief: Brief) => string): string[] {
  const runs = section.samples.tracebus ?? [];
  if (runs.length === 0) return ['- tracebus did not run.'];
  const slopes = runs.map(slopeOf);
  const tracebusSlope = median(slopes);
  const bound = FLAT_BYTES_PER_MESSAGE * PER;
  const messages = runs[0]!.messages;
  // The run whose slope is the median (the lower middle one for an even count), for its samples.
  const middle = runs[slopes.indexOf([...slopes].sort((a, b) => a - b)[(slopes.length - 1) >> 1]!)]!;
  const allocated = (variant: string) => median((section.samples[variant] ?? []).map((sample) => Number(sample.allocatedBytesPerMessage)));
  const lines = [
    `- ${target(`heap after GC over ${messages.toLocaleString('en')} messages through tracebus: a line fit through its samples (Theil–Sen) rises ${kib(tracebusSlope)} per 100k messages (flat: at most ${kib(bound)}, ${FLAT_BYTES_PER_MESSAGE} byte per message)`, tracebusSlope <= bound, {
      goal: `heap after GC flat over ${messages.toLocaleString('en')} messages`,
      measured: `${kib(tracebusSlope)} per 100k messages (flat: ≤ ${kib(bound)})`,
    })}.`,
    `- tracebus's heap after GC (MiB), after a warm-up and every ${(heapSamplesOf(middle)[1]!.messages).toLocaleString('en')} messages${runs.length > 1 ? ' (the run with the median slope)' : ''}: ${heapSamplesOf(middle)
      .map(({ heapUsedBytes }) => mib(heapUsedBytes))
      .join(', ')}${runs.length > 1 ? `; slope per run: ${slopes.map(kib).join(', ')} per 100k` : ''}.`,
    '',
    '| variant | messages per run | bytes allocated per message (median) | over untraced | heap after GC: slope per 100k messages (median) |',
    '|---|---:|---:|---:|---:|',
  ];
  const untraced = allocated('untraced');
  for (const variant of section.variants) {
    const samples = section.samples[variant] ?? [];
    if (samples.length === 0) continue;
    const added = variant === 'untraced' ? '—' : `+${(allocated(variant) - untraced).toFixed(0)}`;
    lines.push(`| ${variant} | ${samples[0]!.messages.toLocaleString('en')} | ${allocated(variant).toFixed(0)} | ${added} | ${kib(median(samples.map(slopeOf)))} |`);
  }
  const tracebusAdded = allocated('tracebus') - untraced;
  // Each floor the section ran, the attribute-free one first; the other records the attributes semantic conventions require.
  const beside = section.variants
    .filter((variant) => variant.startsWith('floor'))
    .map((variant) => ({ variant, added: allocated(variant) - untraced }))
    .filter(({ added }) => Number.isFinite(added) && added > 0)
    .map(({ variant, added }) => `${(tracebusAdded / added).toFixed(2)}× what \`${variant}\` allocates over it (${added.toFixed(0)} bytes)`);
  if (beside.length > 0) lines.push('', `tracebus allocates ${tracebusAdded.toFixed(0)} bytes per message over the untraced client: ${beside.join('; ')}.`);
  return lines;
}
