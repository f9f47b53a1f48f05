import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { compose } from '../../src/index.ts';
import { MessagingTracer, semconvModeFromEnv, ATTR_LINKS_DROPPED } from '../../src/adapter/index.ts';
import { traceMemoryHandler } from '../../src/memory/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { captureDiagEachTest } from '../support/diag.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TP = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

let recorder: SpanRecorder;
beforeEach(() => {
  recorder = recordSpans();
});
afterEach(async () => {
  await recorder.shutdown();
});
const diagnostics = captureDiagEachTest();

describe('MessagingTracer', () => {
  it('publishes with a PRODUCER span whose context is the one injected, into a copy of the headers', async () => {
    const tracer = new MessagingTracer('kafka');
    const headers = { existing: 'yes' };
    const sent = await tracer.tracePublish({ type: 'send', destination: 'orders' }, headers, undefined, undefined, async (written) => written);
    const [span] = recorder.spans();
    expect(span!.name).toBe('send orders');
    expect(span!.kind).toBe(SpanKind.PRODUCER);
    expect(sent).toEqual({ existing: 'yes', traceparent: `00-${span!.spanContext().traceId}-${span!.spanContext().spanId}-01` });
    expect(headers).toEqual({ existing: 'yes' });
    expect(span!.attributes).toEqual({
      'messaging.system.name': 'kafka',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'send',
      'messaging.destination.name': 'orders',
    });
  });

  it('names each span from its own operation and destination, whatever the span before it was', () => {
    const tracer = new MessagingTracer('kafka');
    const operations = [
      { type: 'send', destination: 'orders' },
      { type: 'send', destination: 'orders' },
      { type: 'send', destination: 'payments' },
      { type: 'process', destination: 'payments' },
      { type: 'process', name: 'poll', destination: 'payments' },
      { type: 'receive' },
      { type: 'send', destination: 'orders' },
    ] as const;
    for (const info of operations) tracer.startSpan(info, SpanKind.INTERNAL, ROOT_CONTEXT).end();
    expect(recorder.spans().map((span) => span.name)).toEqual(['send orders', 'send orders', 'send payments', 'process payments', 'poll payments', 'receive', 'send orders']);
  });

  it('replaces every field the propagator writes: stale baggage does not outlive its context', () => {
    const tracer = new MessagingTracer('kafka');
    const stale = { traceparent: TP, TraceState: 'old=1', Baggage: 'stale=1', 'x-app': 'kept' };
    expect(tracer.inject(ROOT_CONTEXT, stale)).toEqual({ 'x-app': 'kept' });
    const withBaggage = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ fresh: { value: '2' } }));
    expect(tracer.inject(withBaggage, stale)).toEqual({ 'x-app': 'kept', baggage: 'fresh=2' });
    expect(stale).toEqual({ traceparent: TP, TraceState: 'old=1', Baggage: 'stale=1', 'x-app': 'kept' });
    // A propagator passed in decides which fields are its own: here baggage is not.
    const w3cOnly = new MessagingTracer('kafka', { propagator: new W3CTraceContextPropagator() });
    expect(w3cOnly.inject(ROOT_CONTEXT, stale)).toEqual({ Baggage: 'stale=1', 'x-app': 'kept' });
  });

  it('injectSpan writes what inject writes for the span in its parent context, with any propagator, and replaces the same fields', () => {
    const span = trace.wrapSpanContext({ traceId: TRACE_ID, spanId: 'a3ce929d0e0e4736', traceFlags: 1 });
    const parent = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }));
    const stale = { traceparent: TP, Baggage: 'stale=1', 'x-app': 'kept' };
    const expected = { 'x-app': 'kept', traceparent: `00-${TRACE_ID}-a3ce929d0e0e4736-01`, baggage: 'tenant=acme' };
    const tracer = new MessagingTracer('kafka');
    expect(tracer.injectSpan(parent, span, stale, tracer.prepare()!)).toEqual(expected);
    expect(tracer.inject(trace.setSpan(parent, span), stale)).toEqual(expected);
    // A propagator passed in gets the span in a context, as for inject.
    const w3cOnly = new MessagingTracer('kafka', { propagator: new W3CTraceContextPropagator() });
    expect(w3cOnly.injectSpan(parent, span, stale, w3cOnly.prepare()!)).toEqual({ Baggage: 'stale=1', 'x-app': 'kept', traceparent: `00-${TRACE_ID}-a3ce929d0e0e4736-01` });
    // Nothing for a span whose context is invalid; the stale trace headers are still dropped.
    expect(tracer.injectSpan(parent, trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 }), stale, tracer.prepare()!)).toEqual({ 'x-app': 'kept', baggage: 'tenant=acme' });
    expect(stale).toEqual({ traceparent: TP, Baggage: 'stale=1', 'x-app': 'kept' });
  });

  it('beginPublish: the headers carry the span, its context is the span in the parent context, and end ends it once', () => {
    const tracer = new MessagingTracer('rabbitmq');
    const parent = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }));
    const open = tracer.beginPublish({ type: 'send', destination: 'orders' }, { traceparent: TP, 'x-app': 'kept' }, undefined, undefined, parent);
    const { traceId, spanId } = open.span.spanContext();
    expect(open.headers).toEqual({ 'x-app': 'kept', traceparent: `00-${traceId}-${spanId}-01`, baggage: 'tenant=acme' });
    expect(trace.getSpan(open.context)).toBe(open.span);
    expect(propagation.getBaggage(open.context)?.getEntry('tenant')?.value).toBe('acme');
    expect(open.context).toBe(open.context);
    expect(recorder.openSpans().map((span) => span.name)).toEqual(['send orders']);
    open.end(new Error('nack'), true, 'nack');
    open.end(undefined, false);
    const [span] = recorder.spans();
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'nack' });
    expect(span!.attributes['error.type']).toBe('nack');
    expect(recorder.openSpans()).toEqual([]);
  });

  it('ends the span and rethrows the same error when a handler throws synchronously', () => {
    const tracer = new MessagingTracer('kafka');
    const failure = new RangeError('boom');
    expect(() =>
      tracer.traceProcess({ type: 'process', destination: 'q' }, { traceparent: TP }, {}, undefined, undefined, () => {
        throw failure;
      }),
    ).toThrow(failure);
    const [span] = recorder.spans();
    expect(recorder.openSpans()).toEqual([]);
    expect(span!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
    expect(span!.attributes['error.type']).toBe('RangeError');
    expect(span!.parentSpanContext?.traceId).toBe(TRACE_ID);
  });

  it('records a non-Error rejection with error.type _OTHER and rejects with the same value', async () => {
    const tracer = new MessagingTracer('kafka');
    await expect(tracer.traceProcess({ type: 'process', destination: 'q' }, {}, {}, undefined, undefined, () => Promise.reject('plain string'))).rejects.toBe('plain string');
    expect(recorder.spans()[0]!.attributes['error.type']).toBe('_OTHER');
  });

  it('reports a throwing hook to diag and goes on', async () => {
    const tracer = new MessagingTracer('kafka');
    const result = tracer.traceProcess({ type: 'process', destination: 'q' }, {}, {}, undefined, () => {
      throw new Error('bad hook');
    }, () => 'handled');
    expect(result).toBe('handled');
    expect(recorder.spans()).toHaveLength(1);
    expect(diagnostics.logged.filter((line) => line.includes('consumerHook threw'))).toHaveLength(1);
  });

  it('never throws from a propagator that throws, and reports it', () => {
    const broken = { inject: () => { throw new Error('inject'); }, extract: () => { throw new Error('extract'); }, fields: () => [] };
    const tracer = new MessagingTracer('kafka', { propagator: broken });
    expect(tracer.extract({ traceparent: TP })).toBe(ROOT_CONTEXT);
    expect(tracer.inject(ROOT_CONTEXT, { a: '1' })).toEqual({ a: '1' });
    expect(tracer.injectSpan(ROOT_CONTEXT, trace.wrapSpanContext({ traceId: TRACE_ID, spanId: 'a3ce929d0e0e4736', traceFlags: 1 }), { a: '1' }, tracer.prepare()!)).toEqual({ a: '1' });
    expect(diagnostics.logged).toHaveLength(3);
  });

  it('uses a propagator passed in instead of the global one', () => {
    propagation.disable();
    const tracer = new MessagingTracer('kafka', { propagator: new W3CTraceContextPropagator() });
    expect(trace.getSpanContext(tracer.extract({ traceparent: TP }))?.traceId).toBe(TRACE_ID);
  });

  it('emits legacy names, or both, when asked', () => {
    const info = { type: 'process' as const, destination: 't', attributes: { 'kafka.offset': 7, 'messaging.consumer.group.name': 'g' } };
    expect(new MessagingTracer('kafka', { semconv: 'legacy' }).attributes(info)).toEqual({
      'messaging.system': 'kafka',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 't',
      'messaging.kafka.offset': 7,
      'messaging.consumer.group.name': 'g',
    });
    const both = new MessagingTracer('kafka', { semconv: 'both' }).attributes(info);
    expect(both['messaging.system']).toBe('kafka');
    expect(both['messaging.system.name']).toBe('kafka');
    expect(both['kafka.offset']).toBe(7);
    expect(both['messaging.kafka.offset']).toBe(7);
  });

  it('caps links and counts the dropped ones', () => {
    const tracer = new MessagingTracer('kafka', { maxLinks: 2 });
    const contexts = ['1', '2', '3', '4'].map((digit) => ({ traceId: digit.repeat(32), spanId: digit.repeat(16), traceFlags: 1 }));
    const { links, dropped } = tracer.links([...contexts, undefined, { traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 }]);
    expect(links.map((link) => link.context.traceId)).toEqual(['1'.repeat(32), '2'.repeat(32)]);
    expect(dropped).toBe(2);
    expect(ATTR_LINKS_DROPPED).toBe('tracebus.links.dropped_count');
  });

  it('maxLinks 0 holds for the link policy too: a new trace without a link, with the message\'s baggage', () => {
    const headers = { traceparent: TP, baggage: '__proto__=valid%20token,tenant=acme' };
    const seen = new MessagingTracer('kafka', { maxLinks: 0 }).traceProcess({ type: 'process', destination: 'orders' }, headers, undefined, 'link', undefined, (handlerTrace) => handlerTrace);
    const [span] = recorder.spans();
    expect(span!.links).toEqual([]);
    expect(span!.attributes['tracebus.links.dropped_count']).toBe(1);
    expect(span!.spanContext().traceId).not.toBe(TRACE_ID);
    expect(span!.parentSpanContext).toBeUndefined();
    // The baggage arrives whole in the handler's view, __proto__ (a valid key) included.
    expect(Object.entries(seen.baggage)).toEqual([['__proto__', 'valid token'], ['tenant', 'acme']]);
    expect(Object.getPrototypeOf(seen.baggage)).toBe(Object.prototype);
  });

  it('rejects misuse early with a sentence that names the fix', () => {
    expect(() => new MessagingTracer('')).toThrow(/messaging.system name/);
    expect(() => new MessagingTracer('kafka', { semconv: 'new' as never })).toThrow("semconv must be 'current', 'legacy' or 'both'");
    expect(() => traceMemoryHandler({ policy: 'child' as never })).toThrow("policy must be 'parent', 'link', 'root' or a function");
    expect(() => compose(traceMemoryHandler() as never, traceMemoryHandler()({} as never) as never)).toThrow();
    expect(() => compose(undefined as never)).toThrow('compose() argument 0 is undefined, not a function');
  });

  it('falls back to parent when a policy function throws or returns nonsense', () => {
    const tracer = new MessagingTracer('kafka');
    const seen = [() => { throw new Error('x'); }, () => 'sideways'].map((policy) =>
      tracer.traceProcess({ type: 'process', destination: 'q' }, { traceparent: TP }, {}, policy as never, undefined, (traced) => traced.traceId),
    );
    expect(seen).toEqual([TRACE_ID, TRACE_ID]);
    expect(diagnostics.logged).toHaveLength(2);
  });

  it('follows a global provider registered after the tracer was made', async () => {
    const tracer = new MessagingTracer('kafka');
    await recorder.shutdown();
    recorder = recordSpans();
    tracer.traceProcess({ type: 'process', destination: 'late' }, {}, {}, undefined, undefined, () => undefined);
    expect(recorder.spans().map((span) => span.name)).toEqual(['process late']);
  });

  it('runs the handler with the consumer span active', () => {
    const tracer = new MessagingTracer('kafka');
    const active = tracer.traceProcess({ type: 'process', destination: 'q' }, {}, {}, undefined, undefined, (traced) => [trace.getActiveSpan(), traced.span]);
    expect(active[0]).toBe(active[1]);
    expect(trace.getActiveSpan()).toBeUndefined();
    expect(context.active()).toBe(ROOT_CONTEXT);
  });
});

describe('compose', () => {
  it('makes the first argument the outermost wrapper', () => {
    const calls: string[] = [];
    const wrap = (name: string) => (next: (value: string) => string) => (value: string) => {
      calls.push(`${name}>`);
      const result = next(`${value}${name}`);
      calls.push(`<${name}`);
      return result;
    };
    expect(compose(wrap('a'), wrap('b'), wrap('c'))((value: string) => value)('')).toBe('abc');
    expect(calls).toEqual(['a>', 'b>', 'c>', '<c', '<b', '<a']);
  });
});

describe('semconvModeFromEnv', () => {
  it('reads OTEL_SEMCONV_STABILITY_OPT_IN', () => {
    expect(semconvModeFromEnv(undefined)).toBe('current');
    expect(semconvModeFromEnv('')).toBe('current');
    expect(semconvModeFromEnv('http, messaging')).toBe('current');
    expect(semconvModeFromEnv('http,messaging/dup')).toBe('both');
    expect(semconvModeFromEnv(' messaging/legacy ')).toBe('legacy');
    expect(semconvModeFromEnv('Messaging/Legacy,,MESSAGING')).toBe('both');
    // Only whole entries count.
    expect(semconvModeFromEnv('messaging/legacyx,messaging/dupe,http/dup')).toBe('current');
  });

  it('every combination of the messaging entries, in every order and among other entries: the most inclusive wins', () => {
    const permutations = (items: string[]): string[][] => (items.length <= 1 ? [items] : items.flatMap((item, index) => permutations([...items.slice(0, index), ...items.slice(index + 1)]).map((rest) => [item, ...rest])));
    // Each set of entries and the mode it names: the names of every entry, so dup over the
    // others, and the current names (messaging) with the legacy ones (messaging/legacy) are both.
    const expected: Array<[string[], string]> = [
      [[], 'current'],
      [['messaging'], 'current'],
      [['messaging/legacy'], 'legacy'],
      [['messaging/dup'], 'both'],
      [['messaging', 'messaging/legacy'], 'both'],
      [['messaging', 'messaging/dup'], 'both'],
      [['messaging/legacy', 'messaging/dup'], 'both'],
      [['messaging', 'messaging/legacy', 'messaging/dup'], 'both'],
    ];
    const seen: string[] = [];
    for (const [entries, mode] of expected) {
      for (const order of permutations(['http', ...entries, 'database/dup'])) {
        const value = order.join(',');
        expect([value, semconvModeFromEnv(value)]).toEqual([value, mode]);
        seen.push(value);
      }
    }
    // 2 + 6 + 6 + 6 + 24 + 24 + 24 + 120 orders of the entries with the two others among them.
    expect(seen).toHaveLength(212);
  });

  it('is the default of every tracer', () => {
    vi.stubEnv('OTEL_SEMCONV_STABILITY_OPT_IN', 'messaging/dup');
    try {
      expect(new MessagingTracer('kafka').semconv).toBe('both');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
