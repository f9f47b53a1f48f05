import type { IHeaders } from 'kafkajs';
import type { WritableHeaders } from '../core/headers.ts';
import { encodableHeaders } from '../kafka/headers.ts';

// What kafkajs puts on the wire and hands back:
// - it sends strings and Buffers, an array of them as a repeated header, and throws a
//   TypeError (`Buffer.byteLength` in its header encoder) on any other value;
// - it delivers every header value as a Buffer, a repeated header as an array of Buffers in
//   wire order, a header without a value as `null`, and `{}` for a message without headers.
// Reading is the core's headerGetter, which takes all of these.

/** Makes headers that tracebus owns sendable by kafkajs; see {@link encodableHeaders}. */
export function kafkaHeaders(headers: WritableHeaders): IHeaders {
  return encodableHeaders(headers);
}
