import {
  context,
  propagation,
  ProxyTracerProvider,
  trace,
  type Context,
  type ContextManager,
  type Span,
  type SpanOptions,
  type TextMapPropagator,
  type Tracer,
  type TracerOptions,
  type TracerProvider,
} from '@opentelemetry/api';

/**
 * The state of global recording, one per process. It lives on `globalThis`, as the
 * registrations of `@opentelemetry/api` do, so that two copies of this module (the ES module
 * and the CommonJS build, or a test runner that evaluates modules again) share it.
 */
interface GlobalRecording {
  /** The provider of the recorder that records globally now. */
  current: TracerProvider | undefined;
  /** The tracer provider registered globally while a recorder records. */
  readonly forwarder: ForwardingTracerProvider;
}

const KEY = Symbol.for('tracebus.testing.recordSpans');

function globalRecording(): GlobalRecording {
  const holder = globalThis as { [KEY]?: GlobalRecording };
  if (holder[KEY] === undefined) {
    const state: GlobalRecording = { current: undefined, forwarder: new ForwardingTracerProvider(() => state.current) };
    holder[KEY] = state;
  }
  return holder[KEY];
}

type DelegatingProvider = TracerProvider & Pick<ProxyTracerProvider, 'getDelegate' | 'setDelegate' | 'getDelegateTracer'>;

function isProxy(provider: TracerProvider): provider is DelegatingProvider {
  const proxy = provider as Partial<DelegatingProvider>;
  return typeof proxy.getDelegate === 'function' && typeof proxy.setDelegate === 'function' && typeof proxy.getDelegateTracer === 'function';
}

/** The provider registered with the API's global proxy, if one is. */
function registeredDelegate(proxy: TracerProvider): TracerProvider | undefined {
  // A proxy without a delegate hands out no tracer of its delegate; its getDelegate() would
  // answer with the API's no-op provider, which is no registration to give back.
  return isProxy(proxy) && proxy.getDelegateTracer('tracebus') !== undefined ? proxy.getDelegate() : undefined;
}

// A proxy without a delegate: its tracers start non-recording spans.
const NO_PROVIDER: TracerProvider = new ProxyTracerProvider();

/**
 * The tracer provider `recordSpans` registers. The API's global proxy hands its tracers out
 * and keeps them (a `ProxyTracer` keeps the first delegate it gets, and `trace.getTracer()`
 * returns the delegate's tracer itself once one is registered), so a recorder's own provider
 * registered there would keep every tracer obtained during one test bound to that recorder,
 * dead under the next. These tracers look their target up at every span instead: the
 * recorder recording now, else the provider registered globally now.
 */
class ForwardingTracerProvider implements TracerProvider {
  readonly #current: () => TracerProvider | undefined;

  constructor(current: () => TracerProvider | undefined) {
    this.#current = current;
  }

  getTracer(name: string, version?: string, options?: TracerOptions): Tracer {
    return new ForwardingTracer(this, name, version, options);
  }

  target(): TracerProvider {
    const current = this.#current();
    if (current !== undefined) return current;
    const global = trace.getTracerProvider();
    const delegate = isProxy(global) ? global.getDelegate() : global;
    return delegate === this ? NO_PROVIDER : delegate;
  }
}

class ForwardingTracer implements Tracer {
  readonly #provider: ForwardingTracerProvider;
  readonly #name: string;
  readonly #version: string | undefined;
  readonly #options: TracerOptions | undefined;
  readonly #tracers = new WeakMap<TracerProvider, Tracer>();

  constructor(provider: ForwardingTracerProvider, name: string, version: string | undefined, options: TracerOptions | undefined) {
    this.#provider = provider;
    this.#name = name;
    this.#version = version;
    this.#options = options;
  }

  #tracer(): Tracer {
    const target = this.#provider.target();
    let tracer = this.#tracers.get(target);
    if (tracer === undefined) this.#tracers.set(target, (tracer = target.getTracer(this.#name, this.#version, this.#options)));
    return tracer;
  }

  startSpan(name: string, options?: SpanOptions, ctx?: Context): Span {
    return this.#tracer().startSpan(name, options, ctx);
  }

  startActiveSpan<F extends (span: Span) => unknown>(...args: [name: string, options: F | SpanOptions, context?: F | Context, fn?: F]): ReturnType<F> {
    const tracer = this.#tracer();
    // The SDK tells its overloads apart by the number of arguments, so they go on as given.
    return Reflect.apply(tracer.startActiveSpan, tracer, args) as ReturnType<F>;
  }
}

// @opentelemetry/api keeps what is registered on globalThis under this key (the same for every
// 1.x copy of the API, which is how copies share registrations: its internal/global-utils). It
// has no getter for the registered context manager or propagator, which a recorder needs to
// leave in place or put back.
const API_KEY = Symbol.for('opentelemetry.js.api.1');

function registered(): { context?: ContextManager; propagation?: TextMapPropagator } {
  return (globalThis as { [API_KEY]?: { context?: ContextManager; propagation?: TextMapPropagator } })[API_KEY] ?? {};
}

/** What a recorder registers globally. */
export interface GlobalRecorder {
  provider: TracerProvider;
  propagator: TextMapPropagator;
  /** An enabled context manager, for when none is registered. */
  contextManager(): ContextManager;
}

/**
 * Makes `recorder` the one recording globally, and returns what undoes it. Spans of every
 * tracer obtained through the global API go to its provider, whenever the tracer was
 * obtained, and its propagator is the global one; the provider and the propagator registered
 * before are set aside, and registered again by the returned function. A context manager
 * registered before stays (any carries the active span across async calls alike); without
 * one, the recorder's is registered until the returned function runs. That function undoes
 * only what is still as the recorder left it.
 */
export function recordGlobally(recorder: GlobalRecorder): () => void {
  const state = globalRecording();
  if (state.current !== undefined) {
    throw new Error(
      'tracebus/testing: recordSpans() is already recording globally: a recorder from an earlier call has not been shut down, and one records globally at a time. Call `await recorder.shutdown()` on that one first (in afterEach, so that a failed test shuts it down too), or pass { global: false } to recorders that run side by side.',
    );
  }
  const { forwarder } = state;

  // The proxy registered now, or the API's own while none is, is what tracers obtained so far
  // point to: it forwards from now on. Registering anew (disable, then register) gives the
  // global a proxy object of its own, so that code keeping a tracer per global provider object
  // (tracebus's MessagingTracer does) looks its tracer up again.
  const displaced = trace.getTracerProvider();
  let previousProvider = registeredDelegate(displaced);
  if (previousProvider === forwarder) previousProvider = undefined;
  if (isProxy(displaced)) displaced.setDelegate(forwarder);
  trace.disable();
  if (!trace.setGlobalTracerProvider(forwarder)) {
    if (isProxy(displaced) && previousProvider !== undefined) displaced.setDelegate(previousProvider);
    throw new Error(
      'tracebus/testing: recordSpans() could not register its tracer provider: @opentelemetry/api refused it, which it does when two of its copies of different versions are loaded. Load one @opentelemetry/api, or pass { global: false } and give tracebus recorder.provider and recorder.propagator.',
    );
  }
  const installedProvider = trace.getTracerProvider();
  state.current = recorder.provider;

  let contextManager: ContextManager | undefined;
  if (registered().context === undefined) {
    contextManager = recorder.contextManager();
    context.setGlobalContextManager(contextManager);
  }
  const previousPropagator = registered().propagation;
  propagation.disable();
  propagation.setGlobalPropagator(recorder.propagator);

  return () => {
    if (state.current === recorder.provider) state.current = undefined;
    if (trace.getTracerProvider() === installedProvider) {
      trace.disable();
      if (previousProvider !== undefined) trace.setGlobalTracerProvider(previousProvider);
    }
    if (contextManager !== undefined) {
      // context.disable() disables the registered manager too: only when that is this one.
      if (registered().context === contextManager) context.disable();
      else contextManager.disable();
    }
    if (registered().propagation === recorder.propagator) {
      propagation.disable();
      if (previousPropagator !== undefined) propagation.setGlobalPropagator(previousPropagator);
    }
  };
}
