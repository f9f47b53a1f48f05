/**
 * One in-process benchmark variant, run in its own process by scripts/bench/run.ts:
 *   node scripts/bench/inprocess.ts <variant> <messages>
 * Prints one JSON line: { variant, messages, seconds, cpuMicrosPerMessage, traceparentsPerMessage[, spansPerMessage] }.
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
 *   bus+floor the floor's work written by hand around the untraced bus: a publisher that
 *             starts the producer span, injects into the message's headers and ends the
 *             span when the bus has taken the message; a handler that extracts and runs
 *             inside the consumer span. What the same OpenTelemetry work costs once it is
 *             spread over a real publish and an asynchronous delivery.
 *   bus+floor+attributes  bus+floor, with the attributes tracebus records (the floor that
 *             records what semantic conventions require, and the message id)
 *   sdk@1%, bus+floor+attributes@1%
 *             the same under the SDK's production sampler, ParentBased(TraceIdRatioBased(0.01)):
 *             each producer span starts a trace, 1% of them are kept, and the consumer span
 *             follows the decision the message carried
 *
 * Every SDK variant checks that it exported two spans per message (a sampled one: far fewer,
 * passes.ts) and that every message reached its handler with a `traceparent`: a variant whose
 * spans or context were dropped would be measured doing less than tracing does.
 *
 * With BENCH_PROFILE=<file>, the measured pass is CPU-profiled into that file (cpu-profile.ts).
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher, type MemoryHandler, type MemoryMessage, type MemoryPublisher } from '../../src/memory/index.ts';
import { SAMPLED_SUFFIX } from './broker-variant.ts';
import { floorHandler, floorPublisher, PROCESS_ATTRIBUTES, SEND_ATTRIBUTES } from './bus-floor.ts';
import { profileIfAsked } from './cpu-profile.ts';
import { checkTracing } from './passes.ts';
import { exportedSpans, productionSampler, registerSdk } from './sdk.ts';

const [variant = 'untraced', count = '100000'] = process.argv.slice(2);
const messages = Number(count);
const sampled = variant.endsWith(SAMPLED_SUFFIX);
const base = sampled ? variant.slice(0, -SAMPLED_SUFFIX.length) : variant;
const warmup = Math.min(20_000, messages);
// A service returns to the event loop between messages. A loop that never did would keep
// the BatchSpanProcessor from finishing an export: its queue would fill up and it would
// drop spans, which costs less than recording them.
const YIELD_EVERY = 1_000;

type Wrapping = 'none' | 'tracebus' | 'by hand' | 'by hand with attributes';

async function throughBus(wrapping: Wrapping, n: number): Promise<number> {
  const bus = new MemoryBus();
  const byHand = wrapping === 'by hand' || wrapping === 'by hand with attributes';
  const withAttributes = wrapping === 'by hand with attributes';
  const publisher: MemoryPublisher = wrapping === 'tracebus' ? traceMemoryPublisher()(bus) : byHand ? floorPublisher(bus, withAttributes) : bus;
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const handler = (message: MemoryMessage) => {
    if (message.headers.traceparent !== undefined) carried++;
    if (++received === n) done();
  };
  bus.subscribe('bench', wrapping === 'tracebus' ? traceMemoryHandler()(handler) : byHand ? floorHandler(handler, withAttributes) : handler);
  const start = process.hrtime.bigint();
  for (let index = 0; index < n; index++) await publisher.publish('bench', { payload: { index, kind: 'order' } });
  await finished;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await bus.close();
  return seconds;
}

async function floor(n: number, withAttributes = false): Promise<number> {
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
    if (index % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setImmediate(resolve));
  }
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Consumed messages that carried a `traceparent`, over every bus pass so far. */
let carried = 0;

/** The share of the measured pass's messages that carried a `traceparent`. */
const carriedPerMessage = (before: number) => (carried - before) / messages;

/**
 * Runs a traced pass and checks that every message produced its two spans (under the 1%
 * sampler: far fewer) and, through the bus, carried its context. The `floor` loops have no
 * bus, so no message to look at.
 */
async function traced(provider: TracerProvider, pass: () => Promise<number>, throughTheBus = true): Promise<{ seconds: number; spansPerMessage: number; traceparentsPerMessage?: number }> {
  await provider.forceFlush();
  const before = exportedSpans();
  const carriedBefore = carried;
  const seconds = await measured(pass);
  await provider.forceFlush();
  const spansPerMessage = (exportedSpans() - before) / messages;
  if (!sampled && spansPerMessage !== 2) throw new Error(`${variant}: expected 2 spans per message, exported ${spansPerMessage}`);
  if (!throughTheBus) return { seconds, spansPerMessage };
  const traceparentsPerMessage = carriedPerMessage(carriedBefore);
  checkTracing({ provider, sampled, spansExpected: 2 }, spansPerMessage, traceparentsPerMessage);
  return { seconds, spansPerMessage, traceparentsPerMessage };
}

/** An untraced pass through the bus, checked to carry no context. */
async function untraced(pass: () => Promise<number>): Promise<{ seconds: number; traceparentsPerMessage: number }> {
  const carriedBefore = carried;
  const seconds = await measured(pass);
  const traceparentsPerMessage = carriedPerMessage(carriedBefore);
  checkTracing({ provider: undefined, sampled, spansExpected: 2 }, 0, traceparentsPerMessage);
  return { seconds, traceparentsPerMessage };
}

let busy: number | undefined;
let cpuMicrosPerMessage: number | undefined;

/**
 * The measured pass, profiled when BENCH_PROFILE asks. Its event-loop utilization is kept:
 * a profile labels part of the time Node spends running setImmediate callbacks, which deliver
 * every bus message, as idle, and this shows that the loop never waited.
 */
async function measured<T>(pass: () => Promise<T>): Promise<T> {
  const stop = await profileIfAsked();
  const before = performance.eventLoopUtilization();
  const cpuBefore = process.cpuUsage();
  try {
    return await pass();
  } finally {
    const cpu = process.cpuUsage(cpuBefore);
    cpuMicrosPerMessage = (cpu.user + cpu.system) / messages;
    busy = performance.eventLoopUtilization(before).utilization;
    await stop();
  }
}

let result: { seconds: number; spansPerMessage?: number; traceparentsPerMessage?: number };
if (variant === 'untraced' || variant === 'nosdk') {
  const wrapping = variant === 'nosdk' ? 'tracebus' : 'none';
  await throughBus(wrapping, warmup);
  result = await untraced(() => throughBus(wrapping, messages));
} else if (variant === 'untraced+sdk') {
  const provider = registerSdk();
  await throughBus('none', warmup);
  result = await untraced(() => throughBus('none', messages));
  await provider.shutdown();
} else if (base === 'sdk' || variant === 'bus+floor' || base === 'bus+floor+attributes') {
  const provider = registerSdk(sampled ? { sampler: productionSampler() } : {});
  const wrapping = base === 'sdk' ? 'tracebus' : base === 'bus+floor' ? 'by hand' : 'by hand with attributes';
  await throughBus(wrapping, warmup);
  result = await traced(provider, () => throughBus(wrapping, messages));
  await provider.shutdown();
} else if (variant === 'floor' || variant === 'floor+attributes') {
  const provider = registerSdk();
  await floor(warmup, variant === 'floor+attributes');
  result = await traced(provider, () => floor(messages, variant === 'floor+attributes'), false);
  await provider.shutdown();
} else {
  throw new Error(`unknown variant '${variant}': use untraced, nosdk, sdk, untraced+sdk, floor, floor+attributes, bus+floor, bus+floor+attributes, sdk@1% or bus+floor+attributes@1%`);
}
console.log(JSON.stringify({ variant, messages, ...result, cpuMicrosPerMessage, eventLoopUtilization: busy }));
