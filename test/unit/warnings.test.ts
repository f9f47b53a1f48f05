import { context, diag, DiagLogLevel, propagation, ROOT_CONTEXT, type DiagLogger } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resetWarnings } from '../../src/core/warnings.ts';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from '../../src/memory/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';

// Problems go to diag, which prints nothing under NodeSDK's defaults; the first of each
// kind is also a process warning with a stable code, then at most one a minute.

let recorder: SpanRecorder;
let emitted: Array<{ message: string; type: unknown; code: unknown }>;
let diagged: string[];

beforeEach(() => {
  delete process.env.TRACEBUS_WARNINGS; // the test environment turns them off elsewhere
  recorder = recordSpans();
  resetWarnings();
  emitted = [];
  diagged = [];
  vi.spyOn(process, 'emitWarning').mockImplementation(((message: string, options: { type?: string; code?: string }) => {
    emitted.push({ message, type: options?.type, code: options?.code });
  }) as typeof process.emitWarning);
  const logger: DiagLogger = { error: (m) => void diagged.push(m), warn: (m) => void diagged.push(m), info() {}, debug() {}, verbose() {} };
  diag.setLogger(logger, DiagLogLevel.WARN);
});

afterEach(async () => {
  vi.restoreAllMocks();
  diag.disable();
  await recorder.shutdown();
});

async function publishWithFailingHook(times: number): Promise<void> {
  const bus = new MemoryBus();
  bus.subscribe('orders', traceMemoryHandler()(async () => undefined));
  const publisher = traceMemoryPublisher({ producerHook: () => { throw new Error('hook broke'); } })(bus);
  for (let index = 0; index < times; index++) await publisher.publish('orders', { payload: index });
  await bus.close();
}

describe('problems a user can see', () => {
  it('a producerHook that throws: one process warning with a stable code, every occurrence on diag', async () => {
    await publishWithFailingHook(3);
    expect(emitted).toEqual([
      {
        message: 'tracebus: producerHook threw; the span goes on without its attributes (Error: hook broke). Full detail goes to the OpenTelemetry diag logger; TRACEBUS_WARNINGS=off turns these warnings off.',
        type: 'TracebusWarning',
        code: 'TRACEBUS_HOOK_FAILED',
      },
    ]);
    expect(diagged).toEqual(Array(3).fill('tracebus: producerHook threw; the span goes on without its attributes'));
  });

  it('each kind warns once: a message without trace context is its own kind', async () => {
    await publishWithFailingHook(1);
    const bus = new MemoryBus();
    bus.subscribe('plain', traceMemoryHandler()(async () => undefined));
    await bus.publish('plain', { payload: 'no headers' });
    await bus.publish('plain', { payload: 'no headers either' });
    await bus.close();
    expect(emitted.map((warning) => warning.code)).toEqual(['TRACEBUS_HOOK_FAILED', 'TRACEBUS_MISSING_CONTEXT']);
    expect(emitted[1]!.message).toMatch(/^tracebus: 1 message\(s\) on tracebus\.memory 'plain' arrived with no trace headers; each started a new trace\. /);
  });

  it('a later warning of a kind counts the occurrences since the last warning, not since a minute ago', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(new Date('2026-01-01T00:00:00Z'));
      await publishWithFailingHook(3);
      vi.setSystemTime(new Date('2026-01-01T05:00:00Z'));
      await publishWithFailingHook(1);
    } finally {
      vi.useRealTimers();
    }
    expect(emitted.map((warning) => warning.message.match(/\[.*\]/)?.[0] ?? null)).toEqual([null, '[2 more of this kind since the last warning]']);
  });

  it('TRACEBUS_WARNINGS=OFF, in any case, turns them off too', async () => {
    process.env.TRACEBUS_WARNINGS = 'OFF';
    await publishWithFailingHook(1);
    expect(emitted).toEqual([]);
    expect(diagged).toHaveLength(1);
  });

  it('TRACEBUS_WARNINGS=off turns the process warnings off; diag still gets everything', async () => {
    process.env.TRACEBUS_WARNINGS = 'off';
    await publishWithFailingHook(2);
    expect(emitted).toEqual([]);
    expect(diagged).toHaveLength(2);
  });

  it('process.emitWarning that throws does not break message flow', async () => {
    vi.mocked(process.emitWarning).mockImplementation(() => {
      throw new Error('emitWarning broke');
    });
    const seen: number[] = [];
    const bus = new MemoryBus();
    bus.subscribe('orders', traceMemoryHandler()(async (message) => void seen.push(message.payload as number)));
    const publisher = traceMemoryPublisher({ producerHook: () => { throw new Error('hook broke'); } })(bus);
    await context.with(ROOT_CONTEXT, () => publisher.publish('orders', { payload: 1 }));
    await bus.close();
    expect(seen).toEqual([1]);
    expect(propagation.fields()).toContain('traceparent');
  });
});
