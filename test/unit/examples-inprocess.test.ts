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
