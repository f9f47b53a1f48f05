import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';

export interface TreeOptions {
  /** Width of the duration bar in characters. Default 30. */
  barWidth?: number;
  /** Resource attribute (or span attribute) shown before each span name. Default `service.name`. */
  serviceAttribute?: string;
}

const KIND: Record<number, string> = {
  [SpanKind.INTERNAL]: 'internal',
  [SpanKind.SERVER]: 'server',
  [SpanKind.CLIENT]: 'client',
  [SpanKind.PRODUCER]: 'producer',
  [SpanKind.CONSUMER]: 'consumer',
};

function isOpen(span: ReadableSpan): boolean {
  return span.ended === false;
}

function toMillis([seconds, nanos]: readonly [number, number]): number {
  return seconds * 1e3 + nanos / 1e6;
}

/**
 * Renders spans as trace trees, one per trace id, like a tracing UI's waterfall:
 * indentation for parent/child, the service, span name and kind, a bar placed on the
 * trace's timeline, the duration, `✗` for spans with status ERROR and `↪` for links.
 * Every span given is printed once (a span given twice, once): one whose parent is not among
 * the spans, or that no root leads to (spans whose parents form a cycle, or that share their
 * span id with another), is printed as a root.
 */
export function formatTraceTree(spans: readonly ReadableSpan[], options: TreeOptions = {}): string {
  const { barWidth = 30, serviceAttribute = 'service.name' } = options;
  if (!Number.isInteger(barWidth) || barWidth < 1) throw new TypeError(`tracebus: formatTraceTree(spans, { barWidth }) must be a whole number of characters, 1 or more, such as 30; got ${barWidth}`);
  const byTrace = new Map<string, ReadableSpan[]>();
  for (const span of new Set(spans)) {
    const traceId = span.spanContext().traceId;
    let list = byTrace.get(traceId);
    if (list === undefined) byTrace.set(traceId, (list = []));
    list.push(span);
  }
  const out: string[] = [];
  for (const [traceId, list] of byTrace) {
    const ids = new Set(list.map((span) => span.spanContext().spanId));
    const children = new Map<string, ReadableSpan[]>();
    const roots: ReadableSpan[] = [];
    for (const span of list) {
      const parentId = span.parentSpanContext?.spanId;
      if (parentId !== undefined && ids.has(parentId)) {
        let siblings = children.get(parentId);
        if (siblings === undefined) children.set(parentId, (siblings = []));
        siblings.push(span);
      } else roots.push(span);
    }
    const start = Math.min(...list.map((span) => toMillis(span.startTime)));
    // A span still open (from recorder.openSpans()) has no end yet: the trace ends with its last ended span.
    const end = Math.max(...list.map((span) => toMillis(isOpen(span) ? span.startTime : span.endTime)));
    const scale = barWidth / Math.max(end - start, 1e-3);
    out.push(`trace ${traceId}  (${list.length} spans, ${(end - start).toFixed(1)} ms)`);
    const byStart = (a: ReadableSpan, b: ReadableSpan) => toMillis(a.startTime) - toMillis(b.startTime);
    const rows: Array<[label: string, rest: string]> = [];
    const printed = new Set<ReadableSpan>();
    const walk = (span: ReadableSpan, depth: number) => {
      // A span id shared by a parent and its child, or parents in a cycle, would lead back here.
      if (printed.has(span)) return;
      printed.add(span);
      const from = Math.min(barWidth - 1, Math.floor((toMillis(span.startTime) - start) * scale));
      const open = isOpen(span);
      // An open span's bar runs to the end of the trace.
      const millis = open ? end - toMillis(span.startTime) : toMillis(span.duration);
      const length = Math.max(1, Math.min(barWidth - from, Math.round(millis * scale)));
      const bar = `${' '.repeat(from)}${'█'.repeat(length)}`.padEnd(barWidth);
      const service = String(span.attributes[serviceAttribute] ?? span.resource?.attributes?.[serviceAttribute] ?? '');
      const error = span.status.code === SpanStatusCode.ERROR ? `  ✗ ${span.status.message ?? 'error'}` : '';
      const links = span.links.length > 0 ? `  ↪ ${span.links.length} link${span.links.length > 1 ? 's' : ''}` : '';
      const label = `${'  '.repeat(depth)}${service ? `[${service}] ` : ''}${span.name} (${KIND[span.kind] ?? span.kind})`;
      rows.push([label, `|${bar}| ${open ? 'open'.padStart(11) : `${millis.toFixed(2).padStart(8)} ms`}${error}${links}`]);
      for (const child of (children.get(span.spanContext().spanId) ?? []).sort(byStart)) walk(child, depth + 1);
    };
    for (const root of roots.sort(byStart)) walk(root, 0);
    for (const span of list.filter((span) => !printed.has(span)).sort(byStart)) walk(span, 0);
    const width = Math.max(...rows.map(([label]) => label.length));
    for (const [label, rest] of rows) out.push(`  ${label.padEnd(width)}  ${rest}`);
  }
  return out.join('\n');
}
