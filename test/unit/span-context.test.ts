import { isSpanContextValid, isValidTraceId, ROOT_CONTEXT, trace, type SpanContext } from '@opentelemetry/api';
import { describe, expect, it, vi } from 'vitest';
import { isValidSpanContext, ParsedSpanContext } from '../../src/core/span-context.ts';
import { ConformantTraceContextPropagator } from '../../src/w3c/index.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const context = (traceId: unknown, spanId: unknown) => ({ traceId, spanId, traceFlags: 1 }) as SpanContext;

describe('isValidSpanContext', () => {
  const cases: Array<[string, SpanContext]> = [
    ['valid', context(TRACE_ID, SPAN_ID)],
    ['uppercase hex (the api accepts it)', context(TRACE_ID.toUpperCase(), SPAN_ID.toUpperCase())],
    ['an empty trace id', context('', SPAN_ID)],
    ['no trace id', context(undefined, SPAN_ID)],
    ['an all-zero trace id', context('0'.repeat(32), SPAN_ID)],
    ['an all-zero span id', context(TRACE_ID, '0'.repeat(16))],
    ['a short trace id', context(TRACE_ID.slice(1), SPAN_ID)],
    ['a non-hex span id', context(TRACE_ID, 'zzf067aa0ba902b7')],
    ['no span id', context(TRACE_ID, undefined)],
    ['mixed-case hex', context('4bF92f3577B34da6a3ce929d0e0e4736', '00F067aa0ba902b7')],
    ['a letter after F', context(TRACE_ID, '00f067aa0ba902G7')],
    ['a character above 0x7f', context(`${TRACE_ID.slice(0, 31)}\u00e9`, SPAN_ID)],
    ['a character above 0xff whose low byte is A', context(TRACE_ID, `${SPAN_ID.slice(0, 15)}\u0141`)],
    ['a span id that is a number of 16 digits', context(TRACE_ID, 1234567890123456)],
  ];

  it('answers as trace.isSpanContextValid before it has found any trace id valid', async () => {
    vi.resetModules();
    const fresh = (await import('../../src/core/span-context.ts')).isValidSpanContext;
    // The contexts whose trace id is not valid first: nothing has been remembered yet.
    const ordered = [...cases].sort(([, a], [, b]) => Number(isValidTraceId(a.traceId)) - Number(isValidTraceId(b.traceId)));
    expect(ordered[0]![1].traceId).toBe('');
    for (const [name, spanContext] of ordered) expect(fresh(spanContext), name).toBe(isSpanContextValid(spanContext));
  });

  it('answers as trace.isSpanContextValid, in any order, after any trace id it found valid', () => {
    // Every case after every other: the remembered trace id never makes an invalid one pass.
    for (const [, before] of cases) {
      for (const [name, spanContext] of cases) {
        isValidSpanContext(before);
        expect(isValidSpanContext(spanContext), `${name} after ${before.traceId}`).toBe(isSpanContextValid(spanContext));
      }
    }
  });

  it('takes a context the W3C propagator parsed as valid without a second check', () => {
    const extracted = new ConformantTraceContextPropagator().extract(ROOT_CONTEXT, { traceparent: `00-${TRACE_ID}-${SPAN_ID}-01` }, { get: (carrier: Record<string, string>, key) => carrier[key], keys: Object.keys });
    const remote = trace.getSpanContext(extracted);
    expect(remote).toBeInstanceOf(ParsedSpanContext);
    expect(remote).toEqual({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1, isRemote: true });
    expect(isValidSpanContext(remote!)).toBe(true);
  });
});
