import { context, diag, DiagLogLevel, propagation, ROOT_CONTEXT, type DiagLogger, type TextMapPropagator } from '@opentelemetry/api';
import { TracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { traceChannel } from '../../src/amqplib/index.ts';
import { asChannel, FakeChannel } from '../support/fakes/amqplib.ts';
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

  it('trace headers dropped for size, a propagator that throws and a span processor that throws each warn with their code', async () => {
    // Headers dropped: an amqplib channel whose 4 KiB frames leave no room for 6 KB of baggage.
    const fake = new FakeChannel();
    fake.connection.frameMax = 4_096;
    const baggage = propagation.createBaggage(Object.fromEntries(Array.from({ length: 48 }, (_, index) => [`k${index}`, { value: 'v'.repeat(120) }])));
    context.with(propagation.setBaggage(ROOT_CONTEXT, baggage), () => traceChannel()(asChannel(fake)).sendToQueue('q', Buffer.from('x')));
    // A propagator that throws, given as the option.
    const throwing: TextMapPropagator = {
      inject() {
        throw new Error('inject broke');
      },
      extract: (ctx) => ctx,
      fields: () => ['traceparent'],
    };
    const bus = new MemoryBus();
    bus.subscribe('orders', () => undefined);
    await traceMemoryPublisher({ propagator: throwing })(bus).publish('orders', { payload: 1 });
    // A span processor whose onEnd throws.
    const failing: SpanProcessor = {
      onStart() {},
      onEnd() {
        throw new Error('processor broke');
      },
      forceFlush: async () => undefined,
      shutdown: async () => undefined,
    };
    await traceMemoryPublisher({ tracerProvider: new TracerProvider({ spanProcessors: [failing] }) })(bus).publish('orders', { payload: 2 });
    await bus.close();
    expect(emitted.map((warning) => [warning.type, warning.code])).toEqual([
      ['TracebusWarning', 'TRACEBUS_HEADERS_DROPPED'],
      ['TracebusWarning', 'TRACEBUS_PROPAGATOR_FAILED'],
      ['TracebusWarning', 'TRACEBUS_TELEMETRY_FAILED'],
    ]);
    expect(emitted[0]!.message).toMatch(/^tracebus: left baggage off a message so that its headers fit RabbitMQ's limit of 4074 bytes/);
    expect(emitted[2]!.message).toMatch(/^tracebus: the OpenTelemetry SDK threw while ending a span \(a span processor\?\); the message goes on \(Error: processor broke\)/);
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
