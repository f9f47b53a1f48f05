import { baggageEntryMetadataFromString, propagation, ROOT_CONTEXT, trace, type BaggageEntry, type Context } from '@opentelemetry/api';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConformantBaggagePropagator, ConformantTraceContextPropagator, W3CTraceState } from '../../src/w3c/index.ts';
import { RANDOM_TRACE_ID_KEY } from '../../src/w3c/trace-context.ts';
import { copyWithoutTraceHeaders, headerGetter, headerSetter, MessagingTracer, type WritableHeaders } from '../../src/adapter/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { captureDiagEachTest } from '../support/diag.ts';

let recorder: SpanRecorder;
beforeEach(() => {
  recorder = recordSpans();
});
afterEach(async () => {
  await recorder.shutdown();
});
const diagnostics = captureDiagEachTest();

/** Baggage entries from plain records; `Object.fromEntries`, because `__proto__` is a valid key. */
function toEntries(record: Record<string, { value: string; metadata?: string | undefined }>): Record<string, BaggageEntry> {
  return Object.fromEntries(Object.entries(record).map(([key, { value, metadata }]) => [key, metadata === undefined ? { value } : { value, metadata: baggageEntryMetadataFromString(metadata) }]));
}

const hex = (length: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: length, maxLength: length }).filter((id) => !/^0+$/.test(id));

/** A name in any mix of upper and lower case. */
const anyCase = (name: string) => fc.array(fc.boolean(), { minLength: name.length, maxLength: name.length }).map((upper) => [...name].map((char, index) => (upper[index] ? char.toUpperCase() : char)).join(''));

const nearlyValidTraceparent = fc
  .tuple(fc.constantFrom('00', 'cc', 'ff', '0', 'A0', ''), hex(32), hex(16), fc.constantFrom('00', '01', '02', '03', 'ff', '1', '001', 'zz'), fc.constantFrom('', '-x', '.x', ' ', '\t', '\n'))
  .map(([version, traceId, spanId, flags, tail]) => `${version}-${traceId}-${spanId}-${flags}${tail}`);

const traceStateKey = fc.stringMatching(/^[a-z0-9][a-z0-9_\-*/@]{0,30}$/);
const traceStateValue = fc.stringMatching(/^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,30}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/);
const traceStates = fc
  .uniqueArray(fc.tuple(traceStateKey, traceStateValue), { maxLength: 32, selector: ([key]) => key })
  .filter((entries) => entries.map(([key, value]) => `${key}=${value}`).join(',').length <= 512);

const token = fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,16}$/);
const octets = fc.stringMatching(/^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]{0,12}$/);
const properties = fc.array(fc.tuple(token, fc.option(octets, { nil: undefined })), { minLength: 1, maxLength: 3 }).map((list) => list.map(([key, value]) => (value === undefined ? key : `${key}=${value}`)).join(';'));

const hugeText = fc.tuple(fc.constantFrom('a=1,', 'x', ',', ' ', '%', 'k=%FF;p,', '00-'), fc.integer({ min: 1_000, max: 80_000 })).map(([unit, times]) => unit.repeat(times));

const headerValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ unit: 'binary', maxLength: 80 }),
    nearlyValidTraceparent,
    fc.string({ unit: fc.constantFrom('a', 'b', '=', ',', ';', ' ', '\t', '%', 'F', '@', '1'), maxLength: 60 }),
    fc.uint8Array({ maxLength: 80 }).map((bytes) => Buffer.from(bytes)),
    fc.uint8Array({ maxLength: 40 }),
    hugeText,
    fc.constantFrom(null, undefined, 0, 42, -1.5, Number.NaN, true, false, { '!': 'timestamp', value: 1 }, { '!': 'decimal', value: { places: 1, digits: 5 } }),
    fc.array(tie('value'), { maxLength: 4 }),
  ),
})).value;

const headerName = fc.oneof(anyCase('traceparent'), anyCase('tracestate'), anyCase('baggage'), fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'trace-parent'));

const headerMaps = fc.oneof(
  fc.dictionary(headerName, headerValue, { maxKeys: 8 }),
  fc.constantFrom(undefined, null, {}),
) as fc.Arbitrary<Record<string, unknown> | undefined | null>;

/** A `traceparent` receivers accept: version 00 exactly, or a later version with more fields after the flags; OWS around. */
const validTraceparent = fc
  .tuple(fc.constantFrom('00', '01', 'cc', 'fe'), hex(32), hex(16), fc.constantFrom('00', '01', '02', '03', '0f', 'ff'), fc.constantFrom('', '-', '-x', '-01-zz'), fc.constantFrom('', ' ', '\t '))
  .map(([version, traceId, spanId, flags, tail, ows]) => `${ows}${version}-${traceId}-${spanId}-${flags}${version === '00' ? '' : tail}${ows}`);

const serializeState = (entries: Array<[string, string]>) => entries.map(([key, value]) => `${key}=${value}`).join(',');

/** A `tracestate`: valid, valid but past the 512 characters that are sent, or mostly malformed. */
const tracestateText = fc.oneof(
  { weight: 2, arbitrary: traceStates.map(serializeState) },
  { weight: 2, arbitrary: fc.uniqueArray(fc.tuple(traceStateKey, traceStateValue), { minLength: 20, maxLength: 32, selector: ([key]) => key }).map(serializeState) },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('a', '=', ',', ' ', '\t', '@', '*', '/', '-', '1'), maxLength: 700 }) },
);

/** A header value as a string, a Buffer (Kafka) or a one-element array. */
const delivered = (text: fc.Arbitrary<string>) => fc.oneof(text, text.map((value) => Buffer.from(value)), text.map((value) => [value]));

/** Names of the headers around a trace context; now and then a second `traceparent` or `tracestate`, which spoils it. */
const otherHeaderName = fc.oneof(
  { weight: 1, arbitrary: anyCase('traceparent') },
  { weight: 1, arbitrary: anyCase('tracestate') },
  { weight: 8, arbitrary: headerName.filter((name) => !['traceparent', 'tracestate'].includes(name.toLowerCase())) },
);

/** Header maps that carry a trace context, mostly a valid one, among other (possibly hostile) headers. */
const traceContextHeaders = fc
  .tuple(
    fc.dictionary(otherHeaderName, headerValue, { maxKeys: 4 }),
    anyCase('traceparent'),
    delivered(fc.oneof({ weight: 9, arbitrary: validTraceparent }, { weight: 1, arbitrary: nearlyValidTraceparent })),
    fc.option(fc.tuple(anyCase('tracestate'), delivered(tracestateText)), { freq: 10, nil: undefined }),
  )
  .map(([others, traceparentName, traceparent, tracestate]): Record<string, unknown> => ({
    ...others,
    [traceparentName]: traceparent,
    ...(tracestate === undefined ? {} : { [tracestate[0]]: tracestate[1] }),
  }));

describe('any header map never throws', () => {
  it('headerGetter, headerSetter and copyWithoutTraceHeaders', () => {
    fc.assert(
      fc.property(headerMaps, headerName, (headers, key) => {
        headerGetter.keys(headers);
        for (const name of ['traceparent', 'tracestate', 'baggage', key]) {
          const value = headerGetter.get(headers, name);
          expect(value === undefined || typeof value === 'string' || (Array.isArray(value) && value.every((item) => typeof item === 'string'))).toBe(true);
        }
        const copy = copyWithoutTraceHeaders(headers);
        // Every header but the trace-context pair is copied as an own property, `__proto__` included.
        for (const name of Object.keys(headers ?? {})) {
          const traceHeader = ['traceparent', 'tracestate'].includes(name.toLowerCase());
          expect(Object.hasOwn(copy, name)).toBe(!traceHeader);
          if (!traceHeader) expect(copy[name]).toBe(headers![name]);
        }
        expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
        headerSetter.set(copy, key, 'v');
        expect(Object.hasOwn(copy, key.toLowerCase())).toBe(true);
        expect(copy[key.toLowerCase()]).toBe('v');
      }),
      { numRuns: 300 },
    );
  });

  it('MessagingTracer.extract and inject, by default and with the W3C propagators passed in', () => {
    const tracers = [new MessagingTracer('kafka'), new MessagingTracer('kafka', { propagator: new ConformantTraceContextPropagator() }), new MessagingTracer('kafka', { propagator: new ConformantBaggagePropagator() })];
    // Runs in which a traceparent, and a tracestate, came out and were checked.
    const checked = { traceparent: 0, tracestate: 0 };
    fc.assert(
      fc.property(fc.oneof({ weight: 1, arbitrary: headerMaps }, { weight: 4, arbitrary: traceContextHeaders }), (headers) => {
        const seen = { traceparent: false, tracestate: false };
        for (const tracer of tracers) {
          const ctx = tracer.extract(headers);
          const written = tracer.inject(ctx, headers);
          const traceparent = written.traceparent;
          if (traceparent !== undefined) {
            seen.traceparent = true;
            expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[0-3]$/);
          }
          const tracestate = written.tracestate;
          if (tracestate !== undefined) {
            seen.tracestate = true;
            expect(String(tracestate).length).toBeLessThanOrEqual(512);
          }
        }
        // No propagator threw on the way (MessagingTracer would have caught and reported it).
        expect(diagnostics.logged).toEqual([]);
        checked.traceparent += Number(seen.traceparent);
        checked.tracestate += Number(seen.tracestate);
      }),
      { numRuns: 300 },
    );
    expect(checked.traceparent).toBeGreaterThanOrEqual(120);
    expect(checked.tracestate).toBeGreaterThanOrEqual(60);
  });

  it('ConformantBaggagePropagator.inject with any entries: ASCII only, within the limits, every member readable again', () => {
    const propagator = new ConformantBaggagePropagator();
    // Keys and metadata valid or not: an entry whose key or metadata cannot be sent is skipped.
    const entries = fc.dictionary(
      fc.oneof(token, fc.string({ unit: 'binary', maxLength: 10 })),
      fc.record({ value: fc.string({ unit: 'binary', maxLength: 300 }), metadata: fc.option(fc.oneof(properties, fc.string({ unit: 'binary', maxLength: 20 })), { nil: undefined }) }),
      { maxKeys: 100 },
    );
    // Runs in which a header came out and was checked.
    let checked = 0;
    fc.assert(
      fc.property(entries, (record) => {
        const baggage = toEntries(record);
        const carrier: WritableHeaders = {};
        propagator.inject(propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage(baggage)), carrier, headerSetter);
        const header = carrier.baggage as string | undefined;
        if (header === undefined) return;
        checked++;
        // Printable ASCII, and HTAB: the grammar allows OWS (SP / HTAB) around the `;` of metadata, which is sent as it is.
        expect(header).toMatch(/^[\t\x20-\x7e]*$/);
        expect(header.length).toBeLessThanOrEqual(8192);
        const members = header.split(',');
        expect(members.length).toBeLessThanOrEqual(64);
        const back = propagation.getBaggage(propagator.extract(ROOT_CONTEXT, { baggage: header }, headerGetter));
        expect(back?.getAllEntries().length).toBe(members.length);
      }),
      { numRuns: 300 },
    );
    expect(checked).toBeGreaterThanOrEqual(150);
  });
});

const baggages = fc.dictionary(token, fc.record({ value: fc.string({ unit: 'grapheme', maxLength: 16 }), metadata: fc.option(properties, { nil: undefined }) }), { maxKeys: 20 });

const sendable = fc.record({ traceId: hex(32), spanId: hex(16), traceFlags: fc.integer({ min: 0, max: 3 }), state: traceStates, baggage: baggages });

type Sendable = typeof sendable extends fc.Arbitrary<infer T> ? T : never;

function contextOf({ traceId, spanId, traceFlags, state, baggage }: Sendable): Context {
  const entries = toEntries(baggage);
  const withBaggage = Object.keys(entries).length === 0 ? ROOT_CONTEXT : propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage(entries));
  return trace.setSpanContext(withBaggage, { traceId, spanId, traceFlags, traceState: state.length === 0 ? undefined : W3CTraceState.from(state) });
}

/** An id of `length` hex digits: mostly random, now and then all zeros or all zeros but one. */
const idOrZeros = (length: number) => fc.oneof({ weight: 6, arbitrary: hex(length) }, { weight: 1, arbitrary: fc.constant('0'.repeat(length)) }, { weight: 1, arbitrary: fc.nat(length - 1).map((at) => '0'.repeat(at) + '1' + '0'.repeat(length - 1 - at)) });
// Changes aimed at the grammar: the version, the dashes, the ends of each id, the flags; bytes next to hex digits, dashes, OWS, control and non-ASCII bytes.
const byteChange = fc.tuple(
  fc.oneof(fc.constantFrom(0, 1, 2, 3, 34, 35, 36, 51, 52, 53, 54), fc.nat(54)),
  fc.oneof(fc.constantFrom(0x30, 0x31, 0x39, 0x61, 0x66, 0x67, 0x41, 0x46, 0x2d, 0x20, 0x09, 0x00, 0x7f, 0x80, 0xb0, 0xc3, 0xff), fc.integer({ min: 0, max: 255 })),
);
/** A version-00 `traceparent` as the bytes a Kafka client hands over, now and then with bytes changed, one added, or a BOM in front. */
const traceparentBytes = fc
  .tuple(
    idOrZeros(32),
    idOrZeros(16),
    fc.constantFrom('00', '01', '03', 'ff'),
    fc.array(byteChange, { maxLength: 2 }),
    fc.constantFrom('', 'x', ' ', '\ufeff'),
    fc.boolean(),
  )
  .map(([traceId, spanId, flags, changes, extra, plain]) => {
    const bytes = Buffer.from(`${extra === '\ufeff' ? extra : ''}00-${traceId}-${spanId}-${flags}${extra === '\ufeff' ? '' : extra}`);
    for (const [at, byte] of changes) bytes[at] = byte;
    // A Buffer from kafkajs, or a plain Uint8Array from another client.
    return plain ? new Uint8Array(bytes) : bytes;
  });

describe('a traceparent read where it lies decides as the header getter does', () => {
  it('ConformantTraceContextPropagator with headerGetter (one scan; bytes checked before decoding) and with any other getter over the same headers', () => {
    const propagator = new ConformantTraceContextPropagator();
    // Another getter object over the same headers: the propagator reads through it as through any getter.
    const viaGetter: typeof headerGetter = { get: (carrier, key) => headerGetter.get(carrier, key), keys: (carrier) => headerGetter.keys(carrier) };
    const outcome = (ctx: Context) => {
      const spanContext = trace.getSpanContext(ctx);
      return spanContext && { traceId: spanContext.traceId, spanId: spanContext.spanId, traceFlags: spanContext.traceFlags, isRemote: spanContext.isRemote, traceState: spanContext.traceState?.serialize(), random: ctx.getValue(RANDOM_TRACE_ID_KEY) };
    };
    // Runs in which a traceparent sent as bytes was read valid, and was read invalid.
    const bytes = { valid: 0, invalid: 0 };
    fc.assert(
      fc.property(fc.oneof(headerMaps, traceContextHeaders, fc.tuple(anyCase('traceparent'), traceparentBytes, fc.dictionary(headerName, headerValue, { maxKeys: 3 })).map(([name, value, others]) => ({ ...others, [name]: value }))), (headers) => {
        const fast = outcome(propagator.extract(ROOT_CONTEXT, headers, headerGetter));
        expect(fast).toEqual(outcome(propagator.extract(ROOT_CONTEXT, headers, viaGetter)));
        const names = Object.keys(headers ?? {}).filter((name) => name.toLowerCase() === 'traceparent');
        if (names.length === 1 && headers![names[0]!] instanceof Uint8Array) bytes[fast === undefined ? 'invalid' : 'valid']++;
      }),
      { numRuns: 600 },
    );
    expect(bytes.valid).toBeGreaterThanOrEqual(40);
    expect(bytes.invalid).toBeGreaterThanOrEqual(30);
  });
});

describe('valid context round-trips exactly through inject → extract', () => {
  const toBuffers = (headers: WritableHeaders) => Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, Buffer.from(String(value))]));

  it.each([
    ['as strings', (headers: WritableHeaders): Record<string, unknown> => headers],
    ['as Buffers (Kafka)', toBuffers],
    ['with upper-case names', (headers: WritableHeaders) => Object.fromEntries(Object.entries(headers).map(([key, value]) => [key.toUpperCase(), value]))],
  ])('%s', (_how, deliver) => {
    const tracer = new MessagingTracer('kafka');
    fc.assert(
      fc.property(sendable, (sent) => {
        const headers = tracer.inject(contextOf(sent), {});
        const serializedState = sent.state.map(([key, value]) => `${key}=${value}`).join(',');
        expect(headers.traceparent).toBe(`00-${sent.traceId}-${sent.spanId}-0${sent.traceFlags}`);
        expect(headers.tracestate).toBe(serializedState === '' ? undefined : serializedState);

        const extracted = tracer.extract(deliver(headers));
        const spanContext = trace.getSpanContext(extracted)!;
        expect({ traceId: spanContext.traceId, spanId: spanContext.spanId, traceFlags: spanContext.traceFlags, isRemote: spanContext.isRemote }).toEqual({
          traceId: sent.traceId,
          spanId: sent.spanId,
          traceFlags: sent.traceFlags,
          isRemote: true,
        });
        expect(spanContext.traceState?.serialize() ?? '').toBe(serializedState);
        for (const [key, value] of sent.state) expect(spanContext.traceState?.get(key)).toBe(value);

        const received = Object.fromEntries((propagation.getBaggage(extracted)?.getAllEntries() ?? []).map(([key, entry]) => [key, { value: entry.value, metadata: entry.metadata?.toString() }]));
        expect(received).toEqual(Object.fromEntries(Object.entries(sent.baggage).map(([key, entry]) => [key, { value: entry.value, metadata: entry.metadata }])));

        // And a second hop sends the same headers again.
        expect(tracer.inject(extracted, {})).toEqual(headers);
      }),
      { numRuns: 200 },
    );
  });
});
