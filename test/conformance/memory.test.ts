import { AlwaysOnSampler } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher, type MemoryMessage, type MemoryPublisher } from '../../src/memory/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { waitFor } from '../support/wait.ts';
import { checkCase, headerMap, W3C_CASES } from './w3c-cases.ts';

/**
 * The W3C Trace Context suite through the in-process bus: each case's headers are
 * published raw (as a foreign producer would), a traced handler publishes onward through
 * the traced publisher, and the onward messages' headers are checked as delivered.
 * Repeated headers travel as arrays, as kafkajs delivers them.
 */
describe('W3C Trace Context test suite: in-process bus', () => {
  let bus: MemoryBus;
  let publisher: MemoryPublisher;
  let recorder: SpanRecorder;
  let topic = 0;

  beforeAll(() => {
    bus = new MemoryBus({ maxAttempts: 1, deadLetterTopic: false });
    publisher = traceMemoryPublisher()(bus);
  });
  afterAll(async () => {
    await bus.close();
  });
  beforeEach(() => {
    // The harness's unsampled cases are about propagation: record every span, whatever the flags.
    recorder = recordSpans({ sampler: new AlwaysOnSampler() });
  });
  afterEach(async () => {
    await recorder.shutdown();
  });

  it.each(W3C_CASES.map((testCase) => [testCase.name, testCase] as const))('%s', async (_name, testCase) => {
    const incoming = `w3c.in.${++topic}`;
    const onward = `w3c.out.${topic}`;
    const callbacks = testCase.callbacks ?? 1;
    const delivered: MemoryMessage[] = [];
    const subscriptions = [
      bus.subscribe(
        incoming,
        traceMemoryHandler()(async () => {
          for (let index = 0; index < callbacks; index++) await publisher.publish(onward, { payload: index });
        }),
      ),
      bus.subscribe(onward, (message) => {
        delivered.push(message);
      }),
    ];
    try {
      await bus.publish(incoming, { payload: testCase.name, headers: headerMap(testCase) });
      await waitFor(() => delivered.length >= callbacks, `${callbacks} onward message(s)`);
      await bus.drained();
      expect(checkCase(testCase, delivered.map((message) => message.headers))).toEqual([]);
      expect(recorder.openSpans()).toEqual([]);
    } finally {
      await Promise.all(subscriptions.map((subscription) => subscription.close()));
    }
  });
});
