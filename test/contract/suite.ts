import { context, propagation, SpanKind, SpanStatusCode, trace, ROOT_CONTEXT } from '@opentelemetry/api';
import { ParentBasedSampler, AlwaysOnSampler, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { headerGetter } from '../../src/adapter/index.ts';
import { type MessageTrace } from '../../src/index.ts';
import { assertChildOf, assertLinkedTo, findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { waitFor } from '../support/wait.ts';
import type { ContractFeatures, ContractMessage, ContractSubscription, ContractTransport } from './transport.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const SAMPLED = `00-${TRACE_ID}-${PARENT_ID}-01`;
const UNSAMPLED = `00-${TRACE_ID}-${PARENT_ID}-00`;
const INVALID_TRACE_ID = '00000000000000000000000000000000';

interface Received {
  message: ContractMessage;
  trace: MessageTrace;
}

/** The header as a string, however the transport delivered it. */
function header(message: ContractMessage, name: string): string | string[] | undefined {
  return headerGetter.get(message.headers, name);
}

/**
 * The transport-agnostic contract every adapter passes. `connect` is called once; the
 * suite registers its own span recorder (global provider, context manager, W3C
 * propagators) around each test.
 */
export function contractSuite(options: { name: string; features: ContractFeatures; connect: () => Promise<ContractTransport>; timeoutMs?: number }): void {
  const { name, features, connect, timeoutMs = 20_000 } = options;
  describe(`contract: ${name}`, () => {
    let transport: ContractTransport;
    let recorder: SpanRecorder;
    const subscriptions: ContractSubscription[] = [];

    beforeAll(async () => {
      transport = await connect();
    }, 120_000);
    afterAll(async () => {
      await transport?.close();
    });
    beforeEach(() => {
      recorder = recordSpans();
    });
    afterEach(async () => {
      await Promise.all(subscriptions.splice(0).map((subscription) => subscription.close()));
      await recorder.shutdown();
    });

    async function collect(destination: string, options?: Parameters<ContractTransport['subscribe']>[2], onMessage?: (received: Received) => Promise<void> | void) {
      const received: Received[] = [];
      subscriptions.push(
        await transport.subscribe(
          destination,
          async (message, trace) => {
            received.push({ message, trace });
            await onMessage?.({ message, trace });
          },
          options,
        ),
      );
      return received;
    }

    const spansNamed = (spanName: string) => recorder.spans().filter((span) => span.name === spanName);

    it('keeps one trace across publish → consume → publish → consume', async () => {
      const first = await transport.destination('hop1');
      const second = await transport.destination('hop2');
      await collect(first, undefined, async ({ message }) => {
        await transport.publish(second, `forwarded ${message.payload}`);
      });
      const finalHop = await collect(second);
      await transport.publish(first, 'order-1');
      // The first hop's span ends when its handler's send resolves, which may be after the
      // second hop has already consumed the message.
      await waitFor(() => finalHop.length === 1 && spansNamed(`process ${second}`).length === 1 && spansNamed(`process ${first}`).length === 1, 'both hops');

      const spans = recorder.spans();
      const send1 = findSpan(spans, `send ${first}`);
      const process1 = findSpan(spans, `process ${first}`);
      const send2 = findSpan(spans, `send ${second}`);
      const process2 = findSpan(spans, `process ${second}`);
      expect(send1.kind).toBe(SpanKind.PRODUCER);
      expect(process1.kind).toBe(SpanKind.CONSUMER);
      expect(send1.parentSpanContext).toBeUndefined();
      assertChildOf(process1, send1, spans);
      assertChildOf(send2, process1, spans);
      assertChildOf(process2, send2, spans);
      const traceId = send1.spanContext().traceId;
      expect(new Set([send1, process1, send2, process2].map((span) => span.spanContext().traceId))).toEqual(new Set([traceId]));
      // The wire carries exactly the producer span's context.
      expect(header(finalHop[0]!.message, 'traceparent')).toBe(`00-${traceId}-${send2.spanContext().spanId}-01`);
      expect(finalHop[0]!.message.payload).toBe('forwarded order-1');
      expect(finalHop[0]!.trace.traceId).toBe(traceId);
      expect(finalHop[0]!.trace.spanId).toBe(process2.spanContext().spanId);
      expect(send1.attributes['messaging.operation.type']).toBe('send');
      expect(process1.attributes['messaging.operation.type']).toBe('process');
      expect(process1.attributes['messaging.operation.name']).toBe('process');
    }, timeoutMs);

    it("policy 'link' starts a new trace linked to the producer and keeps baggage", async () => {
      const destination = await transport.destination('link');
      const received = await collect(destination, { policy: 'link' });
      const withBaggage = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ tenant: { value: 'acme' } }));
      await context.with(withBaggage, () => transport.publish(destination, 'linked'));
      await waitFor(() => spansNamed(`process ${destination}`).length === 1 && spansNamed(`send ${destination}`).length === 1, 'the linked message');

      const spans = recorder.spans();
      const send = findSpan(spans, `send ${destination}`);
      const processed = findSpan(spans, `process ${destination}`);
      expect(processed.parentSpanContext).toBeUndefined();
      expect(processed.spanContext().traceId).not.toBe(send.spanContext().traceId);
      assertLinkedTo(processed, send, spans);
      expect(received[0]!.trace.baggage).toEqual({ tenant: 'acme' });
      expect(header(received[0]!.message, 'baggage')).toBe('tenant=acme');
    }, timeoutMs);

    it("policy 'root' ignores the incoming trace and its baggage", async () => {
      const destination = await transport.destination('root');
      const received = await collect(destination, { policy: 'root' });
      await transport.publishRaw(destination, 'untrusted', { traceparent: SAMPLED, tracestate: 'vendor=1', baggage: 'role=admin' });
      await waitFor(() => received.length === 1 && spansNamed(`process ${destination}`).length === 1, 'the untrusted message');

      const processed = findSpan(recorder.spans(), `process ${destination}`);
      expect(processed.parentSpanContext).toBeUndefined();
      expect(processed.links).toEqual([]);
      expect(processed.spanContext().traceId).not.toBe(TRACE_ID);
      expect(received[0]!.trace.baggage).toEqual({});
    }, timeoutMs);

    it('a policy function chooses per message', async () => {
      const destination = await transport.destination('policyfn');
      const received = await collect(destination, {
        policy: (message) => (JSON.stringify(message).includes('trusted') && !JSON.stringify(message).includes('untrusted') ? 'parent' : 'root'),
      });
      await transport.publishRaw(destination, 'trusted', { traceparent: SAMPLED });
      await transport.publishRaw(destination, 'untrusted', { traceparent: SAMPLED });
      await waitFor(() => received.length === 2 && spansNamed(`process ${destination}`).length === 2, 'both messages');
      const byPayload = Object.fromEntries(received.map((entry) => [entry.message.payload, entry.trace.traceId]));
      expect(byPayload.trusted).toBe(TRACE_ID);
      expect(byPayload.untrusted).not.toBe(TRACE_ID);
    }, timeoutMs);

    it('baggage arrives in the handler and travels on', async () => {
      const first = await transport.destination('bag1');
      const second = await transport.destination('bag2');
      await collect(first, undefined, async () => transport.publish(second, 'next'));
      const received = await collect(second);
      const withBaggage = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage({ 'user.id': { value: 'alice' }, note: { value: 'a b,c' } }));
      await context.with(withBaggage, () => transport.publish(first, 'bag'));
      await waitFor(() => received.length === 1, 'the second hop');
      expect(received[0]!.trace.baggage).toEqual({ 'user.id': 'alice', note: 'a b,c' });
      expect(header(received[0]!.message, 'baggage')).toBe('user.id=alice,note=a%20b%2Cc');
    }, timeoutMs);

    describe('sampling carries over under a parent-based sampler', () => {
      beforeEach(async () => {
        await recorder.shutdown();
        recorder = recordSpans({ sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }) });
      });

      for (const [label, incoming, flags] of [
        ['unsampled', UNSAMPLED, '00'],
        ['sampled', SAMPLED, '01'],
      ] as const) {
        it(`an ${label} incoming trace stays ${label} downstream`, async () => {
          const first = await transport.destination(`${label}1`);
          const second = await transport.destination(`${label}2`);
          await collect(first, undefined, async () => transport.publish(second, 'onward'));
          const received = await collect(second);
          await transport.publishRaw(first, label, { traceparent: incoming });
          await waitFor(() => received.length === 1, 'the second hop');
          const traceparent = header(received[0]!.message, 'traceparent');
          expect(traceparent).toMatch(new RegExp(`^00-${TRACE_ID}-[0-9a-f]{16}-${flags}$`));
          expect(traceparent).not.toBe(incoming);
          expect(received[0]!.trace.sampled).toBe(flags === '01');
          if (flags === '00') {
            expect(recorder.spans()).toEqual([]);
          } else {
            await waitFor(() => spansNamed(`process ${second}`).length === 1 && spansNamed(`process ${first}`).length === 1, 'the sampled spans');
            const processFirst = findSpan(recorder.spans(), `process ${first}`);
            expect(processFirst.parentSpanContext?.spanId).toBe(PARENT_ID);
          }
        }, timeoutMs);
      }
    });

    describe('bad or unusual trace headers never stop a message', () => {
      const cases: Array<[string, Record<string, unknown>, 'continue' | 'restart', keyof ContractFeatures | undefined]> = [
        ['no headers at all', {}, 'restart', undefined],
        ['a malformed traceparent', { traceparent: 'not-a-traceparent' }, 'restart', undefined],
        ['an uppercase traceparent', { traceparent: SAMPLED.toUpperCase() }, 'restart', undefined],
        ['an all-zero trace id', { traceparent: `00-${INVALID_TRACE_ID}-${PARENT_ID}-01` }, 'restart', undefined],
        ['an empty traceparent', { traceparent: '' }, 'restart', undefined],
        ['a traceparent with a mixed-case header name', { TraceParent: SAMPLED }, 'continue', undefined],
        ['a traceparent surrounded by tabs and spaces', { traceparent: `\t ${SAMPLED} \t` }, 'continue', undefined],
        ['a Buffer traceparent', { traceparent: Buffer.from(SAMPLED) }, 'continue', 'bufferHeaders'],
        ['a repeated traceparent', { traceparent: [SAMPLED, `00-${'1'.repeat(32)}-${PARENT_ID}-01`] }, 'restart', 'repeatedHeaders'],
        ['a tracestate without traceparent', { tracestate: 'vendor=value' }, 'restart', undefined],
      ];
      for (const [label, headers, outcome, feature] of cases) {
        it.runIf(feature === undefined || features[feature])(`${label}: processed, trace ${outcome === 'continue' ? 'continued' : 'restarted'}`, async () => {
          const destination = await transport.destination('bad');
          const received = await collect(destination);
          await transport.publishRaw(destination, label, headers);
          await waitFor(() => received.length === 1 && spansNamed(`process ${destination}`).length === 1, label);
          const processed = findSpan(recorder.spans(), `process ${destination}`);
          expect(received[0]!.message.payload).toBe(label);
          if (outcome === 'continue') {
            expect(processed.spanContext().traceId).toBe(TRACE_ID);
            expect(processed.parentSpanContext?.spanId).toBe(PARENT_ID);
          } else {
            expect(processed.parentSpanContext).toBeUndefined();
            expect(processed.spanContext().traceId).not.toBe(TRACE_ID);
            expect(processed.spanContext().traceId).not.toBe(INVALID_TRACE_ID);
          }
        }, timeoutMs);
      }
    });

    it('a handler error is recorded on its span and the transport delivers the message again', async () => {
      const destination = await transport.destination('fail');
      class PaymentDeclined extends Error {}
      let calls = 0;
      const received = await collect(destination, undefined, () => {
        calls++;
        if (calls === 1) throw new PaymentDeclined('card declined');
      });
      await transport.publish(destination, 'pay');
      // The transport redelivers only because the failure reached it: the error itself on Kafka
      // and the bus, the nack tracebus settles it with on RabbitMQ (`onError`'s default).
      await waitFor(() => received.length === 2 && spansNamed(`process ${destination}`).length === 2 && spansNamed(`send ${destination}`).length === 1, 'the redelivery');

      const spans = recorder.spans();
      const send = findSpan(spans, `send ${destination}`);
      const [failed, retried] = spansNamed(`process ${destination}`) as [ReadableSpan, ReadableSpan];
      expect(failed.status).toEqual({ code: SpanStatusCode.ERROR, message: 'card declined' });
      expect(failed.attributes['error.type']).toBe('PaymentDeclined');
      expect(failed.events.map((event) => [event.name, event.attributes?.['exception.message']])).toEqual([['exception', 'card declined']]);
      expect(retried.status.code).not.toBe(SpanStatusCode.ERROR);
      assertChildOf(failed, send, spans);
      assertChildOf(retried, send, spans);
      expect(retried.spanContext().spanId).not.toBe(failed.spanContext().spanId);
    }, timeoutMs);

    it("leaves the caller's headers untouched and replaces stale trace headers", async () => {
      const destination = await transport.destination('headers');
      const received = await collect(destination);
      const stale = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
      const headers = Object.freeze({ 'x-app': 'kept', TraceParent: stale, tracestate: 'old=1' });
      const snapshot = JSON.stringify(headers);
      await transport.publish(destination, 'copy', headers);
      await waitFor(() => received.length === 1 && spansNamed(`send ${destination}`).length === 1, 'the message and its send span');
      expect(JSON.stringify(headers)).toBe(snapshot);
      const wire = received[0]!.message.headers;
      const traceHeaderNames = Object.keys(wire).filter((name) => ['traceparent', 'tracestate'].includes(name.toLowerCase()));
      expect(traceHeaderNames).toEqual(['traceparent']);
      const send = findSpan(recorder.spans(), `send ${destination}`);
      expect(header(received[0]!.message, 'traceparent')).toBe(`00-${send.spanContext().traceId}-${send.spanContext().spanId}-01`);
      expect(header(received[0]!.message, 'x-app')).toBe('kept');
    }, timeoutMs);

    it('with no SDK registered, the incoming context still travels on and nothing throws', async () => {
      await recorder.shutdown();
      const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
      const { CompositePropagator, W3CTraceContextPropagator, W3CBaggagePropagator } = await import('@opentelemetry/core');
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
      try {
        const first = await transport.destination('nosdk1');
        const second = await transport.destination('nosdk2');
        const seen: string[] = [];
        await collect(first, undefined, async ({ trace: traced }) => {
          seen.push(traced.traceId);
          await transport.publish(second, 'onward');
        });
        const received = await collect(second);
        await transport.publishRaw(first, 'no sdk', { traceparent: SAMPLED, baggage: 'k=v' });
        await waitFor(() => received.length === 1, 'the second hop');
        expect(seen).toEqual([TRACE_ID]);
        expect(header(received[0]!.message, 'traceparent')).toBe(SAMPLED);
        expect(header(received[0]!.message, 'baggage')).toBe('k=v');
        expect(trace.getActiveSpan()).toBeUndefined();
      } finally {
        recorder = recordSpans();
      }
    }, timeoutMs);

    it('a handler that fails on a share of deliveries: every message is processed, every failure is on a span, no span stays open', async () => {
      const destination = await transport.destination('share');
      const count = 30;
      // Not a RangeError or TypeError: kafkajs treats those as bugs and crashes the consumer
      // instead of retrying.
      class Declined extends Error {}
      const failedOnce = new Set<string>();
      const succeeded = new Set<string>();
      await collect(destination, undefined, ({ message }) => {
        const index = Number(message.payload.slice(1));
        // Every third message fails on its first delivery; the transport must deliver it again.
        if (index % 3 === 0 && !failedOnce.has(message.payload)) {
          failedOnce.add(message.payload);
          throw new Declined(`declined ${message.payload}`);
        }
        succeeded.add(message.payload);
      });
      for (let index = 0; index < count; index++) await transport.publish(destination, `s${index}`);
      await waitFor(() => succeeded.size === count && spansNamed(`process ${destination}`).length >= count + count / 3, `${count} messages processed`, timeoutMs).catch((error: Error) => {
        throw new Error(`${error.message}: ${succeeded.size} succeeded, ${failedOnce.size} failed once, ${spansNamed(`process ${destination}`).length} process spans`);
      });
      expect([...succeeded].sort()).toEqual(Array.from({ length: count }, (_, index) => `s${index}`).sort());
      const failures = spansNamed(`process ${destination}`).filter((span) => span.status.code === SpanStatusCode.ERROR);
      expect(failures).toHaveLength(count / 3);
      for (const span of failures) {
        expect(span.attributes['error.type']).toBe('Declined');
        expect(span.events.map((event) => event.name)).toEqual(['exception']);
      }
      const sends = new Map(spansNamed(`send ${destination}`).map((span) => [span.spanContext().spanId, span]));
      for (const processed of spansNamed(`process ${destination}`)) expect(sends.has(processed.parentSpanContext!.spanId)).toBe(true);
      await waitFor(() => recorder.openSpans().length === 0, 'every span to end');
    }, timeoutMs * 2);

    it('leaves no span open after many messages', async () => {
      const destination = await transport.destination('many');
      const count = 200;
      const received = await collect(destination);
      await Promise.all(Array.from({ length: count }, (_, index) => transport.publish(destination, `m${index}`)));
      await waitFor(() => received.length === count && spansNamed(`process ${destination}`).length === count, `${count} messages`, timeoutMs);
      expect(spansNamed(`send ${destination}`)).toHaveLength(count);
      expect(recorder.openSpans()).toEqual([]);
      const sends = new Map(spansNamed(`send ${destination}`).map((span) => [span.spanContext().spanId, span]));
      for (const processed of spansNamed(`process ${destination}`)) {
        expect(sends.has(processed.parentSpanContext!.spanId)).toBe(true);
      }
    }, timeoutMs * 2);
  });
}

