import type { TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { trimOws } from '../w3c/ows.ts';

/**
 * One header value as transports hand it over: a string (amqplib `S`), a Buffer
 * (kafkajs, amqplib `x`), an array of either (a repeated header), `null`/`undefined`
 * (kafkajs for a header with no value), or any other AMQP field type. Only strings
 * and byte arrays carry trace context; everything else is ignored.
 */
export type HeaderValue = unknown;

/** A message's headers: any object whose values are {@link HeaderValue}s. */
export type MessageHeaders = Readonly<Record<string, HeaderValue>>;

/** Headers as tracebus writes them: trace headers are always plain strings. */
export type WritableHeaders = Record<string, HeaderValue>;

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
// `ignoreBOM` keeps a leading byte-order mark in the text (the default strips it): a value
// is read as it was sent, so the bytes of a `traceparent` are valid exactly when its text is.
const textDecoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

function isTraceHeaderName(key: string): boolean {
  // Only compare when the length can match: this runs for every header of every message.
  return (key.length === 11 || key.length === 10) && (key.toLowerCase() === TRACEPARENT || key.toLowerCase() === TRACESTATE);
}

function decode(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return textDecoder.decode(value);
  return undefined;
}

function collect(value: unknown, into: string[]): void {
  if (Array.isArray(value)) {
    for (const item of value) collect(item, into);
    return;
  }
  const text = decode(value);
  // HTTP's optional whitespace around a field value is not part of it (RFC 9110 §5.5);
  // `@opentelemetry/core` tolerates one space only, so "\t 00-…-01 \t" would restart the trace.
  if (text !== undefined) into.push(trimOws(text));
}

/**
 * Reads message headers for a `TextMapPropagator`.
 *
 * - Keys match case-insensitively, as for HTTP fields.
 * - Buffers and other byte arrays decode as UTF-8, a leading BOM included. With the API's
 *   default getter, `@opentelemetry/core`'s propagators ignore a Buffer `traceparent` or
 *   `tracestate`, and its `W3CBaggagePropagator` throws a `TypeError` on a Buffer `baggage`.
 * - A header that occurs more than once (an array, or keys that differ only in case)
 *   comes back as `string[]` in wire order, except `traceparent`: a repeated
 *   `traceparent` is invalid (W3C test `test_traceparent_duplicated`), so it comes back
 *   as an empty string, which no propagator accepts, and the trace restarts.
 * - `null`, numbers, booleans and other AMQP field types read as absent.
 *
 * Never throws.
 */
export const headerGetter: TextMapGetter<MessageHeaders | undefined | null> = {
  keys(carrier) {
    return carrier == null ? [] : Object.keys(carrier);
  },
  get(carrier, key) {
    if (carrier == null) return undefined;
    const wanted = key.toLowerCase();
    // Most headers occur once: an array is made only when there is more to collect.
    let first: string | undefined;
    let values: string[] | undefined;
    for (const name in carrier) {
      if (name.length !== wanted.length) continue;
      if (name !== wanted && name.toLowerCase() !== wanted) continue;
      const value = carrier[name];
      if (values === undefined && first === undefined && !Array.isArray(value)) {
        const text = decode(value);
        if (text !== undefined) first = trimOws(text);
        continue;
      }
      values ??= first === undefined ? [] : [first];
      collect(value, values);
    }
    if (values === undefined || values.length === 0) return first;
    if (values.length === 1) return values[0];
    // Present, so the message counts as carrying a malformed one, and empty, which no
    // parser accepts: joined, two values of a later version would parse as one with extra fields.
    return wanted === TRACEPARENT ? '' : values;
  },
};

/**
 * Writes trace headers into a {@link WritableHeaders} object that tracebus owns
 * (never the caller's). Any key that differs only in case is removed first, so a
 * header is never sent twice.
 */
export const headerSetter: TextMapSetter<WritableHeaders> = {
  set(carrier, key, value) {
    const wanted = key.toLowerCase();
    for (const name in carrier) {
      if (name !== wanted && name.length === wanted.length && name.toLowerCase() === wanted) delete carrier[name];
    }
    defineHeader(carrier, wanted, value);
  },
};

// A header may be named `__proto__` (legal in Kafka and AMQP); plain assignment would set
// the copy's prototype instead of adding the header.
export function defineHeader(target: WritableHeaders, name: string, value: unknown): void {
  if (name === '__proto__') Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true });
  else target[name] = value;
}

/**
 * A shallow copy of `headers` without `traceparent` and `tracestate` (in any case).
 * Injection writes fresh ones into the copy: a re-published message then carries one
 * `traceparent` that matches its `tracestate`, never the stale pair it arrived with.
 */
export function copyWithoutTraceHeaders(headers: MessageHeaders | undefined | null): WritableHeaders {
  const copy: WritableHeaders = {};
  if (headers == null) return copy;
  for (const name in headers) {
    if (!isTraceHeaderName(name)) defineHeader(copy, name, headers[name]);
  }
  return copy;
}

/**
 * A shallow copy of `headers` without `traceparent`, `tracestate` and every header named
 * in `fields` (lowercase; compared case-insensitively): the fields a propagator is about to
 * write. What it writes then describes the publisher's context alone — a message sent on
 * from a context without baggage does not keep the baggage it arrived with.
 */
export function copyWithoutFields(headers: MessageHeaders | undefined | null, fields: ReadonlySet<string>): WritableHeaders {
  const copy: WritableHeaders = {};
  if (headers == null) return copy;
  for (const name in headers) {
    if (isTraceHeaderName(name) || fields.has(name) || fields.has(name.toLowerCase())) continue;
    defineHeader(copy, name, headers[name]);
  }
  return copy;
}

const CONTEXT_FIELDS: ReadonlySet<string> = new Set(['baggage']);

/**
 * A shallow copy of `headers` without `traceparent`, `tracestate` and `baggage` (in any
 * case): what a publish sends while nothing is registered. No propagator writes fresh
 * fields then, so the stale context a consumed message arrived with must not travel on.
 */
export function copyWithoutContext(headers: MessageHeaders | undefined | null): WritableHeaders {
  return copyWithoutFields(headers, CONTEXT_FIELDS);
}
