/**
 * One in-process benchmark variant, run in its own process by scripts/bench/run.ts:
 *   node scripts/bench/inprocess.ts <variant> <messages>
 * Prints one JSON line: { variant, messages, seconds }.
 *
 * Variants:
 *   untraced  the bus alone
 *   untraced+sdk  the bus alone, untraced, in a process that has the SDK registered (the
 *             context manager alone changes what every promise and timer costs)
 *   nosdk     tracebus's decorator and middleware, no SDK registered
 *   sdk       tracebus with a TracerProvider + BatchSpanProcessor (no-op exporter)
 *   floor     no bus: per message only the OpenTelemetry work tracing cannot avoid —
 *             start/end a producer span, inject, extract, start/end a consumer span and
 *             run the handler in its context — with the same SDK
 *   floor+attributes  the floor, with the semconv attributes tracebus records on each span
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher, type MemoryPublisher } from '../../src/memory/index.ts';
import { registerSdk } from './sdk.ts';

const [variant = 'untraced', count = '100000'] = process.argv.slice(2);
const messages = Number(count);
const warmup = Math.min(20_000, messages);

async function throughBus(traced: boolean, n: number): Promise<number> {
  const bus = new MemoryBus();
  const publisher: MemoryPublisher = traced ? traceMemoryPublisher()(bus) : bus;
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const handler = () => {
    if (++received === n) done();
  };
  bus.subscribe('bench', traced ? traceMemoryHandler()(handler) : handler);
  const start = process.hrtime.bigint();
  for (let index = 0; index < n; index++) await publisher.publish('bench', { payload: { index, kind: 'order' } });
  await finished;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await bus.close();
  return seconds;
}

// The messaging attributes tracebus records on this bus's spans, for the `floor+attributes` variant.
const SEND_ATTRIBUTES = { 'messaging.system.name': 'tracebus.memory', 'messaging.operation.type': 'send', 'messaging.operation.name': 'send', 'messaging.destination.name': 'bench' };
const PROCESS_ATTRIBUTES = { 'messaging.system.name': 'tracebus.memory', 'messaging.operation.type': 'process', 'messaging.operation.name': 'process', 'messaging.destination.name': 'bench' };

function floor(n: number, withAttributes = false): number {
  const tracer = trace.getTracer('floor');
  const handler = () => undefined;
  const start = process.hrtime.bigint();
  for (let index = 0; index < n; index++) {
    const producer = tracer.startSpan('send bench', { kind: SpanKind.PRODUCER, attributes: withAttributes ? { ...SEND_ATTRIBUTES } : undefined }, ROOT_CONTEXT);
    const headers: Record<string, string> = {};
    propagation.inject(trace.setSpan(ROOT_CONTEXT, producer), headers);
    producer.end();
    const parent = propagation.extract(ROOT_CONTEXT, headers);
    const consumer = tracer.startSpan('process bench', { kind: SpanKind.CONSUMER, attributes: withAttributes ? { ...PROCESS_ATTRIBUTES, 'messaging.message.id': `m-${index}` } : undefined }, parent);
    context.with(trace.setSpan(parent, consumer), handler);
    consumer.end();
  }
  return Number(process.hrtime.bigint() - start) / 1e9;
}

let seconds: number;
if (variant === 'untraced' || variant === 'nosdk') {
  await throughBus(variant === 'nosdk', warmup);
  seconds = await throughBus(variant === 'nosdk', messages);
} else if (variant === 'untraced+sdk') {
  const provider = registerSdk();
  await throughBus(false, warmup);
  seconds = await throughBus(false, messages);
  await provider.shutdown();
} else if (variant === 'sdk') {
  const provider = registerSdk();
  await throughBus(true, warmup);
  seconds = await throughBus(true, messages);
  await provider.shutdown();
} else if (variant === 'floor' || variant === 'floor+attributes') {
  const provider = registerSdk();
  floor(warmup, variant === 'floor+attributes');
  seconds = floor(messages, variant === 'floor+attributes');
  await provider.shutdown();
} else {
  throw new Error(`unknown variant '${variant}': use untraced, nosdk, sdk or floor`);
}
console.log(JSON.stringify({ variant, messages, seconds }));
