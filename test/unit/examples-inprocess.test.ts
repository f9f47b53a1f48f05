import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main as pinoExample } from '../../examples/log-correlation/pino.ts';
import { assertChildOf, findSpan } from '../../src/testing/index.ts';

describe('examples/log-correlation/pino.ts', () => {
  it('puts the consumer span’s trace_id and span_id on every line logged in the handler', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).trim().split('\n')) lines.push(JSON.parse(line));
        done();
      },
    });
    const spans = await pinoExample(sink);
    const request = findSpan(spans, 'POST /orders');
    const send = findSpan(spans, 'send orders.placed');
    const processed = findSpan(spans, 'process orders.placed');
    assertChildOf(send, request, spans);
    assertChildOf(processed, send, spans);
    const traceId = request.spanContext().traceId;
    expect(lines.map(({ msg, trace_id, span_id }) => [msg, trace_id, span_id])).toEqual([
      ['placing an order (no span yet: no trace fields)', undefined, undefined],
      ['publishing orders.placed', traceId, request.spanContext().spanId],
      ['charging the card', traceId, processed.spanContext().spanId],
      ['card charged', traceId, processed.spanContext().spanId],
    ]);
    expect(lines[2]).toMatchObject({ orderId: 'o-42', trace_flags: '01' });
  });
});

describe('examples/node-sdk/sampling.ts', () => {
  it('a consumer follows its producer’s sampling decision, and unsampled messages keep their headers', async () => {
    const { main: samplingExample } = await import('../../examples/node-sdk/sampling.ts');
    const { spans, received } = await samplingExample(40, 0.5);
    expect(received).toHaveLength(40);
    for (const traceparent of received) expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    const sampledTraces = new Set(received.filter((traceparent) => traceparent.endsWith('-01')).map((traceparent) => traceparent.slice(3, 35)));
    const unsampledTraces = received.filter((traceparent) => traceparent.endsWith('-00')).map((traceparent) => traceparent.slice(3, 35));
    // A ratio of 0.5 over 40 random trace ids: both decisions occur (fails with odds 2^-39).
    expect(sampledTraces.size).toBeGreaterThan(0);
    expect(unsampledTraces.length).toBeGreaterThan(0);
    const consumerTraces = spans.filter((span) => span.name === 'process orders.placed').map((span) => span.spanContext().traceId);
    expect(new Set(consumerTraces)).toEqual(sampledTraces);
    expect(consumerTraces).toHaveLength(sampledTraces.size);
    for (const traceId of unsampledTraces) expect(spans.some((span) => span.spanContext().traceId === traceId)).toBe(false);
  });
});
