import type { Span } from '@opentelemetry/api';
import { reportProblem } from '../core/warnings.ts';
import type { WritableHeaders } from '../core/headers.ts';
import { ATTR_RABBITMQ_DROPPED_HEADERS } from './attributes.ts';

/** amqplib encodes a headers table into a 64 KiB scratch buffer and throws RangeError past it. */
const SCRATCH_BYTES = 65_536;
/** Frame header and end (8) plus the content header's fixed fields (14). */
const FRAME_FIXED_BYTES = 22;
/**
 * The most the other properties of a message can take: nine short strings of at most 255
 * bytes and their lengths, delivery mode, priority and timestamp. Frames with this much room
 * beyond amqplib's 64 KiB table limit never need the properties measured.
 */
const MOST_OTHER_PROPERTY_BYTES = 9 * 256 + 1 + 1 + 8;
/** The short-string properties amqplib's `Args.publish` reads from publish options. */
const SHORT_STRING_OPTIONS = ['contentType', 'contentEncoding', 'correlationId', 'replyTo', 'expiration', 'messageId', 'type', 'userId', 'appId'] as const;
/**
 * Where amqplib's 64 KiB table limit is the budget, trace headers are measured only when
 * `tracestate` and `baggage` together exceed this many characters. A table that small trace
 * headers push over the limit makes amqplib throw a RangeError before it writes anything, and
 * the amqplib publisher then sends the caller's headers alone. Under a smaller budget (a small
 * `frame_max`) nothing would throw: RabbitMQ closes the connection instead, so there every
 * table is measured.
 */
export const MEASURE_ABOVE_CHARS = 1_024;

/**
 * The room for a message's properties, headers table included, in one content header frame on
 * a connection with `frameMax`: RabbitMQ cannot split a content header across frames and
 * closes the whole connection on an oversized one (`frame_too_large`). Infinity when the
 * frame size is not known or leaves room for any properties within amqplib's own limit.
 */
export function frameRoom(frameMax: unknown): number {
  if (typeof frameMax !== 'number' || !(frameMax > 0) || frameMax >= 0xffffffff) return Number.POSITIVE_INFINITY;
  const room = frameMax - FRAME_FIXED_BYTES;
  return room >= SCRATCH_BYTES + MOST_OTHER_PROPERTY_BYTES ? Number.POSITIVE_INFINITY : room;
}

/**
 * The most bytes the headers table of a message published with `options` may take in
 * `room` (see {@link frameRoom}): amqplib refuses tables over 64 KiB, and in a small frame the
 * message's other properties, as amqplib encodes them, take their share first (the `CC` and
 * `BCC` lists amqplib adds to the table among them).
 */
export function headerBudget(room: number, options: unknown): number {
  if (room === Number.POSITIVE_INFINITY) return SCRATCH_BYTES;
  return Math.max(0, Math.min(SCRATCH_BYTES, room - otherPropertiesSize(options)));
}

/**
 * Whether `headers` (trace headers included) are what amqplib's 64 KiB table limit refused,
 * when a publish threw a RangeError: a table near that limit. amqplib throws RangeErrors for
 * other values too (a priority of 300), which are the caller's, and some of its versions count
 * other properties into the same scratch buffer, hence the margin. Never throws.
 */
export function tooLargeForAmqplib(headers: Readonly<Record<string, unknown>>, options: unknown): boolean {
  try {
    // amqplib puts `CC` and `BCC` into the same table.
    return encodedTableSize(headers) + routingListsSize(options) > SCRATCH_BYTES - MOST_OTHER_PROPERTY_BYTES;
  } catch {
    return false;
  }
}

function otherPropertiesSize(options: unknown): number {
  if (options === null || typeof options !== 'object') return 0;
  const publish = options as Record<string, unknown>;
  let size = 0;
  for (const name of SHORT_STRING_OPTIONS) {
    const value = publish[name];
    if (value !== undefined && value !== null) size += 1 + Buffer.byteLength(String(value));
  }
  if (publish.persistent !== undefined || publish.deliveryMode !== undefined) size += 1;
  if (publish.priority !== undefined) size += 1;
  if (publish.timestamp !== undefined) size += 8;
  return size + routingListsSize(options);
}

/** The entries amqplib adds to the headers table for the `CC` and `BCC` options: arrays of long strings. */
function routingListsSize(options: unknown): number {
  if (options === null || typeof options !== 'object') return 0;
  let size = 0;
  for (const name of ['CC', 'BCC'] as const) {
    const value = (options as Record<string, unknown>)[name];
    if (value === undefined) continue;
    size += 1 + name.length + 5;
    for (const item of Array.isArray(value) ? value : [value]) size += 5 + Buffer.byteLength(String(item));
  }
  return size;
}

/**
 * The size of `table` once amqplib encodes it as an AMQP field table (`lib/codec.js`):
 * a 4-byte length, then per entry a short-string key and a tagged value.
 */
export function encodedTableSize(table: Readonly<Record<string, unknown>>): number {
  let size = 4;
  for (const key in table) {
    const value = table[key];
    if (value !== undefined) size += 1 + Buffer.byteLength(key) + encodedValueSize(value);
  }
  return size;
}

function encodedValueSize(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return 5 + Buffer.byteLength(value);
    case 'boolean':
      return 2;
    case 'number':
      return encodedNumberSize(value);
    case 'bigint':
      return 9;
    case 'object': {
      if (value === null) return 1;
      if (Array.isArray(value)) {
        let size = 5;
        for (const item of value) size += encodedValueSize(item);
        return size;
      }
      if (Buffer.isBuffer(value)) return 5 + value.length;
      if (Object.hasOwn(value, '!')) return encodedTypedSize(String((value as Record<string, unknown>)['!']), (value as Record<string, unknown>).value);
      return 1 + encodedTableSize(value as Record<string, unknown>);
    }
    default:
      return 0;
  }
}

// amqplib's choice for a plain JS number: double for fractions, else the smallest signed integer.
function encodedNumberSize(value: number): number {
  if (value >= 0x8000000000000000 || (Math.abs(value) < 0x4000000000000 && Math.floor(value) !== value)) return 9;
  if (value < 128 && value >= -128) return 2;
  if (value >= -0x8000 && value < 0x8000) return 3;
  if (value >= -0x80000000 && value < 0x80000000) return 5;
  return 9;
}

function encodedTypedSize(type: string, value: unknown): number {
  switch (type) {
    case 'byte':
    case 'int8':
    case 'unsignedbyte':
    case 'uint8':
      return 2;
    case 'short':
    case 'int16':
    case 'unsignedshort':
    case 'uint16':
      return 3;
    case 'int':
    case 'int32':
    case 'unsignedint':
    case 'uint32':
    case 'float':
      return 5;
    case 'decimal':
      return 6;
    default:
      return type === 'string' || type === 'object' ? encodedValueSize(value) : 9;
  }
}

/**
 * Makes `headers` (a copy tracebus owns) fit `budget` by dropping `baggage`, then `tracestate`,
 * then `traceparent`, and records what it dropped on `span` and with `diag.warn`. With a budget
 * of amqplib's 64 KiB and small `tracestate` and `baggage`, it does not measure (see
 * {@link MEASURE_ABOVE_CHARS}) unless `measureAlways`, for a publisher that cannot catch
 * amqplib's RangeError itself. Headers that do not fit even without trace headers go out
 * without any, as the caller gave them, to fail as they would untraced.
 */
export function fitTraceHeaders(headers: WritableHeaders, budget: number, span: Span, measureAlways = false): WritableHeaders {
  const tracestate = headers.tracestate;
  const baggage = headers.baggage;
  const large = (typeof tracestate === 'string' ? tracestate.length : 0) + (typeof baggage === 'string' ? baggage.length : 0);
  if (large <= MEASURE_ABOVE_CHARS && budget >= SCRATCH_BYTES && !measureAlways) return headers;
  let size = encodedTableSize(headers);
  if (size <= budget) return headers;
  const dropped: string[] = [];
  for (const name of ['baggage', 'tracestate', 'traceparent'] as const) {
    if (headers[name] === undefined) continue;
    delete headers[name];
    dropped.push(name);
    size = encodedTableSize(headers);
    if (size <= budget) break;
  }
  if (dropped.length === 0) return headers;
  span.setAttribute(ATTR_RABBITMQ_DROPPED_HEADERS, dropped);
  const outcome = size <= budget ? `so that its headers fit RabbitMQ's limit of ${budget} bytes (now ${size} bytes)` : `whose own headers take ${size} bytes, near or over RabbitMQ's limit of ${budget}; it goes out as without tracing`;
  reportProblem('TRACEBUS_HEADERS_DROPPED', `tracebus: left ${dropped.join(' and ')} off a message ${outcome}`);
  return headers;
}
