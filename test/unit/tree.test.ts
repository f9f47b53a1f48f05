import { context, SpanKind, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { formatTraceTree, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';

let recorder: SpanRecorder | undefined;
afterEach(async () => {
  await recorder?.shutdown();
});

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
});
