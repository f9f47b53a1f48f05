import { describe, expect, it } from 'vitest';
import { copyWithoutTraceHeaders, headerGetter, headerSetter } from '../../src/adapter/index.ts';

const TP = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('headerGetter', () => {
  it('matches keys case-insensitively and decodes Buffers and Uint8Arrays as UTF-8', () => {
    expect(headerGetter.get({ TraceParent: TP }, 'traceparent')).toBe(TP);
    expect(headerGetter.get({ traceparent: Buffer.from(TP) }, 'traceparent')).toBe(TP);
    expect(headerGetter.get({ baggage: new TextEncoder().encode('k=v%C3%A9') }, 'baggage')).toBe('k=v%C3%A9');
  });

  it('keeps a leading byte-order mark of bytes, as it is kept in a string', () => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf]);
    expect(headerGetter.get({ traceparent: Buffer.concat([bom, Buffer.from(TP)]) }, 'traceparent')).toBe(`\ufeff${TP}`);
    expect(headerGetter.get({ baggage: [Buffer.concat([bom, Buffer.from('k=v')])] }, 'baggage')).toBe('\ufeffk=v');
  });

  it('returns repeated headers as an array in wire order, across arrays and case variants', () => {
    expect(headerGetter.get({ tracestate: ['a=1', Buffer.from('b=2')] }, 'tracestate')).toEqual(['a=1', 'b=2']);
    expect(headerGetter.get({ baggage: 'a=1', BAGGAGE: 'b=2' }, 'baggage')).toEqual(['a=1', 'b=2']);
    expect(headerGetter.get({ tracestate: 'a=1', TraceState: ['b=2', 'c=3'] }, 'tracestate')).toEqual(['a=1', 'b=2', 'c=3']);
    expect(headerGetter.get({ tracestate: 'a=1', TraceState: [], TRACESTATE: 7 }, 'tracestate')).toBe('a=1');
    expect(headerGetter.get({ tracestate: null, TraceState: 'b=2', TRACESTATE: Buffer.from('c=3') }, 'tracestate')).toEqual(['b=2', 'c=3']);
    expect(headerGetter.get({ tracestate: ['a=1'], TraceState: 'b=2' }, 'tracestate')).toEqual(['a=1', 'b=2']);
    expect(headerGetter.get({ tracestate: [7] }, 'tracestate')).toBeUndefined();
  });

  it('reads a repeated traceparent as an empty string, which no propagator accepts', () => {
    expect(headerGetter.get({ traceparent: [TP, TP] }, 'traceparent')).toBe('');
    expect(headerGetter.get({ traceparent: TP, TRACEPARENT: TP }, 'traceparent')).toBe('');
    // Joined, these two would read as one value of version cc with extra fields.
    const later = 'cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(headerGetter.get({ traceparent: [`${later}-x`, later] }, 'traceparent')).toBe('');
    expect(headerGetter.get({ traceparent: [null, TP] }, 'traceparent')).toBe(TP);
  });

  it('trims optional whitespace (space and tab) and nothing else', () => {
    expect(headerGetter.get({ traceparent: `\t ${TP} \t` }, 'traceparent')).toBe(TP);
    expect(headerGetter.get({ traceparent: `\n${TP}` }, 'traceparent')).toBe(`\n${TP}`);
  });

  it('reads null, undefined, numbers, booleans, objects and missing carriers as absent', () => {
    for (const value of [null, undefined, 42, true, { '!': 'timestamp', value: 1 }, [null, 7]]) {
      expect(headerGetter.get({ traceparent: value }, 'traceparent')).toBeUndefined();
    }
    expect(headerGetter.get(undefined, 'traceparent')).toBeUndefined();
    expect(headerGetter.get(null, 'traceparent')).toBeUndefined();
    expect(headerGetter.keys(undefined)).toEqual([]);
    expect(headerGetter.keys({ a: 1, B: 2 })).toEqual(['a', 'B']);
  });
});

describe('headerSetter and copyWithoutTraceHeaders', () => {
  it('writes lowercase keys and removes case variants of the same key', () => {
    const carrier: Record<string, unknown> = { Baggage: 'old=1', other: 'x' };
    headerSetter.set(carrier, 'baggage', 'new=2');
    expect(carrier).toEqual({ baggage: 'new=2', other: 'x' });
  });

  it('copies everything but traceparent and tracestate, in any case, leaving the original alone', () => {
    const original = Object.freeze({ TraceParent: TP, TRACESTATE: 'a=1', baggage: 'k=v', 'x-id': Buffer.from('1'), traceparentx: 'kept' });
    const copy = copyWithoutTraceHeaders(original);
    expect(copy).toEqual({ baggage: 'k=v', 'x-id': Buffer.from('1'), traceparentx: 'kept' });
    expect(Object.keys(original)).toHaveLength(5);
    expect(copyWithoutTraceHeaders(undefined)).toEqual({});
  });
});
