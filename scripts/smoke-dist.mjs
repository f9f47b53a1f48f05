// Loads the built package the way users do — `import` and `require` of every entry point
// through package.json "exports" — and sends one traced message through the in-process
// bus with each. Run on the oldest Node.js that "engines" allows, and on the newest.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const entries = ['tracebus', 'tracebus/memory', 'tracebus/kafkajs', 'tracebus/confluent-kafka', 'tracebus/amqplib', 'tracebus/testing', 'tracebus/adapter', 'tracebus/w3c'];

for (const entry of entries) {
  const esm = await import(entry);
  const cjs = require(entry);
  assert.deepEqual(Object.keys(esm).sort(), Object.keys(cjs).filter((key) => key !== 'default' && key !== '__esModule').sort(), `${entry}: ESM and CJS export the same names`);
}

for (const [flavour, load] of [
  ['esm', (entry) => import(entry)],
  ['cjs', async (entry) => require(entry)],
]) {
  const { recordSpans, findSpan, assertChildOf } = await load('tracebus/testing');
  const { MemoryBus, traceMemoryPublisher, traceMemoryHandler } = await load('tracebus/memory');
  const recorder = recordSpans();
  const bus = new MemoryBus();
  const seen = [];
  bus.subscribe('smoke', traceMemoryHandler()((message, trace) => void seen.push([message.headers.traceparent, trace.traceId])));
  await traceMemoryPublisher()(bus).publish('smoke', { payload: flavour });
  await bus.close();
  const spans = recorder.spans();
  const send = findSpan(spans, 'send smoke');
  assertChildOf(findSpan(spans, 'process smoke'), send, spans);
  assert.deepEqual(seen, [[`00-${send.spanContext().traceId}-${send.spanContext().spanId}-01`, send.spanContext().traceId]]);
  await recorder.shutdown();
}
console.log(`dist smoke test passed on Node.js ${process.version} (${entries.length} entry points, ESM and CommonJS)`);
