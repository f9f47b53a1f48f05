import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { runOrderPipeline } from '../../examples/demo/pipeline.ts';
import { assertChildOf, findSpan, formatTraceTree } from '../../src/testing/index.ts';

describe('the demo order pipeline', () => {
  it('is one trace across every hop, with the failed attempt marked', async () => {
    const { spans, log } = await runOrderPipeline();
    const traceIds = new Set(spans.map((span) => span.spanContext().traceId));
    expect(traceIds.size).toBe(1);
    const [traceId] = traceIds;
    expect(log).toHaveLength(5);
    for (const line of log) expect(line).toContain(`trace_id=${traceId}`);

    const service = (span: (typeof spans)[number]) => span.resource.attributes['service.name'];
    const root = findSpan(spans, 'POST /orders');
    const sendPlaced = findSpan(spans, 'send orders.placed');
    const attempts = spans.filter((span) => span.name === 'process orders.placed').sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    expect(attempts.map((span) => [span.attributes['tracebus.memory.attempt'], span.status.code])).toEqual([
      [undefined, SpanStatusCode.ERROR],
      [2, SpanStatusCode.UNSET],
    ]);
    const sendCaptured = findSpan(spans, 'send payments.captured');
    const shipping = findSpan(spans, 'process payments.captured', (span) => service(span) === 'shipping');
    const notifications = findSpan(spans, 'process payments.captured', (span) => service(span) === 'notifications');
    assertChildOf(sendPlaced, root, spans);
    for (const attempt of attempts) assertChildOf(attempt, sendPlaced, spans);
    assertChildOf(sendCaptured, attempts[1]!, spans);
    assertChildOf(shipping, sendCaptured, spans);
    assertChildOf(notifications, sendCaptured, spans);
    expect(shipping.kind).toBe(SpanKind.CONSUMER);
    expect(service(sendCaptured)).toBe('payments');

    const tree = formatTraceTree(spans);
    expect(tree).toContain(`trace ${traceId}  (10 spans`);
    expect(tree).toMatch(/\[payments\] process orders\.placed \(consumer\)\s+\|[ █]+\|\s+[\d.]+ ms {2}✗ payment gateway timed out/);
    expect(tree.split('\n').find((line) => line.includes('[shipping] process'))).toMatch(/^ {10}\[shipping\]/);
  });
});
