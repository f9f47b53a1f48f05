import { AlwaysOnSampler } from '@opentelemetry/sdk-trace';
import amqp, { type ChannelModel, type ConsumeMessage, type MessagePropertyHeaders } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { traceChannel } from '../../src/amqplib/index.ts';
import { recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { checkCase, checkHop, encodedHeaderMap, W3C_CASES, type W3CCase } from '../conformance/w3c-cases.ts';
import { amqpUrl } from '../support/integration.ts';
import { waitFor } from '../support/wait.ts';

/**
 * The W3C Trace Context suite through RabbitMQ's real header path, every case of the table
 * twice: header values as strings (AMQP field type `S`) and as byte arrays (type `x`).
 *
 * 1. an untraced confirm channel publishes a message with exactly the case's headers,
 *    tagged by its `messageId` (`<encoding>:<case index>`);
 * 2. a traced channel consumes it; the handler publishes the case's onward messages (same
 *    `messageId`) through the traced channel and acks;
 * 3. the onward messages are read on the untraced channel and their headers checked as
 *    amqplib delivers them.
 *
 * An AMQP table cannot hold a name twice, so a case that repeats a header sends its values
 * as one field array (`A`) of strings or byte arrays, in wire order, the one form in
 * which AMQP can carry a repeated header; tracebus reads such an array as the repeated
 * header it stands for, so every case runs and none is skipped.
 *
 * One queue pair carries both encodings of the whole table. The global propagator is the
 * one `recordSpans()` registers (W3C trace context and baggage), which tracebus handles
 * conformantly by default.
 */
const url = amqpUrl();
const run = `${process.pid}.${Date.now().toString(36)}`;
const incoming = `tracebus.w3c-amqplib.in.${run}`;
const outgoing = `tracebus.w3c-amqplib.out.${run}`;

const ENCODINGS = {
  string: { title: 'strings (field type S)', encode: (value: string): string | Buffer => value },
  bytes: { title: 'byte arrays (field type x)', encode: (value: string): string | Buffer => Buffer.from(value) },
} as const;
type Encoding = keyof typeof ENCODINGS;
const tags = (Object.keys(ENCODINGS) as Encoding[]).flatMap((encoding) => W3C_CASES.map((testCase, index) => ({ encoding, testCase, tag: `${encoding}:${index}` })));
const onwardCount = tags.reduce((total, { testCase }) => total + (testCase.callbacks ?? 1), 0);

describe.skipIf(url === undefined)('W3C Trace Context test suite: RabbitMQ (amqplib)', () => {
  let recorder: SpanRecorder;
  let connection: ChannelModel | undefined;
  /** Per tag: the headers the traced handler got and the id of its `process` span. */
  const relayed = new Map<string, { headers: MessagePropertyHeaders | undefined; processSpanId: string }>();
  /** Per tag: the headers of each onward message, as delivered. */
  const onward = new Map<string, MessagePropertyHeaders[]>();
  let onwardReceived = 0;

  beforeAll(async () => {
    // The harness's unsampled cases are about propagation: record every span, whatever the flags.
    recorder = recordSpans({ sampler: new AlwaysOnSampler() });
    connection = await amqp.connect(url!);
    const raw = await connection.createConfirmChannel();
    const traced = traceChannel()(await connection.createChannel());
    await raw.assertQueue(incoming, { exclusive: true });
    await raw.assertQueue(outgoing, { exclusive: true });
    const callbacksOf = new Map(tags.map(({ tag, testCase }) => [tag, testCase.callbacks ?? 1]));

    await traced.consume(incoming, (message, trace) => {
      if (message === null) return;
      const tag = String(message.properties.messageId);
      relayed.set(tag, { headers: message.properties.headers, processSpanId: trace.spanId });
      for (let index = 0; index < callbacksOf.get(tag)!; index++) traced.sendToQueue(outgoing, Buffer.from(String(index)), { messageId: tag });
      traced.ack(message);
    });
    await raw.consume(
      outgoing,
      (message: ConsumeMessage | null) => {
        if (message === null) return;
        const tag = String(message.properties.messageId);
        onward.set(tag, [...(onward.get(tag) ?? []), message.properties.headers ?? {}]);
        onwardReceived++;
      },
      { noAck: true },
    );

    for (const { encoding, testCase, tag } of tags) raw.sendToQueue(incoming, Buffer.from(testCase.name), { messageId: tag, headers: encodedHeaderMap(testCase, ENCODINGS[encoding].encode) });
    await raw.waitForConfirms();
    await waitFor(() => onwardReceived >= onwardCount, `${onwardCount} onward messages`, 60_000);
    await waitFor(() => recorder.openSpans().length === 0, 'every span to end');
  });

  afterAll(async () => {
    // The queues are exclusive: closing the connection deletes them.
    await connection?.close();
    await recorder?.shutdown();
  });

  describe.each(Object.keys(ENCODINGS) as Encoding[])('headers as %s', (encoding) => {
    const { encode } = ENCODINGS[encoding];
    const cases = tags.filter((entry) => entry.encoding === encoding).map(({ testCase, tag }) => [testCase.name, testCase, tag] as const);

    it.each(cases)('%s', (_name: string, testCase: W3CCase, tag: string) => {
      const seen = relayed.get(tag);
      expect(seen, 'the traced handler ran').toBeDefined();
      // amqplib delivered exactly the case's headers with the type they were sent as, a repeated one as a field array in wire order.
      expect(seen!.headers).toEqual(encodedHeaderMap(testCase, encode));
      const delivered = onward.get(tag) ?? [];
      // tracebus writes trace headers as strings.
      for (const headers of delivered) expect(Object.values(headers).every((value) => typeof value === 'string')).toBe(true);
      expect(checkCase(testCase, delivered)).toEqual([]);
      expect(checkHop(testCase, delivered, seen!.processSpanId, `send ${outgoing}`, recorder.spans())).toEqual([]);
    });
  });

  it('processes every case once in each encoding and relays exactly the onward messages', () => {
    expect(relayed.size).toBe(tags.length);
    expect(onwardReceived).toBe(onwardCount);
    expect(recorder.spans().filter((span) => span.name === `process ${incoming}`)).toHaveLength(tags.length);
  });
});
