/**
 * When a span ends relative to the work it covers (src/core/lifecycle.ts): a span that
 * records waits for the work's promise; one that records nothing (an unsampled trace) ends at
 * once and hands the caller the work's own promise, unless metrics wait for the settle.
 */
import { context, ROOT_CONTEXT, trace, TraceFlags, type Span } from '@opentelemetry/api';
import { runInNewContext } from 'node:vm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MessagingTracer, runInSpan } from '../../src/adapter/index.ts';
import type { MessageTrace } from '../../src/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const UNSAMPLED = trace.setSpanContext(ROOT_CONTEXT, { traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: TraceFlags.NONE, isRemote: true });

/** A promise and the functions that settle it. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

let recorder: SpanRecorder | undefined;
afterEach(async () => {
  await recorder?.shutdown();
  recorder = undefined;
});

describe('a span that records nothing', () => {
  it('publishing in an unsampled trace injects its context and returns the send’s own promise', async () => {
    recorder = recordSpans();
    const tracer = new MessagingTracer('kafka');
    const sending = Promise.resolve('sent');
    let written: Record<string, unknown> = {};
    let producer: Span | undefined;
    const result = context.with(UNSAMPLED, () =>
      tracer.tracePublish({ type: 'send', destination: 'orders' }, { existing: 'yes' }, undefined, undefined, (headers, span) => {
        written = headers;
        producer = span;
        return sending;
      }),
    );
    expect(result).toBe(sending);
    expect(producer!.isRecording()).toBe(false);
    expect(written).toEqual({ existing: 'yes', traceparent: `00-${TRACE_ID}-${producer!.spanContext().spanId}-00` });
    expect(producer!.spanContext().spanId).not.toBe(PARENT_ID);
    await expect(result).resolves.toBe('sent');
    expect(recorder.spans()).toEqual([]);
  });

  it('a handler of an unsampled message runs in its context, and its promise comes back as it was, rejection included', async () => {
    recorder = recordSpans();
    const tracer = new MessagingTracer('kafka');
    const failure = new RangeError('handler failed');
    const handling = Promise.reject(failure);
    let seen: MessageTrace | undefined;
    let active: string | undefined;
    const result = tracer.traceProcess({ type: 'process', destination: 'orders' }, { traceparent: `00-${TRACE_ID}-${PARENT_ID}-00` }, {}, undefined, undefined, (messageTrace) => {
      seen = messageTrace;
      active = trace.getSpanContext(context.active())?.spanId;
      return handling;
    });
    expect(result).toBe(handling);
    await expect(result).rejects.toBe(failure);
    expect(seen!.traceId).toBe(TRACE_ID);
    expect(seen!.sampled).toBe(false);
    expect(active).toBe(seen!.spanId);
    expect(recorder.spans()).toEqual([]);
  });

  it('still waits for the settle when metrics are taken', async () => {
    const span = trace.wrapSpanContext({ traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: TraceFlags.NONE });
    const onEnd = vi.fn();
    const work = deferred<string>();
    const result = runInSpan(span, undefined, () => work.promise, undefined, undefined, undefined, onEnd);
    expect(result).not.toBe(work.promise);
    await Promise.resolve();
    expect(onEnd).not.toHaveBeenCalled();
    const failure = new TypeError('nack');
    work.reject(failure);
    await expect(result).rejects.toBe(failure);
    expect(onEnd).toHaveBeenCalledExactlyOnceWith(failure, true, undefined);
  });
});

describe('a span that records', () => {
  it('ends when the work’s promise settles, not before', async () => {
    recorder = recordSpans();
    const tracer = new MessagingTracer('kafka');
    const work = deferred<string>();
    const result = tracer.tracePublish({ type: 'send', destination: 'orders' }, {}, undefined, undefined, () => work.promise);
    expect(result).not.toBe(work.promise);
    await Promise.resolve();
    expect(recorder.spans()).toEqual([]);
    expect(recorder.openSpans().map((span) => span.name)).toEqual(['send orders']);
    work.resolve('sent');
    await expect(result).resolves.toBe('sent');
    expect(recorder.openSpans()).toEqual([]);
    expect(recorder.spans().map((span) => span.name)).toEqual(['send orders']);
  });
});

describe('a failure recorded whatever was thrown', () => {
  const failWith = (thrown: unknown) => {
    recorder ??= recordSpans();
    const tracer = new MessagingTracer('kafka');
    let caught: unknown;
    try {
      tracer.traceProcess({ type: 'process', destination: 'orders' }, {}, undefined, undefined, undefined, () => {
        throw thrown;
      });
    } catch (error) {
      caught = error;
    }
    // Rethrown unchanged, whatever it is.
    expect(caught).toBe(thrown);
    const [span] = recorder.spans();
    recorder.reset();
    return { status: span!.status, type: span!.attributes['error.type'], events: span!.events.map((event) => [event.name, event.attributes?.['exception.type'], event.attributes?.['exception.message']]) };
  };

  it('an object without a prototype, an Error of another realm and a plain object with a message', () => {
    expect(failWith(Object.create(null))).toEqual({ status: { code: 2, message: '(a thrown value that cannot be read)' }, type: '_OTHER', events: [['exception', undefined, '(a thrown value that cannot be read)']] });
    const foreign = runInNewContext('new TypeError("from another realm")') as Error;
    expect(foreign instanceof Error).toBe(false);
    expect(failWith(foreign)).toEqual({ status: { code: 2, message: 'from another realm' }, type: 'TypeError', events: [['exception', 'TypeError', 'from another realm']] });
    expect(failWith({ message: 'plain object' })).toEqual({ status: { code: 2, message: 'plain object' }, type: '_OTHER', events: [['exception', undefined, 'plain object']] });
  });

  it('a revoked Proxy, and one whose getPrototypeOf throws, are rethrown unchanged and their spans end as failed', () => {
    const { proxy: revoked, revoke } = Proxy.revocable({}, {});
    revoke();
    const hostile = new Proxy({}, { getPrototypeOf: () => { throw new Error('no prototype for you'); } });
    expect(failWith(revoked)).toEqual({ status: { code: 2, message: '(a thrown value that cannot be read)' }, type: '_OTHER', events: [['exception', undefined, '(a thrown value that cannot be read)']] });
    expect(recorder!.openSpans()).toEqual([]);
    expect(failWith(hostile)).toEqual({ status: { code: 2, message: '[object Object]' }, type: '_OTHER', events: [['exception', undefined, '[object Object]']] });
    expect(recorder!.openSpans()).toEqual([]);
  });

  it('a result whose then cannot be read is a plain value: the span ends and the result comes back', () => {
    recorder = recordSpans();
    const tracer = new MessagingTracer('kafka');
    const strict = new Proxy({}, { get: (_target, key) => { throw new Error(`no property ${String(key)}`); } });
    expect(tracer.traceProcess({ type: 'process', destination: 'orders' }, {}, undefined, undefined, undefined, () => strict)).toBe(strict);
    expect(recorder.openSpans()).toEqual([]);
    expect(recorder.spans().map((span) => [span.name, span.status.code])).toEqual([['process orders', 0]]);
  });
});
