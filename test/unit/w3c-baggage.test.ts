import { AlwaysOnSampler } from '@opentelemetry/sdk-trace';
import { baggageEntryMetadataFromString, propagation, ROOT_CONTEXT, type BaggageEntry, type Context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeBaggageValue, encodeBaggageValue, MAX_BAGGAGE_INPUT } from '../../src/w3c/baggage.ts';
import { ConformantBaggagePropagator, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS } from '../../src/w3c/index.ts';
import { headerGetter, headerSetter, MessagingTracer, type WritableHeaders } from '../../src/adapter/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';

const propagator = new ConformantBaggagePropagator();

function extract(header: unknown): Record<string, BaggageEntry> {
  const baggage = propagation.getBaggage(propagator.extract(ROOT_CONTEXT, { baggage: header }, headerGetter));
  return Object.fromEntries(baggage?.getAllEntries() ?? []);
}

function values(header: unknown): Record<string, string> {
  return Object.fromEntries(Object.entries(extract(header)).map(([key, entry]) => [key, entry.value]));
}

function inject(ctx: Context): string | undefined {
  const carrier: WritableHeaders = {};
  propagator.inject(ctx, carrier, headerSetter);
  return carrier.baggage as string | undefined;
}

function withEntries(entries: Record<string, BaggageEntry>): Context {
  return propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage(entries));
}

/** `count` members of exactly `size` bytes each: `kNNN=vvv…`. */
function members(count: number, size: number): string[] {
  return Array.from({ length: count }, (_, index) => {
    const key = `k${String(index).padStart(3, '0')}`;
    return `${key}=${'v'.repeat(size - key.length - 1)}`;
  });
}

/** Extract then inject: what a hop sends on. */
function roundTrip(header: string | string[]): string | undefined {
  return inject(propagator.extract(ROOT_CONTEXT, { baggage: header }, headerGetter));
}

describe('ConformantBaggagePropagator limits', () => {
  it('propagates 64 members and 8192 bytes intact', () => {
    // 64 members of 127 bytes and 63 commas: 8191 bytes. Make the last one 128: 8192.
    const list = members(64, 127);
    list[63] = `${list[63]}v`;
    const header = list.join(',');
    expect(header).toHaveLength(MAX_BAGGAGE_BYTES);
    expect(roundTrip(header)).toBe(header);
    expect(Object.keys(extract(header))).toHaveLength(MAX_BAGGAGE_MEMBERS);
  });

  it('propagates a single member of 8192 bytes', () => {
    const [member] = members(1, 8192);
    expect(roundTrip(member!)).toBe(member);
    const value = 'x'.repeat(8192 - 'big='.length);
    expect(inject(withEntries({ big: { value } }))).toBe(`big=${value}`);
  });

  it('drops whole members past 64, never part of one', () => {
    const list = members(65, 10);
    expect(roundTrip(list.join(','))).toBe(list.slice(0, 64).join(','));
    const entries = Object.fromEntries(list.map((member) => member.split('=') as [string, string]).map(([key, value]) => [key, { value }]));
    expect(inject(withEntries(entries))).toBe(list.slice(0, 64).join(','));
  });

  it('drops whole members past 8192 bytes, never part of one, keeping later ones that fit', () => {
    const list = members(3, 4000);
    const small = 'last=1';
    const header = [...list, small].join(',');
    // 4000 + 1 + 4000 = 8001; the third 4000-byte member cannot fit, the small one can.
    const sent = roundTrip(header)!;
    expect(sent).toBe(`${list[0]},${list[1]},${small}`);
    expect(sent.length).toBeLessThanOrEqual(MAX_BAGGAGE_BYTES);
    for (const member of sent.split(',')) expect([...list, small]).toContain(member);

    const big = { a: { value: 'a'.repeat(5000) }, b: { value: 'b'.repeat(5000) }, c: { value: 'c' } };
    expect(inject(withEntries(big))).toBe(`a=${'a'.repeat(5000)},c=c`);
  });

  it('counts each member in the 8192 bytes as it is sent on, not as it arrived', () => {
    // OWS inside members: 8195 bytes as received, 8191 as sent on.
    const value = 'x'.repeat(4093);
    const spaced = `a = ${value},b = ${value}`;
    expect(spaced).toHaveLength(8195);
    expect(Object.keys(extract(spaced))).toEqual(['a', 'b']);
    expect(roundTrip(spaced)).toBe(`a=${value},b=${value}`);

    // Percent-encoding the grammar does not require (encodeURIComponent's, of a URL): 8827 bytes as received, 5587 as sent on.
    const url = 'https://example.com/a/b?c=d&e=f'.repeat(90);
    const encoded = `u1=${encodeURIComponent(url)},u2=${encodeURIComponent(url)}`;
    expect(encoded).toHaveLength(8827);
    expect(roundTrip(encoded)).toBe(`u1=${url},u2=${url}`);

    // OWS around = and lowercase hex digits, sent on in uppercase: 8194 bytes as received, exactly 8192 as sent on; one byte more is too many.
    const multibyte = `${'%f0%9f%98%80'.repeat(682)}%c3%a9`;
    expect(roundTrip(`k = ${multibyte}`)).toBe(`k=${multibyte.toUpperCase()}`);
    expect(roundTrip(`k = ${multibyte}`)).toHaveLength(MAX_BAGGAGE_BYTES);
    expect(extract(`k = ${multibyte}x`)).toEqual({});
  });

  it('does not keep a member whose re-encoding no longer fits in the 8192 bytes', () => {
    // Invalid UTF-8 becomes U+FFFD, sent as 9 bytes; a lone % is sent as %25.
    expect(Object.keys(extract(`a=${'%FF'.repeat(2000)},b=1`))).toEqual(['b']);
    expect(roundTrip(`a=${'%'.repeat(2730)}`)).toBe(`a=${'%25'.repeat(2730)}`);
    expect(roundTrip(`a=${'%'.repeat(2730)}`)).toHaveLength(MAX_BAGGAGE_BYTES);
    expect(Object.keys(extract(`a=${'%'.repeat(2731)},b=1`))).toEqual(['b']);
  });

  it('counts a repeated key once, at the value that is kept', () => {
    const big = 'x'.repeat(5000);
    const other = 'y'.repeat(4000);
    expect(roundTrip(`a=${big},a=1,b=${other}`)).toBe(`a=1,b=${other}`);
    expect(roundTrip(`a=${big},b=${other},a=1`)).toBe('a=1');
  });

  it('applies the limits to repeated baggage headers combined', () => {
    const list = members(64, 127);
    expect(roundTrip([list.slice(0, 32).join(','), list.slice(32).join(','), 'extra=1'])).toBe(list.join(','));
  });

  it('counts the size of percent-encoded values, as they are sent', () => {
    const value = '\u00e9'.repeat(2000); // 6 bytes each once encoded
    expect(inject(withEntries({ a: { value } }))).toBeUndefined();
    expect(inject(withEntries({ a: { value: value.slice(0, 1300) } }))).toBe(`a=${'%C3%A9'.repeat(1300)}`);
  });
});

describe('ConformantBaggagePropagator encoding', () => {
  it('replaces invalid UTF-8 with U+FFFD and keeps the entry', () => {
    expect(values('a=%FF,b=caf%C3,c=%C3%A9t%C3%A9,d=%E2%82')).toEqual({ a: '\uFFFD', b: 'caf\uFFFD', c: '\u00e9t\u00e9', d: '\uFFFD' });
    expect(decodeBaggageValue('%ED%A0%80')).toBe('\uFFFD\uFFFD\uFFFD');
  });

  it('keeps a % that starts no percent-encoded octet as it is', () => {
    expect(values('a=100%,b=%G1,c=%4')).toEqual({ a: '100%', b: '%G1', c: '%4' });
  });

  it('percent-encodes only what the grammar requires, and %', () => {
    expect(encodeBaggageValue('plain-value_1.2~!#$&\'()*+/:<=>?@[]^`{|}')).toBe('plain-value_1.2~!#$&\'()*+/:<=>?@[]^`{|}');
    expect(encodeBaggageValue('a b,c;d"e\\f%g')).toBe('a%20b%2Cc%3Bd%22e%5Cf%25g');
    expect(encodeBaggageValue('Am\u00e9lie \u{1F600}')).toBe('Am%C3%A9lie%20%F0%9F%98%80');
    expect(encodeBaggageValue('\uD800')).toBe('%EF%BF%BD');
    expect(inject(withEntries({ serverNode: { value: 'DF 28' }, userId: { value: 'Am\u00e9lie' } }))).toBe('serverNode=DF%2028,userId=Am%C3%A9lie');
  });

  it('allows empty values and = inside values', () => {
    expect(values('a=,b==x=,c= ')).toEqual({ a: '', b: '=x=', c: '' });
    expect(roundTrip('a=,b==x=')).toBe('a=,b==x=');
  });

  it('keeps properties as metadata and sends them on', () => {
    const entries = extract('key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue');
    expect(entries.key1?.value).toBe('value1');
    expect(entries.key1?.metadata?.toString()).toBe('property1;property2');
    expect(entries.key2?.metadata).toBeUndefined();
    expect(entries.key3?.metadata?.toString()).toBe('propertyKey=propertyValue');
    expect(roundTrip('key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey=propertyValue')).toBe(
      'key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue',
    );
  });

  it('leaves out empty properties, which some senders write and the grammar does not have', () => {
    expect(roundTrip('a=1;p;,b=2')).toBe('a=1;p,b=2');
    expect(roundTrip('a=1; ;p')).toBe('a=1;p');
    expect(roundTrip('a=1;;p ;; q = v;')).toBe('a=1;p;q = v');
    expect(roundTrip('a=1;,b=2; ;')).toBe('a=1,b=2');
    expect(extract('a=1;p;').a?.metadata?.toString()).toBe('p');
    expect(extract('a=1; ;').a?.metadata).toBeUndefined();
    // Metadata the application gives, the same way.
    const ctx = withEntries({
      a: { value: '1', metadata: baggageEntryMetadataFromString('p;') },
      b: { value: '2', metadata: baggageEntryMetadataFromString(';q') },
      c: { value: '3', metadata: baggageEntryMetadataFromString(' ; ') },
    });
    expect(inject(ctx)).toBe('a=1;p,b=2;q,c=3');
  });

  it('keeps a byte-order mark at the start of a value', () => {
    expect(values('a=%EF%BB%BFx')).toEqual({ a: '\ufeffx' });
    expect(roundTrip('a=%EF%BB%BFx')).toBe('a=%EF%BB%BFx');
  });

  it('ignores OWS around members, keys, values and combines multiple headers', () => {
    expect(values(['userId =   alice', 'serverNode = DF%2028, isProduction = false'])).toEqual({ userId: 'alice', serverNode: 'DF 28', isProduction: 'false' });
    expect(values('\t a=1 \t,\t b=2')).toEqual({ a: '1', b: '2' });
  });

  it('skips malformed members and keeps the rest', () => {
    expect(values('good=1,no-equals,=nokey,bad key=1,q="x",sp=a b,back=a\\b,fine=2,prop=1;=x,ok=3;p=v v')).toEqual({ good: '1', fine: '2' });
  });

  it('skips keys that are not tokens and metadata that cannot be sent, without throwing', () => {
    const ctx = withEntries({
      'user id': { value: 'x' },
      'caf\u00e9': { value: 'x' },
      ok: { value: '1' },
      meta: { value: '2', metadata: baggageEntryMetadataFromString('a=1,b') },
      kept: { value: '3', metadata: baggageEntryMetadataFromString('a=1;b') },
    });
    expect(inject(ctx)).toBe('ok=1,kept=3;a=1;b');
  });

  it('reads a key such as __proto__ as an ordinary key', () => {
    expect(values('__proto__=1,constructor=2')).toEqual({ ['__proto__']: '1', constructor: '2' });
  });

  it('injects nothing without baggage or while tracing is suppressed', () => {
    expect(inject(ROOT_CONTEXT)).toBeUndefined();
    expect(inject(suppressTracing(withEntries({ a: { value: '1' } })))).toBeUndefined();
    expect(propagator.fields()).toEqual(['baggage']);
  });
});

describe('ConformantBaggagePropagator under hostile input', () => {
  // How fast this is belongs to the benchmarks; here, what is read and kept is bounded.
  it('keeps what fits from a 1 MB header', () => {
    const header = `a=1,${'x'.repeat(1024 * 1024)}`;
    expect(values(header)).toEqual({ a: '1' });
    expect(values(`${'k=v,'.repeat(300_000)}`)).toEqual({ k: 'v' });
  });

  it('bounds the work on 100k members, and on 100k repeated headers', () => {
    const header = Array.from({ length: 100_000 }, (_, index) => `k${index}=${index}`).join(',');
    expect(Object.keys(values(header))).toHaveLength(MAX_BAGGAGE_MEMBERS);
    const empties = `${','.repeat(100_000)}late=1`;
    expect(values(empties)).toEqual({});
    // 100k repeated headers, counted as the propagator reads them: it stops once the
    // input limit is reached, long before the end.
    const repeated = Array.from({ length: 100_000 }, (_, index) => `k${index}=1`);
    let reads = 0;
    const counted = new Proxy(repeated, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
        return Reflect.get(target, key, receiver);
      },
    });
    const extracted = propagator.extract(ROOT_CONTEXT, {}, { keys: () => ['baggage'], get: () => counted });
    expect(propagation.getBaggage(extracted)?.getAllEntries()).toHaveLength(MAX_BAGGAGE_MEMBERS);
    expect(reads).toBeGreaterThan(MAX_BAGGAGE_MEMBERS);
    expect(reads).toBeLessThanOrEqual(Math.ceil(MAX_BAGGAGE_INPUT / 'k0=1,'.length) + 1);
  });

  it('cuts over-long input at a comma, never inside a member', () => {
    const filler = members(1, MAX_BAGGAGE_INPUT - 10)[0]!;
    expect(values(`a=1,${filler},tail=${'t'.repeat(20)}`)).toEqual({ a: '1' });
  });
});

describe('default MessagingTracer baggage', () => {
  let recorder: SpanRecorder;
  beforeEach(() => {
    // The harness's unsampled cases are about propagation: record every span, whatever the flags.
    recorder = recordSpans({ sampler: new AlwaysOnSampler() });
  });
  afterEach(async () => {
    await recorder.shutdown();
  });

  it('carries a single 8192-byte member and invalid percent-encoding through a hop, where core drops them', () => {
    const tracer = new MessagingTracer('kafka');
    const big = `big=${'b'.repeat(8188)}`;
    const seen = tracer.traceProcess({ type: 'process', destination: 'q' }, { baggage: 'bad=%FF' }, {}, undefined, undefined, (trace) => trace.baggage);
    expect(seen).toEqual({ bad: '\uFFFD' });
    const sent = tracer.traceProcess({ type: 'process', destination: 'q' }, { baggage: big }, {}, undefined, undefined, () =>
      tracer.tracePublish({ type: 'send', destination: 'next' }, {}, undefined, undefined, (headers) => headers),
    );
    expect(sent.baggage).toBe(big);
  });
});
