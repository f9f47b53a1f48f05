import { AlwaysOnSampler } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { checkCase, checkHop, encodedHeaderMap, headerMap, W3C_CASES } from './w3c-cases.ts';
import { waitFor } from '../support/wait.ts';

/**
 * The W3C Trace Context suite through a Kafka client's real header path, every case of the
 * table, for each Kafka binding:
 *
 * 1. an untraced producer sends a message with exactly the case's headers (a repeated
 *    header as an array value, which the clients put on the wire as repeated headers) and
 *    the case's index as its key;
 * 2. the binding's `eachMessage` middleware runs the handler for it, which sends the case's
 *    onward messages (same key) through the binding's producer decorator;
 * 3. the onward messages are read untraced and their headers checked as the client delivers
 *    them: Buffers, a repeated header as an array of Buffers.
 *
 * One topic pair and one consumer (one group) carry the whole table. The global propagator
 * is the one `recordSpans()` registers (W3C trace context and baggage),
 * which tracebus handles conformantly by default.
 */
export interface KafkaConformanceClient {
  /** For the suite's title: the client, and how it delivers headers. */
  readonly name: string;
  /** What the client delivers for a message sent without headers (kafkajs `{}`, librdkafka `undefined`). */
  readonly noHeaders: Record<string, never> | undefined;
  /**
   * Creates both topics, connects an untraced producer and a traced one (which sends the
   * onward messages), and starts one consumer of `groupId` on both topics: `relay` (traced
   * with the binding's `eachMessage` middleware) for `incoming`, plain `collect` for `outgoing`.
   */
  start(topics: { incoming: string; outgoing: string; groupId: string }, hooks: RelayHooks): Promise<RunningClient>;
}

/** What the suite hands the client's handlers. */
export interface RelayHooks {
  /** The traced handler got the message with key `key`: returns how many onward messages to send. */
  relayed(key: string, headers: unknown, processSpanId: string): number;
  /** The plain handler got an onward message. */
  collected(key: string, headers: unknown): void;
}

export interface RunningClient {
  /** Sends the incoming messages through the untraced producer, in one call. */
  sendIncoming(messages: Array<{ key: string; value: string; headers: Record<string, string | string[]> }>): Promise<void>;
  /** Disconnects everything and deletes the topics. */
  close(): Promise<void>;
}

export function kafkaConformanceSuite(label: string, skip: boolean, client: () => KafkaConformanceClient): void {
  const run = `${process.pid}.${Date.now().toString(36)}`;
  const topics = { incoming: `tracebus.w3c-${label}.in.${run}`, outgoing: `tracebus.w3c-${label}.out.${run}`, groupId: `tracebus.w3c-${label}.${run}` };
  const onwardCount = W3C_CASES.reduce((total, testCase) => total + (testCase.callbacks ?? 1), 0);

  describe.skipIf(skip)(`W3C Trace Context test suite: ${skip ? label : client().name}`, () => {
    let recorder: SpanRecorder;
    let running: RunningClient | undefined;
    /** Per case key: the headers the traced handler got and the id of its `process` span. */
    const relayed = new Map<string, { headers: unknown; processSpanId: string }>();
    /** Per case key: the headers of each onward message, as delivered. */
    const onward = new Map<string, Array<Record<string, unknown>>>();
    let onwardReceived = 0;

    beforeAll(async () => {
      // The harness's unsampled cases are about propagation: record every span, whatever the flags.
      recorder = recordSpans({ sampler: new AlwaysOnSampler() });
      running = await client().start(topics, {
        relayed(key, headers, processSpanId) {
          relayed.set(key, { headers, processSpanId });
          return W3C_CASES[Number(key)]!.callbacks ?? 1;
        },
        collected(key, headers) {
          onward.set(key, [...(onward.get(key) ?? []), (headers ?? {}) as Record<string, unknown>]);
          onwardReceived++;
        },
      });
      await running.sendIncoming(W3C_CASES.map((testCase, index) => ({ key: String(index), value: testCase.name, headers: headerMap(testCase) })));
      await waitFor(() => onwardReceived >= onwardCount, `${onwardCount} onward messages`, 60_000);
      await waitFor(() => recorder.openSpans().length === 0, 'every span to end');
    });

    afterAll(async () => {
      await running?.close();
      await recorder?.shutdown();
    });

    it.each(W3C_CASES.map((testCase, index) => [testCase.name, testCase, String(index)] as const))('%s', (_name, testCase, key) => {
      const seen = relayed.get(key);
      expect(seen, 'the traced handler ran').toBeDefined();
      // The client delivered exactly the case's headers as Buffers, a repeated one as an array in wire order.
      const expected = encodedHeaderMap(testCase, (value) => Buffer.from(value));
      expect(seen!.headers).toEqual(Object.keys(expected).length === 0 ? client().noHeaders : expected);
      const delivered = onward.get(key) ?? [];
      for (const headers of delivered) expect(Object.values(headers).every((value) => Buffer.isBuffer(value))).toBe(true);
      expect(checkCase(testCase, delivered)).toEqual([]);
      expect(checkHop(testCase, delivered, seen!.processSpanId, `send ${topics.outgoing}`, recorder.spans())).toEqual([]);
    });

    it('processes every case once and relays exactly the onward messages', () => {
      expect(relayed.size).toBe(W3C_CASES.length);
      expect(onwardReceived).toBe(onwardCount);
      expect(recorder.spans().filter((span) => span.name === `process ${topics.incoming}`)).toHaveLength(W3C_CASES.length);
    });
  });
}
