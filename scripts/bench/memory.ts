/**
 * The in-process memory benchmark, one variant per process, run by scripts/bench/run.ts:
 *   node --expose-gc scripts/bench/memory.ts <variant> <messages>
 * Prints one JSON line: { variant, messages, seconds, heapSamples, allocatedBytesPerMessage, spansPerMessage }
 * (heap.ts: the heap after GC ten times over the run, bytes allocated per message).
 *
 * Variants, all on one bus for the whole run:
 *   untraced  the bus alone, no SDK
 *   floor     the floor's work by hand around the bus, with the SDK of sdk.ts: a producer span
 *             whose context the message carries, ended once the bus has it; the handler in
 *             a consumer span continuing it (bus-floor.ts)
 *   floor+attributes  the floor, its spans started with the messaging attributes tracebus
 *             records on this bus's spans (the semconv ones)
 *   tracebus  traceMemoryPublisher() and traceMemoryHandler(), with the same SDK
 */
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from '../../src/memory/index.ts';
import { floorHandler, floorPublisher } from './bus-floor.ts';
import { measureMemory } from './heap.ts';
import { registerSdk } from './sdk.ts';

const VARIANTS = ['untraced', 'floor', 'floor+attributes', 'tracebus'];
const [variant = 'tracebus', count = '1000000'] = process.argv.slice(2);
if (!VARIANTS.includes(variant)) throw new Error(`unknown variant '${variant}': use ${VARIANTS.join(', ')}`);
const messages = Number(count);

const provider = variant === 'untraced' ? undefined : registerSdk();
const bus = new MemoryBus();

let received = 0;
const handle = () => void received++;
const byHand = variant === 'floor' || variant === 'floor+attributes';
const withAttributes = variant === 'floor+attributes';
const publisher = variant === 'tracebus' ? traceMemoryPublisher()(bus) : byHand ? floorPublisher(bus, withAttributes) : bus;
bus.subscribe('bench', variant === 'tracebus' ? traceMemoryHandler()(handle) : byHand ? floorHandler(handle, withAttributes) : handle);

async function pass(n: number): Promise<number> {
  const target = received + n;
  const start = process.hrtime.bigint();
  for (let index = 0; index < n; index++) await publisher.publish('bench', { payload: { index, kind: 'order' } });
  await bus.drained();
  if (received !== target) throw new Error(`lost messages: ${target - received}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
}

const measured = await measureMemory({ pass, messages, provider, spansExpected: 2 });
await bus.close();
await provider?.shutdown();
console.log(JSON.stringify({ variant, messages, ...measured }));
