import { isValidSpanId, isValidTraceId, type SpanContext, type TraceState } from '@opentelemetry/api';

/**
 * A span context read from a `traceparent` that passed tracebus's W3C parser, whose ids
 * are therefore known to be valid. The placement of a received message asks whether its
 * remote context is valid; for one of these it need not scan the 48 hex digits again.
 */
export class ParsedSpanContext implements SpanContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly isRemote = true;
  traceState?: TraceState;

  constructor(traceId: string, spanId: string, traceFlags: number) {
    this.traceId = traceId;
    this.spanId = spanId;
    this.traceFlags = traceFlags;
  }
}

/** {@link checkSpanContext}: the span context is not valid. */
export const INVALID_IDS = 0;
/** {@link checkSpanContext}: valid, and both ids are lowercase hex, as `traceparent` writes them. */
export const LOWERCASE_IDS = 1;
/** {@link checkSpanContext}: valid, but an id has uppercase digits (or, with api 1.9, is not a string). */
export const OTHER_IDS = 2;

// For each code unit below 128: 1 for a lowercase hex digit, 0x101 for A-F, 0 for anything else.
const HEX_CASE = new Uint16Array(128);
for (const char of '0123456789abcdef') HEX_CASE[char.charCodeAt(0)] = 1;
for (const char of 'ABCDEF') HEX_CASE[char.charCodeAt(0)] = 0x101;

const INVALID_TRACE_ID = '00000000000000000000000000000000';
const INVALID_SPAN_ID = '0000000000000000';

/**
 * The API's check of one id (hex digits of either case, the right number, not all zeros),
 * which also tells whether the digits are lowercase: one pass instead of the API's pass and
 * a second one for the case.
 */
function checkId(id: unknown, length: number, invalid: string, apiCheck: (id: string) => boolean): number {
  // The API's checks differ only here: api 1.10 refuses anything but a string, api 1.9's
  // regular expression converts it to one first.
  if (typeof id !== 'string') return apiCheck(id as string) ? OTHER_IDS : INVALID_IDS;
  if (id.length !== length || id === invalid) return INVALID_IDS;
  // The low byte counts hex digits, the rest uppercase ones. Four digits a step, as in the API.
  let sum = 0;
  for (let index = 0; index < length; index += 4) {
    sum += (HEX_CASE[id.charCodeAt(index)] ?? 0) + (HEX_CASE[id.charCodeAt(index + 1)] ?? 0) + (HEX_CASE[id.charCodeAt(index + 2)] ?? 0) + (HEX_CASE[id.charCodeAt(index + 3)] ?? 0);
  }
  return sum === length ? LOWERCASE_IDS : (sum & 0xff) === length ? OTHER_IDS : INVALID_IDS;
}

// The trace id last found valid and lowercase. The spans a process injects or links come in
// runs of one trace (the create spans of a batch, the sends of one request), so most checks
// find the same trace id here and scan only the span id. It starts as an id that is valid
// itself, so that no invalid one (an empty string, `undefined` from JavaScript) can ever match it.
let validTraceId: unknown = '0af7651916cd43dd8448eb211c80319c';

/**
 * Whether `spanContext` is valid, as `trace.isSpanContextValid` answers, and whether its ids
 * are lowercase: {@link INVALID_IDS}, {@link LOWERCASE_IDS} or {@link OTHER_IDS}. Answered
 * without a scan where it is already known.
 */
export function checkSpanContext(spanContext: SpanContext): number {
  if (spanContext instanceof ParsedSpanContext) return LOWERCASE_IDS;
  // A span's context is one object for its life (the SDK's spanContext() answers the same one),
  // and a send checks it more than once (a create span's, before its link and its injection).
  if (spanContext === lastChecked && spanContext.traceId === lastTraceId && spanContext.spanId === lastSpanId) return lastForm;
  const traceId = spanContext.traceId;
  let form = LOWERCASE_IDS;
  if (traceId !== validTraceId) {
    form = checkId(traceId, 32, INVALID_TRACE_ID, isValidTraceId);
    if (form === INVALID_IDS) return INVALID_IDS;
    if (form === LOWERCASE_IDS) validTraceId = traceId;
  }
  const spanForm = checkId(spanContext.spanId, 16, INVALID_SPAN_ID, isValidSpanId);
  const checked = spanForm === INVALID_IDS ? INVALID_IDS : spanForm === LOWERCASE_IDS ? form : OTHER_IDS;
  lastChecked = spanContext;
  lastTraceId = traceId;
  lastSpanId = spanContext.spanId;
  lastForm = checked;
  return checked;
}

// The span context checked last, with the ids it had then (an object is not frozen), and the answer.
let lastChecked: SpanContext | undefined;
let lastTraceId: unknown;
let lastSpanId: unknown;
let lastForm = INVALID_IDS;

/** `trace.isSpanContextValid(spanContext)`, answered without a scan where it is already known. */
export function isValidSpanContext(spanContext: SpanContext): boolean {
  return checkSpanContext(spanContext) !== INVALID_IDS;
}
