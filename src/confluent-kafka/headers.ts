import type { KafkaJS } from '@confluentinc/kafka-javascript';
import type { WritableHeaders } from '../core/headers.ts';
import { encodableHeaders } from '../kafka/headers.ts';

// What @confluentinc/kafka-javascript puts on the wire and hands back (seen against a
// broker, test/integration/confluent-kafka.test.ts):
// - its KafkaJS API turns `headers` into librdkafka's list of `{ key: value }` pairs, an
//   array value into one pair per item (a repeated header). librdkafka's binding takes
//   strings and Buffers only: for any other value (`null`, `undefined` and numbers included)
//   it rejects the send with "Header value must be a string or buffer" *and still produces
//   the message*, without that header, so a retried send would deliver it twice;
// - a consumer gets every header value as a Buffer (an empty string as an empty Buffer), a
//   repeated header as an array of Buffers in wire order, and `headers: undefined` for a
//   message sent without headers or with `{}`; whichever client produced the message.
// Reading is the core's headerGetter, which takes all of these.

/** Makes headers that tracebus owns sendable by @confluentinc/kafka-javascript; see {@link encodableHeaders}. */
export function confluentHeaders(headers: WritableHeaders): KafkaJS.IHeaders {
  return encodableHeaders(headers);
}
