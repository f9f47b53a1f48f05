import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { headerGetter } from '../../src/adapter/index.ts';
import { type MessageTrace } from '../../src/index.ts';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher, type MemoryMessage } from '../../src/memory/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const INCOMING = { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: 'evil=1,other=2', baggage: 'role=admin,tenant=victim' };

let recorder: SpanRecorder;
beforeEach(() => {
  recorder = recordSpans();
});
afterEach(async () => {
  await recorder.shutdown();
});

/** Runs one untrusted message through a handler that publishes onward; returns what went on. */
async function relay(policy: 'root' | 'link' | 'parent', headers: Record<string, unknown>) {
  const bus = new MemoryBus();
  const publisher = traceMemoryPublisher()(bus);
  const seen: Array<{ trace: MessageTrace; active: string | undefined }> = [];
  const onward: MemoryMessage[] = [];
  bus.subscribe('in', traceMemoryHandler({ policy })(async (message, traced) => {
    seen.push({ trace: traced, active: trace.getActiveSpan()?.spanContext().traceId });
    await trace.getTracer('app').startActiveSpan('work', async (span) => {
      await publisher.publish('out', { payload: message.payload, headers: message.headers });
      span.end();
    });
  }));
  bus.subscribe('out', (message) => void onward.push(message));
  await bus.publish('in', { payload: 'x', headers });
  await bus.close();
  return { seen, onward };
}

describe('untrusted producers', () => {
  it("policy 'root': nothing from the incoming trace is used — no parent, no link, no tracestate, no baggage, even when its headers are sent on", async () => {
    const { seen, onward } = await relay('root', INCOMING);
    const spans = recorder.spans();
    expect(spans.every((span) => span.spanContext().traceId !== TRACE_ID)).toBe(true);
    expect(spans.every((span) => span.links.length === 0)).toBe(true);
    expect(spans.every((span) => span.parentSpanContext?.spanId !== PARENT_ID)).toBe(true);
    expect(seen[0]!.trace.baggage).toEqual({});
    const headers = onward[0]!.headers;
    expect(headerGetter.get(headers, 'traceparent')).toBe(`00-${seen[0]!.trace.traceId}-${spans.find((span) => span.name === 'send out')!.spanContext().spanId}-01`);
    expect(headerGetter.get(headers, 'tracestate')).toBeUndefined();
    expect(headerGetter.get(headers, 'baggage')).toBeUndefined();
  });

  it("policy 'link': nothing is parented to the incoming span; it is only linked", async () => {
    await relay('link', INCOMING);
    const spans = recorder.spans();
    expect(spans.filter((span) => span.parentSpanContext?.traceId === TRACE_ID)).toEqual([]);
    const processed = spans.find((span) => span.name === 'process in')!;
    expect(processed.parentSpanContext).toBeUndefined();
    expect(processed.links.map((link) => [link.context.traceId, link.context.spanId])).toEqual([[TRACE_ID, PARENT_ID]]);
  });

  it('a hostile tracestate (1 MiB) and baggage (100,000 members) are processed, and what travels on is bounded', async () => {
    const tracestate = Array.from({ length: 40_000 }, (_, index) => `k${index}=${'v'.repeat(20)}`).join(',').padEnd(1 << 20, 'x');
    const baggage = Array.from({ length: 100_000 }, (_, index) => `m${index}=${index}`).join(',');
    const { seen, onward } = await relay('link', { traceparent: INCOMING.traceparent, tracestate, baggage });
    expect(seen).toHaveLength(1);
    // W3C Baggage: what every platform must carry (64 members, 8192 bytes), whole members,
    // in order; these 64 fit in 8192 bytes, so exactly the first 64 are kept and sent on.
    const first64 = Object.fromEntries(Array.from({ length: 64 }, (_, index) => [`m${index}`, String(index)]));
    expect(seen[0]!.trace.baggage).toEqual(first64);
    const travelled = onward[0]!.headers;
    expect(headerGetter.get(travelled, 'baggage')).toBe(Object.entries(first64).map(([key, value]) => `${key}=${value}`).join(','));
    // The link policy starts a new trace: the hostile tracestate belonged to the old one.
    expect(headerGetter.get(travelled, 'tracestate')).toBeUndefined();
  });

  it('with the parent policy, a hostile tracestate is discarded whole and a valid one kept, while the trace goes on', async () => {
    const hostile = Array.from({ length: 40_000 }, (_, index) => `k${index}=v`).join(',');
    const { seen, onward: relayed } = await relay('parent', { traceparent: INCOMING.traceparent, tracestate: hostile });
    expect(seen[0]!.trace.traceId).toBe(TRACE_ID);
    expect(headerGetter.get(relayed[0]!.headers, 'traceparent')).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-01$`));
    expect(headerGetter.get(relayed[0]!.headers, 'tracestate')).toBeUndefined();
    const bus = new MemoryBus();
    const publisher = traceMemoryPublisher()(bus);
    const onward: MemoryMessage[] = [];
    bus.subscribe('in', traceMemoryHandler()(async () => publisher.publish('out', { payload: 1 })));
    bus.subscribe('out', (message) => void onward.push(message));
    await bus.publish('in', { payload: 1, headers: { traceparent: INCOMING.traceparent, tracestate: hostile } });
    await bus.publish('in', { payload: 2, headers: { traceparent: INCOMING.traceparent, tracestate: 'a=1,b=2' } });
    await bus.close();
    expect(onward.map((message) => headerGetter.get(message.headers, 'tracestate'))).toEqual([undefined, 'a=1,b=2']);
    expect(context.active()).toBe(ROOT_CONTEXT);
    expect(propagation.getBaggage(context.active())).toBeUndefined();
  });
});
