import { context, SpanKind, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { findSpan, formatTraceTree, recordSpans, TraceAssertionError, type SpanRecorder } from '../../src/testing/index.ts';

let recorder: SpanRecorder | undefined;
afterEach(async () => {
  await recorder?.shutdown();
});

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

/** An ended internal span of TRACE_ID that starts `startMs` into second 1000 and lasts 5 ms. */
function ended(name: string, spanId: string, parentId: string | undefined, startMs: number): ReadableSpan {
  const nanos = startMs * 1e6;
  return {
    name,
    kind: SpanKind.INTERNAL,
    spanContext: () => ({ traceId: TRACE_ID, spanId, traceFlags: 1 }),
    parentSpanContext: parentId === undefined ? undefined : { traceId: TRACE_ID, spanId: parentId, traceFlags: 1 },
    startTime: [1000, nanos],
    endTime: [1000, nanos + 5e6],
    duration: [0, 5e6],
    ended: true,
    status: { code: 0 },
    attributes: {},
    links: [],
    events: [],
    resource: { attributes: {} },
  } as unknown as ReadableSpan;
}

describe('formatTraceTree', () => {
  it('prints a span still open as open, its bar to the end of the trace, and the trace as long as its ended spans', async () => {
    recorder = recordSpans();
    const tracer = trace.getTracer('tree');
    const send = tracer.startSpan('send orders', { kind: SpanKind.PRODUCER });
    const processed = tracer.startSpan('process orders', { kind: SpanKind.CONSUMER }, trace.setSpan(context.active(), send));
    await new Promise((resolve) => setTimeout(resolve, 5));
    processed.end();
    // What a test prints to find the span that never ended: the open one with what it covers.
    const lines = formatTraceTree([...recorder.openSpans(), ...recorder.spans()], { barWidth: 10, serviceAttribute: 'test.none' }).split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^trace [0-9a-f]{32} {2}\(2 spans, \d+\.\d ms\)$/);
    expect(Number(/, (\d+\.\d) ms\)$/.exec(lines[0]!)![1])).toBeGreaterThanOrEqual(4);
    expect(lines[1]).toMatch(/^ {2}send orders \(producer\) {7}\|██████████\| {8}open$/);
    expect(lines[2]).toMatch(/^ {4}process orders \(consumer\) {2}\| *█+ *\| +\d+\.\d\d ms$/);
    send.end();
  });

  it('refuses a bar width that is not a whole number of characters, 1 or more', () => {
    for (const barWidth of [0, -1, 2.5]) {
      expect(() => formatTraceTree([], { barWidth })).toThrow(`tracebus: formatTraceTree(spans, { barWidth }) must be a whole number of characters, 1 or more, such as 30; got ${barWidth}`);
    }
  });

  it('prints a span that shares its span id with its parent once, under it, and an assertion error keeps its message', () => {
    const root = ended('root', 'aaaaaaaaaaaaaaaa', undefined, 0);
    const child = ended('child', 'aaaaaaaaaaaaaaaa', 'aaaaaaaaaaaaaaaa', 5);
    const tree = ['trace 4bf92f3577b34da6a3ce929d0e0e4736  (2 spans, 10.0 ms)', '  root (internal)     |███████████████               |     5.00 ms', '    child (internal)  |               ███████████████|     5.00 ms'].join('\n');
    expect(formatTraceTree([root, child])).toBe(tree);
    let thrown: unknown;
    try {
      findSpan([root, child], 'missing');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TraceAssertionError);
    expect((thrown as Error).message).toBe(`expected exactly one span named 'missing', found 0\n\n${tree}`);
  });

  it('prints spans whose parents form a cycle, and a span that is its own parent, as roots, each once', () => {
    const spans = [
      ended('a', 'aaaaaaaaaaaaaaaa', 'bbbbbbbbbbbbbbbb', 5),
      ended('b', 'bbbbbbbbbbbbbbbb', 'aaaaaaaaaaaaaaaa', 10),
      ended('root', 'cccccccccccccccc', undefined, 0),
      ended('self', 'dddddddddddddddd', 'dddddddddddddddd', 15),
    ];
    expect(formatTraceTree(spans, { barWidth: 4 }).split('\n')).toEqual([
      'trace 4bf92f3577b34da6a3ce929d0e0e4736  (4 spans, 20.0 ms)',
      '  root (internal)  |█   |     5.00 ms',
      '  a (internal)     | █  |     5.00 ms',
      '    b (internal)   |  █ |     5.00 ms',
      '  self (internal)  |   █|     5.00 ms',
    ]);
  });

  it('prints a span given twice once, and counts it once', () => {
    const root = ended('root', 'aaaaaaaaaaaaaaaa', undefined, 0);
    const child = ended('child', 'bbbbbbbbbbbbbbbb', 'aaaaaaaaaaaaaaaa', 0);
    expect(formatTraceTree([root, child, root, child], { barWidth: 4 }).split('\n')).toEqual([
      'trace 4bf92f3577b34da6a3ce929d0e0e4736  (2 spans, 5.0 ms)',
      '  root (internal)     |████|     5.00 ms',
      '    child (internal)  |████|     5.00 ms',
    ]);
  });
});
