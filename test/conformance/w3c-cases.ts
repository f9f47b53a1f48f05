/**
 * Every case of the W3C Trace Context test suite (w3c/trace-context `test/test.py` at
 * acab820: `TraceContextTest` with the strict `*` cases, `AdvancedTest`,
 * `TraceContext2Test`), as data that any transport can run through its real header path:
 *
 * 1. deliver a message carrying {@link W3CCase.headers} (wire order; a repeated name is a
 *    repeated header, see {@link headerMap});
 * 2. in the traced handler, publish {@link W3CCase.callbacks} messages onward;
 * 3. pass the onward messages' headers to {@link checkCase}, which returns what is wrong.
 *
 * The harness POSTs headers to a service and checks the headers of the service's
 * callbacks; here the request is a consumed message and a callback a published one.
 */

/** One header as the harness sends it: `[name, value]`. */
export type HeaderPair = readonly [name: string, value: string];

/** What the harness asserts about the outgoing `tracestate` (its own parser: first duplicate wins). */
export interface TracestateRequirements {
  /** Keys that must be present, with their values. */
  present?: Readonly<Record<string, string>>;
  /** Keys that must be absent. */
  absent?: readonly string[];
  /** Substrings of the serialized `tracestate` that must appear in this order. */
  inOrder?: readonly string[];
  /** At least one of these substrings must appear. */
  anyOf?: readonly string[];
  /** Number of list-members. */
  size?: number;
}

export interface W3CCase {
  /** Harness test (or `tracebus: …` for cases beyond it) and request number, e.g. `TraceContextTest.test_traceparent_version_0xcc #3`. */
  readonly name: string;
  /** A `*` case: skipped by the harness below STRICT_LEVEL 2, its default. */
  readonly strict?: boolean;
  /** Headers of the consumed message, in wire order. */
  readonly headers: readonly HeaderPair[];
  /**
   * `inherit`: every onward message has the incoming trace-id and a parent-id other than
   * the incoming one. `restart`: a trace-id that appears in no incoming header.
   */
  readonly expect: 'inherit' | 'restart';
  /** Onward messages the handler publishes; each needs a parent-id of its own (AdvancedTest). Default 1. */
  readonly callbacks?: number;
  /** The onward `traceparent` must have the `random-trace-id` flag (0x02) set. */
  readonly random?: boolean;
  /** What the harness requires of the onward `tracestate`. */
  readonly harness?: TracestateRequirements;
  /** Exactly the `tracestate` tracebus sends onward, or `null` for none. */
  readonly tracestate: string | null;
  /**
   * Why `@opentelemetry/core` 3.1's propagators, behind tracebus's header getter, fail
   * this case; absent when they pass.
   */
  readonly coreFails?: string;
}

const TRACE_ID = '12345678901234567890123456789012';
const PARENT_ID = '1234567890123456';
/** The harness's usual valid `traceparent`, sampled. */
const TP = `00-${TRACE_ID}-${PARENT_ID}-01`;
/** The harness's `traceparent` for the tracestate cases, not sampled. */
const TP0 = `00-${TRACE_ID}-${PARENT_ID}-00`;

export const W3C_TRACE_ID = TRACE_ID;
export const W3C_PARENT_ID = PARENT_ID;

function restart(name: string, headers: readonly HeaderPair[]): W3CCase {
  return { name: `TraceContextTest.${name}`, headers, expect: 'restart', tracestate: null };
}

function inherit(name: string, headers: readonly HeaderPair[]): W3CCase {
  return { name: `TraceContextTest.${name}`, headers, expect: 'inherit', tracestate: null };
}

function withState(name: string, states: readonly string[], rest: Partial<W3CCase> & Pick<W3CCase, 'tracestate'>): W3CCase {
  return { name: `TraceContextTest.${name}`, headers: [['traceparent', TP0], ...states.map((state): HeaderPair => ['tracestate', state])], expect: 'inherit', ...rest };
}

const LCALPHA = 'abcdefghijklmnopqrstuvwxyz';
const KEY_WITHOUT_VENDOR = `${LCALPHA}0123456789_-*/`;
const KEY_WITH_VENDOR = `${KEY_WITHOUT_VENDOR}@a-z0-9_-*/`;
const ALL_VALUE_CHARS = [[0x20, 0x2b], [0x2d, 0x3c], [0x3e, 0x7e]].map(([from, to]) => Array.from({ length: to! - from! + 1 }, (_, index) => String.fromCharCode(from! + index)).join('')).join('');
const bars = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => `bar${String(from + index).padStart(2, '0')}=${String(from + index).padStart(2, '0')}`).join(',');
const BARS_32 = bars(1, 32);

export const W3C_CASES: readonly W3CCase[] = [
  // TraceContextTest: traceparent
  restart('test_both_traceparent_and_tracestate_missing', []),
  inherit('test_traceparent_included_tracestate_missing', [['traceparent', TP]]),
  restart('test_traceparent_duplicated', [
    ['traceparent', `00-12345678901234567890123456789011-${PARENT_ID}-01`],
    ['traceparent', `00-12345678901234567890123456789012-${PARENT_ID}-01`],
  ]),
  restart('test_traceparent_header_name #1', [['trace-parent', TP]]),
  restart('test_traceparent_header_name #2', [['trace.parent', TP]]),
  inherit('test_traceparent_header_name_valid_casing #1', [['TraceParent', TP]]),
  inherit('test_traceparent_header_name_valid_casing #2', [['TrAcEpArEnT', TP]]),
  inherit('test_traceparent_header_name_valid_casing #3', [['TRACEPARENT', TP]]),
  restart('test_traceparent_version_0x00 #1', [['traceparent', `${TP}.`]]),
  restart('test_traceparent_version_0x00 #2', [['traceparent', `${TP}-what-the-future-will-be-like`]]),
  inherit('test_traceparent_version_0xcc #1', [['traceparent', `cc-${TRACE_ID}-${PARENT_ID}-01`]]),
  inherit('test_traceparent_version_0xcc #2', [['traceparent', `cc-${TRACE_ID}-${PARENT_ID}-01-what-the-future-will-be-like`]]),
  restart('test_traceparent_version_0xcc #3', [['traceparent', `cc-${TRACE_ID}-${PARENT_ID}-01.what-the-future-will-be-like`]]),
  restart('test_traceparent_version_0xff', [['traceparent', `ff-${TRACE_ID}-${PARENT_ID}-01`]]),
  restart('test_traceparent_version_illegal_characters #1', [['traceparent', `.0-${TRACE_ID}-${PARENT_ID}-01`]]),
  restart('test_traceparent_version_illegal_characters #2', [['traceparent', `0.-${TRACE_ID}-${PARENT_ID}-01`]]),
  restart('test_traceparent_version_too_long #1', [['traceparent', `000-${TRACE_ID}-${PARENT_ID}-01`]]),
  restart('test_traceparent_version_too_long #2', [['traceparent', `0000-${TRACE_ID}-${PARENT_ID}-01`]]),
  restart('test_traceparent_version_too_short', [['traceparent', `0-${TRACE_ID}-${PARENT_ID}-01`]]),
  restart('test_traceparent_trace_id_all_zero', [['traceparent', `00-00000000000000000000000000000000-${PARENT_ID}-01`]]),
  restart('test_traceparent_trace_id_illegal_characters #1', [['traceparent', `00-.2345678901234567890123456789012-${PARENT_ID}-01`]]),
  restart('test_traceparent_trace_id_illegal_characters #2', [['traceparent', `00-1234567890123456789012345678901.-${PARENT_ID}-01`]]),
  restart('test_traceparent_trace_id_too_long', [['traceparent', `00-123456789012345678901234567890123-${PARENT_ID}-01`]]),
  restart('test_traceparent_trace_id_too_short', [['traceparent', `00-1234567890123456789012345678901-${PARENT_ID}-01`]]),
  restart('test_traceparent_parent_id_all_zero', [['traceparent', `00-${TRACE_ID}-0000000000000000-01`]]),
  restart('test_traceparent_parent_id_illegal_characters #1', [['traceparent', `00-${TRACE_ID}-.234567890123456-01`]]),
  restart('test_traceparent_parent_id_illegal_characters #2', [['traceparent', `00-${TRACE_ID}-123456789012345.-01`]]),
  restart('test_traceparent_parent_id_too_long', [['traceparent', `00-${TRACE_ID}-12345678901234567-01`]]),
  restart('test_traceparent_parent_id_too_short', [['traceparent', `00-${TRACE_ID}-123456789012345-01`]]),
  restart('test_traceparent_trace_flags_illegal_characters #1', [['traceparent', `00-${TRACE_ID}-${PARENT_ID}-.0`]]),
  restart('test_traceparent_trace_flags_illegal_characters #2', [['traceparent', `00-${TRACE_ID}-${PARENT_ID}-0.`]]),
  restart('test_traceparent_trace_flags_too_long', [['traceparent', `00-${TRACE_ID}-${PARENT_ID}-001`]]),
  restart('test_traceparent_trace_flags_too_short', [['traceparent', `00-${TRACE_ID}-${PARENT_ID}-1`]]),
  inherit('test_traceparent_ows_handling #1', [['traceparent', ` ${TP}`]]),
  inherit('test_traceparent_ows_handling #2', [['traceparent', `\t${TP}`]]),
  inherit('test_traceparent_ows_handling #3', [['traceparent', `${TP} `]]),
  inherit('test_traceparent_ows_handling #4', [['traceparent', `${TP}\t`]]),
  inherit('test_traceparent_ows_handling #5', [['traceparent', `\t ${TP} \t`]]),

  // TraceContextTest: tracestate
  { ...restart('test_tracestate_included_traceparent_missing #1', [['tracestate', 'foo=1']]), harness: { size: 0 } },
  { ...restart('test_tracestate_included_traceparent_missing #2', [['tracestate', 'foo=1,bar=2']]), harness: { size: 0 } },
  withState('test_tracestate_included_traceparent_included', ['foo=1,bar=2'], { harness: { present: { foo: '1', bar: '2' } }, tracestate: 'foo=1,bar=2' }),
  { ...inherit('test_tracestate_header_name #1', [['traceparent', TP0], ['trace-state', 'foo=1']]), harness: { absent: ['foo'] } },
  { ...inherit('test_tracestate_header_name #2', [['traceparent', TP0], ['trace.state', 'foo=1']]), harness: { absent: ['foo'] } },
  { ...inherit('test_tracestate_header_name_valid_casing #1', [['traceparent', TP0], ['TraceState', 'foo=1']]), harness: { present: { foo: '1' } }, tracestate: 'foo=1' },
  { ...inherit('test_tracestate_header_name_valid_casing #2', [['traceparent', TP0], ['TrAcEsTaTe', 'foo=1']]), harness: { present: { foo: '1' } }, tracestate: 'foo=1' },
  { ...inherit('test_tracestate_header_name_valid_casing #3', [['traceparent', TP0], ['TRACESTATE', 'foo=1']]), harness: { present: { foo: '1' } }, tracestate: 'foo=1' },
  withState('test_tracestate_empty_header #1', [''], { tracestate: null }),
  withState('test_tracestate_empty_header #2', ['foo=1', ''], { harness: { present: { foo: '1' } }, tracestate: 'foo=1' }),
  withState('test_tracestate_empty_header #3', ['', 'foo=1'], { harness: { present: { foo: '1' } }, tracestate: 'foo=1' }),
  withState('test_tracestate_multiple_headers_different_keys', ['foo=1,bar=2', 'rojo=1,congo=2', 'baz=3'], {
    harness: { inOrder: ['foo=1', 'bar=2', 'rojo=1', 'congo=2', 'baz=3'] },
    tracestate: 'foo=1,bar=2,rojo=1,congo=2,baz=3',
  }),
  withState('test_tracestate_duplicated_keys #1', ['foo=1,foo=1'], { strict: true, harness: { anyOf: ['foo=1'] }, tracestate: 'foo=1' }),
  withState('test_tracestate_duplicated_keys #2', ['foo=1,foo=2'], { strict: true, harness: { anyOf: ['foo=1', 'foo=2'] }, tracestate: 'foo=1' }),
  withState('test_tracestate_duplicated_keys #3', ['foo=1', 'foo=1'], { strict: true, harness: { anyOf: ['foo=1'] }, tracestate: 'foo=1' }),
  withState('test_tracestate_duplicated_keys #4', ['foo=1', 'foo=2'], { strict: true, harness: { anyOf: ['foo=1', 'foo=2'] }, tracestate: 'foo=1' }),
  withState('test_tracestate_all_allowed_characters #1', [`${KEY_WITHOUT_VENDOR}=${ALL_VALUE_CHARS}`], {
    harness: { present: { [KEY_WITHOUT_VENDOR]: ALL_VALUE_CHARS } },
    tracestate: `${KEY_WITHOUT_VENDOR}=${ALL_VALUE_CHARS}`,
  }),
  withState('test_tracestate_all_allowed_characters #2', [`${KEY_WITH_VENDOR}=${ALL_VALUE_CHARS}`], {
    harness: { present: { [KEY_WITH_VENDOR]: ALL_VALUE_CHARS } },
    tracestate: `${KEY_WITH_VENDOR}=${ALL_VALUE_CHARS}`,
  }),
  withState('test_tracestate_ows_handling #1', ['foo=1 \t , \t bar=2, \t baz=3'], { harness: { present: { foo: '1', bar: '2', baz: '3' } }, tracestate: 'foo=1,bar=2,baz=3' }),
  withState('test_tracestate_ows_handling #2', ['foo=1\t \t,\t \tbar=2,\t \tbaz=3'], { harness: { present: { foo: '1', bar: '2', baz: '3' } }, tracestate: 'foo=1,bar=2,baz=3' }),
  withState('test_tracestate_ows_handling #3', [' foo=1'], { harness: { present: { foo: '1' } }, tracestate: 'foo=1' }),
  withState('test_tracestate_ows_handling #4', ['\tfoo=1'], { harness: { present: { foo: '1' } }, tracestate: 'foo=1' }),
  withState('test_tracestate_ows_handling #5', ['foo=1 '], { harness: { present: { foo: '1' } }, tracestate: 'foo=1' }),
  withState('test_tracestate_ows_handling #6', ['foo=1\t'], { harness: { present: { foo: '1' } }, tracestate: 'foo=1' }),
  withState('test_tracestate_ows_handling #7', ['\t foo=1 \t'], { harness: { present: { foo: '1' } }, tracestate: 'foo=1' }),
  withState('test_tracestate_key_illegal_characters #1', ['foo =1'], { strict: true, harness: { absent: ['foo '] }, tracestate: null }),
  withState('test_tracestate_key_illegal_characters #2', ['FOO=1'], { strict: true, harness: { absent: ['FOO'] }, tracestate: null }),
  withState('test_tracestate_key_illegal_characters #3', ['foo.bar=1'], { strict: true, harness: { absent: ['foo.bar'] }, tracestate: null }),
  withState('test_tracestate_key_illegal_vendor_format #1', ['foo@=1,bar=2'], {
    strict: true,
    harness: { present: { 'foo@': '1', bar: '2' } },
    tracestate: 'foo@=1,bar=2',
    coreFails: 'drops the Level 2 key `foo@` (core checks the Level 1 `tenant@system` grammar)',
  }),
  withState('test_tracestate_key_illegal_vendor_format #2', ['@foo=1,bar=2'], {
    strict: true,
    harness: { absent: ['bar'] },
    tracestate: null,
    coreFails: 'keeps `bar` after dropping the malformed `@foo` instead of discarding the whole header',
  }),
  withState('test_tracestate_key_illegal_vendor_format #3', ['foo@@bar=1,bar=2'], {
    strict: true,
    harness: { present: { 'foo@@bar': '1', bar: '2' } },
    tracestate: 'foo@@bar=1,bar=2',
    coreFails: 'drops the Level 2 key `foo@@bar`',
  }),
  withState('test_tracestate_key_illegal_vendor_format #4', ['foo@bar@baz=1,bar=2'], {
    strict: true,
    harness: { present: { 'foo@bar@baz': '1', bar: '2' } },
    tracestate: 'foo@bar@baz=1,bar=2',
    coreFails: 'drops the Level 2 key `foo@bar@baz`',
  }),
  withState('test_tracestate_member_count_limit #1', [bars(1, 10), bars(11, 20), bars(21, 30), bars(31, 32)], {
    strict: true,
    harness: { present: { bar01: '01' }, size: 32 },
    tracestate: BARS_32,
  }),
  withState('test_tracestate_member_count_limit #2', [bars(1, 10), bars(11, 20), bars(21, 30), bars(31, 33)], {
    strict: true,
    harness: { absent: ['bar01'] },
    tracestate: null,
    coreFails: 'keeps the first 32 of 33 members instead of discarding the header',
  }),
  withState('test_tracestate_key_length_limit #1', ['foo=1', `${'z'.repeat(256)}=1`], {
    strict: true,
    harness: { present: { foo: '1', ['z'.repeat(256)]: '1' } },
    tracestate: `foo=1,${'z'.repeat(256)}=1`,
  }),
  withState('test_tracestate_key_length_limit #2', ['foo=1', `${'z'.repeat(257)}=1`], {
    strict: true,
    harness: { absent: ['foo'] },
    tracestate: null,
    coreFails: 'keeps `foo` after dropping the 257-character key instead of discarding the header',
  }),
  withState('test_tracestate_key_length_limit #3', ['foo=1', `${'t'.repeat(241)}@${'v'.repeat(14)}=1`], {
    strict: true,
    harness: { present: { foo: '1', [`${'t'.repeat(241)}@${'v'.repeat(14)}`]: '1' } },
    tracestate: `foo=1,${'t'.repeat(241)}@${'v'.repeat(14)}=1`,
  }),
  withState('test_tracestate_key_length_limit #4', ['foo=1', `${'t'.repeat(242)}@v=1`], {
    strict: true,
    harness: { present: { foo: '1', [`${'t'.repeat(242)}@v`]: '1' } },
    tracestate: `foo=1,${'t'.repeat(242)}@v=1`,
    coreFails: 'drops the Level 2 key `t×242@v` (tenant-id over 241 characters in Level 1)',
  }),
  withState('test_tracestate_key_length_limit #5', ['foo=1', `t@${'v'.repeat(15)}=1`], {
    strict: true,
    harness: { present: { foo: '1', [`t@${'v'.repeat(15)}`]: '1' } },
    tracestate: `foo=1,t@${'v'.repeat(15)}=1`,
    coreFails: 'drops the Level 2 key `t@v×15` (system-id over 14 characters in Level 1)',
  }),
  withState('test_tracestate_value_illegal_characters #1', ['foo=bar=baz'], { strict: true, harness: { absent: ['foo'] }, tracestate: null }),
  withState('test_tracestate_value_illegal_characters #2', ['foo=,bar=3'], {
    strict: true,
    harness: { absent: ['foo', 'bar'] },
    tracestate: null,
    coreFails: 'keeps `bar=3` after dropping the empty value `foo=` instead of discarding the header',
  }),

  // AdvancedTest
  { name: 'AdvancedTest.test_multiple_requests_with_valid_traceparent', headers: [['traceparent', TP]], expect: 'inherit', callbacks: 3, tracestate: null },
  { name: 'AdvancedTest.test_multiple_requests_without_traceparent', headers: [], expect: 'restart', callbacks: 3, tracestate: null },
  { name: 'AdvancedTest.test_multiple_requests_with_illegal_traceparent', headers: [['traceparent', `00-00000000000000000000000000000000-${PARENT_ID}-01`]], expect: 'restart', callbacks: 3, tracestate: null },

  // TraceContext2Test
  {
    name: 'TraceContext2Test.test_propagates_random_flag',
    headers: [['traceparent', `00-${TRACE_ID}-${PARENT_ID}-02`]],
    expect: 'inherit',
    random: true,
    tracestate: null,
    coreFails: 'the SDK Tracer gives the child span flags 01 only, and core has no way to restore bit 0x02',
  },

  // Beyond the harness: the Level 2 key grammar allows a leading digit; Level 1 did not.
  {
    ...withState('', ['1foo=1,bar=2'], {
      harness: { present: { '1foo': '1', bar: '2' } },
      tracestate: '1foo=1,bar=2',
      coreFails: 'drops `1foo` (Level 1 simple keys start with a letter)',
    }),
    name: 'tracebus: Level 2 key with a leading digit',
  },
  // Beyond the harness: test_traceparent_duplicated with version cc, the first value with a
  // field of a later version; joined with a comma, the two read as one value with extra fields.
  {
    name: 'tracebus: traceparent of a later version duplicated',
    headers: [
      ['traceparent', `cc-12345678901234567890123456789011-${PARENT_ID}-01-what-the-future-will-be-like`],
      ['traceparent', `cc-12345678901234567890123456789012-${PARENT_ID}-01`],
    ],
    expect: 'restart',
    tracestate: null,
  },
  // Beyond the harness: the random flag stays set next to sampled, across a tracestate.
  {
    name: 'tracebus: random flag with sampled and a tracestate',
    headers: [['traceparent', `00-${TRACE_ID}-${PARENT_ID}-03`], ['tracestate', 'rojo=00f067aa0ba902b7']],
    expect: 'inherit',
    random: true,
    harness: { present: { rojo: '00f067aa0ba902b7' } },
    tracestate: 'rojo=00f067aa0ba902b7',
    coreFails: 'the SDK Tracer drops bit 0x02 on the child span',
  },
];

/**
 * The case's headers as a message header map: a name given more than once becomes an
 * array in wire order, as kafkajs delivers repeated headers. Names differing only in case
 * stay separate keys.
 */
export function headerMap(testCase: W3CCase): Record<string, string | string[]> {
  const map: Record<string, string | string[]> = {};
  for (const [name, value] of testCase.headers) {
    const previous = map[name];
    map[name] = previous === undefined ? value : Array.isArray(previous) ? [...previous, value] : [previous, value];
  }
  return map;
}

/**
 * {@link headerMap} with each value (each item of a repeated header) passed through
 * `encode`, e.g. `Buffer.from` for the byte arrays a transport sends or delivers.
 */
export function encodedHeaderMap<T>(testCase: W3CCase, encode: (value: string) => T): Record<string, T | T[]> {
  const map: Record<string, T | T[]> = {};
  for (const [name, value] of Object.entries(headerMap(testCase))) map[name] = Array.isArray(value) ? value.map((item) => encode(item)) : encode(value);
  return map;
}

/** Whether the case repeats a header name exactly (AMQP carries that as a field array). */
export function repeatsHeader(testCase: W3CCase): boolean {
  return new Set(testCase.headers.map(([name]) => name)).size !== testCase.headers.length;
}

const TRACEPARENT_FORMAT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const TRACESTATE_MEMBER = /^([0-9a-z][_0-9a-z\-*/@]{0,255})=([\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e])$/;
const decoder = new TextDecoder();

/** Every value of header `name` (any case) in `headers`, decoded, arrays flattened. */
function valuesOf(headers: Readonly<Record<string, unknown>>, name: string): string[] {
  const values: string[] = [];
  const add = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(add);
    else if (typeof value === 'string') values.push(value);
    else if (value instanceof Uint8Array) values.push(decoder.decode(value));
    else if (value != null) values.push(String(value));
  };
  for (const key of Object.keys(headers)) if (key.toLowerCase() === name) add(headers[key]);
  return values;
}

/** The harness's tracestate parser: OWS-delimited members, first duplicate wins, a bad member is an error. */
function parseOutgoingTracestate(values: readonly string[], problems: string[]): Map<string, string> {
  const members = new Map<string, string>();
  for (const value of values) {
    for (const member of value.split(/[ \t]*,[ \t]*/)) {
      if (member === '') continue;
      const match = TRACESTATE_MEMBER.exec(member);
      if (match === null) {
        problems.push(`sent an invalid tracestate member ${JSON.stringify(member)}`);
        continue;
      }
      if (!members.has(match[1]!)) members.set(match[1]!, match[2]!);
    }
  }
  return members;
}

export interface CheckOptions {
  /**
   * Also require exactly {@link W3CCase.tracestate}, and the header to be absent when it
   * is `null`. Default true; `false` checks only what the W3C harness checks.
   */
  exact?: boolean;
}

/**
 * What is wrong with the onward messages of `testCase`, as sentences (empty when it
 * passes). `outgoing` holds the headers of each onward message, in any of the forms
 * transports deliver: strings, Buffers, arrays.
 */
export function checkCase(testCase: W3CCase, outgoing: readonly Readonly<Record<string, unknown>>[], options: CheckOptions = {}): string[] {
  const { exact = true } = options;
  const problems: string[] = [];
  const callbacks = testCase.callbacks ?? 1;
  if (outgoing.length !== callbacks) problems.push(`expected ${callbacks} onward message(s), got ${outgoing.length}`);
  const incoming = testCase.headers.map(([, value]) => value).join('\n');
  const parentIds = new Set<string>();
  outgoing.forEach((headers, index) => {
    const at = callbacks > 1 ? ` (onward message ${index + 1})` : '';
    const traceparents = valuesOf(headers, 'traceparent');
    if (traceparents.length !== 1) {
      problems.push(`expected one traceparent${at}, got ${traceparents.length}: ${JSON.stringify(traceparents)}`);
      return;
    }
    const match = TRACEPARENT_FORMAT.exec(traceparents[0]!);
    if (match === null) {
      problems.push(`sent a malformed traceparent ${JSON.stringify(traceparents[0])}${at}`);
      return;
    }
    const [, version, traceId, parentId, flagText] = match as unknown as [string, string, string, string, string];
    const flags = Number.parseInt(flagText, 16);
    if (version !== '00') problems.push(`sent version ${version}${at}; this specification's version is 00`);
    if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) problems.push(`sent an all-zero id in ${traceparents[0]}${at}`);
    if (flags & ~0x03) problems.push(`sent undefined flag bits ${flagText}${at}; they must be zero`);
    parentIds.add(parentId);
    if (testCase.expect === 'inherit') {
      if (traceId !== W3C_TRACE_ID) problems.push(`expected trace-id ${W3C_TRACE_ID} to be inherited${at}, got ${traceId}`);
      if (parentId === W3C_PARENT_ID) problems.push(`expected a new parent-id${at}, got the incoming ${parentId}`);
    } else if (incoming.includes(traceId)) {
      problems.push(`expected a new trace-id${at}, got ${traceId} from the incoming headers`);
    }
    if (testCase.random && !(flags & 0x02)) problems.push(`expected the random-trace-id flag (0x02) to be set${at}, got flags ${flagText}`);

    const tracestates = valuesOf(headers, 'tracestate');
    const state = parseOutgoingTracestate(tracestates, problems);
    const serialized = [...state].map(([key, value]) => `${key}=${value}`).join(',');
    const required = testCase.harness ?? {};
    for (const [key, value] of Object.entries(required.present ?? {})) {
      if (state.get(key) !== value) problems.push(`expected tracestate key ${JSON.stringify(key.length > 40 ? `${key.slice(0, 20)}…` : key)} = ${JSON.stringify(value)}${at}, got ${JSON.stringify(state.get(key))}`);
    }
    for (const key of required.absent ?? []) if (state.has(key)) problems.push(`expected tracestate key ${JSON.stringify(key)} to be discarded${at}`);
    if (required.size !== undefined && state.size !== required.size) problems.push(`expected ${required.size} tracestate members${at}, got ${state.size}`);
    if (required.anyOf !== undefined && !required.anyOf.some((part) => serialized.includes(part))) problems.push(`expected tracestate to contain one of ${JSON.stringify(required.anyOf)}${at}, got ${JSON.stringify(serialized)}`);
    if (required.inOrder !== undefined) {
      const positions = required.inOrder.map((part) => serialized.indexOf(part));
      if (positions.some((position, step) => position === -1 || (step > 0 && position < positions[step - 1]!))) {
        problems.push(`expected tracestate to contain ${JSON.stringify(required.inOrder)} in this order${at}, got ${JSON.stringify(serialized)}`);
      }
    }
    if (exact) {
      const sent = tracestates.length === 0 ? null : tracestates.join(',');
      if (sent !== testCase.tracestate) problems.push(`expected tracestate ${JSON.stringify(testCase.tracestate)}${at}, got ${JSON.stringify(sent)}`);
    }
  });
  if (outgoing.length > 1 && parentIds.size !== outgoing.length) problems.push(`expected ${outgoing.length} distinct parent-ids, got ${parentIds.size}`);
  return problems;
}

/** The parts of a finished span that {@link checkHop} reads (an SDK `ReadableSpan` fits). */
export interface HopSpan {
  readonly name: string;
  spanContext(): { traceId: string; spanId: string };
  readonly parentSpanContext?: { traceId: string; spanId: string } | undefined;
}

/**
 * What is wrong with the spans behind the onward messages of `testCase`, as sentences
 * (empty when it passes). `processSpanId` is the id of the `process` span the traced
 * handler ran in (its `trace.spanId`); `sendName` names the spans the traced publisher
 * records for the onward messages; `spans` are the finished spans.
 *
 * - `inherit`: the `process` span is a child of the incoming parent-id in the incoming
 *   trace; `restart`: it has no parent.
 * - Each onward message carries exactly `00-<trace-id>-<span-id>-<flags>` of its own
 *   `sendName` span, a child of the `process` span, where flags are `01` (sampled: the
 *   spans come from an always-on sampler, as the conformance suites set up), or `03` when the
 *   case requires the random-trace-id flag.
 */
export function checkHop(testCase: W3CCase, outgoing: readonly Readonly<Record<string, unknown>>[], processSpanId: string, sendName: string, spans: readonly HopSpan[]): string[] {
  const problems: string[] = [];
  const processSpan = spans.find((span) => span.spanContext().spanId === processSpanId);
  if (processSpan === undefined) return [`no finished process span ${processSpanId}`];
  const { traceId } = processSpan.spanContext();
  const parent = processSpan.parentSpanContext;
  if (testCase.expect === 'inherit') {
    if (parent?.traceId !== W3C_TRACE_ID || parent.spanId !== W3C_PARENT_ID) {
      problems.push(`expected ${processSpan.name} to be a child of ${W3C_TRACE_ID}/${W3C_PARENT_ID}, its parent is ${parent ? `${parent.traceId}/${parent.spanId}` : 'none'}`);
    }
  } else if (parent !== undefined) {
    problems.push(`expected ${processSpan.name} to start a trace, its parent is ${parent.traceId}/${parent.spanId}`);
  }
  const flags = testCase.random ? '03' : '01';
  const expected = spans
    .filter((span) => span.name === sendName && span.parentSpanContext?.spanId === processSpanId && span.parentSpanContext.traceId === traceId)
    .map((span) => `00-${traceId}-${span.spanContext().spanId}-${flags}`)
    .sort();
  const sent = outgoing.flatMap((headers) => valuesOf(headers, 'traceparent')).sort();
  if (JSON.stringify(sent) !== JSON.stringify(expected)) {
    problems.push(`expected the onward traceparents of the ${sendName} spans under ${processSpan.name}, ${JSON.stringify(expected)}, got ${JSON.stringify(sent)}`);
  }
  return problems;
}
