/**
 * docs/benchmarks.svg, drawn from the same results as docs/benchmarks.md (results.ts): for each
 * transport, each traced variant's throughput as a share of the untraced run, and the client
 * CPU it adds per message. Plain SVG written by hand, sized for a README; nothing here
 * measures, and the same results always give the same picture.
 */
import { median, microsPerMessage as us, type BenchResults, type Sample, type SectionResult } from './results.ts';

/** The transports the chart shows, in its order: a section of that name, when it ran. */
const TRANSPORTS = [
  { section: 'inprocess', label: 'In-process' },
  { section: 'rabbitmq', label: 'RabbitMQ' },
  { section: 'kafka', label: 'Kafka, batches' },
  { section: 'kafka-single', label: 'Kafka, single sends' },
  { section: 'confluent-kafka', label: 'Confluent' },
];

/**
 * The variants the chart shows, in its order, with their colours (the sampled ones lighter).
 * The in-process section names its variants otherwise: `sdk` is tracebus, and its floors
 * comparable with a bus are the ones written by hand around it.
 */
const SERIES = [
  { variant: 'tracebus', colour: '#1f5fa8', inprocess: 'sdk' },
  { variant: 'otel', colour: '#e07b00' },
  { variant: 'floor', colour: '#6b6b6b', inprocess: 'bus+floor' },
  { variant: 'floor+semconv', colour: '#2e8b3a', inprocess: 'bus+floor+attributes' },
  { variant: 'tracebus@1%', colour: '#8fb6e3', inprocess: 'sdk@1%' },
  { variant: 'otel@1%', colour: '#f5c27a' },
  { variant: 'floor+semconv@1%', colour: '#9ad3a0', inprocess: 'bus+floor+attributes@1%' },
];

/** One bar in both panels: a variant of a transport. */
export interface ChartBar {
  transport: string;
  variant: string;
  colour: string;
  /** Throughput as a share of the untraced run's (1 = the same). */
  throughput: number;
  /** Client CPU the variant adds per message over the untraced run, µs. */
  addedCpu: number;
}

const medianOf = (section: SectionResult, variant: string, value: (sample: Sample) => number) => median(section.samples[variant]!.map(value));

/**
 * Client CPU per message of a variant: the CPU time broker children count; the in-process
 * children count none, but their event loop is busy all through the pass, so their wall
 * clock per message stands for it.
 */
function cpuPerMessage(section: SectionResult, variant: string): number {
  const counted = section.samples[variant]!.every((sample) => typeof sample.cpuMicrosPerMessage === 'number');
  return counted ? medianOf(section, variant, (sample) => Number(sample.cpuMicrosPerMessage)) : medianOf(section, variant, us);
}

/** The bars of `results`, transport by transport; a variant a section did not run has none. */
export function chartBars(results: BenchResults): ChartBar[] {
  const bars: ChartBar[] = [];
  for (const { section: name, label } of TRANSPORTS) {
    const section = results.sections.find((candidate) => candidate.name === name);
    if (section === undefined || !(section.samples.untraced?.length ?? 0)) continue;
    for (const { variant, colour, inprocess } of SERIES) {
      const measured = name === 'inprocess' ? inprocess : variant;
      if (measured === undefined || !(section.samples[measured]?.length ?? 0)) continue;
      bars.push({
        transport: label,
        variant,
        colour,
        throughput: medianOf(section, 'untraced', us) / medianOf(section, measured, us),
        addedCpu: cpuPerMessage(section, measured) - cpuPerMessage(section, 'untraced'),
      });
    }
  }
  return bars;
}

/** What the chart shows, for the report's list of targets: met once it has bars to show. */
export function chartSummary(results: BenchResults): { text: string; met: boolean; brief: { goal: string; measured: string } } {
  const bars = chartBars(results);
  const transports = new Set(bars.map((bar) => bar.transport)).size;
  const drawn = `${bars.length} variants on ${transports} transport${transports === 1 ? '' : 's'}`;
  return {
    text: `docs/benchmarks.svg drawn from this run: throughput as a share of untraced and client CPU added per message, ${drawn}`,
    met: bars.length > 0,
    brief: { goal: 'a chart drawn from the same run', measured: drawn },
  };
}

const WIDTH = 900;
const LEFT = 64;
const RIGHT = WIDTH - 16;
const PANEL_HEIGHT = 230;
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const round = (value: number) => Math.round(value * 10) / 10;

/** Ticks at 1, 2 or 5 × a power of ten spanning `low`–`high` (0 always among them). */
function ticks(low: number, high: number): number[] {
  const from = Math.min(0, low);
  const to = Math.max(0, high, from + 1e-9);
  const rough = (to - from) / 5;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((factor) => factor * power).find((candidate) => candidate >= rough)!;
  const values: number[] = [];
  for (let value = Math.floor(from / step) * step; value < to + step - 1e-9; value += step) values.push(Math.round(value / step) * step);
  return values;
}

/** Where each transport's bars go: a group per transport, its bars side by side. */
function layout(bars: ChartBar[]): { x: Map<ChartBar, number>; width: number; groups: { label: string; centre: number }[] } {
  const transports = [...new Set(bars.map((bar) => bar.transport))];
  const gap = 1.5;
  const slots = bars.length + gap * transports.length;
  // Bars no wider than 32 px: a few bars are centred rather than stretched.
  const slot = Math.min(40, (RIGHT - LEFT) / slots);
  const x = new Map<ChartBar, number>();
  const groups: { label: string; centre: number }[] = [];
  let at = LEFT + (RIGHT - LEFT - slot * slots) / 2 + (slot * gap) / 2;
  for (const transport of transports) {
    const own = bars.filter((bar) => bar.transport === transport);
    groups.push({ label: transport, centre: at + (own.length * slot) / 2 });
    for (const bar of own) {
      x.set(bar, at + slot * 0.1);
      at += slot;
    }
    at += slot * gap;
  }
  return { x, width: slot * 0.8, groups };
}

/** One panel: its title, axis, gridlines, the untraced run's line, bars with their values, and transport labels. */
function panel(bars: ChartBar[], top: number, title: string, value: (bar: ChartBar) => number, format: (value: number) => string, reference: number): string[] {
  const values = bars.map(value);
  // Room beyond the longest bars for their values.
  const scale = ticks(Math.min(reference, ...values) * 1.15, Math.max(reference, ...values) * 1.12);
  const low = scale[0]!;
  const high = scale.at(-1)!;
  const plotTop = top + 28;
  const plotBottom = top + PANEL_HEIGHT;
  const y = (v: number) => plotBottom - ((v - low) / (high - low)) * (plotBottom - plotTop);
  const { x, width, groups } = layout(bars);
  const vertical = width < 30;
  // A white halo keeps a value readable where it crosses a gridline or the dashed line.
  const halo = 'stroke="#fff" stroke-width="3" paint-order="stroke"';
  const out = [`<text x="${LEFT}" y="${top + 12}" font-size="14" font-weight="bold" ${FONT}>${escape(title)}</text>`];
  for (const tick of scale) {
    out.push(`<line x1="${LEFT}" x2="${RIGHT}" y1="${round(y(tick))}" y2="${round(y(tick))}" stroke="#e2e2e2"/>`);
    out.push(`<text class="tick" x="${LEFT - 6}" y="${round(y(tick) + 4)}" font-size="11" text-anchor="end" ${FONT}>${escape(format(tick).replace(/\.0(?=%|$)/, ''))}</text>`);
  }
  for (const bar of bars) {
    const v = value(bar);
    const top = Math.min(y(v), y(0));
    const left = x.get(bar)!;
    out.push(
      `<rect class="bar" data-transport="${escape(bar.transport)}" data-variant="${escape(bar.variant)}" x="${round(left)}" y="${round(top)}" width="${round(width)}" height="${round(Math.max(0.5, Math.abs(y(v) - y(0))))}" fill="${bar.colour}"><title>${escape(`${bar.transport}, ${bar.variant}: ${format(v)}`)}</title></rect>`,
    );
    const centre = left + width / 2;
    const labelY = v >= 0 ? y(v) - 4 : y(v) + 12;
    out.push(
      vertical
        ? `<text class="value" x="${round(centre + 4)}" y="${round(labelY)}" font-size="10" ${v >= 0 ? '' : 'text-anchor="end" '}transform="rotate(-90 ${round(centre + 4)} ${round(labelY)})" ${halo} ${FONT}>${escape(format(v))}</text>`
        : `<text class="value" x="${round(centre)}" y="${round(labelY)}" font-size="10" text-anchor="middle" ${halo} ${FONT}>${escape(format(v))}</text>`,
    );
  }
  out.push(`<line x1="${LEFT}" x2="${RIGHT}" y1="${round(y(reference))}" y2="${round(y(reference))}" stroke="#222" stroke-dasharray="5 4"/>`);
  out.push(`<line x1="${LEFT}" x2="${LEFT}" y1="${plotTop}" y2="${plotBottom}" stroke="#222"/>`);
  for (const group of groups) out.push(`<text class="transport" x="${round(group.centre)}" y="${plotBottom + 16}" font-size="12" text-anchor="middle" ${FONT}>${escape(group.label)}</text>`);
  return out;
}

/** The legend: one swatch per variant drawn, in the chart's order, then the untraced run's dashed line, wrapping over lines. */
function legend(bars: ChartBar[], top: number): { lines: string[]; height: number } {
  const shown = SERIES.filter(({ variant }) => bars.some((bar) => bar.variant === variant));
  const out: string[] = [];
  let x = LEFT;
  let y = top;
  const entry = (label: string, swatch: (x: number, y: number) => string) => {
    const width = 22 + label.length * 7 + 18;
    if (x + width > RIGHT) {
      x = LEFT;
      y += 20;
    }
    out.push(swatch(x, y), `<text class="legend" x="${x + 18}" y="${y}" font-size="12" ${FONT}>${escape(label)}</text>`);
    x += width;
  };
  for (const { variant, colour } of shown) entry(variant, (left, base) => `<rect class="swatch" x="${left}" y="${base - 10}" width="12" height="12" fill="${colour}"/>`);
  entry('untraced (100%, +0 µs)', (left, base) => `<line x1="${left}" x2="${left + 14}" y1="${base - 4}" y2="${base - 4}" stroke="#222" stroke-dasharray="4 3"/>`);
  return { lines: out, height: y - top + 20 };
}

/** The SVG of docs/benchmarks.svg. */
export function benchmarkChart(results: BenchResults): string {
  const bars = chartBars(results);
  const title = `tracebus benchmarks, ${results.environment.date}: each traced variant against the untraced client`;
  if (bars.length === 0) {
    return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="80" viewBox="0 0 ${WIDTH} 80"><rect width="${WIDTH}" height="80" fill="#fff"/><text x="${LEFT}" y="30" font-size="16" font-weight="bold" ${FONT}>${escape(title)}</text><text x="${LEFT}" y="56" font-size="12" ${FONT}>No transport section ran.</text></svg>\n`;
  }
  const key = legend(bars, 52);
  const first = 52 + key.height;
  const second = first + PANEL_HEIGHT + 40;
  const notesTop = second + PANEL_HEIGHT + 44;
  const notes = [
    `Medians over the rounds of npm run bench (docs/benchmarks.md). Client CPU is the process’s CPU time per message, producer and consumer together;`,
    `in-process it is the wall clock (the bus keeps the event loop busy), and tracebus is its sdk variant, the floors those written by hand around the bus.`,
  ];
  const height = notesTop + notes.length * 15 + 6;
  const svg = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="28" font-size="16" font-weight="bold" ${FONT}>${escape(title)}</text>`,
    ...key.lines,
    ...panel(bars, first, 'Throughput, % of untraced (higher is better)', (bar) => bar.throughput * 100, (value) => `${value.toFixed(0)}%`, 100),
    ...panel(bars, second, 'Client CPU added per message, µs (lower is better)', (bar) => bar.addedCpu, (value) => value.toFixed(1), 0),
    ...notes.map((note, index) => `<text x="${LEFT}" y="${notesTop + index * 15}" font-size="11" fill="#444" ${FONT}>${escape(note)}</text>`),
    '</svg>',
  ];
  return `${svg.join('\n')}\n`;
}
