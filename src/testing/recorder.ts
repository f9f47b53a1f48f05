import { context, propagation, SpanStatusCode, trace, type Context, type TextMapGetter, type TextMapPropagator, type TextMapSetter } from '@opentelemetry/api';
import type { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { ConformantBaggagePropagator } from '../w3c/baggage.ts';
import { ConformantTraceContextPropagator } from '../w3c/trace-context.ts';
import type { ReadableSpan, Sampler, Span, SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { recorderPeers } from './peers.ts';

export interface SpanRecorderOptions {
  /**
   * Sampler of the provider. Default: what NodeSDK uses by default, a parent-based sampler
   * that samples new traces: a message whose upstream trace was not sampled gets unsampled
   * children, as in production.
   */
  sampler?: Sampler;
  /**
   * Register the provider, an AsyncLocalStorage context manager and the W3C trace-context
   * and baggage propagators globally. Default `true`; with `false`, pass both
   * `recorder.provider` and `recorder.propagator` to tracebus (`{ tracerProvider, propagator }`):
   * with no propagator registered, tracebus writes no `traceparent`, and each side would start
   * its own trace. Spans started inside a handler then nest only under a context manager that
   * the application registered itself.
   */
  global?: boolean;
}

/** Spans recorded in memory, for assertions in tests. */
export interface SpanRecorder {
  readonly provider: TracerProvider;
  /** The W3C trace-context and baggage propagator it registers when `global`, to pass to tracebus when not. */
  readonly propagator: TextMapPropagator;
  /** Every span that has ended, in the order they ended. */
  spans(): ReadableSpan[];
  /** Spans that started and have not ended yet. */
  openSpans(): ReadableSpan[];
  /** Forgets the spans recorded so far. */
  reset(): void;
  /** Shuts the provider down and removes what `global` registered. */
  shutdown(): Promise<void>;
}

class OpenSpanTracker implements SpanProcessor {
  readonly open = new Set<ReadableSpan>();
  onStart(span: Span, _parent: Context): void {
    this.open.add(span as unknown as ReadableSpan);
  }
  onEnd(span: ReadableSpan): void {
    this.open.delete(span);
  }
  forceFlush(): Promise<void> {
    return Promise.resolve();
  }
  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Sets up an in-memory span recorder in one call. It needs the optional peer dependencies
 * `@opentelemetry/sdk-trace` and `@opentelemetry/context-async-hooks` (3.x), and throws an
 * Error that says what to install when they are missing.
 *
 * @example
 * const recorder = recordSpans();
 * // ... publish and consume ...
 * assertOneTrace(recorder.spans(), ['send orders', 'process orders']);
 * await recorder.shutdown();
 */
export function recordSpans(options: SpanRecorderOptions = {}): SpanRecorder {
  const { sdkTrace, contextAsyncHooks } = recorderPeers();
  const { sampler = new sdkTrace.ParentBasedSampler({ root: new sdkTrace.AlwaysOnSampler() }), global = true } = options;
  const exporter = new sdkTrace.InMemorySpanExporter();
  const tracker = new OpenSpanTracker();
  const provider = new sdkTrace.TracerProvider({ sampler, spanProcessors: [tracker, new sdkTrace.SimpleSpanProcessor({ exporter })] });
  const propagator = new W3CPropagator();
  let contextManager: AsyncLocalStorageContextManager | undefined;
  if (global) {
    trace.disable();
    context.disable();
    propagation.disable();
    contextManager = new contextAsyncHooks.AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
    trace.setGlobalTracerProvider(provider);
    propagation.setGlobalPropagator(propagator);
  }
  return {
    provider,
    propagator,
    spans: () => exporter.getFinishedSpans().slice(),
    openSpans: () => [...tracker.open],
    reset: () => exporter.reset(),
    async shutdown() {
      await provider.shutdown();
      if (global) {
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}

/** Whether a span ended with status ERROR. */
export function isError(span: ReadableSpan): boolean {
  return span.status.code === SpanStatusCode.ERROR;
}

/**
 * W3C Trace Context and W3C Baggage together, as NodeSDK registers them by default, with
 * tracebus's conformant propagators: `@opentelemetry/core`'s composite would make it a
 * dependency, and core pins one SDK line.
 */
class W3CPropagator implements TextMapPropagator {
  readonly #traceContext = new ConformantTraceContextPropagator();
  readonly #baggage = new ConformantBaggagePropagator();

  inject(ctx: Context, carrier: unknown, setter: TextMapSetter): void {
    this.#traceContext.inject(ctx, carrier, setter);
    this.#baggage.inject(ctx, carrier, setter);
  }

  extract(ctx: Context, carrier: unknown, getter: TextMapGetter): Context {
    return this.#baggage.extract(this.#traceContext.extract(ctx, carrier, getter), carrier, getter);
  }

  fields(): string[] {
    return [...this.#traceContext.fields(), ...this.#baggage.fields()];
  }
}
