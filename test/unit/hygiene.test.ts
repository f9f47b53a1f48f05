import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from '../../src/memory/index.ts';
import { CountingProcessor } from '../support/span-counter.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

describe('span hygiene on the in-process bus', () => {
  const counter = new CountingProcessor();
  const provider = new TracerProvider({ spanProcessors: [counter] });
  beforeAll(() => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => {
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it('after 100,000 messages no span is open and the heap is where it was', async () => {
    const bus = new MemoryBus();
    const publisher = traceMemoryPublisher()(bus);
    let handled = 0;
    bus.subscribe('hygiene', traceMemoryHandler()((message) => {
      handled++;
      // Every 10th message fails once and is redelivered: error paths end their spans too.
      if ((message.payload as number) % 10 === 0 && message.attempt === 1) throw new Error('once');
    }));
    const pump = async (from: number, count: number) => {
      for (let index = from; index < from + count; index++) await publisher.publish('hygiene', { payload: index });
      await bus.drained();
    };
    await pump(0, 10_000);
    const before = heapAfterGc();
    await pump(10_000, 100_000);
    const after = heapAfterGc();
    await bus.close();
    const growth = after - before;
    console.log(`hygiene: ${counter.started} spans started, ${counter.ended} ended; heap after GC ${(before / 2 ** 20).toFixed(1)} MiB before, ${(after / 2 ** 20).toFixed(1)} MiB after 100,000 messages (${(growth / 1024).toFixed(0)} KiB)`);
    expect(handled).toBe(110_000 + 11_000);
    expect(counter.started).toBe(110_000 * 2 + 11_000);
    expect(counter.ended).toBe(counter.started);
    // Nothing per message may stay behind: 100,000 retained messages would be megabytes.
    expect(growth).toBeLessThan(2 * 2 ** 20);
  }, 120_000);
});
