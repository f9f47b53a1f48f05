/**
 * The bookkeeping of a message stream through a cluster fault, shared by the cluster
 * suites: what the producer loop did, when every message has been consumed, the figures of
 * the fault (printed on one line, so that a CI log shows them) and small waiting helpers.
 */
import type { Delivery } from './fault-checks.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a producer loop did: messages produced, messages sent (retries included), send calls made, and why the failed ones failed. */
export interface Sent {
  produced: number;
  attempts: number;
  calls: number;
  errors: Map<string, number>;
  /** The longest a send call took, failed ones included: how long the producer was held up. */
  longestCallMs: number;
}

export function newSent(): Sent {
  return { produced: 0, attempts: 0, calls: 0, errors: new Map(), longestCallMs: 0 };
}

/** Counts one failed send call under its error's name. */
export function sendFailed(sent: Sent, error: unknown): void {
  const name = error instanceof Error ? error.name : String(error);
  sent.errors.set(name, (sent.errors.get(name) ?? 0) + 1);
}

/** The ids `${prefix}-0000`, `${prefix}-0001`, …: one per message, so that losses and duplicates are exact. */
export function messageIds(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, index) => `${prefix}-${String(index).padStart(4, '0')}`);
}

/** A check for waitFor: whether every id is among the deliveries of `sources` (read as they grow). */
export function allConsumed(ids: readonly string[], ...sources: ReadonlyArray<readonly Delivery[]>): () => boolean {
  const remaining = new Set(ids);
  const read = sources.map(() => 0);
  return () => {
    sources.forEach((deliveries, source) => {
      for (let index = read[source]!; index < deliveries.length; index++) remaining.delete(deliveries[index]!.id);
      read[source] = deliveries.length;
    });
    return remaining.size === 0;
  };
}

/** How many times each id was processed, and the traces its handler ran in (what recoveredStreamProblems reads). */
export function processedBy(deliveries: readonly Delivery[]): { counts: Map<string, number>; traces: Map<string, Set<string>> } {
  const counts = new Map<string, number>();
  const traces = new Map<string, Set<string>>();
  for (const { id, traceId } of deliveries) {
    counts.set(id, (counts.get(id) ?? 0) + 1);
    traces.set(id, (traces.get(id) ?? new Set()).add(traceId));
  }
  return { counts, traces };
}

/** The figures of one fault. */
export interface Tally {
  consumed: number;
  distinct: number;
  duplicates: number;
  /** Of the duplicates, deliveries of a record delivered before (the same traceparent). */
  redelivered: number;
  lost: string[];
}

/**
 * Counts what a fault did to the stream and prints it on one line: `label` is e.g.
 * `kafka leader-kill`, `details` what was killed and where its role went.
 */
export function tally(label: string, ids: readonly string[], sent: Sent, deliveries: readonly Delivery[], open: number, details: string): Tally {
  const consumed = deliveries.length;
  const delivered = new Set(deliveries.map((delivery) => delivery.id));
  const lost = ids.filter((id) => !delivered.has(id));
  const duplicates = consumed - delivered.size;
  // A duplicate with a traceparent its id was already delivered with is the same record
  // delivered again; one with another traceparent is a second record, a send made again.
  const seen = new Set<string>();
  let redelivered = 0;
  for (const { id, traceparents } of deliveries) {
    const key = `${id} ${traceparents.join(',')}`;
    if (seen.has(key)) redelivered++;
    seen.add(key);
  }
  const errors = [...sent.errors].map(([name, count]) => `${count}× ${name}`).join(', ');
  console.log(
    `clusters: ${label}: ${sent.produced} produced, ${sent.attempts} send attempts in ${sent.calls} send calls ` +
      `(${sent.attempts - sent.produced} messages sent again by the application${errors === '' ? '' : ` after ${errors}`}; longest call ${sent.longestCallMs} ms), ` +
      `${consumed} consumed, ${delivered.size} distinct, ${duplicates} duplicates (${redelivered} the same record redelivered, ${duplicates - redelivered} written twice), ` +
      `${lost.length} lost, ${open} open spans; ${details}`,
  );
  return { consumed, distinct: delivered.size, duplicates, redelivered, lost };
}

/** Polls `probe` until it returns a value (a probe that throws counts as no value); fails with `what` after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

/** `promise`, or a rejection saying `what()` when it has not settled within `ms`. */
export function within<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what()}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
