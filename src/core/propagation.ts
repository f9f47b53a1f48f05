import { diag, propagation, ROOT_CONTEXT, trace, type Context, type Span, type TextMapPropagator } from '@opentelemetry/api';
import { reportProblem } from './warnings.ts';
import { copyWithoutFields, headerGetter, headerSetter, type MessageHeaders, type WritableHeaders } from './headers.ts';
import { conformantView, W3CConformantPropagator } from '../w3c/conformant.ts';

/**
 * The propagator to use for one message, with the header names it writes. One object per
 * distinct configuration: it is built again only when the fields change.
 */
export interface PropagationState {
  readonly propagator: TextMapPropagator;
  /** The header names the propagator writes, lowercase. */
  readonly fields: ReadonlySet<string>;
  /** Whether no header is read or written at all (no propagator registered). */
  readonly nothing: boolean;
}

/**
 * How one adapter writes context into headers and reads it back: the `propagator` option
 * exactly as given, else the global propagator (`propagation`), with the W3C fields it
 * handles taken over by tracebus's conformant propagators unless `conformantW3C` is false.
 *
 * Only the public API is used: the global propagator is reached through `propagation`,
 * which forwards to whatever is registered now, and what it handles is learnt from
 * `propagation.fields()`. The state is rebuilt only when those fields change.
 */
export class MessagePropagation {
  readonly #configured: TextMapPropagator | undefined;
  readonly #conformant: boolean;
  #state: PropagationState | undefined;
  #fields: readonly unknown[] = [];

  constructor(propagator: TextMapPropagator | undefined, conformantW3C: boolean) {
    this.#configured = propagator;
    this.#conformant = conformantW3C;
  }

  /** The propagator and fields for the next message. */
  now(): PropagationState {
    const source = this.#configured ?? propagation;
    let fields: unknown;
    try {
      fields = source.fields();
    } catch (error) {
      reportProblem('TRACEBUS_PROPAGATOR_FAILED', 'tracebus: the propagator threw from fields(); only traceparent and tracestate are replaced on publish', error, 'error');
      fields = [];
    }
    const names = Array.isArray(fields) ? (fields as unknown[]) : [];
    const state = this.#state;
    if (state !== undefined && sameNames(names, this.#fields)) return state;
    return this.#rebuild(source, names);
  }

  #rebuild(source: TextMapPropagator, names: readonly unknown[]): PropagationState {
    const fields = names.filter((name): name is string => typeof name === 'string');
    const lower = new Set(fields.map((name) => name.toLowerCase()));
    // A configured propagator is used as given; the global one gets its W3C fields made conformant.
    const propagator = this.#configured === undefined && this.#conformant ? conformantView(source, lower) : source;
    this.#fields = names.slice();
    return (this.#state = { propagator, fields: lower, nothing: this.#configured === undefined && lower.size === 0 });
  }

  /**
   * A copy of `headers` with the context of `ctx` injected; `headers` is not touched. Every
   * field the propagator writes (and `traceparent`/`tracestate` always) is replaced, never
   * repeated, and not carried over from `headers` when the context has no value for it.
   */
  inject(ctx: Context, headers: MessageHeaders | undefined | null, state: PropagationState = this.now()): WritableHeaders {
    return this.#inject(ctx, undefined, headers, state);
  }

  /**
   * {@link inject} of `trace.setSpan(parent, span)`, for a span whose context would serve
   * nothing else (a batch's `create` spans): the conformant W3C propagators, when they handle
   * every field, write the span's context without that context being made, which would copy
   * the parent's entries once a message.
   */
  injectSpan(parent: Context, span: Span, headers: MessageHeaders | undefined | null, state: PropagationState): WritableHeaders {
    return this.#inject(parent, span, headers, state);
  }

  /** Injects `ctx` or, with `span`, `span` as the span of `ctx`, into a copy of `headers`. */
  #inject(ctx: Context, span: Span | undefined, headers: MessageHeaders | undefined | null, state: PropagationState): WritableHeaders {
    const carrier = copyWithoutFields(headers, state.fields);
    const propagator = state.propagator;
    try {
      if (span === undefined) propagator.inject(ctx, carrier, headerSetter);
      else if (!(propagator instanceof W3CConformantPropagator && propagator.injectSpanContext(ctx, span.spanContext(), carrier, headerSetter))) propagator.inject(trace.setSpan(ctx, span), carrier, headerSetter);
    } catch (error) {
      reportProblem('TRACEBUS_PROPAGATOR_FAILED', 'tracebus: the propagator threw while injecting; the message is sent without trace headers', error, 'error');
    }
    return carrier;
  }

  /** The context carried by `headers`, on top of the empty root context. Never throws. */
  extract(headers: MessageHeaders | undefined | null, state: PropagationState = this.now()): Context {
    try {
      return state.propagator.extract(ROOT_CONTEXT, headers, headerGetter);
    } catch (error) {
      reportProblem('TRACEBUS_PROPAGATOR_FAILED', 'tracebus: the propagator threw while extracting; the message starts a new trace', error);
      return ROOT_CONTEXT;
    }
  }
}

function sameNames(names: readonly unknown[], known: readonly unknown[]): boolean {
  if (names.length !== known.length) return false;
  for (let index = 0; index < names.length; index++) if (names[index] !== known[index]) return false;
  return true;
}
