// The built package loaded both ways in one process, as an application that imports tracebus
// and uses a library that requires it does: the ES module build and the CommonJS build are two
// copies of tracebus, and each must know what the other traced (src/core/checks.ts).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const esm = await import('../dist/esm/kafkajs/index.js');
const cjs = require('../dist/cjs/kafkajs/index.js');
assert.notEqual(esm.traceProducer, cjs.traceProducer, 'the two builds should be two copies');

const producer = { send: async () => [], sendBatch: async () => [], connect: async () => undefined, disconnect: async () => undefined, transaction: async () => ({}), on: () => () => undefined, events: {} };
assert.throws(() => cjs.traceProducer()(esm.traceProducer()(producer)), { message: 'tracebus: this producer is traced already; wrap the original producer once, with traceProducer(options)(producer)' });
assert.throws(() => esm.traceProducer()(cjs.traceProducer()(producer)), { message: 'tracebus: this producer is traced already; wrap the original producer once, with traceProducer(options)(producer)' });

const runs = [];
// As kafkajs's, `pause` throws until run() is called.
const consumer = {
  run: async (config) => void runs.push(config),
  subscribe: async () => undefined,
  stop: async () => undefined,
  pause: () => {
    if (runs.length === 0) throw new Error('Consumer group was not initialized, consumer#run must be called first');
  },
  on: () => () => undefined,
  events: {},
};
const eachMessage = esm.traceEachMessage()(async () => undefined);
await cjs.traceConsumer()(consumer).run({ eachMessage });
assert.equal(runs[0].eachMessage, eachMessage, "the CommonJS build's consumer should run the ES module build's traced handler as it is");
console.log('check-copies: the ES module and CommonJS builds share what they traced');
