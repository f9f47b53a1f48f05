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
 *             a consumer span continuing it
 *   tracebus  traceMemoryPublisher() and traceMemoryHandler(), with the same SDK
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher, type MemoryHandler, type MemoryPublisher } from '../../src/memory/index.ts';
import { measureMemory } from './heap.ts';
import { registerSdk } from './sdk.ts';

const VARIANTS = ['untraced', 'floor', 'tracebus'];
const [variant = 'tracebus', count = '1000000'] = process.argv.slice(2);
if (!VARIANTS.includes(variant)) throw new Error(`unknown variant '${variant}': use ${VARIANTS.join(', ')}`);
const messages = Number(count);

const provider = variant === 'untraced' ? undefined : registerSdk();
const tracer = trace.getTracer('floor');
const bus = new MemoryBus();

/** The floor's producer side: the message carries a producer span's context; the span ends once the bus has it. */
const floorPublisher: MemoryPublisher = {
  publish(topic, message) {
    const span = tracer.startSpan(`send ${topic}`, { kind: SpanKind.PRODUCER });
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(context.active(), span), headers);
    return bus.publish(topic, { ...message, headers }).then(() => span.end());
  },
};

/** The floor's consumer side: `handler` in a consumer span continuing the message's context. */
const floorHandler =
  (handler: () => void): MemoryHandler =>
  (message) => {
    const parent = propagation.extract(ROOT_CONTEXT, message.headers);
    const span = tracer.startSpan(`process ${message.topic}`, { kind: SpanKind.CONSUMER }, parent);
    context.with(trace.setSpan(parent, span), handler);
    span.end();
  };

let received = 0;
const handle = () => void received++;
const publisher = variant === 'tracebus' ? traceMemoryPublisher()(bus) : variant === 'floor' ? floorPublisher : bus;
bus.subscribe('bench', variant === 'tracebus' ? traceMemoryHandler()(handle) : variant === 'floor' ? floorHandler(handle) : handle);

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
