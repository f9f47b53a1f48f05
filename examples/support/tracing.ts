/**
 * Tracing setup shared by the examples: an SDK TracerProvider per service name, recording
 * spans in memory (so the example can print and check its trace) and, with
 * OTEL_EXPORTER_OTLP_ENDPOINT set, exporting them over OTLP (to the Jaeger of
 * docker-compose.yml, say). In your service, NodeSDK does this; see examples/node-sdk.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace';

export interface ExampleTracing {
  /** A provider whose spans carry `service.name` = `service`. */
  provider(service: string): TracerProvider;
  /** Every span recorded so far, after flushing. */
  spans(): Promise<ReadableSpan[]>;
  shutdown(): Promise<void>;
}

export function setUpTracing(): ExampleTracing {
  const memory = new InMemorySpanExporter();
  const otlp = process.env.OTEL_EXPORTER_OTLP_ENDPOINT ? new OTLPTraceExporter() : undefined;
  const providers = new Map<string, TracerProvider>();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  const provider = (service: string) => {
    let found = providers.get(service);
    if (found === undefined) {
      const processors: SpanProcessor[] = [new SimpleSpanProcessor({ exporter: memory })];
      if (otlp) processors.push(new BatchSpanProcessor({ exporter: otlp }));
      found = new TracerProvider({ resource: resourceFromAttributes({ 'service.name': service }), spanProcessors: processors });
      providers.set(service, found);
      // The first service also serves code that uses the global API.
      if (providers.size === 1) trace.setGlobalTracerProvider(found);
    }
    return found;
  };
  return {
    provider,
    async spans() {
      await Promise.all([...providers.values()].map((each) => each.forceFlush()));
      return memory.getFinishedSpans().slice();
    },
    async shutdown() {
      await Promise.all([...providers.values()].map((each) => each.shutdown()));
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}
