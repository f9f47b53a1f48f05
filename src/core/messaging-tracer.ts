import {
  context,
  INVALID_SPAN_CONTEXT,
  type ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type SpanContext,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import { copyWithoutContext, headerGetter, type MessageHeaders, type WritableHeaders } from './headers.ts';
import { endSpan, endsUnawaited, measureReceive, measureSend, openSpan, runHook, runInSpan, type OnEnd } from './lifecycle.ts';
import { messageTraceOf, type MessageTrace } from './message-trace.ts';
import { ATTR_PROPAGATION_OUTCOME, classifyMissingContext, metricAttributes, MessagingMetrics, PropagationReporter, type Instruments, type PropagationOutcome } from './metrics.ts';
import type { OperationInfo, SpanHook } from './operation.ts';
import { describe } from './checks.ts';
import { resolveTracingOptions, type TracingOptions } from './options.ts';
import { resolvePolicy, type PolicyOption } from './policy.ts';
import { MessagePropagation, type PropagationState } from './propagation.ts';
import { isValidSpanContext } from './span-context.ts';
import { ATTR_MESSAGING_DESTINATION_NAME, ATTR_MESSAGING_DESTINATION_TEMPLATE, ATTR_MESSAGING_OPERATION_NAME, ATTR_MESSAGING_OPERATION_TYPE, ATTR_MESSAGING_SYSTEM, withSemconvNames, type SemconvMode } from './semconv.ts';
import { INSTRUMENTATION_NAME, VERSION } from './version.ts';

/** The attribute recorded on a span whose links were capped by `maxLinks`. */
export const ATTR_LINKS_DROPPED = 'tracebus.links.dropped_count';

/** Where a received message's span goes: its parent context and its links. */
export interface Placement {
  readonly parent: Context;
  readonly links: Link[] | undefined;
}

/**
 * A producer span started by {@link MessagingTracer.beginPublish} for a send that ends
 * elsewhere (a broker confirm): the headers to send, and `end` to call exactly once.
 */
export interface OpenPublish {
  readonly span: Span;
  readonly context: Context;
  readonly headers: WritableHeaders;
  /**
   * Ends the span, recording `error` when `failed` (as `type` when given), and records the
   * send's metrics. Later calls do nothing. When the span records nothing and metrics are off,
   * the span has ended already and this does nothing (one shared function, tracebus's `ENDED`).
   */
  end(error: unknown, failed: boolean, type?: string): void;
}

/**
 * The transport-free span lifecycle every adapter is built from: producer spans with
 * injection into a copy of the headers, consumer spans with extraction and the
 * incoming-context policy, errors recorded and rethrown unchanged. Propagation itself
 * (which propagator, which fields) follows the `propagator` option, else the global propagator.
 *
 * @example
 * const tracer = new MessagingTracer('my-broker', options);
 * await tracer.tracePublish({ type: 'send', destination: topic }, message.headers, message, undefined, (headers) => client.send(topic, { ...message, headers }));
 */
export class MessagingTracer {
  readonly system: string;
  readonly semconv: SemconvMode;
  readonly maxLinks: number;
  readonly #propagation: MessagePropagation;
  readonly #tracerProvider: TracerProvider | undefined;
  readonly #metrics: MessagingMetrics;
  readonly #reporter: PropagationReporter | undefined;
  #tracer: Tracer | undefined;
  #tracerFrom: TracerProvider | undefined;
  #sdkFrom: unknown;
  #sdkRegistered = true;
  // The last span name and what it was made of: an adapter names span after span the same
  // (`process orders`), and one string shared by them all is neither concatenated per
  // message nor flattened again by each exporter that writes it.
  #nameOperation: string | undefined;
  #nameDestination: string | undefined;
  #name = '';

  constructor(system: string, options: TracingOptions = {}) {
    if (typeof system !== 'string' || system === '') throw new TypeError('tracebus: MessagingTracer needs a messaging.system name such as "kafka"');
    if (options === null || typeof options !== 'object' || Array.isArray(options)) {
      throw new TypeError(`tracebus: new MessagingTracer(system, options) takes TracingOptions, an object, or nothing; got ${describe(options)}`);
    }
    const resolved = resolveTracingOptions(options);
    this.system = system;
    this.semconv = resolved.semconv;
    this.maxLinks = resolved.maxLinks;
    this.#propagation = new MessagePropagation(resolved.propagator, resolved.conformantW3C);
    this.#tracerProvider = resolved.tracerProvider;
    this.#metrics = new MessagingMetrics(resolved.meterProvider);
    this.#reporter = resolved.reportMissingContext ? new PropagationReporter() : undefined;
  }

  /**
   * The tracer to use now. Without a configured provider it follows the global one,
   * which `trace.disable()` replaces (tests and hot reloads do), so it is looked up
   * again whenever the global provider object changes.
   */
  get tracer(): Tracer {
    const provider = this.#tracerProvider ?? trace.getTracerProvider();
    if (provider !== this.#tracerFrom || this.#tracer === undefined) {
      this.#tracer = provider.getTracer(INSTRUMENTATION_NAME, VERSION);
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
    return this.#idle(this.#propagation.now());
  }

  /**
   * The propagation to trace the next message with, or `undefined` while tracing is idle
   * (see {@link idle}). An adapter that asks before it builds a message's attributes passes
   * the answer on to `tracePublish`, `traceProcess`, `beginPublish`, `inject` or `placement`
   * for the same message, so they need not look the propagator up again (a lookup copies
   * the global propagator's field list).
   */
  prepare(): PropagationState | undefined {
    const state = this.#propagation.now();
    return this.#idle(state) ? undefined : state;
  }

  #idle(state: PropagationState): boolean {
    if (this.#tracerProvider !== undefined || !state.nothing) return false;
    if (!this.#noTracerProvider()) return false;
    return this.#metrics.instruments() === undefined;
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
      this.#sdkRegistered = proxy.getDelegateTracer(INSTRUMENTATION_NAME, VERSION) !== undefined;
    }
    return !this.#sdkRegistered;
  }

  /**
   * All attributes of an operation, under the names `semconv` selects: the ones a span
   * starts with and `info.attributes`. What metrics and hooks see.
   */
  attributes(info: OperationInfo): Attributes {
    const attributes = this.#startAttributes(info);
    if (info.attributes !== undefined) Object.assign(attributes, withSemconvNames(info.attributes, this.semconv));
    return attributes;
  }

  /**
   * {@link attributes}, with `info.metricTemplate` as `messaging.destination.template`: what
   * the metrics of the operation are worked out from (see `metricAttributes`). A new object.
   */
  attributesForMetrics(info: OperationInfo): Attributes {
    const attributes = this.attributes(info);
    if (info.metricTemplate !== undefined) attributes[ATTR_MESSAGING_DESTINATION_TEMPLATE] = info.metricTemplate;
    return attributes;
  }

  /** System, operation, destination and `info.sampling`: what a sampler sees. A new object. */
  #startAttributes(info: OperationInfo): Attributes {
    const attributes: Attributes = {
      [ATTR_MESSAGING_SYSTEM]: this.system,
      [ATTR_MESSAGING_OPERATION_TYPE]: info.type,
      [ATTR_MESSAGING_OPERATION_NAME]: info.name ?? info.type,
    };
    if (info.destination !== undefined) attributes[ATTR_MESSAGING_DESTINATION_NAME] = info.destination;
    const sampling = info.sampling;
    // A loop rather than Object.assign, which takes a slower path for the frozen objects
    // consumerGroupAttributes hands out.
    if (sampling !== undefined) for (const key in sampling) attributes[key] = sampling[key];
    return this.semconv === 'current' ? attributes : withSemconvNames(attributes, this.semconv);
  }

  /**
   * Starts a span for `info`: `{operation name} {destination}`. The sampler sees the
   * system, operation, destination and `info.sampling`; `info.attributes` follow on a span
   * that records. Given `attributes`, the span starts with exactly those. At most `maxLinks`
   * of `links` are kept, the first ones, and a span that records counts the others in
   * {@link ATTR_LINKS_DROPPED}; a caller with many contexts to link caps them with
   * {@link links} first, which counts what it dropped itself.
   */
  startSpan(info: OperationInfo, kind: SpanKind, parent: Context, links?: Link[], attributes?: Attributes): Span {
    const name = this.#spanName(info.name ?? info.type, info.destination);
    let dropped = 0;
    if (links !== undefined && links.length > this.maxLinks) {
      dropped = links.length - this.maxLinks;
      links = links.slice(0, this.maxLinks);
    }
    let span: Span;
    if (attributes !== undefined) span = openSpan(this.tracer, name, { kind, attributes, links }, parent);
    else {
      span = openSpan(this.tracer, name, { kind, attributes: this.#startAttributes(info), links }, parent);
      // Set after the start, not passed to it: the SDK validates start attributes twice
      // (before and after sampling) and even for the spans its sampler drops.
      if (info.attributes !== undefined && span.isRecording()) span.setAttributes(withSemconvNames(info.attributes, this.semconv));
    }
    if (dropped > 0 && span.isRecording()) span.setAttribute(ATTR_LINKS_DROPPED, dropped);
    return span;
  }

  #spanName(operation: string, destination: string | undefined): string {
    if (destination === undefined) return operation;
    if (operation !== this.#nameOperation || destination !== this.#nameDestination) {
      this.#nameOperation = operation;
      this.#nameDestination = destination;
      this.#name = `${operation} ${destination}`;
    }
    return this.#name;
  }

  /** The metrics of a send about to start for `info` (see {@link measureSend}); `undefined` while metrics are off. */
  measureSend(info: OperationInfo, count?: number): OnEnd | undefined {
    const instruments = this.#metrics.instruments();
    return instruments === undefined ? undefined : measureSend(instruments, this.attributesForMetrics(info), count);
  }

  /** The metric instruments, or `undefined` while no MeterProvider is registered. */
  instruments(): Instruments | undefined {
    return this.#metrics.instruments();
  }

  /**
   * A copy of `headers` with the context of `ctx` injected; `headers` is not touched. Every
   * field the propagator writes (and `traceparent`/`tracestate` always) is replaced, never
   * repeated, and not carried over from `headers` when the context has no value for it.
   */
  inject(ctx: Context, headers: MessageHeaders | undefined | null, state: PropagationState = this.#propagation.now()): WritableHeaders {
    return this.#propagation.inject(ctx, headers, state);
  }

  /**
   * {@link inject} of `trace.setSpan(parent, span)`, for a span whose context would serve only
   * the message's headers (a batch's `create` spans): with tracebus's W3C propagators handling
   * every field, that context is never made.
   */
  injectSpan(parent: Context, span: Span, headers: MessageHeaders | undefined | null, state: PropagationState): WritableHeaders {
    return this.#propagation.injectSpan(parent, span, headers, state);
  }

  /** The context carried by `headers`, on top of the empty root context. Never throws. */
  extract(headers: MessageHeaders | undefined | null): Context {
    return this.#propagation.extract(headers);
  }

  /**
   * Runs `send` with headers that carry a new PRODUCER span's context, inside that span.
   * The span ends when `send` returns or settles; an error is recorded and rethrown.
   * `activate: false` skips making the span active during `send`, for transports with
   * nothing underneath that could start child spans (the in-process bus). `prepared`, the
   * answer of {@link prepare} for this message, skips looking again whether tracing is idle.
   */
  tracePublish<M, R>(
    info: OperationInfo,
    headers: MessageHeaders | undefined | null,
    message: M,
    hook: SpanHook<M> | undefined,
    send: (headers: WritableHeaders, span: Span) => R,
    activate = true,
    prepared?: PropagationState,
  ): R {
    const state = prepared ?? this.#propagation.now();
    if (prepared === undefined && this.#idle(state)) return send(copyWithoutContext(headers), IDLE_SPAN);
    const parent = context.active();
    const span = this.startSpan(info, SpanKind.PRODUCER, parent);
    if (hook !== undefined) runHook(hook, span, message, 'producerHook');
    const onEnd = this.measureSend(info);
    // Not activated, the span's context serves the headers alone: see injectSpan.
    if (!activate) return runInSpan(span, undefined, send, undefined, injectOrEnd(this.#propagation, parent, headers, state, span, onEnd, true), span, onEnd);
    const ctx = trace.setSpan(parent, span);
    return runInSpan(span, ctx, send, undefined, injectOrEnd(this.#propagation, ctx, headers, state, span, onEnd, false), span, onEnd);
  }

  /**
   * Starts a PRODUCER span for a send whose end the transport reports later (a broker
   * confirm), and injects its context into a copy of `headers`. The caller sends with
   * `headers` and calls `end` exactly once. `parent` defaults to the active context;
   * `state` is {@link prepare}'s answer for this message, when the caller asked.
   */
  beginPublish<M>(info: OperationInfo, headers: MessageHeaders | undefined | null, message: M, hook: SpanHook<M> | undefined, parent: Context = context.active(), state?: PropagationState): OpenPublish {
    const span = this.startSpan(info, SpanKind.PRODUCER, parent);
    if (hook !== undefined) runHook(hook, span, message, 'producerHook');
    const ctx = trace.setSpan(parent, span);
    const onEnd = this.measureSend(info);
    const sent = injectOrEnd(this.#propagation, ctx, headers, state, span, onEnd, false);
    // The transport then need not keep a callback alive per message until the broker answers.
    return { span, context: ctx, headers: sent, end: endsUnawaited(span, onEnd) ? ENDED : spanEnder(span, onEnd) };
  }

  /**
   * Runs `handle` for one received message inside a new span (CONSUMER for `process`),
   * placed in the trace according to `policy`. The span lasts as long as the handler;
   * a handler error is recorded on it and rethrown unchanged. `prepared`, the answer of
   * {@link prepare} for this message, skips looking again whether tracing is idle.
   */
  traceProcess<M, R>(
    info: OperationInfo,
    headers: MessageHeaders | undefined | null,
    message: M,
    policy: PolicyOption<M> | undefined,
    hook: SpanHook<M> | undefined,
    handle: (trace: MessageTrace) => R,
    prepared?: PropagationState,
  ): R {
    const state = prepared ?? this.#propagation.now();
    // As in the traced path, the handler runs in the message's context (here: the root one), never the ambient one.
    if (prepared === undefined && this.#idle(state)) return context.with(ROOT_CONTEXT, handle, undefined, IDLE_MESSAGE_TRACE);
    // Metric attributes are worked out only while metrics are on.
    const instruments = this.#metrics.instruments();
    const attributes = instruments === undefined ? undefined : this.attributesForMetrics(info);
    const { parent, links } = this.#place(state, instruments, headers, message, policy, info.destination, attributes);
    const span = this.startSpan(info, info.type === 'process' ? SpanKind.CONSUMER : SpanKind.CLIENT, parent, links);
    if (hook !== undefined) runHook(hook, span, message, 'consumerHook');
    const ctx = trace.setSpan(parent, span);
    return runInSpan(span, ctx, handle, undefined, messageTraceOf(span, ctx), undefined, attributes === undefined ? undefined : measureReceive(instruments, attributes, info));
  }

  /** Parent context and links for a received message under `policy`. */
  placement<M>(headers: MessageHeaders | undefined | null, message: M, policy: PolicyOption<M> | undefined, destination?: string, attributes?: Attributes, state?: PropagationState): Placement {
    return this.#place(state ?? this.#propagation.now(), this.#metrics.instruments(), headers, message, policy, destination, attributes);
  }

  #place<M>(state: PropagationState, instruments: Instruments | undefined, headers: MessageHeaders | undefined | null, message: M, policy: PolicyOption<M> | undefined, destination: string | undefined, attributes: Attributes | undefined): Placement {
    const chosen = resolvePolicy(policy, message);
    if (chosen === 'root') return { parent: ROOT_CONTEXT, links: undefined };
    const extracted = this.#propagation.extract(headers, state);
    const remote = trace.getSpanContext(extracted);
    const valid = remote !== undefined && isValidSpanContext(remote);
    // Classifying costs a header scan, so it runs only for messages without a context.
    const outcome: PropagationOutcome = valid ? 'valid' : classifyMissingContext(headerGetter.get(headers, 'traceparent'), headerGetter.keys(headers));
    // With no propagator registered nothing could have been read: there is nothing to report.
    if (outcome !== 'valid' && this.#reporter !== undefined && !state.nothing) this.#reporter.report(this.system, destination, outcome);
    if (instruments !== undefined) instruments.propagation.add(1, { ...metricAttributes(attributes ?? this.attributes({ type: 'process', destination })), [ATTR_PROPAGATION_OUTCOME]: outcome });
    if (chosen === 'parent') return { parent: extracted, links: undefined };
    // A new trace that keeps the message's baggage (contrib#2772 lost it) and is not a
    // child of whatever span happens to be ambient (contrib#3008).
    return { parent: trace.deleteSpan(extracted), links: valid ? [{ context: remote }] : undefined };
  }

  /**
   * At most `maxLinks` links to the valid contexts among `contexts`, and how many were dropped.
   * `checked: true` says the caller has already kept only valid contexts, which are then not
   * checked again.
   */
  links(contexts: Iterable<SpanContext | undefined>, attributesOf?: (index: number) => Attributes | undefined, checked = false): { links: Link[]; dropped: number } {
    const links: Link[] = [];
    let dropped = 0;
    let index = 0;
    for (const spanContext of contexts) {
      if (spanContext !== undefined && (checked || isValidSpanContext(spanContext))) {
        if (links.length < this.maxLinks) links.push({ context: spanContext, attributes: this.#linkAttributes(attributesOf?.(index)) });
        else dropped++;
      }
      index++;
    }
    return { links, dropped };
  }

  /** A link's attributes under the names `semconv` selects, as the span's own. */
  #linkAttributes(attributes: Attributes | undefined): Attributes | undefined {
    return attributes === undefined || this.semconv === 'current' ? attributes : withSemconvNames(attributes, this.semconv);
  }

  /**
   * Runs `work` with `ctx` active (or in the current context when `ctx` is undefined) and
   * ends `span` when it returns, throws or settles.
   */
  runInSpan<R>(span: Span, ctx: Context | undefined, work: () => R): R {
    return runInSpan(span, ctx, work, undefined, undefined, undefined, undefined);
  }
}

/**
 * The `end` of an {@link OpenPublish} whose span ended when it began (it records nothing): it
 * does nothing, and a transport can tell that no confirm needs to reach it.
 */
export const ENDED: OpenPublish['end'] = function ended() {};

/**
 * The headers to send, with the context of `ctx` (`parentOnly`: of `span` in `ctx`, its
 * parent's). Copying them runs the caller's getters, and one that throws fails the send as it
 * would untraced (the client reads them too): `span` then ends with that error first.
 */
function injectOrEnd(propagation: MessagePropagation, ctx: Context, headers: MessageHeaders | undefined | null, state: PropagationState | undefined, span: Span, onEnd: OnEnd | undefined, parentOnly: boolean): WritableHeaders {
  try {
    return parentOnly ? propagation.injectSpan(ctx, span, headers, state ?? propagation.now()) : propagation.inject(ctx, headers, state);
  } catch (error) {
    endSpan(span, onEnd, error, true);
    throw error;
  }
}

/** `end(error, failed)` for `span`, which ends it once and ignores later calls. */
function spanEnder(span: Span, onEnd: OnEnd | undefined): OpenPublish['end'] {
  let open = true;
  return function end(error, failed, type) {
    if (!open) return;
    open = false;
    endSpan(span, onEnd, error, failed, type);
  };
}

/** The span producers and handlers get while tracing is idle: what the no-op tracer starts under the root context. */
export const IDLE_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
/** The trace handlers get while tracing is idle. */
export const IDLE_MESSAGE_TRACE: MessageTrace = messageTraceOf(IDLE_SPAN, ROOT_CONTEXT);
