/**
 * Production-style setup with NodeSDK: OTLP export, and a parent-based sampler with a ratio
 * at the root. A producer samples a share of its traces; every consumer then follows the
 * producer's decision from the `traceparent` flags, so a trace is kept whole or not at all —
 * and unsampled messages still carry their headers (flags `00`), so the decision travels on.
 *
 * Run: npm run example -- examples/node-sdk/sampling.ts
 * Spans are counted in memory; with OTEL_EXPORTER_OTLP_ENDPOINT set (http://localhost:4318, say)
 * they also go to that collector.
 */
import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, InMemorySpanExporter, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from 'tracebus/memory';

export interface SamplingResult {
  spans: ReadableSpan[];
  /** traceparent of every message the consumer received, in order. */
  received: string[];
}

export async function main(orders = 20, ratio = 0.5): Promise<SamplingResult> {
  const memory = new InMemorySpanExporter();
  const counted = new SimpleSpanProcessor({ exporter: memory });
  const spanProcessors: SpanProcessor[] = [counted];
  if (process.env.OTEL_EXPORTER_OTLP_ENDPOINT) spanProcessors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter() }));
  // NodeSDK exports metrics over OTLP by default; with no collector to take them, its
  // shutdown would spend seconds retrying. This example is about traces.
  process.env.OTEL_METRICS_EXPORTER ??= process.env.OTEL_EXPORTER_OTLP_ENDPOINT ? 'otlp' : 'none';
  process.env.OTEL_LOGS_EXPORTER ??= process.env.OTEL_EXPORTER_OTLP_ENDPOINT ? 'otlp' : 'none';
  const sdk = new NodeSDK({
    serviceName: 'checkout',
    // Sample `ratio` of new traces; follow the parent's decision everywhere else.
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
    spanProcessors,
    instrumentations: [],
  });
  sdk.start();

  const bus = new MemoryBus();
  const publisher = traceMemoryPublisher()(bus);
  const received: string[] = [];
  bus.subscribe('orders.placed', traceMemoryHandler()((message) => void received.push(String(message.headers.traceparent))), { group: 'billing' });

  const tracer = trace.getTracer('checkout');
  for (let index = 0; index < orders; index++) {
    await tracer.startActiveSpan('POST /checkout', async (span) => {
      await publisher.publish('orders.placed', { payload: { orderId: `o-${index}` } });
      span.end();
    });
  }
  await bus.close();
  // A span reaches the exporter once NodeSDK's resource detectors have finished, which can
  // be after the span ended: flush before reading (shutdown would empty the exporter).
  await counted.forceFlush();
  const spans = memory.getFinishedSpans().slice();
  await sdk.shutdown();
  return { spans, received };
}

if (import.meta.main) {
  const { spans, received } = await main();
  const sampled = received.filter((traceparent) => traceparent.endsWith('-01')).length;
  console.log(`${received.length} orders, ${sampled} sampled at the producer; ${spans.filter((span) => span.name === 'process orders.placed').length} consumer spans recorded (the same ones).`);
}
