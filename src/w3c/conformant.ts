import { diag, type Context, type SpanContext, type TextMapGetter, type TextMapPropagator, type TextMapSetter } from '@opentelemetry/api';
import { reportProblem } from '../core/warnings.ts';
import { ConformantBaggagePropagator } from './baggage.ts';
import { ConformantTraceContextPropagator, injectSpanContext } from './trace-context.ts';

const TRACE_CONTEXT = new ConformantTraceContextPropagator();
const BAGGAGE = new ConformantBaggagePropagator();

/** Which W3C fields a wrapper takes over from the propagator it wraps. */
const TAKES_TRACE_CONTEXT = 1;
const TAKES_BAGGAGE = 2;

function takenOver(key: string, taken: number): boolean {
  // Only compare when the length can match: getters and setters call this for every field.
  const length = key.length;
  if (length === 11 || length === 10) {
    if (!(taken & TAKES_TRACE_CONTEXT)) return false;
    const lower = key.toLowerCase();
    return lower === 'traceparent' || lower === 'tracestate';
  }
  return length === 7 && (taken & TAKES_BAGGAGE) !== 0 && key.toLowerCase() === 'baggage';
}

/**
 * Wraps a propagator so that the W3C fields it handles are handled by tracebus's
 * conformant propagators instead, and everything else (B3, Jaeger, custom fields) by it.
 * The wrapped propagator does not see the fields taken over: its getter reads them as
 * absent and its setter drops them, so it cannot leave a half-valid context or header.
 * When it has no other fields (the usual W3C trace context + baggage composite) it is
 * not called at all: a propagator reads and writes only its `fields()`.
 */
export class W3CConformantPropagator implements TextMapPropagator {
  readonly #inner: TextMapPropagator | undefined;
  readonly #fields: TextMapPropagator;
  readonly #taken: number;
  #getterFor: TextMapGetter | undefined;
  #getter: TextMapGetter | undefined;
  #setterFor: TextMapSetter | undefined;
  #setter: TextMapSetter | undefined;

  constructor(inner: TextMapPropagator, taken: number, onlyTaken: boolean) {
    this.#inner = onlyTaken ? undefined : inner;
    this.#fields = inner;
    this.#taken = taken;
  }

  inject(context: Context, carrier: unknown, setter: TextMapSetter): void {
    if (this.#inner !== undefined) {
      try {
        this.#inner.inject(context, carrier, this.#hidingSetter(setter));
      } catch (error) {
        reportProblem('TRACEBUS_PROPAGATOR_FAILED', 'tracebus: the global propagator threw while injecting; only the W3C headers are sent', error, 'error');
      }
    }
    if (this.#taken & TAKES_TRACE_CONTEXT) TRACE_CONTEXT.inject(context, carrier, setter);
    if (this.#taken & TAKES_BAGGAGE) BAGGAGE.inject(context, carrier, setter);
  }

  /**
   * What {@link inject} writes for `trace.setSpanContext(context, spanContext)`, without that
   * context, where only the W3C fields are handled (no other propagator to hand a context to);
   * `false`, having written nothing, where another is.
   */
  injectSpanContext(context: Context, spanContext: SpanContext, carrier: unknown, setter: TextMapSetter): boolean {
    if (this.#inner !== undefined) return false;
    if (this.#taken & TAKES_TRACE_CONTEXT) injectSpanContext(context, spanContext, carrier, setter);
    if (this.#taken & TAKES_BAGGAGE) BAGGAGE.inject(context, carrier, setter);
    return true;
  }

  extract(context: Context, carrier: unknown, getter: TextMapGetter): Context {
    let extracted = context;
    if (this.#inner !== undefined) {
      try {
        extracted = this.#inner.extract(context, carrier, this.#hidingGetter(getter));
      } catch (error) {
        reportProblem('TRACEBUS_PROPAGATOR_FAILED', 'tracebus: the global propagator threw while extracting; only the W3C headers are read', error);
      }
    }
    // Run last, so a valid `traceparent` wins over other formats, as it would at the end
    // of a CompositePropagator.
    if (this.#taken & TAKES_TRACE_CONTEXT) extracted = TRACE_CONTEXT.extract(extracted, carrier, getter);
    if (this.#taken & TAKES_BAGGAGE) extracted = BAGGAGE.extract(extracted, carrier, getter);
    return extracted;
  }

  fields(): string[] {
    return this.#fields.fields();
  }

  // Getters and setters are wrapped once per object, not per message (tracebus always
  // passes the same pair).
  #hidingGetter(getter: TextMapGetter): TextMapGetter {
    if (getter !== this.#getterFor || this.#getter === undefined) {
      const taken = this.#taken;
      this.#getter = {
        get: (carrier, key) => (takenOver(key, taken) ? undefined : getter.get(carrier, key)),
        keys: (carrier) => getter.keys(carrier).filter((key) => !takenOver(key, taken)),
      };
      this.#getterFor = getter;
    }
    return this.#getter;
  }

  #hidingSetter(setter: TextMapSetter): TextMapSetter {
    if (setter !== this.#setterFor || this.#setter === undefined) {
      const taken = this.#taken;
      this.#setter = {
        set: (carrier, key, value) => {
          if (!takenOver(key, taken)) setter.set(carrier, key, value);
        },
      };
      this.#setterFor = setter;
    }
    return this.#setter;
  }
}

const wrapped = new WeakMap<TextMapPropagator, TextMapPropagator>();

/**
 * `propagator`, with its W3C Trace Context part (if its `fields()` include `traceparent`)
 * and its W3C Baggage part (if they include `baggage`) handled by
 * {@link ConformantTraceContextPropagator} and {@link ConformantBaggagePropagator}. Other fields stay with
 * `propagator`. A propagator with neither field (say B3 alone, or the no-op one when
 * propagation is disabled) is returned as it is.
 *
 * The result is cached per propagator object, so calling this for every message is cheap.
 * tracebus does the same with the global propagator by default; call this yourself to make
 * the rest of the application (HTTP, say) conformant too.
 *
 * @example
 * propagation.setGlobalPropagator(w3cConformant(new CompositePropagator({
 *   propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator(), new B3Propagator()],
 * })));
 */
export function w3cConformant(propagator: TextMapPropagator): TextMapPropagator {
  if (propagator instanceof W3CConformantPropagator) return propagator;
  const cached = wrapped.get(propagator);
  if (cached !== undefined) return cached;
  let fields: unknown;
  try {
    fields = propagator.fields();
  } catch {
    fields = [];
  }
  const names = Array.isArray(fields) ? fields.filter((field): field is string => typeof field === 'string').map((field) => field.toLowerCase()) : [];
  const result = conformantView(propagator, new Set(names));
  wrapped.set(propagator, result);
  return result;
}

/**
 * `propagator` seen through the conformant W3C propagators, given the lowercase header
 * names it writes. `propagator` may be the API's `propagation` object itself, which
 * forwards to whatever propagator is registered: the view then follows registrations, and
 * the caller builds a new view when `propagation.fields()` changes.
 */
export function conformantView(propagator: TextMapPropagator, fields: ReadonlySet<string>): TextMapPropagator {
  let taken = 0;
  if (fields.has('traceparent')) taken |= TAKES_TRACE_CONTEXT;
  if (fields.has('baggage')) taken |= TAKES_BAGGAGE;
  if (taken === 0) return propagator;
  let onlyTaken = true;
  for (const name of fields) if (!takenOver(name, taken)) onlyTaken = false;
  return new W3CConformantPropagator(propagator, taken, onlyTaken);
}
