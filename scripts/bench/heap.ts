/**
 * What the memory sections measure in a benchmark child run with --expose-gc: the heap after
 * GC, sampled ten times over a long run after a warm-up, and the bytes allocated per message.
 * memory.ts (the in-process bus) and the broker children (rabbitmq.ts, kafka.ts with
 * BENCH_MEMORY=1) hand it their own pass.
 *
 * Bytes allocated: Node 24's V8 keeps no allocation counter that JavaScript can read
 * (v8.getHeapStatistics() has no total of allocated bytes), so they are summed from
 * v8.GCProfiler: the used heap only grows by allocation and only shrinks by a GC, so what
 * was allocated over a stretch is what every GC in it freed plus how much the used heap grew
 * from start to end. The forced GCs that end each sample are among the GCs the profiler
 * sees; checked on 16-element arrays (176 bytes each on this 64-bit V8), the sum came to
 * 178 bytes per array.
 */
import { GCProfiler, getHeapStatistics } from 'node:v8';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import { exportedSpans } from './sdk.ts';

/** How many times a run samples the heap after GC: every 100,000 messages of a 1M run. */
const SAMPLES = 10;

export interface MemoryRun {
  /** Sends `n` messages and resolves once all were handled, with the seconds that took. */
  pass: (n: number) => Promise<number>;
  messages: number;
  /** Set for the variants with an SDK: their spans are counted, and flushed before each sample. */
  provider: TracerProvider | undefined;
  /** Spans each message must produce at least. */
  spansExpected: number;
}

/** One sample: the used heap after a full GC, once `messages` had been handled. */
export interface HeapSample {
  messages: number;
  heapUsedBytes: number;
}

export interface MemoryMeasured {
  /** Seconds spent in the passes, the samples' flushes and GCs left out. */
  seconds: number;
  /** The first at 0 messages, after the warm-up. */
  heapSamples: HeapSample[];
  allocatedBytesPerMessage: number;
  spansPerMessage: number;
}

const usedHeap = () => getHeapStatistics().used_heap_size;

/** A warm-up, then `messages` in ten passes, the heap sampled after a full GC before the first and after each. */
export async function measureMemory({ pass, messages, provider, spansExpected }: MemoryRun): Promise<MemoryMeasured> {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('run with node --expose-gc');
  await pass(Math.max(1_000, Math.min(50_000, Math.round(messages / 10))));
  const sample = async (handled: number): Promise<HeapSample> => {
    // The batch processor's queue is emptied, so that spans waiting for export are not counted as kept.
    await provider?.forceFlush();
    gc();
    return { messages: handled, heapUsedBytes: usedHeap() };
  };
  const heapSamples = [await sample(0)];
  const spansBefore = exportedSpans();
  const profiler = new GCProfiler();
  profiler.start();
  const every = Math.ceil(messages / SAMPLES);
  let seconds = 0;
  for (let handled = 0; handled < messages; ) {
    const n = Math.min(every, messages - handled);
    seconds += await pass(n);
    handled += n;
    heapSamples.push(await sample(handled));
  }
  const statistics = profiler.stop()?.statistics ?? [];
  let freed = 0;
  for (const { beforeGC, afterGC } of statistics) freed += beforeGC.heapStatistics.usedHeapSize - afterGC.heapStatistics.usedHeapSize;
  const grown = heapSamples.at(-1)!.heapUsedBytes - heapSamples[0]!.heapUsedBytes;
  const spansPerMessage = provider === undefined ? 0 : (exportedSpans() - spansBefore) / messages;
  if (provider !== undefined && spansPerMessage < spansExpected) throw new Error(`expected at least ${spansExpected} spans per message, exported ${spansPerMessage}`);
  return { seconds, heapSamples, allocatedBytesPerMessage: (freed + grown) / messages, spansPerMessage };
}
