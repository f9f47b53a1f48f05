/**
 * The SDK the traced benchmark variants register (every span recorded, or 1% of traces for
 * the sampled variants), and the counts of what it exported.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, ExportResultCode, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, TracerProvider, type Sampler, type SpanExporter } from '@opentelemetry/sdk-trace';

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

/** The share of traces the sampled variants keep. */
export const SAMPLED_RATIO = 0.01;

/**
 * The sampler of the sampled (`@1%`) variants, a common production choice:
 * `ParentBased(TraceIdRatioBased(0.01))`. A span without a parent (the producer's, which
 * starts each trace) is kept for 1% of trace ids; a span with a parent (the consumer's,
 * continuing the context the message carried) follows its parent's decision.
 */
export const productionSampler = (): Sampler => new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(SAMPLED_RATIO) });

/**
 * Registers what a production service registers: a TracerProvider with a
 * BatchSpanProcessor (here in front of a no-op exporter), the AsyncLocalStorage context
 * manager, and the W3C trace-context and baggage propagators. Without `sampler` the
 * provider's default (every trace) applies.
 */
export function registerSdk({ sampler }: { sampler?: Sampler } = {}): TracerProvider {
  const spanProcessors = [new BatchSpanProcessor({ exporter: noopExporter, maxQueueSize: 65_536, maxExportBatchSize: 4_096 })];
  const provider = new TracerProvider(sampler === undefined ? { spanProcessors } : { spanProcessors, sampler });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  trace.setGlobalTracerProvider(provider);
  return provider;
}

/** Spans exported so far; call the provider's `forceFlush()` first to count the ones still queued. */
export const exportedSpans = (): number => exported;

/** Attributes and links on the spans exported so far (what the SDK checked and copied for each). */
export const exportedDetail = (): { attributes: number; links: number } => ({ attributes, links });
