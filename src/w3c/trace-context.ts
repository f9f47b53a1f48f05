import { createContextKey, trace, type Context, type SpanContext, type TextMapGetter, type TextMapPropagator, type TextMapSetter, type TraceState } from '@opentelemetry/api';
import { headerGetter, type MessageHeaders } from '../core/headers.ts';
import { checkSpanContext, INVALID_IDS, LOWERCASE_IDS, ParsedSpanContext } from '../core/span-context.ts';
import { isTracingSuppressed } from '../core/suppression.ts';
import { trimOws } from './ows.ts';
import { MAX_TRACESTATE_INPUT, traceStateFromList, W3CTraceState } from './trace-state.ts';

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
const FIELDS = [TRACEPARENT, TRACESTATE] as const;

/** Length of a version-00 `traceparent`: `00-` + 32 + `-` + 16 + `-` + 2. */
const TRACEPARENT_LENGTH = 55;

/** Bit 0 of trace-flags, `sampled`. */
const FLAG_SAMPLED = 0x01;
/** Bit 1 of trace-flags, `random-trace-id` (Trace Context Level 2, "Random Trace ID Flag"); the api's `TraceFlags` has no member for it. */
export const FLAG_RANDOM = 0x02;
/** The flags this version defines; "Vendors MUST set [the others] to zero" ("Other Flags"). */
const KNOWN_FLAGS = FLAG_SAMPLED | FLAG_RANDOM;

/**
 * Holds the trace id of an extracted `traceparent` whose `random-trace-id` flag was set.
 * The SDK Tracer gives child spans only `SAMPLED` or `NONE`, so the bit would be lost
 * one hop later; the spec says it "MUST also be set in all outgoing traceparent headers
 * which use the same trace-id" ("Random Trace ID Flag"), so injection sets it again from here.
 */
export const RANDOM_TRACE_ID_KEY = createContextKey('tracebus W3C random-trace-id flag');

// Every byte value has an entry, so that a byte needs no range check before the lookup.
const HEX = new Int8Array(256).fill(-1);
for (let digit = 0; digit < 16; digit++) HEX['0123456789abcdef'.charCodeAt(digit)] = digit;

/**
 * Whether `value[from, to)` is lowercase hex and not all zeros: 1 when it is hex with a
 * non-zero digit, 0 when all zeros, -1 when not hex. One pass: comparing the slices with an
 * all-zero id afterwards would walk them again.
 */
function scanHexId(value: string, from: number, to: number): number {
  let digits = 0;
  for (let index = from; index < to; index++) {
    const code = value.charCodeAt(index);
    const digit = code > 0x7f ? -1 : HEX[code]!;
    if (digit < 0) return -1;
    digits |= digit;
  }
  return digits === 0 ? 0 : 1;
}

/** A parsed `traceparent`: ids, and the flags this version knows (others cleared). */
export interface Traceparent {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
}

/**
 * Parses a `traceparent` value by position, without a regular expression:
 *
 * - lowercase hex only (`HEXDIGLC`), version `ff` forbidden;
 * - version `00` must be exactly 55 characters: trailing data makes it invalid;
 * - a higher version needs at least 55 characters, the three fields at their version-00
 *   positions, and flags at the end or followed by `-` ("Versioning of traceparent");
 *   a comma anywhere makes it invalid: that is two `traceparent` fields combined into one
 *   (RFC 9110 §5.3), which must restart the trace (W3C `test_traceparent_duplicated`);
 * - an all-zero trace-id or parent-id is invalid.
 *
 * Surrounding spaces and tabs (HTTP OWS) are ignored. Returns `undefined` when invalid.
 *
 * @example
 * parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
 * // { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 }
 */
export function parseTraceparent(header: string): Traceparent | undefined {
  const parsed = parseSpanContext(header);
  return parsed === undefined ? undefined : { traceId: parsed.traceId, spanId: parsed.spanId, traceFlags: parsed.traceFlags };
}

/** {@link parseTraceparent}, straight into the remote span context that extraction hands on (one object per message, not two). */
function parseSpanContext(header: string): ParsedSpanContext | undefined {
  const value = trimOws(header);
  const length = value.length;
  if (length < TRACEPARENT_LENGTH) return undefined;
  const v0 = HEX[value.charCodeAt(0)] ?? -1;
  const v1 = HEX[value.charCodeAt(1)] ?? -1;
  if (v0 < 0 || v1 < 0 || value.charCodeAt(2) !== 0x2d) return undefined;
  const version = v0 * 16 + v1;
  if (version === 0xff) return undefined;
  if (version === 0 ? length !== TRACEPARENT_LENGTH : length > TRACEPARENT_LENGTH && (value.charCodeAt(TRACEPARENT_LENGTH) !== 0x2d || value.indexOf(',', TRACEPARENT_LENGTH) !== -1)) return undefined;
  if (value.charCodeAt(35) !== 0x2d || value.charCodeAt(52) !== 0x2d) return undefined;
  // An all-zero trace-id or parent-id is invalid, as is any digit that is not lowercase hex.
  if (scanHexId(value, 3, 35) < 1 || scanHexId(value, 36, 52) < 1 || scanHexId(value, 53, 55) < 0) return undefined;
  const traceFlags = (HEX[value.charCodeAt(53)]! * 16 + HEX[value.charCodeAt(54)]!) & KNOWN_FLAGS;
  return new ParsedSpanContext(value.slice(3, 35), value.slice(36, 52), traceFlags);
}

const DASH = 0x2d;
const ZERO = 0x30;

/**
 * {@link parseSpanContext} for a `traceparent` that arrived as bytes (kafkajs and
 * Confluent's client hand every header over as a Buffer), in its usual form only: version
 * 00, exactly 55 bytes. Anything else (spaces around it, a later version, a byte that is
 * not lowercase hex, a BOM) returns `undefined`, and the caller decodes the bytes and
 * parses the text, which decides it.
 *
 * Our own code, not a decoding followed by the parser: that reads every digit twice, once
 * to decode and once through `charCodeAt` (which costs about three times a byte read), and
 * slices of the decoded text are slower to read than flat strings for the check of
 * `@opentelemetry/api`'s `isSpanContextValid` (a loop over the characters in api 1.10, a
 * regular expression in 1.9), which the SDK runs on the parent of every span it starts.
 * Here each byte is read once, and only the two ids become strings, flat ones.
 */
function parseTraceparentBytes(bytes: Uint8Array): ParsedSpanContext | undefined {
  if (bytes.length !== TRACEPARENT_LENGTH || bytes[0] !== ZERO || bytes[1] !== ZERO) return undefined;
  if (bytes[2] !== DASH || bytes[35] !== DASH || bytes[52] !== DASH) return undefined;
  let traceDigits = 0;
  for (let index = 3; index < 35; index++) {
    const digit = HEX[bytes[index]!]!;
    if (digit < 0) return undefined;
    traceDigits |= digit;
  }
  let spanDigits = 0;
  for (let index = 36; index < 52; index++) {
    const digit = HEX[bytes[index]!]!;
    if (digit < 0) return undefined;
    spanDigits |= digit;
  }
  const high = HEX[bytes[53]!]!;
  const low = HEX[bytes[54]!]!;
  if (traceDigits === 0 || spanDigits === 0 || high < 0 || low < 0) return undefined;
  return new ParsedSpanContext(asciiTraceId(bytes), asciiSpanId(bytes), (high * 16 + low) & KNOWN_FLAGS);
}

const fromCharCode = String.fromCharCode;

// Each id in one call: a string built in parts would be a rope, which every read of it
// must walk or flatten first.
function asciiTraceId(b: Uint8Array): string {
  return fromCharCode(b[3]!, b[4]!, b[5]!, b[6]!, b[7]!, b[8]!, b[9]!, b[10]!, b[11]!, b[12]!, b[13]!, b[14]!, b[15]!, b[16]!, b[17]!, b[18]!, b[19]!, b[20]!, b[21]!, b[22]!, b[23]!, b[24]!, b[25]!, b[26]!, b[27]!, b[28]!, b[29]!, b[30]!, b[31]!, b[32]!, b[33]!, b[34]!);
}

function asciiSpanId(b: Uint8Array): string {
  return fromCharCode(b[36]!, b[37]!, b[38]!, b[39]!, b[40]!, b[41]!, b[42]!, b[43]!, b[44]!, b[45]!, b[46]!, b[47]!, b[48]!, b[49]!, b[50]!, b[51]!);
}

/** The remote span context of a carrier read through `getter`, without its trace state. */
function fromGetter(carrier: unknown, getter: TextMapGetter): ParsedSpanContext | undefined {
  const header = single(getter.get(carrier, TRACEPARENT));
  return header === undefined ? undefined : parseSpanContext(header);
}

/** {@link fromGetter} with the carrier's `tracestate`, read only when `traceparent` is valid. */
function fromCarrier(carrier: unknown, getter: TextMapGetter): ParsedSpanContext | undefined {
  const spanContext = fromGetter(carrier, getter);
  if (spanContext !== undefined) setTraceState(spanContext, getter.get(carrier, TRACESTATE));
  return spanContext;
}

/**
 * {@link fromCarrier} for message headers read through tracebus's own getter, with one scan
 * of the headers for both fields: a single `traceparent` that is a string or a byte array is
 * parsed where it lies, bytes without decoding them first, and a single string `tracestate`
 * is taken as it is. Whatever else (a repeated header, bytes outside the usual form, another
 * type) goes through the getter, which decides it as for any carrier.
 */
function fromMessageHeaders(carrier: MessageHeaders | undefined | null): ParsedSpanContext | undefined {
  if (carrier == null) return undefined;
  let parent: unknown;
  let parents = 0;
  let state: unknown;
  let states = 0;
  // Keys match case-insensitively, as in the getter; only a key of the right length is lowered.
  for (const key in carrier) {
    const length = key.length;
    if (length === 11) {
      if (key !== TRACEPARENT && key.toLowerCase() !== TRACEPARENT) continue;
      parent = carrier[key];
      parents++;
    } else if (length === 10) {
      if (key !== TRACESTATE && key.toLowerCase() !== TRACESTATE) continue;
      state = carrier[key];
      states++;
    }
  }
  if (parents === 0) return undefined;
  let spanContext: ParsedSpanContext | undefined;
  if (parents === 1 && typeof parent === 'string') spanContext = parseSpanContext(parent);
  else spanContext = (parents === 1 && parent instanceof Uint8Array ? parseTraceparentBytes(parent) : undefined) ?? fromGetter(carrier, headerGetter);
  if (spanContext === undefined || states === 0) return spanContext;
  setTraceState(spanContext, states === 1 && typeof state === 'string' ? trimOws(state) : headerGetter.get(carrier, TRACESTATE));
  return spanContext;
}

/** Gives `spanContext` the trace state in `value` (a getter's answer), if it has a usable one. */
function setTraceState(spanContext: ParsedSpanContext, value: string | string[] | undefined): void {
  const state = combine(value);
  if (state !== undefined && state !== '') spanContext.traceState = W3CTraceState.parse(state);
}

const FLAG_TEXT = ['00', '01', '02', '03'] as const;

/** The `traceparent` for these ids (version 00, flags as exactly two hex digits). */
function formatTraceparent(traceId: string, spanId: string, traceFlags: number, random: boolean): string {
  const flags = (traceFlags & KNOWN_FLAGS) | (random ? FLAG_RANDOM : 0);
  return `00-${traceId}-${spanId}-${FLAG_TEXT[flags]}`;
}

/** `id` in lowercase; not a string only with api 1.9, whose check converts it to one. */
function lowercase(id: unknown): string {
  return String(id).toLowerCase();
}

/** One string from a getter's answer; a repeated `traceparent` is invalid (W3C `test_traceparent_duplicated`). */
function single(value: string | string[] | undefined): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') return value[0];
  return undefined;
}

/** Repeated `tracestate` fields combined in order (RFC 9110 §5.3), or `undefined` past the input cap. */
function combine(value: string | string[] | undefined): string | undefined {
  if (typeof value === 'string') return value.length <= MAX_TRACESTATE_INPUT ? value : undefined;
  if (!Array.isArray(value)) return undefined;
  let size = value.length - 1;
  for (const part of value) {
    if (typeof part !== 'string') return undefined;
    size += part.length;
    if (size > MAX_TRACESTATE_INPUT) return undefined;
  }
  return value.join(',');
}

/**
 * What {@link ConformantTraceContextPropagator}'s `inject` writes for
 * `trace.setSpanContext(context, spanContext)`, without making that context.
 */
export function injectSpanContext(context: Context, spanContext: SpanContext, carrier: unknown, setter: TextMapSetter): void {
  const ids = checkSpanContext(spanContext);
  if (ids === INVALID_IDS || isTracingSuppressed(context)) return;
  let traceId = spanContext.traceId;
  let spanId = spanContext.spanId;
  // The API takes ids in either case, and other formats carry them so (a B3 header may send
  // `0AF7…`), but `traceparent` has `32HEXDIGLC`: its receivers reject an uppercase digit.
  if (ids !== LOWERCASE_IDS) {
    traceId = lowercase(traceId);
    spanId = lowercase(spanId);
  }
  setter.set(carrier, TRACEPARENT, formatTraceparent(traceId, spanId, spanContext.traceFlags, context.getValue(RANDOM_TRACE_ID_KEY) === traceId));
  const traceState = spanContext.traceState;
  if (traceState === undefined) return;
  // A state from elsewhere (a sampler using core's TraceState) is validated and limited
  // too, but member by member: see traceStateFromList.
  const serialized = traceState instanceof W3CTraceState ? traceState.serialize() : traceStateFromList(serializeForeign(traceState)).serialize();
  if (serialized !== '') setter.set(carrier, TRACESTATE, serialized);
}

/**
 * A W3C Trace Context Level 2 propagator for `traceparent` and `tracestate`, a drop-in
 * for `W3CTraceContextPropagator` from `@opentelemetry/core` that passes every case of
 * the W3C test suite, including the cases where core 3.1 does not:
 *
 * - `traceparent`: see {@link parseTraceparent}; a repeated one (an array from the
 *   getter) is invalid; OWS of any length is ignored.
 * - `tracestate`: a {@link W3CTraceState} (Level 2 keys, whole-header discard of a
 *   malformed list, at most 32 members, 512 characters sent, truncation by whole
 *   entries), parsed lazily; it is not read at all when `traceparent` is invalid. A
 *   `TraceState` made elsewhere (core's, in a sampler) is sent with its valid members,
 *   the left-most 32: core 2.x's `set` can give it a 33rd.
 * - The `random-trace-id` flag (0x02) survives a hop: an extracted one is remembered in
 *   the context ({@link RANDOM_TRACE_ID_KEY}) and set again on injection of any span
 *   of the same trace; a `traceparent` extracted without it clears what was remembered.
 * - Injection writes the ids in lowercase (the API accepts uppercase ones, which a B3
 *   header may bring) and the flags as exactly two hex digits with undefined bits cleared
 *   (core writes `0x11` as `-011`); nothing is injected for an invalid span context or
 *   while tracing is suppressed.
 *
 * Extraction never throws; an invalid `traceparent` returns the context unchanged.
 *
 * @example
 * propagation.setGlobalPropagator(new CompositePropagator({
 *   propagators: [new ConformantTraceContextPropagator(), new ConformantBaggagePropagator()],
 * }));
 */
export class ConformantTraceContextPropagator implements TextMapPropagator {
  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    const spanContext = trace.getSpanContext(context);
    if (spanContext !== undefined) injectSpanContext(context, spanContext, carrier, setter);
  }

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    const spanContext = getter === headerGetter ? fromMessageHeaders(carrier as MessageHeaders | undefined | null) : fromCarrier(carrier, getter);
    if (spanContext === undefined) return context;
    const extracted = trace.setSpanContext(context, spanContext);
    if (spanContext.traceFlags & FLAG_RANDOM) return extracted.setValue(RANDOM_TRACE_ID_KEY, spanContext.traceId);
    // A flag remembered from an earlier extraction into this context must not outlive a
    // `traceparent` without it: unset on the way in, it stays unset on the way out.
    return extracted.getValue(RANDOM_TRACE_ID_KEY) === undefined ? extracted : extracted.deleteValue(RANDOM_TRACE_ID_KEY);
  }

  fields(): string[] {
    return [...FIELDS];
  }
}

function serializeForeign(traceState: TraceState): string {
  try {
    const serialized = traceState.serialize();
    return typeof serialized === 'string' ? serialized : '';
  } catch {
    return '';
  }
}
