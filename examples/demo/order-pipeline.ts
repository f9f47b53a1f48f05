/**
 * `npm run demo`: runs the order pipeline on the in-process bus and prints its trace
 * as a tree. With OTEL_EXPORTER_OTLP_ENDPOINT set, the spans also go to that collector.
 */
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import { formatTraceTree } from 'tracebus/testing';
import { runOrderPipeline } from './pipeline.ts';

let otlp: (service: string) => SpanProcessor[] = () => [];
if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) {
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const { BatchSpanProcessor } = await import('@opentelemetry/sdk-trace');
  otlp = () => [new BatchSpanProcessor({ exporter: new OTLPTraceExporter() })];
}

const { spans, log } = await runOrderPipeline(otlp);
console.log('What each service logged (note the one trace id):\n');
for (const line of log) console.log(`  ${line}`);
console.log('\nThe trace, as a tracing UI would draw it (✗ marks the failed attempt):\n');
console.log(formatTraceTree(spans));
const traces = new Set(spans.map((span) => span.spanContext().traceId));
console.log(`\n${spans.length} spans in ${traces.size} trace${traces.size === 1 ? '' : 's'}.`);
if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) console.log(`Exported to ${process.env.OTEL_EXPORTER_OTLP_ENDPOINT}.`);
