import type { WritableHeaders } from '../core/headers.ts';

/** A header value both Kafka clients can send: a string, a Buffer, or an array of them (a repeated header). */
export type EncodableHeaderValue = string | Buffer | Array<string | Buffer>;

/**
 * Makes headers that tracebus owns (a copy of the caller's, with trace headers injected)
 * safe to hand to a Kafka client. kafkajs and @confluentinc/kafka-javascript both encode
 * only strings and Buffers, an array of them as a repeated header, and throw on anything
 * else (kafkajs a `TypeError` from `Buffer.byteLength`, librdkafka's binding "Header value
 * must be a string or buffer"), so:
 *
 * - strings and Buffers are kept, arrays of them too;
 * - `null` and `undefined` (kafkajs gives a consumed header without a value as `null`)
 *   are left out, so re-sending a consumed message works;
 * - numbers, booleans and bigints become their text; other byte arrays become Buffers;
 * - anything else (objects) is left out.
 *
 * Changes `headers` in place and returns it. The common case, strings and Buffers only,
 * is one type check per header.
 */
export function encodableHeaders(headers: WritableHeaders): Record<string, EncodableHeaderValue> {
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === 'string' || Buffer.isBuffer(value)) continue;
    const encodable = encodableValue(value);
    if (encodable === undefined) delete headers[name];
    else headers[name] = encodable;
  }
  return headers as Record<string, EncodableHeaderValue>;
}

function encodableValue(value: unknown): EncodableHeaderValue | undefined {
  if (Array.isArray(value)) {
    const items: Array<string | Buffer> = [];
    for (const item of value) {
      const encodable = encodableItem(item);
      if (encodable !== undefined) items.push(encodable);
    }
    return items.length === 0 ? undefined : items;
  }
  return encodableItem(value);
}

function encodableItem(value: unknown): string | Buffer | undefined {
  if (typeof value === 'string' || Buffer.isBuffer(value)) return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  return undefined;
}
