/**
 * `npm run demo`: runs the order pipeline on the in-process bus and prints its trace
 * as a tree. With OTEL_EXPORTER_OTLP_ENDPOINT set, or OTEL_TRACES_EXPORTER=zipkin, the spans
 * also go to that collector (examples/support/export.ts), after the tree is printed.
 */
import { formatTraceTree } from 'tracebus/testing';
import { exported, exportProcessors } from '../support/export.ts';
import { runOrderPipeline } from './pipeline.ts';

const { spans, log } = await runOrderPipeline(exportProcessors);
console.log('What each service logged (note the one trace id):\n');
for (const line of log) console.log(`  ${line}`);
console.log('\nThe trace, as a tracing UI would draw it (✗ marks the failed attempt):\n');
console.log(formatTraceTree(spans));
const traces = new Set(spans.map((span) => span.spanContext().traceId));
console.log(`\n${spans.length} spans in ${traces.size} trace${traces.size === 1 ? '' : 's'}.`);
for (const { endpoint } of await exported()) console.log(`Exported to ${endpoint}.`);
