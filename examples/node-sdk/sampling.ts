/**
 * Production-style setup with NodeSDK: OTLP export, and a parent-based sampler with a ratio
 * at the root. A producer samples a share of its traces; every consumer then follows the
 * producer's decision from the `traceparent` flags, so a trace is kept whole or not at all —
 * and unsampled messages still carry their headers (flags `00`), so the decision travels on.
 *
 * Run: OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 npm run example -- examples/node-sdk/sampling.ts
 * (or OTEL_TRACES_EXPORTER=zipkin for the Zipkin of scripts/zipkin/zipkin.sh; without either,
 * spans are only counted in memory).
 */
import { trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from 'tracebus/memory';
import { exported, exportProcessors } from '../support/export.ts';

export interface SamplingResult {
  spans: ReadableSpan[];
  /** traceparent of every message the consumer received, in order. */
  received: string[];
}

export async function main(orders = 20, ratio = 0.5): Promise<SamplingResult> {
  const memory = new InMemorySpanExporter();
  const counted = new SimpleSpanProcessor({ exporter: memory });
  // NodeSDK would build the exporter OTEL_TRACES_EXPORTER names by itself; this example also
  // counts spans in memory, so it passes its processors, the export ones included.
  const spanProcessors = [counted, ...exportProcessors()];
  // NodeSDK exports metrics over OTLP by default; with no collector to take them, its
  // shutdown would spend seconds retrying. This example is about traces.
  process.env.OTEL_METRICS_EXPORTER ??= process.env.OTEL_EXPORTER_OTLP_ENDPOINT ? 'otlp' : 'none';
  process.env.OTEL_LOGS_EXPORTER ??= process.env.OTEL_EXPORTER_OTLP_ENDPOINT ? 'otlp' : 'none';
  // And when the collector is down, shutdown gives up on the last metrics in a few seconds
  // (the default, 10 s, is spent retrying); the trace export warns that it is down.
  process.env.OTEL_EXPORTER_OTLP_METRICS_TIMEOUT ??= '2500';
  process.env.OTEL_EXPORTER_OTLP_LOGS_TIMEOUT ??= '2500';
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
  await exported();
}
