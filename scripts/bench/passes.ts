/**
 * The passes every broker benchmark child makes on its queue or topic, in the same order
 * for every variant: a warm-up, the throughput pass (timed, its CPU time and exported spans
 * counted, profiled when BENCH_PROFILE asks), and a latency pass with the wrapper probe on.
 */
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import { profileIfAsked } from './cpu-profile.ts';
import type { WrapperProbe } from './probe.ts';
import { exportedDetail, exportedSpans } from './sdk.ts';

export interface Passes {
  /** Sends `n` messages and resolves with the seconds from the first send to the last message consumed. */
  pass: (n: number) => Promise<number>;
  messages: number;
  /** Set for the variants with an SDK: their spans are counted. */
  provider: TracerProvider | undefined;
  probe: WrapperProbe;
  /** Spans each message must produce at least (a producer and a consumer span). */
  spansExpected: number;
}

export interface Measured {
  seconds: number;
  cpuMicrosPerMessage: number;
  spansPerMessage: number;
  /** Attributes and links per message on the exported spans, all spans of the message together. */
  attributesPerMessage: number;
  linksPerMessage: number;
  latency: ReturnType<WrapperProbe['percentiles']>;
}

export async function measurePasses({ pass, messages, provider, probe, spansExpected }: Passes): Promise<Measured> {
  await pass(Math.max(1_000, Math.round(messages / 10)));
  await provider?.forceFlush();
  const spansBefore = exportedSpans();
  const detailBefore = exportedDetail();
  const stopProfile = await profileIfAsked();
  const cpuBefore = process.cpuUsage();
  const seconds = await pass(messages);
  const cpu = process.cpuUsage(cpuBefore);
  await stopProfile();
  await provider?.forceFlush();
  const spansPerMessage = provider === undefined ? 0 : (exportedSpans() - spansBefore) / messages;
  const detail = exportedDetail();
  const attributesPerMessage = (detail.attributes - detailBefore.attributes) / messages;
  const linksPerMessage = (detail.links - detailBefore.links) / messages;
  // A traced variant that exported fewer spans would be measured doing less than it should.
  if (provider !== undefined && spansPerMessage < spansExpected) throw new Error(`expected at least ${spansExpected} spans per message, exported ${spansPerMessage}`);
  probe.enabled = true;
  await pass(messages);
  // The pass ends when the handler sees the last message; an async wrapper's sample is
  // recorded a few microtasks later.
  await new Promise((resolve) => setImmediate(resolve));
  probe.enabled = false;
  return { seconds, cpuMicrosPerMessage: (cpu.user + cpu.system) / messages, spansPerMessage, attributesPerMessage, linksPerMessage, latency: probe.percentiles() };
}
