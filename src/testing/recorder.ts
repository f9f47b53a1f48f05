import { SpanStatusCode, type Context, type TextMapGetter, type TextMapPropagator, type TextMapSetter } from '@opentelemetry/api';
import { ConformantBaggagePropagator } from '../w3c/baggage.ts';
import { ConformantTraceContextPropagator } from '../w3c/trace-context.ts';
import type { ReadableSpan, Sampler, Span, SpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { recordGlobally } from './global.ts';
import { recorderPeers } from './peers.ts';

export interface SpanRecorderOptions {
  /**
   * Sampler of the provider. Default: what NodeSDK uses by default, a parent-based sampler
   * that samples new traces: a message whose upstream trace was not sampled gets unsampled
   * children, as in production.
   */
  sampler?: Sampler;
  /**
   * Record globally: every tracer obtained from the global API (`trace.getTracer()`), before
   * this call or after it, records into this recorder until `shutdown()`, and the W3C
   * trace-context and baggage propagators are the global propagator. A tracer provider and a
   * propagator registered before (a NodeSDK started in a setup file) are set aside and
   * registered again by `shutdown()`; tracers the application obtained while that provider
   * was registered are its own and keep recording into it. A context manager registered
   * before stays; without one, an AsyncLocalStorage context manager is registered until
   * `shutdown()`. One recorder records globally at a time: calling `recordSpans()` again
   * before the last one's `shutdown()` throws.
   *
   * Default `true`. With `false`, nothing global is touched and such recorders may run side by
   * side; pass both `recorder.provider` and `recorder.propagator` to tracebus (`{ tracerProvider, propagator }`):
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
  /**
   * Shuts the provider down and puts back what `global` displaced. It undoes only what is still
   * as the recorder left it, and only once: calling it again does nothing. `spans()` still
   * answers afterwards, with the spans that had ended by then.
   */
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
 * `@opentelemetry/sdk-trace` and `@opentelemetry/context-async-hooks` (2.x or 3.x), and throws an
 * Error that says what to install when they are missing. A global recorder (the default)
 * records until its `shutdown()`, and another one cannot start before that: the call throws
 * an Error that says so (see {@link SpanRecorderOptions.global}).
 *
 * @example
 * const recorder = recordSpans();
 * // ... publish and consume ...
 * assertOneTrace(recorder.spans(), ['send orders', 'process orders']);
 * await recorder.shutdown();
 *
 * @example
 * // vitest: one recorder per test
 * let recorder: SpanRecorder;
 * beforeEach(() => { recorder = recordSpans(); });
 * afterEach(() => recorder.shutdown());
 */
export function recordSpans(options: SpanRecorderOptions = {}): SpanRecorder {
  const { sdkTrace, contextAsyncHooks } = recorderPeers();
  const { sampler = new sdkTrace.ParentBasedSampler({ root: new sdkTrace.AlwaysOnSampler() }), global = true } = options;
  const exporter = new sdkTrace.InMemorySpanExporter();
  const tracker = new OpenSpanTracker();
  const provider = new sdkTrace.TracerProvider({ sampler, spanProcessors: [tracker, new sdkTrace.SimpleSpanProcessor({ exporter })] });
  const propagator = new W3CPropagator();
  const release = global ? recordGlobally({ provider, propagator, contextManager: () => new contextAsyncHooks.AsyncLocalStorageContextManager().enable() }) : undefined;
  let shutdown: Promise<void> | undefined;
  // The exporter forgets its spans when the provider shuts it down: what it had then is kept.
  let kept: ReadableSpan[] | undefined;
  return {
    provider,
    propagator,
    spans: () => (kept ?? exporter.getFinishedSpans()).slice(),
    openSpans: () => [...tracker.open],
    reset: () => {
      exporter.reset();
      if (kept !== undefined) kept = [];
    },
    shutdown() {
      if (shutdown === undefined) {
        // The globals first, at once: a recorder may be started right after an un-awaited shutdown().
        release?.();
        kept = exporter.getFinishedSpans().slice();
        shutdown = provider.shutdown();
      }
      return shutdown;
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
