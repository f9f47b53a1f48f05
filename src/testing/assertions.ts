import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { formatTraceTree } from './tree.ts';

/** Thrown by the assertions; its message ends with the trace tree of the spans involved. */
export class TraceAssertionError extends Error {
  constructor(message: string, spans: readonly ReadableSpan[]) {
    super(`${message}\n\n${spans.length === 0 ? '(no spans recorded)' : formatTraceTree(spans)}`);
    this.name = 'TraceAssertionError';
  }
}

/** The one span named `name` (optionally also matching `where`); throws if there is not exactly one. */
export function findSpan(spans: readonly ReadableSpan[], name: string, where?: (span: ReadableSpan) => boolean): ReadableSpan {
  const found = spans.filter((span) => span.name === name && (where === undefined || where(span)));
  if (found.length !== 1) throw new TraceAssertionError(`expected exactly one span named '${name}', found ${found.length}`, spans);
  return found[0]!;
}

/** Asserts that `child`'s parent is `parent` (same trace, parent span id). */
export function assertChildOf(child: ReadableSpan, parent: ReadableSpan, spans: readonly ReadableSpan[] = [child, parent]): void {
  const actual = child.parentSpanContext;
  const expected = parent.spanContext();
  if (actual?.traceId !== expected.traceId || actual.spanId !== expected.spanId) {
    throw new TraceAssertionError(`expected '${child.name}' to be a child of '${parent.name}' (${expected.traceId}/${expected.spanId}), but its parent is ${actual ? `${actual.traceId}/${actual.spanId}` : 'none'}`, spans);
  }
}

/** Asserts that `span` links to `target`'s span context. */
export function assertLinkedTo(span: ReadableSpan, target: ReadableSpan, spans: readonly ReadableSpan[] = [span, target]): void {
  const expected = target.spanContext();
  if (!span.links.some((link) => link.context.traceId === expected.traceId && link.context.spanId === expected.spanId)) {
    throw new TraceAssertionError(`expected '${span.name}' to link to '${target.name}' (${expected.traceId}/${expected.spanId})`, spans);
  }
}

/**
 * Asserts that spans named `names` exist, all in one trace, and that each one started
 * no earlier than the one before it. Returns them in that order, as a tuple as long as
 * `names` (so destructuring it needs no check under `noUncheckedIndexedAccess`).
 *
 * @example
 * const [send, process] = assertOneTrace(recorder.spans(), ['send orders', 'process orders']);
 */
export function assertOneTrace<const Names extends readonly string[]>(spans: readonly ReadableSpan[], names: Names): { -readonly [K in keyof Names]: ReadableSpan } {
  const found = names.map((name) => findSpan(spans, name));
  const traceIds = new Set(found.map((span) => span.spanContext().traceId));
  if (traceIds.size !== 1) throw new TraceAssertionError(`expected ${names.map((n) => `'${n}'`).join(', ')} to share one trace, found ${traceIds.size} trace ids`, spans);
  for (let index = 1; index < found.length; index++) {
    const before = found[index - 1]!;
    const after = found[index]!;
    if (after.startTime[0] * 1e9 + after.startTime[1] < before.startTime[0] * 1e9 + before.startTime[1]) {
      throw new TraceAssertionError(`expected '${after.name}' to start after '${before.name}'`, spans);
    }
  }
  return found as { -readonly [K in keyof Names]: ReadableSpan };
}
