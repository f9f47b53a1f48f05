// Loads the built package the way users do — `import` and `require` of every entry point
// through package.json "exports" — and sends one traced message through the in-process
// bus with each. Run on the oldest Node.js that "engines" allows, and on the newest.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const entries = ['tracebus', 'tracebus/memory', 'tracebus/kafkajs', 'tracebus/confluent-kafka', 'tracebus/amqplib', 'tracebus/amqp-connection-manager', 'tracebus/testing', 'tracebus/adapter', 'tracebus/w3c'];

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
  // recordSpans loads its peers when called: the same builds the application gets.
  const { TracerProvider } = await load('@opentelemetry/sdk-trace');
  const { context, ROOT_CONTEXT } = await load('@opentelemetry/api');
  assert.ok(recorder.provider instanceof TracerProvider, `${flavour}: recordSpans uses the @opentelemetry/sdk-trace that ${flavour === 'esm' ? 'import' : 'require'} gives`);
  assert.equal(context.active(), ROOT_CONTEXT, `${flavour}: the context manager recordSpans registers returns the application's ROOT_CONTEXT`);
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

// Without the optional peers: an application whose node_modules holds tracebus (a copy of
// dist and package.json, so that nothing resolves from this repository's node_modules) and
// the packages it requires, @opentelemetry/api and @opentelemetry/core, and nothing else.
// Every entry loads from ESM and from CommonJS; tracebus/testing's assertions and trace-tree
// printer work, and recordSpans() throws a sentence that says what to install.
const app = mkdtempSync(join(tmpdir(), 'tracebus-without-peers-'));
try {
  mkdirSync(join(app, 'node_modules/@opentelemetry'), { recursive: true });
  cpSync('dist', join(app, 'node_modules/tracebus/dist'), { recursive: true });
  cpSync('package.json', join(app, 'node_modules/tracebus/package.json'));
  for (const name of ['api', 'core']) symlinkSync(realpathSync(`node_modules/@opentelemetry/${name}`), join(app, `node_modules/@opentelemetry/${name}`), 'junction');
  const appRequire = createRequire(join(app, 'index.js'));
  for (const peer of ['@opentelemetry/sdk-trace', '@opentelemetry/context-async-hooks', 'kafkajs', 'amqplib', 'amqp-connection-manager']) {
    assert.throws(() => appRequire.resolve(peer), { code: 'MODULE_NOT_FOUND' }, `${peer} must not be resolvable from ${app} for this check`);
  }
  // Written into the application's files by its source text, and run there.
  async function checks(assert, load, entries) {
    for (const entry of entries) await load(entry);
    const { assertChildOf, findSpan, formatTraceTree, recordSpans } = await load('tracebus/testing');
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const span = (name, spanId, kind, parentSpanId, startMs) => ({
      name, kind, attributes: {}, links: [], status: { code: 0 }, resource: { attributes: { 'service.name': 'shop' } },
      spanContext: () => ({ traceId, spanId, traceFlags: 1 }),
      parentSpanContext: parentSpanId === undefined ? undefined : { traceId, spanId: parentSpanId, traceFlags: 1 },
      startTime: [1, startMs * 1e6], endTime: [1, (startMs + 2) * 1e6], duration: [0, 2e6],
    });
    const spans = [span('send orders', 'b7ad6b7169203331', 3, undefined, 0), span('process orders', '00f067aa0ba902b7', 4, 'b7ad6b7169203331', 3)];
    assertChildOf(findSpan(spans, 'process orders'), findSpan(spans, 'send orders'), spans);
    assert.match(formatTraceTree(spans), /^trace 0af7651916cd43dd8448eb211c80319c {2}\(2 spans, 5\.0 ms\)\n {2}\[shop\] send orders \(producer\) .*\n {4}\[shop\] process orders \(consumer\) /);
    assert.throws(() => recordSpans(), { message: /^tracebus\/testing: recordSpans\(\) needs .*; neither is installed\. Install them with: npm install -D @opentelemetry\/sdk-trace @opentelemetry\/context-async-hooks \(with @opentelemetry\/api 1\.9, the 2\.x SDK line: npm install -D @opentelemetry\/sdk-trace@2 @opentelemetry\/context-async-hooks@2\)$/ });
  }
  const call = `(${checks})(assert, load, ${JSON.stringify(entries)})`;
  writeFileSync(join(app, 'esm.mjs'), `import assert from 'node:assert/strict';\nconst load = (entry) => import(entry);\nawait ${call};\n`);
  writeFileSync(join(app, 'cjs.cjs'), `const assert = require('node:assert/strict');\nconst load = async (entry) => require(entry);\n${call}.catch((error) => { console.error(error); process.exitCode = 1; });\n`);
  for (const file of ['esm.mjs', 'cjs.cjs']) execFileSync(process.execPath, [file], { cwd: app, stdio: 'inherit' });
} finally {
  rmSync(app, { recursive: true, force: true });
}

console.log(`dist smoke test passed on Node.js ${process.version} (${entries.length} entry points, ESM and CommonJS, with and without the optional peers)`);
