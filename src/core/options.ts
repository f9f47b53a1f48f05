import type { MeterProvider, TextMapPropagator, TracerProvider } from '@opentelemetry/api';
import { describe, optionKeys } from './checks.ts';
import { semconvModeFromEnv, type SemconvMode } from './semconv.ts';

/** Options every tracebus decorator and middleware accepts. */
export interface TracingOptions {
  /** Where spans go. Default: the global provider (`trace.setGlobalTracerProvider`, NodeSDK). */
  tracerProvider?: TracerProvider;
  /**
   * How context is written to and read from headers, used exactly as given. Default: the
   * global propagator, so a composite the application registered (W3C, baggage, B3, …)
   * keeps working, with its W3C fields handled conformantly (see `conformantW3C`).
   */
  propagator?: TextMapPropagator;
  /**
   * Without a `propagator` option, read and write the W3C fields the global propagator
   * handles (`traceparent`/`tracestate`, `baggage`) with tracebus's conformant propagators
   * (`tracebus/w3c`), which pass the W3C test suites where `@opentelemetry/core` does not;
   * the global propagator keeps every other field. `false` leaves all fields to the global
   * propagator. Default true.
   */
  conformantW3C?: boolean;
  /** Attribute names to emit. Default: from `OTEL_SEMCONV_STABILITY_OPT_IN`, else `current`. */
  semconv?: SemconvMode;
  /** Most links one span gets (batch spans link every message). Default 128. */
  maxLinks?: number;
  /**
   * Where messaging metrics go. Default: the global provider; while none is registered,
   * metrics are off and cost nothing.
   */
  meterProvider?: MeterProvider;
  /**
   * Report received messages without a usable trace context (none, malformed, or another
   * tracing system's headers) to `diag`, at most once a minute per destination. Default true.
   */
  reportMissingContext?: boolean;
}

/** The keys of {@link TracingOptions}: options every wrapper takes. */
export const TRACING_OPTION_KEYS = optionKeys<TracingOptions>({ tracerProvider: 1, propagator: 1, conformantW3C: 1, semconv: 1, maxLinks: 1, meterProvider: 1, reportMissingContext: 1 });

/** {@link TracingOptions} checked, with their defaults. */
export interface ResolvedTracingOptions {
  readonly tracerProvider: TracerProvider | undefined;
  readonly propagator: TextMapPropagator | undefined;
  readonly conformantW3C: boolean;
  readonly semconv: SemconvMode;
  readonly maxLinks: number;
  readonly meterProvider: MeterProvider | undefined;
  readonly reportMissingContext: boolean;
}

/** Checks the options every wrapper shares and fills in their defaults; throws a sentence that names the fix. */
export function resolveTracingOptions(options: TracingOptions): ResolvedTracingOptions {
  const { tracerProvider, propagator, semconv = semconvModeFromEnv(), maxLinks = 128, meterProvider, reportMissingContext = true, conformantW3C = true } = options;
  if (semconv !== 'current' && semconv !== 'legacy' && semconv !== 'both') {
    throw new TypeError(`tracebus: semconv must be 'current', 'legacy' or 'both'; got ${describe(semconv)}`);
  }
  if (!Number.isInteger(maxLinks) || maxLinks < 0) throw new TypeError(`tracebus: maxLinks must be a non-negative integer; got ${describe(maxLinks)}`);
  if (propagator !== undefined && (propagator === null || typeof propagator.inject !== 'function' || typeof propagator.extract !== 'function' || typeof propagator.fields !== 'function')) {
    throw new TypeError('tracebus: propagator must be a TextMapPropagator with inject(), extract() and fields(), such as new W3CTraceContextPropagator(); omit it to use the global one');
  }
  if (tracerProvider !== undefined && (tracerProvider === null || typeof tracerProvider.getTracer !== 'function')) {
    throw new TypeError('tracebus: tracerProvider must be a TracerProvider with getTracer(), such as the provider NodeSDK or BasicTracerProvider creates (pass the provider, not a tracer); omit it to use the global one');
  }
  if (meterProvider !== undefined && (meterProvider === null || typeof meterProvider.getMeter !== 'function')) {
    throw new TypeError('tracebus: meterProvider must be a MeterProvider with getMeter(), such as new MeterProvider() from @opentelemetry/sdk-metrics (pass the provider, not a meter); omit it to use the global one');
  }
  if (typeof conformantW3C !== 'boolean') throw new TypeError(`tracebus: conformantW3C must be true or false; got ${describe(conformantW3C)}`);
  if (typeof reportMissingContext !== 'boolean') throw new TypeError(`tracebus: reportMissingContext must be true or false; got ${describe(reportMissingContext)}`);
  return { tracerProvider, propagator, conformantW3C, semconv, maxLinks, meterProvider, reportMissingContext };
}
