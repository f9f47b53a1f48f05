#!/usr/bin/env node
/**
 * Saves a picture of a trace in Zipkin's UI, taken with headless Chromium:
 * docs/images/zipkin-trace.png in the README.
 *
 * Usage: node scripts/zipkin/screenshot.mjs [traceId] [--out file.png]
 *   traceId  the trace to show; by default the latest trace of the cross-transport example
 *            (the newest trace with a `notifier` span), so run, in this order:
 *              bash scripts/zipkin/zipkin.sh start
 *              OTEL_TRACES_EXPORTER=zipkin node examples/cross-transport/order-flow.ts
 *              node scripts/zipkin/screenshot.mjs
 *   --out    where to write the PNG (default docs/images/zipkin-trace.png)
 *
 * Environment: ZIPKIN_URL (default http://127.0.0.1:9411), CHROMIUM (the browser to run,
 * default `chromium`, Debian's package of that name).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const zipkin = (process.env.ZIPKIN_URL ?? 'http://127.0.0.1:9411').replace(/\/+$/, '');
const args = process.argv.slice(2);
const outAt = args.indexOf('--out');
const out = resolve(outAt >= 0 ? args.splice(outAt, 2)[1] : 'docs/images/zipkin-trace.png');
let [traceId] = args;

async function get(path) {
  const response = await fetch(`${zipkin}${path}`);
  if (!response.ok) throw new Error(`GET ${zipkin}${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

if (traceId === undefined) {
  const traces = await get('/api/v2/traces?serviceName=notifier&limit=10&lookback=86400000');
  const newest = traces
    .map((spans) => ({ traceId: spans[0].traceId, started: Math.min(...spans.map((span) => span.timestamp ?? Infinity)) }))
    .sort((a, b) => b.started - a.started)[0];
  if (newest === undefined) {
    console.error(`No cross-transport trace in ${zipkin}: run OTEL_TRACES_EXPORTER=zipkin node examples/cross-transport/order-flow.ts first.`);
    process.exit(1);
  }
  traceId = newest.traceId;
}
const spans = await get(`/api/v2/trace/${traceId}`);
const url = `${zipkin}/zipkin/traces/${traceId}`;

mkdirSync(dirname(out), { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'zipkin-screenshot-'));
try {
  await run(
    process.env.CHROMIUM ?? 'chromium',
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--hide-scrollbars',
      `--user-data-dir=${profile}`,
      '--window-size=1400,900',
      // The UI is a single-page app: give its scripts and API calls time before the picture.
      '--virtual-time-budget=10000',
      `--screenshot=${out}`,
      url,
    ],
    { timeout: 120_000 },
  );
} finally {
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${out}: trace ${traceId} (${spans.length} spans) as ${url} shows it, ${statSync(out).size} bytes`);
