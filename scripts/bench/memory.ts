/**
 * Heap after GC before and after N traced in-process messages, and bytes allocated per
 * message (summed from V8's GC statistics). Run with --expose-gc:
 *   node --expose-gc scripts/bench/memory.ts <messages>
 */
import { GCProfiler } from 'node:v8';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from '../../src/memory/index.ts';
import { registerSdk } from './sdk.ts';

const messages = Number(process.argv[2] ?? 1_000_000);
const gc = globalThis.gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

const provider = registerSdk();
const bus = new MemoryBus();
const publisher = traceMemoryPublisher()(bus);
let received = 0;
bus.subscribe('bench', traceMemoryHandler()(() => void received++));

async function pump(n: number): Promise<void> {
  const target = received + n;
  for (let index = 0; index < n; index++) await publisher.publish('bench', { payload: { index, kind: 'order' } });
  await bus.drained();
  if (received !== target) throw new Error(`lost messages: ${target - received}`);
}

await pump(50_000);
await provider.forceFlush();
gc();
const before = process.memoryUsage().heapUsed;
const profiler = new GCProfiler();
profiler.start();
const start = process.hrtime.bigint();
await pump(messages);
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
const stats = profiler.stop();
await provider.forceFlush();
gc();
const after = process.memoryUsage().heapUsed;
let freed = 0;
for (const entry of stats?.statistics ?? []) freed += entry.beforeGC.heapStatistics.usedHeapSize - entry.afterGC.heapStatistics.usedHeapSize;
await bus.close();
await provider.shutdown();
console.log(JSON.stringify({ variant: 'memory', messages, seconds, heapBeforeBytes: before, heapAfterBytes: after, heapGrowthBytes: after - before, allocatedBytesPerMessage: (freed + (after - before)) / messages }));
