/**
 * The passes every broker benchmark child makes on its queue or topic, in the same order
 * for every variant: a warm-up ({@link warmupFor}), {@link THROUGHPUT_PASSES} throughput passes
 * (each timed and its CPU time counted, their exported spans counted, the first profiled
 * when BENCH_PROFILE asks), and a latency pass with the wrapper probe on.
 *
 * The throughput pass is checked, so that no variant is measured doing less than it should:
 * a variant with an SDK exports its spans (every one, or under the 1% sampler far fewer than
 * every one) and every message it consumed carried a `traceparent`, sampled or not; a
 * variant without an SDK carries none.
 */
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import { profileIfAsked } from './cpu-profile.ts';
import { benchPayload } from './payload.ts';
import type { WrapperProbe } from './probe.ts';
import { median } from './results.ts';
import { exportedDetail, exportedSpans } from './sdk.ts';

export interface Passes {
  /** Sends `n` messages and resolves with the seconds from the first send to the last message consumed. */
  pass: (n: number) => Promise<number>;
  messages: number;
  /** Set for the variants with an SDK: their spans are counted. */
  provider: TracerProvider | undefined;
  probe: WrapperProbe;
  /** Spans each message must produce at least (a producer and a consumer span) when every span is recorded. */
  spansExpected: number;
  /** Whether the SDK samples 1% of traces (broker-variant.ts): then most of those spans are not recorded. */
  sampled: boolean;
  /** How many consumed messages so far carried a `traceparent` header. */
  traceparents: () => number;
}

export interface Measured {
  seconds: number;
  cpuMicrosPerMessage: number;
  spansPerMessage: number;
  /** Attributes and links per message on the exported spans, all spans of the message together. */
  attributesPerMessage: number;
  linksPerMessage: number;
  /** The share of the pass's messages that reached the consumer with a `traceparent`. */
  traceparentsPerMessage: number;
  latency: ReturnType<WrapperProbe['percentiles']>;
}

/**
 * Under the 1% sampler a traced variant exports about 1% of the spans it would otherwise:
 * more than a quarter of them would mean the sampler was not in effect.
 */
const SAMPLED_AT_MOST = 0.25;

/** Throws when the throughput pass did less tracing work than its variant must (see the header). */
export function checkTracing({ provider, sampled, spansExpected }: Pick<Passes, 'provider' | 'sampled' | 'spansExpected'>, spansPerMessage: number, traceparentsPerMessage: number): void {
  if (provider === undefined) {
    // The wire section's untraced runs send a traceparent as a static header (payload.ts).
    const expected = benchPayload('untraced').staticHeaders?.traceparent === undefined ? 0 : 1;
    if (traceparentsPerMessage !== expected) throw new Error(`expected ${expected === 0 ? 'no trace context without an SDK' : 'the static traceparent on every message'}, ${traceparentsPerMessage} of the messages carried a traceparent`);
    return;
  }
  if (traceparentsPerMessage !== 1) throw new Error(`expected every message to carry a traceparent, ${traceparentsPerMessage} of them did`);
  if (sampled) {
    if (spansPerMessage > spansExpected * SAMPLED_AT_MOST) throw new Error(`expected the 1% sampler to drop most spans, exported ${spansPerMessage} per message`);
  } else if (spansPerMessage < spansExpected) throw new Error(`expected at least ${spansExpected} spans per message, exported ${spansPerMessage}`);
}

/**
 * The warm-up's messages: as many as the measured pass, and at least 30,000. A production
 * consumer runs warm, and a child is far from it after a few thousand messages: V8 is still
 * optimizing the hot path and the heap is still growing to its working size, and tracing,
 * with more code and more objects per message, pays more of that than the untraced client.
 * On RabbitMQ (20,000 measured messages), after a 1,000-message warm-up tracebus's CPU per
 * message was 2.0× what it was after 30,000, `floor+semconv+confirm`'s 1.7× and the
 * untraced client's 1.5×; warm-ups of up to 240,000 changed it no further.
 * BENCH_WARMUP_MESSAGES sets it.
 */
export function warmupFor(messages: number): number {
  const asked = process.env.BENCH_WARMUP_MESSAGES;
  if (asked === undefined) return Math.max(messages, WARMUP_AT_LEAST);
  const count = Number(asked);
  // A pass of no messages would wait for a last message that never comes.
  if (!Number.isSafeInteger(count) || count < 1) throw new Error(`BENCH_WARMUP_MESSAGES=${asked}: give a number of messages of at least 1, such as 30000`);
  return count;
}

const WARMUP_AT_LEAST = 30_000;

/**
 * Throughput passes per child, of which the child reports the median (throughput and CPU
 * time alike). Five passes in a row of one Kafka child here spanned 10–30% of throughput (the
 * broker's flushes, the garbage collector, the scheduling of a machine the broker shares), as
 * much as the spread from one child to the next: with one pass a child, the five rounds of
 * a run left a variant's median, and so the comparisons between variants, to a few passes'
 * luck. Three passes a child narrow that for far less than three times the children would cost
 * (each child connects, joins its group and warms up first).
 */
export const THROUGHPUT_PASSES = 3;

export async function measurePasses({ pass, messages, provider, probe, spansExpected, sampled, traceparents }: Passes): Promise<Measured> {
  await pass(warmupFor(messages));
  await provider?.forceFlush();
  const spansBefore = exportedSpans();
  const detailBefore = exportedDetail();
  const traceparentsBefore = traceparents();
  const stopProfile = await profileIfAsked();
  const passSeconds: number[] = [];
  const passCpu: number[] = [];
  for (let index = 0; index < THROUGHPUT_PASSES; index++) {
    const cpuBefore = process.cpuUsage();
    passSeconds.push(await pass(messages));
    const cpu = process.cpuUsage(cpuBefore);
    passCpu.push(cpu.user + cpu.system);
    // The profile covers one pass, as its readers (run.ts) count it per message of one.
    if (index === 0) await stopProfile();
  }
  await provider?.forceFlush();
  const measuredMessages = messages * THROUGHPUT_PASSES;
  const spansPerMessage = provider === undefined ? 0 : (exportedSpans() - spansBefore) / measuredMessages;
  const detail = exportedDetail();
  const attributesPerMessage = (detail.attributes - detailBefore.attributes) / measuredMessages;
  const linksPerMessage = (detail.links - detailBefore.links) / measuredMessages;
  const traceparentsPerMessage = (traceparents() - traceparentsBefore) / measuredMessages;
  checkTracing({ provider, sampled, spansExpected }, spansPerMessage, traceparentsPerMessage);
  probe.enabled = true;
  await pass(messages);
  // The pass ends when the handler sees the last message; an async wrapper's sample is
  // recorded a few microtasks later.
  await new Promise((resolve) => setImmediate(resolve));
  probe.enabled = false;
  return { seconds: median(passSeconds), cpuMicrosPerMessage: median(passCpu) / messages, spansPerMessage, attributesPerMessage, linksPerMessage, traceparentsPerMessage, latency: probe.percentiles() };
}
