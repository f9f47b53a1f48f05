import { createContextKey, trace, type Context, type SpanContext, type TextMapGetter, type TextMapPropagator, type TextMapSetter, type TraceState } from '@opentelemetry/api';
import { isValidSpanContext, ParsedSpanContext } from '../core/span-context.ts';
import { isTracingSuppressed } from '../core/suppression.ts';
import { trimOws } from './ows.ts';
import { MAX_TRACESTATE_INPUT, W3CTraceState } from './trace-state.ts';

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

const HEX = new Int8Array(128).fill(-1);
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
 * - an all-zero trace-id or parent-id is invalid.
 *
 * Surrounding spaces and tabs (HTTP OWS) are ignored. Returns `undefined` when invalid.
 *
 * @example
 * parseTraceparent('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
 * // { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 }
 */
export function parseTraceparent(header: string): Traceparent | undefined {
  const value = trimOws(header);
  const length = value.length;
  if (length < TRACEPARENT_LENGTH) return undefined;
  const v0 = HEX[value.charCodeAt(0)] ?? -1;
  const v1 = HEX[value.charCodeAt(1)] ?? -1;
  if (v0 < 0 || v1 < 0 || value.charCodeAt(2) !== 0x2d) return undefined;
  const version = v0 * 16 + v1;
  if (version === 0xff) return undefined;
  if (version === 0 ? length !== TRACEPARENT_LENGTH : length > TRACEPARENT_LENGTH && value.charCodeAt(TRACEPARENT_LENGTH) !== 0x2d) return undefined;
  if (value.charCodeAt(35) !== 0x2d || value.charCodeAt(52) !== 0x2d) return undefined;
  // An all-zero trace-id or parent-id is invalid, as is any digit that is not lowercase hex.
  if (scanHexId(value, 3, 35) < 1 || scanHexId(value, 36, 52) < 1 || scanHexId(value, 53, 55) < 0) return undefined;
  const traceFlags = (HEX[value.charCodeAt(53)]! * 16 + HEX[value.charCodeAt(54)]!) & KNOWN_FLAGS;
  return { traceId: value.slice(3, 35), spanId: value.slice(36, 52), traceFlags };
}

const FLAG_TEXT = ['00', '01', '02', '03'] as const;

/** The `traceparent` for `spanContext` (version 00, flags as exactly two hex digits). */
export function formatTraceparent(spanContext: SpanContext, random = false): string {
  const flags = (spanContext.traceFlags & KNOWN_FLAGS) | (random ? FLAG_RANDOM : 0);
  return `00-${spanContext.traceId}-${spanContext.spanId}-${FLAG_TEXT[flags]}`;
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
 * A W3C Trace Context Level 2 propagator for `traceparent` and `tracestate`, a drop-in
 * for `W3CTraceContextPropagator` from `@opentelemetry/core` that passes every case of
 * the W3C test suite, including the cases where core 3.1 does not:
 *
 * - `traceparent`: see {@link parseTraceparent}; a repeated one (an array from the
 *   getter) is invalid; OWS of any length is ignored.
 * - `tracestate`: a {@link W3CTraceState} (Level 2 keys, whole-header discard of a
 *   malformed list, at most 32 members, 512 characters sent, truncation by whole
 *   entries), parsed lazily; it is not read at all when `traceparent` is invalid.
 * - The `random-trace-id` flag (0x02) survives a hop: an extracted one is remembered in
 *   the context ({@link RANDOM_TRACE_ID_KEY}) and set again on injection of any span
 *   of the same trace.
 * - Injection writes the flags as exactly two hex digits with undefined bits cleared
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
    if (spanContext === undefined || !isValidSpanContext(spanContext) || isTracingSuppressed(context)) return;
    setter.set(carrier, TRACEPARENT, formatTraceparent(spanContext, context.getValue(RANDOM_TRACE_ID_KEY) === spanContext.traceId));
    const traceState = spanContext.traceState;
    if (traceState === undefined) return;
    // A state from elsewhere (a sampler using core's TraceState) goes through the same
    // validation and limits as one that arrived on the wire.
    const serialized = traceState instanceof W3CTraceState ? traceState.serialize() : W3CTraceState.parse(serializeForeign(traceState)).serialize();
    if (serialized !== '') setter.set(carrier, TRACESTATE, serialized);
  }

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    const header = single(getter.get(carrier, TRACEPARENT));
    if (header === undefined) return context;
    const parsed = parseTraceparent(header);
    if (parsed === undefined) return context;
    const spanContext = new ParsedSpanContext(parsed.traceId, parsed.spanId, parsed.traceFlags);
    const state = combine(getter.get(carrier, TRACESTATE));
    if (state !== undefined && state !== '') spanContext.traceState = W3CTraceState.parse(state);
    const extracted = trace.setSpanContext(context, spanContext);
    return parsed.traceFlags & FLAG_RANDOM ? extracted.setValue(RANDOM_TRACE_ID_KEY, parsed.traceId) : extracted;
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
