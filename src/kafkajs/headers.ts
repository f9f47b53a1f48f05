import type { IHeaders } from 'kafkajs';
import type { WritableHeaders } from '../core/headers.ts';

/**
 * Makes headers that tracebus owns (a copy of the caller's, with trace headers injected)
 * safe to hand to kafkajs, which can only encode strings and Buffers and throws a
 * `TypeError` on anything else (`Buffer.byteLength` in its header encoder):
 *
 * - strings and Buffers are kept, arrays of them too (kafkajs writes an array as a
 *   repeated header, as a consumer hands it back);
 * - `null` and `undefined` (kafkajs gives a consumed header without a value as `null`)
 *   are left out, so re-sending a consumed message works;
 * - numbers, booleans and bigints become their text; other byte arrays become Buffers;
 * - anything else (objects) is left out.
 *
 * Changes `headers` in place and returns it. The common case, strings and Buffers only,
 * is one type check per header.
 */
export function kafkaHeaders(headers: WritableHeaders): IHeaders {
  for (const name in headers) {
    const value = headers[name];
    if (typeof value === 'string' || Buffer.isBuffer(value)) continue;
    const encodable = encodableValue(value);
    if (encodable === undefined) delete headers[name];
    else headers[name] = encodable;
  }
  return headers as IHeaders;
}

function encodableValue(value: unknown): IHeaders[string] {
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
