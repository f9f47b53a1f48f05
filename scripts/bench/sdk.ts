import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, ExportResultCode, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BatchSpanProcessor, TracerProvider, type SpanExporter } from '@opentelemetry/sdk-trace';

let exported = 0;
let attributes = 0;
let links = 0;

/**
 * An exporter that drops everything but a count: the benchmarks measure recording, not
 * shipping, and the count shows that a variant really produced its spans.
 */
const noopExporter: SpanExporter = {
  export: (spans, done) => {
    exported += spans.length;
    for (const span of spans) {
      attributes += Object.keys(span.attributes).length;
      links += span.links.length;
    }
    done({ code: ExportResultCode.SUCCESS });
  },
  shutdown: () => Promise.resolve(),
};

/**
 * Registers what a production service registers: a TracerProvider with a
 * BatchSpanProcessor (here in front of a no-op exporter), the AsyncLocalStorage context
 * manager, and the W3C trace-context and baggage propagators.
 */
export function registerSdk(): TracerProvider {
  const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter: noopExporter, maxQueueSize: 65_536, maxExportBatchSize: 4_096 })] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  trace.setGlobalTracerProvider(provider);
  return provider;
}

/** Spans exported so far; call the provider's `forceFlush()` first to count the ones still queued. */
export const exportedSpans = (): number => exported;

/** Attributes and links on the spans exported so far (what the SDK checked and copied for each). */
export const exportedDetail = (): { attributes: number; links: number } => ({ attributes, links });
