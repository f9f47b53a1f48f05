/**
 * Tracing setup shared by the examples: an SDK TracerProvider per service name, recording
 * spans in memory (so the example can print and check its trace) and sending them to the
 * collector the environment names: OTLP with OTEL_EXPORTER_OTLP_ENDPOINT set (the Jaeger of
 * docker-compose.yml, say), Zipkin with OTEL_TRACES_EXPORTER=zipkin (scripts/zipkin/zipkin.sh).
 * See ./export.ts: an example prints its trace first, and `exported()` then sends what is
 * left, in bounded time, warning once if the collector cannot be reached.
 * In your service, NodeSDK does this; see examples/node-sdk.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { exportProcessors } from './export.ts';

export { exported } from './export.ts';

export interface ExampleTracing {
  /** A provider whose spans carry `service.name` = `service`. */
  provider(service: string): TracerProvider;
  /** Every span recorded so far, after flushing. */
  spans(): Promise<ReadableSpan[]>;
  /** Shuts the providers down; spans on their way to a collector are left to `exported()`. */
  shutdown(): Promise<void>;
}

export function setUpTracing(): ExampleTracing {
  const memory = new InMemorySpanExporter();
  const providers = new Map<string, TracerProvider>();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  const provider = (service: string) => {
    let found = providers.get(service);
    if (found === undefined) {
      found = new TracerProvider({
        resource: resourceFromAttributes({ 'service.name': service }),
        spanProcessors: [new SimpleSpanProcessor({ exporter: memory }), ...exportProcessors()],
      });
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
