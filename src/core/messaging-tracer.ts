import {
  context,
  diag,
  INVALID_SPAN_CONTEXT,
  propagation,
  type ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Context,
  type Link,
  type MeterProvider,
  type Span,
  type SpanContext,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { copyWithoutFields, headerGetter, headerSetter, type MessageHeaders, type WritableHeaders } from './headers.ts';
import { ATTR_PROPAGATION_OUTCOME, classifyMissingContext, metricAttributes, MessagingMetrics, PropagationReporter, type Instruments, type PropagationOutcome } from './metrics.ts';
import { assertPolicyOption, type IncomingContextPolicy, type PolicyOption } from './policy.ts';
import {
  ATTR_MESSAGING_DESTINATION_NAME,
  ATTR_MESSAGING_OPERATION_NAME,
  ATTR_MESSAGING_OPERATION_TYPE,
  ATTR_MESSAGING_SYSTEM,
  LEGACY_NAMES,
  semconvModeFromEnv,
  type OperationType,
  type SemconvMode,
} from './semconv.ts';
import { errorType, measureReceive, measureSend, METRIC_ATTRIBUTES, recordError, runInSpan } from './lifecycle.ts';
import { traceContextOf, type TraceContext } from './trace-context.ts';
import { globalPropagator, w3cConformant } from './w3c/conformant.ts';

export const TRACER_NAME = 'tracebus';
export const TRACER_VERSION = '0.1.0';

/** Adds attributes to a span from the message it is about. */
export type SpanHook<M> = (span: Span, message: M) => void;

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
   * handles (`traceparent`/`tracestate`, `baggage`) with tracebus's
   * `TraceContextPropagator` and `BaggagePropagator`, which pass the W3C test suite where
   * `@opentelemetry/core` does not; the global propagator keeps every other field.
   * `false` leaves all fields to the global propagator. Default true.
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

/** What an adapter knows about one messaging operation. */
export interface OperationInfo {
  /** `messaging.operation.type`. */
  type: OperationType;
  /** `messaging.operation.name`, the span name's first word. Default: `type`. */
  name?: string;
  /** Destination for the span name and `messaging.destination.name`. Omit when anonymous. */
  destination?: string;
  /** More attributes, under their semconv 1.45 names. */
  attributes?: Attributes;
  /** When the message was produced (ms since the epoch), for the time-in-queue metric. */
  publishedAt?: number;
}

/** The attribute recorded on a span whose links were capped by `maxLinks`. */
export const ATTR_LINKS_DROPPED = 'tracebus.links.dropped_count';

/**
 * The transport-free span lifecycle every adapter is built from: producer spans with
 * injection into a copy of the headers, consumer spans with extraction and the
 * incoming-context policy, errors recorded and rethrown unchanged.
 *
 * Exported so that adapters for other transports can be written the same way.
 */
export class MessagingTracer {
  readonly system: string;
  readonly semconv: SemconvMode;
  readonly maxLinks: number;
  readonly #propagator: TextMapPropagator | undefined;
  readonly #conformantW3C: boolean;
  #fields: ReadonlySet<string> = new Set();
  #fieldsFrom: TextMapPropagator | undefined;
  #globalPropagator: TextMapPropagator | undefined;
  #globalFrom: TextMapPropagator | undefined;
  readonly #tracerProvider: TracerProvider | undefined;
  readonly #metrics: MessagingMetrics;
  readonly #reporter: PropagationReporter | undefined;
  #tracer: Tracer | undefined;
  #tracerFrom: TracerProvider | undefined;
  #sdkFrom: unknown;
  #sdkRegistered = true;

  constructor(system: string, options: TracingOptions = {}) {
    if (typeof system !== 'string' || system === '') throw new TypeError('tracebus: MessagingTracer needs a messaging.system name such as "kafka"');
    const { tracerProvider, propagator, semconv = semconvModeFromEnv(), maxLinks = 128, meterProvider, reportMissingContext = true, conformantW3C = true } = options;
    if (semconv !== 'current' && semconv !== 'legacy' && semconv !== 'both') {
      throw new TypeError(`tracebus: semconv must be 'current', 'legacy' or 'both'; got ${JSON.stringify(semconv)}`);
    }
    if (!Number.isInteger(maxLinks) || maxLinks < 0) throw new TypeError(`tracebus: maxLinks must be a non-negative integer; got ${maxLinks}`);
    if (propagator !== undefined && (propagator === null || typeof propagator.inject !== 'function' || typeof propagator.extract !== 'function')) {
      throw new TypeError('tracebus: propagator must be a TextMapPropagator with inject() and extract(), such as new W3CTraceContextPropagator(); omit it to use the global one');
    }
    if (typeof conformantW3C !== 'boolean') throw new TypeError(`tracebus: conformantW3C must be true or false; got ${JSON.stringify(conformantW3C)}`);
    this.system = system;
    this.semconv = semconv;
    this.maxLinks = maxLinks;
    this.#propagator = propagator;
    this.#conformantW3C = conformantW3C;
    this.#tracerProvider = tracerProvider;
    this.#metrics = new MessagingMetrics(meterProvider);
    this.#reporter = reportMissingContext ? new PropagationReporter() : undefined;
  }

  /**
   * The tracer to use now. Without a configured provider it follows the global one,
   * which `trace.disable()` replaces (tests and hot reloads do), so it is looked up
   * again whenever the global provider object changes.
   */
  get tracer(): Tracer {
    const provider = this.#tracerProvider ?? trace.getTracerProvider();
    if (provider !== this.#tracerFrom || this.#tracer === undefined) {
      this.#tracer = provider.getTracer(TRACER_NAME, TRACER_VERSION);
      this.#tracerFrom = provider;
    }
    return this.#tracer;
  }

  /**
   * Whether tracing has nothing to do for the next message: no tracer provider option and
   * none registered globally, no propagator that reads or writes a header, and metrics off.
   * A span would then be a non-recording copy of its parent that no propagator writes out,
   * so `tracePublish` and `traceProcess` (and the adapters, through this) skip spans, hooks,
   * policies and diagnostics and call straight through. Registering an SDK or a propagator
   * later takes effect at once.
   */
  idle(): boolean {
    if (this.#tracerProvider !== undefined || !this.#propagatesNothing()) return false;
    if (!this.#noTracerProvider()) return false;
    return this.#metrics.instruments() === undefined;
  }

  /** Whether the propagator in use reads and writes no header at all (none is registered). */
  #propagatesNothing(): boolean {
    if (this.#propagator !== undefined) return false;
    const propagator = this.#currentPropagator();
    // `propagation` itself stands in when the registered object cannot be seen: assume it reads.
    return propagator !== propagation && this.#fieldsOf(propagator).size === 0;
  }

  /**
   * Whether no tracer provider is registered globally. The API's global provider is a
   * proxy that hands out no-op tracers until `setGlobalTracerProvider` gives it a
   * delegate; its `getDelegate()` object changes identity then, so the answer is
   * recomputed only when it does.
   */
  #noTracerProvider(): boolean {
    const proxy = trace.getTracerProvider() as TracerProvider & Partial<ProxyTracerProvider>;
    if (typeof proxy.getDelegate !== 'function' || typeof proxy.getDelegateTracer !== 'function') return false;
    const delegate = proxy.getDelegate();
    if (delegate !== this.#sdkFrom) {
      this.#sdkFrom = delegate;
      this.#sdkRegistered = proxy.getDelegateTracer(TRACER_NAME, TRACER_VERSION) !== undefined;
    }
    return !this.#sdkRegistered;
  }

  /** Attributes of an operation, under the names `semconv` selects. */
  attributes(info: OperationInfo): Attributes {
    const attributes: Attributes = {
      [ATTR_MESSAGING_SYSTEM]: this.system,
      [ATTR_MESSAGING_OPERATION_TYPE]: info.type,
      [ATTR_MESSAGING_OPERATION_NAME]: info.name ?? info.type,
    };
    if (info.destination !== undefined) attributes[ATTR_MESSAGING_DESTINATION_NAME] = info.destination;
    if (info.attributes !== undefined) Object.assign(attributes, info.attributes);
    return this.semconv === 'current' ? attributes : renameLegacy(attributes, this.semconv);
  }

  /** Starts a span for `info`: `{operation name} {destination}`. */
  startSpan(info: OperationInfo, kind: SpanKind, parent: Context, links?: Link[], attributes: Attributes = this.attributes(info)): Span {
    const name = info.destination === undefined ? (info.name ?? info.type) : `${info.name ?? info.type} ${info.destination}`;
    return this.tracer.startSpan(name, { kind, attributes, links }, parent);
  }

  /** The metric instruments, or `undefined` while no MeterProvider is registered. */
  instruments(): Instruments | undefined {
    return this.#metrics.instruments();
  }

  /**
   * The propagator for this message: the configured one, else the global one with its W3C
   * fields made conformant. The wrapper is looked up again only when the global
   * propagator object changes (`setGlobalPropagator`, `disable`), as for the tracer.
   */
  #currentPropagator(): TextMapPropagator {
    if (this.#propagator !== undefined) return this.#propagator;
    const global = globalPropagator();
    // Without access to the registered object, forward to the API as before.
    if (global === undefined) return propagation;
    if (global !== this.#globalFrom || this.#globalPropagator === undefined) {
      this.#globalPropagator = this.#conformantW3C ? w3cConformant(global) : global;
      this.#globalFrom = global;
    }
    return this.#globalPropagator;
  }

  /** The header names `propagator` writes, lowercase; looked up again only when it changes. */
  #fieldsOf(propagator: TextMapPropagator): ReadonlySet<string> {
    if (propagator !== this.#fieldsFrom) {
      let fields: string[] = [];
      try {
        fields = propagator.fields();
      } catch (error) {
        diag.error('tracebus: the propagator threw from fields(); only traceparent and tracestate are replaced on publish', error);
      }
      this.#fields = new Set(fields.map((field) => field.toLowerCase()));
      this.#fieldsFrom = propagator;
    }
    return this.#fields;
  }

  /**
   * A copy of `headers` with the context of `ctx` injected; `headers` is not touched. Every
   * field the propagator writes (and `traceparent`/`tracestate` always) is replaced, never
   * repeated, and not carried over from `headers` when the context has no value for it.
   */
  inject(ctx: Context, headers: MessageHeaders | undefined | null): WritableHeaders {
    const propagator = this.#currentPropagator();
    const carrier = copyWithoutFields(headers, this.#fieldsOf(propagator));
    try {
      propagator.inject(ctx, carrier, headerSetter);
    } catch (error) {
      diag.error('tracebus: the propagator threw while injecting; the message is sent without trace headers', error);
    }
    return carrier;
  }

  /** The context carried by `headers`, on top of the empty root context. Never throws. */
  extract(headers: MessageHeaders | undefined | null): Context {
    try {
      return this.#currentPropagator().extract(ROOT_CONTEXT, headers, headerGetter);
    } catch (error) {
      diag.warn('tracebus: the propagator threw while extracting; the message starts a new trace', error);
      return ROOT_CONTEXT;
    }
  }

  /**
   * Runs `send` with headers that carry a new PRODUCER span's context, inside that span.
   * The span ends when `send` returns or settles; an error is recorded and rethrown.
   */
  tracePublish<M, R>(
    info: OperationInfo,
    headers: MessageHeaders | undefined | null,
    message: M,
    hook: SpanHook<M> | undefined,
    send: (headers: WritableHeaders, span: Span) => R,
    activate = true,
  ): R {
    if (this.idle()) return send(copyWithoutFields(headers, NO_FIELDS), IDLE_SPAN);
    const parent = context.active();
    const attributes = this.attributes(info);
    const span = this.startSpan(info, SpanKind.PRODUCER, parent, undefined, attributes);
    if (hook !== undefined) runHook(hook, span, message, 'producerHook');
    const ctx = trace.setSpan(parent, span);
    const instruments = this.#metrics.instruments();
    // `activate: false` skips making the span active during `send`, for transports with
    // nothing underneath that could start child spans (the in-process bus).
    return runInSpan(span, activate ? ctx : undefined, send, undefined, this.inject(ctx, headers), span, measureSend(instruments, attributes));
  }

  /**
   * Runs `handle` for one received message inside a new span (CONSUMER for `process`),
   * placed in the trace according to `policy`. The span lasts as long as the handler;
   * a handler error is recorded on it and rethrown unchanged.
   */
  traceProcess<M, R>(
    info: OperationInfo,
    headers: MessageHeaders | undefined | null,
    message: M,
    policy: PolicyOption<M> | undefined,
    hook: SpanHook<M> | undefined,
    handle: (trace: TraceContext) => R,
  ): R {
    // As in the traced path, the handler runs in the message's context (here: the root one), never the ambient one.
    if (this.idle()) return context.with(ROOT_CONTEXT, handle, undefined, IDLE_TRACE_CONTEXT);
    const attributes = this.attributes(info);
    const { parent, links } = this.placement(headers, message, policy, info.destination, attributes);
    const span = this.startSpan(info, info.type === 'process' ? SpanKind.CONSUMER : SpanKind.CLIENT, parent, links, attributes);
    if (hook !== undefined) runHook(hook, span, message, 'consumerHook');
    const ctx = trace.setSpan(parent, span);
    const instruments = this.#metrics.instruments();
    return runInSpan(span, ctx, handle, undefined, traceContextOf(span, ctx), undefined, measureReceive(instruments, attributes, info));
  }

  /** Parent context and links for a received message under `policy`. */
  placement<M>(
    headers: MessageHeaders | undefined | null,
    message: M,
    policy: PolicyOption<M> | undefined,
    destination?: string,
    attributes?: Attributes,
  ): { parent: Context; links: Link[] | undefined } {
    const chosen = resolvePolicy(policy, message);
    if (chosen === 'root') return { parent: ROOT_CONTEXT, links: undefined };
    const extracted = this.extract(headers);
    const remote = trace.getSpanContext(extracted);
    const valid = remote !== undefined && trace.isSpanContextValid(remote);
    // Classifying costs a header scan, so it runs only for messages without a context.
    const outcome: PropagationOutcome = valid ? 'valid' : classifyMissingContext(headerGetter.get(headers, 'traceparent'), headerGetter.keys(headers));
    // With no propagator registered nothing could have been read: there is nothing to report.
    if (outcome !== 'valid' && this.#reporter !== undefined && !this.#propagatesNothing()) this.#reporter.report(this.system, destination, outcome);
    const instruments = this.#metrics.instruments();
    if (instruments !== undefined) instruments.propagation.add(1, { ...metricAttributes(attributes ?? this.attributes({ type: 'process', destination }), METRIC_ATTRIBUTES), [ATTR_PROPAGATION_OUTCOME]: outcome });
    if (chosen === 'parent') return { parent: extracted, links: undefined };
    // A new trace that keeps the message's baggage (contrib#2772 lost it) and is not a
    // child of whatever span happens to be ambient (contrib#3008).
    return { parent: trace.deleteSpan(extracted), links: valid ? [{ context: remote }] : undefined };
  }

  /**
   * At most `maxLinks` links to the valid contexts among `contexts`, and how many were dropped.
   */
  links(contexts: Iterable<SpanContext | undefined>, attributesOf?: (index: number) => Attributes | undefined): { links: Link[]; dropped: number } {
    const links: Link[] = [];
    let dropped = 0;
    let index = 0;
    for (const spanContext of contexts) {
      if (spanContext !== undefined && trace.isSpanContextValid(spanContext)) {
        if (links.length < this.maxLinks) links.push({ context: spanContext, attributes: attributesOf?.(index) });
        else dropped++;
      }
      index++;
    }
    return { links, dropped };
  }

  /**
   * Runs `work` with `ctx` active (or in the current context when `ctx` is undefined) and
   * ends `span` when it returns, throws or settles.
   */
  runInSpan<R>(span: Span, ctx: Context | undefined, work: () => R): R {
    return runInSpan(span, ctx, work, undefined, undefined, undefined, undefined);
  }
}

/** Runs a user hook; a hook that throws goes to `diag` and never to the caller. */
export function runHook<M>(hook: SpanHook<M>, span: Span, message: M, which: string): void {
  try {
    hook(span, message);
  } catch (error) {
    diag.error(`tracebus: ${which} threw; the span goes on without its attributes`, error);
  }
}

const NO_FIELDS: ReadonlySet<string> = new Set();
/** The span producers and handlers get while tracing is idle: what the no-op tracer starts under the root context. */
export const IDLE_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
/** The trace context handlers get while tracing is idle. */
export const IDLE_TRACE_CONTEXT: TraceContext = traceContextOf(IDLE_SPAN, ROOT_CONTEXT);

function resolvePolicy<M>(policy: PolicyOption<M> | undefined, message: M): IncomingContextPolicy {
  if (policy === undefined) return 'parent';
  if (typeof policy !== 'function') return policy;
  try {
    const chosen = policy(message);
    if (chosen === 'parent' || chosen === 'link' || chosen === 'root') return chosen;
    diag.error(`tracebus: the policy function returned ${JSON.stringify(chosen)}; using 'parent'`);
  } catch (error) {
    diag.error("tracebus: the policy function threw; using 'parent'", error);
  }
  return 'parent';
}

export { assertPolicyOption };

function renameLegacy(attributes: Attributes, mode: SemconvMode): Attributes {
  const renamed: Attributes = {};
  for (const name in attributes) {
    const legacy = LEGACY_NAMES[name];
    if (legacy === undefined) renamed[name] = attributes[name];
    else {
      renamed[legacy] = attributes[name];
      if (mode === 'both') renamed[name] = attributes[name];
    }
  }
  return renamed;
}

export { errorType, recordError };
