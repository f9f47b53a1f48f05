import { baggageEntryMetadataFromString, propagation, type BaggageEntry, type Context, type TextMapGetter, type TextMapPropagator, type TextMapSetter } from '@opentelemetry/api';
import { isTracingSuppressed } from '../core/suppression.ts';
import { isOws, trimOws } from './ows.ts';

const BAGGAGE = 'baggage';

/** Members W3C Baggage requires a platform to propagate (W3C Baggage, "Limits"). */
export const MAX_BAGGAGE_MEMBERS = 64;
/** Bytes of `baggage-string` W3C Baggage requires a platform to propagate (W3C Baggage, "Limits"). */
export const MAX_BAGGAGE_BYTES = 8192;
/**
 * Characters of incoming `baggage` text that are looked at. Past this the rest is ignored
 * (from the last comma before it, so no member is cut), bounding the work a hostile
 * header can cause; 64 KiB is eight times what the spec asks to propagate.
 */
export const MAX_BAGGAGE_INPUT = 64 * 1024;
/** List-members looked at, valid or not, before the rest of the input is ignored. */
export const MAX_BAGGAGE_SCANNED = 1024;

const TOKEN = 1;
const OCTET = 2;
const CLASSES = new Uint8Array(128);
// RFC 7230 §3.2.6 tchar.
for (const char of "!#$%&'*+-.^_`|~0123456789") CLASSES[char.charCodeAt(0)]! |= TOKEN;
for (let code = 0x41; code <= 0x5a; code++) CLASSES[code]! |= TOKEN;
for (let code = 0x61; code <= 0x7a; code++) CLASSES[code]! |= TOKEN;
// baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
for (let code = 0x21; code <= 0x7e; code++) if (code !== 0x22 && code !== 0x2c && code !== 0x3b && code !== 0x5c) CLASSES[code]! |= OCTET;

const HEX_DIGITS = '0123456789ABCDEF';
// `ignoreBOM`: a value that starts with `%EF%BB%BF` keeps its U+FEFF (the default strips it).
const textDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });
const textEncoder = new TextEncoder();

function allOf(text: string, from: number, to: number, mask: number): boolean {
  for (let index = from; index < to; index++) {
    const code = text.charCodeAt(index);
    if (code > 0x7f || !(CLASSES[code]! & mask)) return false;
  }
  return true;
}

/** Whether `key` is a baggage key: an RFC 7230 token. Keys have no percent-encoding. */
export function isBaggageKey(key: string): boolean {
  return key.length > 0 && allOf(key, 0, key.length, TOKEN);
}

function hexValue(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x41 && code <= 0x46) return code - 0x37;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/**
 * Percent-decodes a baggage value. Octets that are not valid UTF-8 become U+FFFD, as
 * W3C Baggage requires ("percent-encoded octet sequences that do not match the UTF-8
 * encoding scheme MUST be replaced"); `decodeURIComponent` would throw instead, and
 * `@opentelemetry/core` then drops the entry. A `%` not followed by two hex digits is
 * kept as it is, as the URL Standard's percent-decode does.
 */
export function decodeBaggageValue(text: string): string {
  if (text.indexOf('%') === -1) return text;
  const bytes = new Uint8Array(text.length);
  let size = 0;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code === 0x25 && index + 2 < text.length) {
      const high = hexValue(text.charCodeAt(index + 1));
      const low = hexValue(text.charCodeAt(index + 2));
      if (high >= 0 && low >= 0) {
        bytes[size++] = high * 16 + low;
        index += 2;
        continue;
      }
    }
    // The value was checked to be baggage-octets, so every other character is one byte.
    bytes[size++] = code;
  }
  return textDecoder.decode(bytes.subarray(0, size));
}

/**
 * Percent-encodes a baggage value: every code point outside `baggage-octet`, and `%`
 * itself, as its UTF-8 octets (W3C Baggage, "value"). A lone surrogate encodes as U+FFFD.
 */
export function encodeBaggageValue(value: string): string {
  let plain = true;
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index);
    if (code > 0x7f || code === 0x25 || !(CLASSES[code]! & OCTET)) {
      plain = false;
      break;
    }
  }
  if (plain) return value;
  let encoded = '';
  for (const byte of textEncoder.encode(value)) {
    encoded += byte < 0x80 && byte !== 0x25 && CLASSES[byte]! & OCTET ? String.fromCharCode(byte) : `%${HEX_DIGITS[byte >> 4]}${HEX_DIGITS[byte & 15]}`;
  }
  return encoded;
}

/**
 * Size in bytes of `value` once {@link encodeBaggageValue} has encoded it, without encoding it.
 */
function encodedSize(value: string): number {
  let size = 0;
  const length = value.length;
  for (let index = 0; index < length; index++) {
    const code = value.charCodeAt(index);
    if (code < 0x80) size += code !== 0x25 && CLASSES[code]! & OCTET ? 1 : 3;
    else if (code < 0x800) size += 6;
    else if (code >= 0xd800 && code <= 0xdbff && index + 1 < length && (value.charCodeAt(index + 1) & 0xfc00) === 0xdc00) {
      size += 12;
      index++;
    } else size += 9; // three UTF-8 octets, also U+FFFD for a lone surrogate
  }
  return size;
}

/**
 * The property list `text[from, to)` that follows a member's first `;`, as it is sent on:
 * `property *( OWS ";" OWS property )`, `property = key OWS [ "=" OWS value ]`, without the
 * OWS around it. Empty properties (`k=v;`, `k=v;;p`) are tolerated, as some senders write
 * them, and left out: the grammar has none, and a receiver that checks it rejects the whole
 * header. `undefined` when a property is malformed.
 */
function propertyList(text: string, from: number, to: number): string | undefined {
  let head = -1;
  let tail = -1;
  let empty = false;
  let start = from;
  while (start <= to) {
    let end = text.indexOf(';', start);
    if (end === -1 || end > to) end = to;
    let first = start;
    let last = end;
    while (first < last && isOws(text.charCodeAt(first))) first++;
    while (last > first && isOws(text.charCodeAt(last - 1))) last--;
    if (first < last) {
      let equals = text.indexOf('=', first);
      if (equals === -1 || equals >= last) equals = last;
      let keyEnd = equals;
      while (keyEnd > first && isOws(text.charCodeAt(keyEnd - 1))) keyEnd--;
      if (keyEnd === first || !allOf(text, first, keyEnd, TOKEN)) return undefined;
      let valueStart = equals + 1;
      while (valueStart < last && isOws(text.charCodeAt(valueStart))) valueStart++;
      if (equals < last && !allOf(text, valueStart, last, OCTET)) return undefined;
      if (head === -1) head = first;
      tail = last;
    } else empty = true;
    start = end + 1;
  }
  if (!empty) return head === -1 ? '' : text.slice(head, tail);
  // Rare: only then are the properties taken apart and put together again.
  const kept: string[] = [];
  for (const property of text.slice(from, to).split(';')) {
    const trimmed = trimOws(property);
    if (trimmed !== '') kept.push(trimmed);
  }
  return kept.join(';');
}

interface Member {
  readonly key: string;
  readonly entry: BaggageEntry;
  /** Bytes of the list-member as it is sent on: `key=value` percent-encoded, `;` and the properties. */
  readonly size: number;
}

/**
 * Parses one list-member, `text[from, to)` with OWS already trimmed:
 * `key OWS "=" OWS value *( OWS ";" OWS property )`. Returns `undefined` if malformed.
 */
function parseMember(text: string, from: number, to: number): Member | undefined {
  const equals = text.indexOf('=', from);
  if (equals === -1 || equals >= to) return undefined;
  let keyEnd = equals;
  while (keyEnd > from && isOws(text.charCodeAt(keyEnd - 1))) keyEnd--;
  if (keyEnd === from || !allOf(text, from, keyEnd, TOKEN)) return undefined;
  let semicolon = text.indexOf(';', equals);
  if (semicolon === -1 || semicolon > to) semicolon = to;
  let valueStart = equals + 1;
  let valueEnd = semicolon;
  while (valueStart < valueEnd && isOws(text.charCodeAt(valueStart))) valueStart++;
  while (valueEnd > valueStart && isOws(text.charCodeAt(valueEnd - 1))) valueEnd--;
  if (!allOf(text, valueStart, valueEnd, OCTET)) return undefined;
  let value = text.slice(valueStart, valueEnd);
  // Without a `%` the value is sent on exactly as it came.
  let valueSize = value.length;
  if (value.indexOf('%') !== -1) {
    value = decodeBaggageValue(value);
    valueSize = encodedSize(value);
  }
  const entry: BaggageEntry = { value };
  let size = keyEnd - from + 1 + valueSize;
  if (semicolon < to) {
    const metadata = propertyList(text, semicolon + 1, to);
    if (metadata === undefined) return undefined;
    // Properties have no meaning to OpenTelemetry: they travel on as opaque metadata.
    if (metadata !== '') {
      entry.metadata = baggageEntryMetadataFromString(metadata);
      size += 1 + metadata.length;
    }
  }
  return { key: text.slice(from, keyEnd), entry, size };
}

/** {@link Member.size} of an entry already read. */
function memberSize(key: string, entry: BaggageEntry): number {
  const metadata = entry.metadata === undefined ? '' : entry.metadata.toString();
  return key.length + 1 + encodedSize(entry.value) + (metadata === '' ? 0 : 1 + metadata.length);
}

/** The getter's answer as one `baggage-string` of at most {@link MAX_BAGGAGE_INPUT} characters, cut at a comma. */
function combine(value: string | string[] | undefined): string | undefined {
  let text: string;
  if (typeof value === 'string') text = value;
  else if (Array.isArray(value)) {
    const parts: string[] = [];
    let size = -1;
    for (const part of value) {
      if (typeof part !== 'string') continue;
      parts.push(part);
      size += part.length + 1;
      if (size > MAX_BAGGAGE_INPUT) break;
    }
    text = parts.join(',');
  } else return undefined;
  if (text.length <= MAX_BAGGAGE_INPUT) return text;
  // Cut at the last comma within the cap: the member that crosses it is dropped whole.
  const comma = text.lastIndexOf(',', MAX_BAGGAGE_INPUT);
  return comma === -1 ? '' : text.slice(0, comma);
}

/**
 * A W3C Baggage propagator with the current limits, a drop-in for `W3CBaggagePropagator`
 * from `@opentelemetry/core`, which still applies the limits from before 2022 (180
 * members, 4096 bytes each) and drops what `decodeURIComponent` rejects.
 *
 * - Everything propagates while the baggage has at most 64 members and the
 *   `baggage-string` sent on is at most 8192 bytes; past that, whole members are dropped
 *   (in order, those that no longer fit), never part of one. A member counts as it is sent
 *   on, not as it arrived: without OWS, its value percent-encoded again.
 * - Values are percent-decoded; invalid UTF-8 becomes U+FFFD and the entry is kept.
 *   Empty values (`k=`) are valid. Properties after `;` are kept as entry metadata;
 *   empty ones (`k=v;`, `k=v;;p`) are tolerated and left out, so none is ever sent.
 * - OWS around keys, values, properties and members is ignored; repeated `baggage`
 *   fields are combined; a malformed member is skipped and the rest kept. For a repeated
 *   key the last value wins, as in the OpenTelemetry `Baggage` map.
 * - Incoming text past 64 KiB and list-members past the 1024th are not looked at, so a
 *   hostile header costs little.
 * - On inject, values are percent-encoded where the grammar requires; a key that is not
 *   an RFC 7230 token, or metadata that is not a valid property list (empty properties
 *   aside, which are left out), cannot be sent as is, so that member is skipped (no throw).
 *
 * Extraction never throws.
 *
 * @example
 * propagation.setGlobalPropagator(new CompositePropagator({
 *   propagators: [new ConformantTraceContextPropagator(), new ConformantBaggagePropagator()],
 * }));
 */
export class ConformantBaggagePropagator implements TextMapPropagator {
  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    const baggage = propagation.getBaggage(context);
    if (baggage === undefined || isTracingSuppressed(context)) return;
    let header = '';
    let count = 0;
    for (const [key, entry] of baggage.getAllEntries()) {
      if (count === MAX_BAGGAGE_MEMBERS) break;
      if (!isBaggageKey(key) || typeof entry?.value !== 'string') continue;
      let member = `${key}=${encodeBaggageValue(entry.value)}`;
      if (entry.metadata !== undefined) {
        const text = String(entry.metadata.toString());
        const metadata = propertyList(text, 0, text.length);
        if (metadata === undefined) continue;
        if (metadata !== '') member += `;${metadata}`;
      }
      // Every character is ASCII now, so length is size in bytes.
      if (header.length + (count === 0 ? 0 : 1) + member.length > MAX_BAGGAGE_BYTES) continue;
      header = count === 0 ? member : `${header},${member}`;
      count++;
    }
    if (count > 0) setter.set(carrier, BAGGAGE, header);
  }

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    const text = combine(getter.get(carrier, BAGGAGE));
    if (text === undefined || text === '') return context;
    // A Map, not an object: `__proto__` is a valid token.
    const entries = new Map<string, BaggageEntry>();
    let bytes = -1;
    let scanned = 0;
    let start = 0;
    const length = text.length;
    while (start <= length && entries.size < MAX_BAGGAGE_MEMBERS && scanned < MAX_BAGGAGE_SCANNED) {
      let end = text.indexOf(',', start);
      if (end === -1) end = length;
      let first = start;
      let last = end;
      while (first < last && isOws(text.charCodeAt(first))) first++;
      while (last > first && isOws(text.charCodeAt(last - 1))) last--;
      scanned++;
      const member = first < last ? parseMember(text, first, last) : undefined;
      if (member !== undefined) {
        // Each member counts in the byte limit as it is sent on (the W3C limit is on the
        // resulting baggage-string): without OWS, re-encoded, and once for a repeated key,
        // whose last value takes the place of the earlier one.
        const previous = entries.get(member.key);
        const size = bytes + 1 + member.size - (previous === undefined ? 0 : 1 + memberSize(member.key, previous));
        if (size <= MAX_BAGGAGE_BYTES) {
          entries.set(member.key, member.entry);
          bytes = size;
        }
      }
      start = end + 1;
    }
    if (entries.size === 0) return context;
    return propagation.setBaggage(context, propagation.createBaggage(Object.fromEntries(entries)));
  }

  fields(): string[] {
    return [BAGGAGE];
  }
}
