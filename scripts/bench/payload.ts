/**
 * The message body every broker benchmark child sends (rabbitmq.ts, kafka-workload.ts), and
 * the static headers of the wire section's runs (wire.ts): the bytes of trace headers on
 * every message with none of tracing's CPU, so that their cost on the wire is measured alone.
 *
 *   BENCH_PAYLOAD_BYTES (default 256)  size of each message's body
 *   BENCH_STATIC_HEADERS               a JSON object of header names and string values that
 *                                      every message carries as it is; `untraced` only
 */

export interface BenchPayload {
  payload: Buffer;
  /** Headers every message carries unchanged, or `undefined` for none. */
  staticHeaders: Record<string, string> | undefined;
}

/** The body and static headers of `variant`'s messages, from the environment. */
export function benchPayload(variant: string): BenchPayload {
  const bytes = Number(process.env.BENCH_PAYLOAD_BYTES ?? 256);
  if (!Number.isInteger(bytes) || bytes < 0) throw new Error(`BENCH_PAYLOAD_BYTES must be a byte count, not '${process.env.BENCH_PAYLOAD_BYTES}'`);
  const json = process.env.BENCH_STATIC_HEADERS;
  if (json === undefined || json === '') return { payload: Buffer.alloc(bytes, 'x'), staticHeaders: undefined };
  // Trace headers of tracing's own next to static ones would be measured twice.
  if (variant !== 'untraced') throw new Error(`BENCH_STATIC_HEADERS is for the untraced variant, not '${variant}'`);
  const staticHeaders = JSON.parse(json) as Record<string, unknown>;
  for (const [name, value] of Object.entries(staticHeaders)) if (typeof value !== 'string') throw new Error(`BENCH_STATIC_HEADERS: header ${name} is not a string`);
  return { payload: Buffer.alloc(bytes, 'x'), staticHeaders: staticHeaders as Record<string, string> };
}
