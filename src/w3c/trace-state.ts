import type { TraceState } from '@opentelemetry/api';
import { isOws, trimOws } from './ows.ts';

/** Most list-members a `tracestate` holds (W3C Trace Context, tracestate `list`). */
export const MAX_TRACESTATE_MEMBERS = 32;

/**
 * Longest `tracestate` tracebus sends, in characters. The spec asks vendors to propagate
 * at least 512 ("tracestate Limits"); longer values are cut by whole entries.
 */
export const MAX_TRACESTATE_LENGTH = 512;

/** Entries longer than this are the first to go when a `tracestate` is cut ("tracestate Limits"). */
const LONG_ENTRY = 128;

/**
 * Longest combined `tracestate` input that is parsed at all. A valid one is at most
 * 32 members of 256 + 1 + 256 characters plus separators (~16.5 kB); anything longer is
 * padding or an attack, and is discarded whole without a scan.
 */
export const MAX_TRACESTATE_INPUT = 32 * 1024;

const EMPTY: ReadonlyMap<string, string> = new Map();

/** Character classes of the Level 2 grammar, indexed by char code (0x00–0x7f). */
const KEY_FIRST = 1;
const KEY_CHAR = 2;
const VALUE_CHAR = 4;
const CLASSES = new Uint8Array(128);
for (let code = 0x20; code <= 0x7e; code++) if (code !== 0x2c && code !== 0x3d) CLASSES[code]! |= VALUE_CHAR;
for (let code = 0x61; code <= 0x7a; code++) CLASSES[code]! |= KEY_FIRST | KEY_CHAR;
for (let code = 0x30; code <= 0x39; code++) CLASSES[code]! |= KEY_FIRST | KEY_CHAR;
for (const char of '_-*/@') CLASSES[char.charCodeAt(0)]! |= KEY_CHAR;

/**
 * Whether `key` is a `tracestate` key of W3C Trace Context Level 2:
 * `( lcalpha / DIGIT ) 0*255 ( keychar )`, `keychar` including `@` anywhere after the
 * first character. (Level 1's stricter `tenant@system` form is what `@opentelemetry/core`
 * still checks, so it drops keys such as `foo@` or `t@vvvvvvvvvvvvvvv`.)
 */
export function isTraceStateKey(key: string): boolean {
  const length = key.length;
  if (length === 0 || length > 256 || !(CLASSES[key.charCodeAt(0)]! & KEY_FIRST)) return false;
  for (let index = 1; index < length; index++) {
    const code = key.charCodeAt(index);
    if (code > 0x7f || !(CLASSES[code]! & KEY_CHAR)) return false;
  }
  return true;
}

/**
 * Whether `value` is a `tracestate` value: 1–256 printable ASCII characters other than
 * `,` and `=`, not ending in a space (`0*255(chr) nblk-chr`).
 */
export function isTraceStateValue(value: string): boolean {
  const length = value.length;
  if (length === 0 || length > 256 || value.charCodeAt(length - 1) === 0x20) return false;
  for (let index = 0; index < length; index++) {
    const code = value.charCodeAt(index);
    if (code > 0x7f || !(CLASSES[code]! & VALUE_CHAR)) return false;
  }
  return true;
}

interface Parsed {
  readonly members: ReadonlyMap<string, string>;
  /** Whether serializing `members` gives back the input unchanged. */
  readonly canonical: boolean;
}

/**
 * Parses a combined `tracestate`. Any malformed member, or more than 32 members, discards
 * the whole header: the processing model allows it ("A traceparent is Received", step 3) and the W3C test suite
 * expects it (`test_tracestate_member_count_limit`, `_key_length_limit`,
 * `_key_illegal_vendor_format`, `_value_illegal_characters`). Empty and whitespace-only
 * members are allowed ("tracestate Header Field Values"). A repeated key keeps its left-most value, the most
 * recent one ("Combined Header Value"), which the suite accepts (`test_tracestate_duplicated_keys`).
 */
function parse(raw: string): Parsed {
  if (raw.length > MAX_TRACESTATE_INPUT) return { members: EMPTY, canonical: false };
  const members = new Map<string, string>();
  let canonical = true;
  let count = 0;
  let start = 0;
  const length = raw.length;
  while (start <= length) {
    let end = raw.indexOf(',', start);
    if (end === -1) end = length;
    let first = start;
    let last = end;
    while (first < last && isOws(raw.charCodeAt(first))) first++;
    while (last > first && isOws(raw.charCodeAt(last - 1))) last--;
    if (first === last) {
      canonical = false;
    } else {
      if (first !== start || last !== end) canonical = false;
      if (++count > MAX_TRACESTATE_MEMBERS) return { members: EMPTY, canonical: false };
      const equals = keyEnd(raw, first, last);
      if (equals === -1 || !valueOk(raw, equals + 1, last)) return { members: EMPTY, canonical: false };
      const key = raw.slice(first, equals);
      if (members.has(key)) canonical = false;
      else members.set(key, raw.slice(equals + 1, last));
    }
    start = end + 1;
  }
  return { members, canonical };
}

/** Index of the `=` that ends a valid key starting at `from`, or -1. */
function keyEnd(raw: string, from: number, to: number): number {
  if (!(CLASSES[raw.charCodeAt(from)]! & KEY_FIRST)) return -1;
  const limit = Math.min(to, from + 257);
  for (let index = from + 1; index < limit; index++) {
    const code = raw.charCodeAt(index);
    if (code === 0x3d) return index;
    if (code > 0x7f || !(CLASSES[code]! & KEY_CHAR)) return -1;
  }
  return -1;
}

function valueOk(raw: string, from: number, to: number): boolean {
  // Trailing spaces were trimmed as OWS, so the last character is never a space here.
  if (to <= from || to - from > 256) return false;
  for (let index = from; index < to; index++) {
    const code = raw.charCodeAt(index);
    if (code > 0x7f || !(CLASSES[code]! & VALUE_CHAR)) return false;
  }
  return true;
}

/**
 * Serializes `members`, cutting whole entries when the result would exceed
 * {@link MAX_TRACESTATE_LENGTH}: entries over 128 characters go first, right-most first,
 * then entries from the right ("tracestate Limits"). Other strategies "SHOULD NOT be used".
 */
function serialize(members: ReadonlyMap<string, string>): string {
  const entries: string[] = [];
  let total = -1;
  for (const [key, value] of members) {
    const entry = `${key}=${value}`;
    entries.push(entry);
    total += entry.length + 1;
  }
  if (total <= MAX_TRACESTATE_LENGTH) return entries.join(',');
  for (let index = entries.length - 1; index >= 0 && total > MAX_TRACESTATE_LENGTH; index--) {
    const length = entries[index]!.length;
    if (length > LONG_ENTRY) {
      entries.splice(index, 1);
      total -= length + 1;
    }
  }
  while (total > MAX_TRACESTATE_LENGTH && entries.length > 0) total -= entries.pop()!.length + 1;
  return entries.join(',');
}

/**
 * An immutable W3C Trace Context Level 2 `tracestate`, implementing the OpenTelemetry
 * `TraceState` interface.
 *
 * - Parsed on first use, so a message that is only passed through pays one scan at most.
 * - Keys follow the Level 2 grammar (`@` allowed after the first character).
 * - A malformed header, or one with more than 32 members, reads as empty.
 * - `set` puts the key on the left, replacing its old entry; adding a 33rd member drops
 *   the right-most one. An invalid key or value leaves the state unchanged (no throw:
 *   samplers call this while a span starts).
 * - `serialize` sends at most 512 characters, cutting whole entries as the spec says.
 *
 * @example
 * const state = W3CTraceState.parse('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
 * state.set('tracebus', '1').serialize(); // 'tracebus=1,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'
 */
export class W3CTraceState implements TraceState {
  #raw: string | undefined;
  #members: ReadonlyMap<string, string> | undefined;
  #serialized: string | undefined;

  private constructor(raw: string | undefined, members: ReadonlyMap<string, string> | undefined) {
    this.#raw = raw;
    this.#members = members;
  }

  /** A state from a combined `tracestate` header value; parsing waits until it is read. */
  static parse(header: string): W3CTraceState {
    return new W3CTraceState(typeof header === 'string' ? header : '', undefined);
  }

  /** A state from entries in left-to-right order. Invalid entries and those past 32 are left out. */
  static from(entries: Iterable<readonly [string, string]>): W3CTraceState {
    const members = new Map<string, string>();
    for (const [key, value] of entries) {
      if (members.size < MAX_TRACESTATE_MEMBERS && isTraceStateKey(key) && isTraceStateValue(value) && !members.has(key)) members.set(key, value);
    }
    return new W3CTraceState(undefined, members);
  }

  #state(): ReadonlyMap<string, string> {
    if (this.#members === undefined) {
      const parsed = parse(this.#raw ?? '');
      this.#members = parsed.members;
      if (parsed.canonical && this.#raw!.length <= MAX_TRACESTATE_LENGTH) this.#serialized = this.#raw;
      this.#raw = undefined;
    }
    return this.#members;
  }

  set(key: string, value: string): W3CTraceState {
    if (!isTraceStateKey(key) || !isTraceStateValue(value)) return this;
    const members = new Map<string, string>([[key, value]]);
    for (const [name, old] of this.#state()) {
      if (name !== key && members.size < MAX_TRACESTATE_MEMBERS) members.set(name, old);
    }
    return new W3CTraceState(undefined, members);
  }

  unset(key: string): W3CTraceState {
    const current = this.#state();
    if (!current.has(key)) return this;
    const members = new Map(current);
    members.delete(key);
    return new W3CTraceState(undefined, members);
  }

  get(key: string): string | undefined {
    return this.#state().get(key);
  }

  /** Number of list-members. */
  get size(): number {
    return this.#state().size;
  }

  serialize(): string {
    if (this.#serialized === undefined) {
      const members = this.#state();
      this.#serialized ??= serialize(members);
    }
    return this.#serialized;
  }
}

/**
 * The state of a serialized `TraceState` that tracebus did not make (core's, or a sampler's
 * own): its valid members, the left-most 32. A header from the wire is discarded whole when
 * it is malformed or has more than 32 members; a state built in the process is not. The
 * `TraceState.set` of core 2.x adds a 33rd member to a full list (a sampler adding its entry
 * to a state read from HTTP), and "tracestate Limits" says the right-most one then goes.
 *
 * @example
 * traceStateFromList('new=x,k0=0,…,k31=31').serialize(); // 'new=x,k0=0,…,k30=30'
 */
export function traceStateFromList(list: string): W3CTraceState {
  const entries: [string, string][] = [];
  for (const part of list.split(',')) {
    const member = trimOws(part);
    const equals = member.indexOf('=');
    if (equals !== -1) entries.push([member.slice(0, equals), member.slice(equals + 1)]);
  }
  return W3CTraceState.from(entries);
}
