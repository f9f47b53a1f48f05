/**
 * Untrusted producers through the brokers' real header paths (the in-process bus:
 * test/unit/untrusted.test.ts). A message arrives with headers tracebus did not write; its
 * handler starts a span of its own and sends the message on with the headers it arrived
 * with, through the traced publisher, as a relay does. What reaches the next queue or
 * topic is read raw, as bytes on the wire.
 *
 * - `root`: nothing of the incoming trace is used or sent on (no parent, no link, no
 *   tracestate, no baggage).
 * - `link`: nothing is parented to the incoming span; it is linked, and baggage is kept
 *   (that is the policy's contract).
 * - Hostile `tracestate` and `baggage` (as large as the transport carries: 1 MiB and
 *   100,000 members on Kafka, 60 KiB on AMQP, whose header table cannot exceed 64 KiB)
 *   are processed, and what is extracted and sent on is bounded by the W3C limits. No
 *   timing is asserted: the bound is on what is kept, and the test's own time limit.
 */
import { SpanKind, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import amqp, { type ChannelModel, type ConsumeMessage } from 'amqplib';
import { Kafka, logLevel, type Admin, type Consumer, type Producer } from 'kafkajs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { headerGetter } from '../../src/adapter/index.ts';
import { type MessageTrace } from '../../src/index.ts';
import { traceChannel, traceConsume } from '../../src/amqplib/index.ts';
import { traceConsumer, traceProducer } from '../../src/kafkajs/index.ts';
import { findSpan, recordSpans, type SpanRecorder } from '../../src/testing/index.ts';
import { amqpUrl, kafkaBrokers } from '../support/integration.ts';
import { createTopic, groupJoined } from '../support/kafka-topics.ts';
import { waitFor } from '../support/wait.ts';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_ID}-01`;
const UNTRUSTED = { traceparent: TRACEPARENT, tracestate: 'vendor=secret,other=x', baggage: 'role=admin,tenant=evil', 'x-origin': 'outside' };
const run = `${process.pid}.${Date.now().toString(36)}`;
let counter = 0;
const unique = (label: string) => `tracebus.faults.untrusted.${label}.${run}.${++counter}`;

type Policy = 'parent' | 'link' | 'root';

/** What one relayed message left behind: the handler's trace and the headers of the message it sent on. */
interface Relayed {
  trace: MessageTrace;
  onward: Record<string, unknown>;
}

/** One transport, set up with a relaying consumer per policy. */
interface Relays {
  /** Sends `payload` raw (untraced) with exactly `headers` to the relay of `policy`; resolves once it has been sent on. */
  relay(policy: Policy, payload: string, headers: Record<string, unknown>): Promise<Relayed>;
  /** Span names of the relay of `policy`: where it consumes and where it sends on. */
  names(policy: Policy): { process: string; send: string };
  /** The largest `tracestate` / `baggage` value this transport carries in one message. */
  readonly largest: number;
  /** How many times the hostile test repeats one header in a message. */
  readonly repeats: number;
  close(): Promise<void>;
}

/**
 * The handler every relay runs: a span of its own, then the message sent on with the
 * headers it arrived with (plus one), in the handler's context.
 */
async function relayHandler(headers: Record<string, unknown>, sendOn: (headers: Record<string, unknown>) => Promise<void>): Promise<void> {
  await trace.getTracer('app').startActiveSpan('work', async (span) => {
    try {
      await sendOn({ ...headers, 'x-relayed': 'yes' });
    } finally {
      span.end();
    }
  });
}

const text = (value: unknown): string | undefined => {
  const read = headerGetter.get({ value }, 'value');
  return Array.isArray(read) ? read.join(',') : read;
};
const traceparentOf = (span: ReadableSpan) => `00-${span.spanContext().traceId}-${span.spanContext().spanId}-01`;
const linksOf = (span: ReadableSpan) => span.links.map((link) => [link.context.traceId, link.context.spanId]);

/** The assertions, the same for every transport. */
function untrustedSuite(name: string, connect: () => Promise<Relays>): void {
  describe(`untrusted producers: ${name}`, () => {
    let relays: Relays;
    let recorder: SpanRecorder;
    beforeAll(async () => {
      relays = await connect();
    }, 120_000);
    afterAll(async () => {
      await relays?.close();
    });
    beforeEach(() => {
      recorder = recordSpans();
    });
    afterEach(async () => {
      await recorder.shutdown();
    });

    /** The spans of one relayed message, once the onward send span has ended. */
    async function spansOf(policy: Policy): Promise<{ all: ReadableSpan[]; processed: ReadableSpan; work: ReadableSpan; onward: ReadableSpan }> {
      const { process, send } = relays.names(policy);
      await waitFor(() => recorder.spans().some((span) => span.name === send), `'${send}' to end`);
      const all = recorder.spans();
      return { all, processed: findSpan(all, process), work: findSpan(all, 'work'), onward: findSpan(all, send) };
    }

    it("policy 'root': no span has the incoming span as parent or link, the trace id is new, and nothing of the incoming trace is sent on", async () => {
      const { trace: handlerTrace, onward: headers } = await relays.relay('root', 'root', UNTRUSTED);
      const { all, processed, work, onward } = await spansOf('root');
      expect(processed.kind).toBe(SpanKind.CONSUMER);
      expect(processed.parentSpanContext).toBeUndefined();
      expect(processed.spanContext().traceId).not.toBe(TRACE_ID);
      expect(all.filter((span) => span.spanContext().traceId === TRACE_ID || span.parentSpanContext?.spanId === PARENT_ID || span.links.length > 0)).toEqual([]);
      expect(work.parentSpanContext?.spanId).toBe(processed.spanContext().spanId);
      expect(handlerTrace.baggage).toEqual({});
      expect(handlerTrace.traceId).toBe(processed.spanContext().traceId);
      expect(handlerTrace.spanContext.traceState).toBeUndefined();
      // The handler sent the incoming headers on: the trace fields in them were replaced.
      expect(text(headers.traceparent)).toBe(traceparentOf(onward));
      expect(onward.spanContext().traceId).toBe(processed.spanContext().traceId);
      expect(headers.tracestate).toBeUndefined();
      expect(headers.baggage).toBeUndefined();
      expect([text(headers['x-origin']), text(headers['x-relayed'])]).toEqual(['outside', 'yes']);
    });

    it("policy 'link': no span has the incoming span as parent; the process span only links to it", async () => {
      const { trace: handlerTrace, onward: headers } = await relays.relay('link', 'link', UNTRUSTED);
      const { all, processed, work, onward } = await spansOf('link');
      expect(processed.parentSpanContext).toBeUndefined();
      expect(processed.spanContext().traceId).not.toBe(TRACE_ID);
      expect(linksOf(processed)).toEqual([[TRACE_ID, PARENT_ID]]);
      expect(all.filter((span) => span.spanContext().traceId === TRACE_ID || span.parentSpanContext?.traceId === TRACE_ID)).toEqual([]);
      expect(all.filter((span) => span !== processed && span.links.length > 0)).toEqual([]);
      expect(work.parentSpanContext?.spanId).toBe(processed.spanContext().spanId);
      expect(handlerTrace.traceId).toBe(processed.spanContext().traceId);
      // A new trace: the incoming tracestate belonged to the old one. Baggage is kept, as `link` promises.
      expect(text(headers.traceparent)).toBe(traceparentOf(onward));
      expect(headers.tracestate).toBeUndefined();
      expect(handlerTrace.baggage).toEqual({ role: 'admin', tenant: 'evil' });
      expect(text(headers.baggage)).toBe('role=admin,tenant=evil');
    });

    describe('hostile headers are processed, and what is kept and sent on is bounded', () => {
      const members = (count: number, from = 0) => Array.from({ length: count }, (_, index) => `k${from + index}=v`);
      const FIRST_64 = members(64).join(',');

      /** Relays one message under the default policy; its trace must still continue from the incoming traceparent. */
      async function relayHostile(label: string, headers: Record<string, unknown>): Promise<Relayed & { processed: ReadableSpan; onwardSpan: ReadableSpan }> {
        const relayed = await relays.relay('parent', label, { traceparent: TRACEPARENT, ...headers });
        const { processed, onward } = await spansOf('parent');
        expect(processed.spanContext().traceId).toBe(TRACE_ID);
        expect(processed.parentSpanContext?.spanId).toBe(PARENT_ID);
        expect(text(relayed.onward.traceparent)).toBe(traceparentOf(onward));
        return { ...relayed, processed, onwardSpan: onward };
      }

      it('a tracestate as large as the transport carries is discarded whole: nothing of it is kept or sent on', async () => {
        // Valid-looking members, padded to the transport's largest header value.
        const tracestate = members(relays.largest / 8).join(',').padEnd(relays.largest, 'x').slice(0, relays.largest);
        const { trace: handlerTrace, onward } = await relayHostile('tracestate', { tracestate });
        expect(handlerTrace.spanContext.traceState).toBeUndefined();
        expect(onward.tracestate).toBeUndefined();
      });

      it('a tracestate of many small valid members (over 32) is discarded whole', async () => {
        const { onward } = await relayHostile('tracestate-members', { tracestate: members(2_000).join(',') });
        expect(onward.tracestate).toBeUndefined();
      });

      it('a baggage of as many members as the transport carries: the first 64 are kept and sent on, within 8192 bytes', async () => {
        const count = Math.floor(relays.largest / 8);
        const { trace: handlerTrace, onward } = await relayHostile('baggage', { baggage: members(count).join(',') });
        expect(Object.keys(handlerTrace.baggage)).toHaveLength(64);
        expect(text(onward.baggage)).toBe(FIRST_64);
        expect(Buffer.byteLength(text(onward.baggage)!)).toBeLessThanOrEqual(8192);
      });

      it('a baggage header repeated thousands of times: the first 64 members are kept and sent on', async () => {
        const { trace: handlerTrace, onward } = await relayHostile('baggage-repeated', { baggage: members(relays.repeats) });
        expect(Object.keys(handlerTrace.baggage)).toHaveLength(64);
        expect(text(onward.baggage)).toBe(FIRST_64);
      });
    });
  });
}

describe.skipIf(amqpUrl() === undefined)('RabbitMQ', () => {
  untrustedSuite('RabbitMQ (amqplib)', async () => {
    const connection: ChannelModel = await amqp.connect(amqpUrl()!);
    const raw = await connection.createChannel();
    const channel = traceChannel()(await connection.createChannel());
    const out = unique('amqp.out');
    await raw.assertQueue(out, { exclusive: true });
    const waiting = new Map<string, { trace?: MessageTrace; resolve: (relayed: Relayed) => void }>();
    await raw.consume(out, (message: ConsumeMessage | null) => {
      if (message === null) return;
      raw.ack(message);
      const entry = waiting.get(message.content.toString());
      if (entry?.trace !== undefined) entry.resolve({ trace: entry.trace, onward: message.properties.headers ?? {} });
    });
    const queues = {} as Record<Policy, string>;
    for (const policy of ['parent', 'link', 'root'] as const) {
      const queue = (queues[policy] = unique(`amqp.${policy}`));
      await channel.assertQueue(queue, { exclusive: true });
      await channel.consume(
        queue,
        traceConsume({ channel, queue, policy })(async (message, handlerTrace) => {
          const payload = message.content.toString();
          waiting.get(payload)!.trace = handlerTrace;
          await relayHandler(message.properties.headers ?? {}, async (headers) => void channel.sendToQueue(out, message.content, { headers }));
          channel.ack(message);
        }),
      );
    }
    return {
      relay(policy, payload, headers) {
        const done = new Promise<Relayed>((resolve) => waiting.set(payload, { resolve }));
        raw.sendToQueue(queues[policy], Buffer.from(payload), { headers });
        return done;
      },
      names: (policy) => ({ process: `process ${queues[policy]}`, send: `send ${out}` }),
      // amqplib encodes a headers table into 64 KiB; the traceparent and the names take the rest.
      largest: 60 * 1024,
      // Each array item costs its type, length and text: 5,000 of `kNNNN=v` fill 60 KiB.
      repeats: 5_000,
      close: () => connection.close(),
    };
  });
});

describe.skipIf(kafkaBrokers() === undefined)('Kafka', () => {
  untrustedSuite('Kafka (kafkajs)', async () => {
    const MiB = 1024 * 1024;
    const kafka = new Kafka({ clientId: 'tracebus-untrusted', brokers: kafkaBrokers()!, logLevel: logLevel.NOTHING, retry: { initialRetryTime: 100, retries: 8 } });
    const admin: Admin = kafka.admin();
    const raw: Producer = kafka.producer();
    await Promise.all([admin.connect(), raw.connect()]);
    const producer = traceProducer({ brokers: kafkaBrokers() })(raw);
    const consumers: Consumer[] = [];
    // Room for a 1 MiB tracestate and 100,000 baggage members in one message (the default is 1 MiB in all).
    const large = { configEntries: [{ name: 'max.message.bytes', value: String(8 * MiB) }] };
    const consumerOptions = { maxWaitTimeInMs: 100, maxBytesPerPartition: 8 * MiB, maxBytes: 16 * MiB };
    const out = await createTopic(admin, unique('kafka.out'), large);
    const waiting = new Map<string, { trace?: MessageTrace; resolve: (relayed: Relayed) => void }>();
    const collector = kafka.consumer({ groupId: `${out}.group`, ...consumerOptions });
    consumers.push(collector);
    await collector.connect();
    await collector.subscribe({ topics: [out], fromBeginning: true });
    const collectorJoined = groupJoined(collector);
    await collector.run({
      eachMessage: async ({ message }) => {
        const entry = waiting.get(message.value!.toString());
        if (entry?.trace !== undefined) entry.resolve({ trace: entry.trace, onward: message.headers ?? {} });
      },
    });
    const topics = {} as Record<Policy, string>;
    const joined: Promise<void>[] = [collectorJoined];
    for (const policy of ['parent', 'link', 'root'] as const) {
      const topic = (topics[policy] = await createTopic(admin, unique(`kafka.${policy}`), large));
      const consumer = traceConsumer({ policy })(kafka.consumer({ groupId: `${topic}.group`, ...consumerOptions }));
      consumers.push(consumer as unknown as Consumer);
      await consumer.connect();
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      joined.push(groupJoined(consumer));
      await consumer.run({
        eachMessage: async ({ message }, handlerTrace) => {
          const payload = message.value!.toString();
          waiting.get(payload)!.trace = handlerTrace;
          await relayHandler(message.headers ?? {}, async (headers) => void (await producer.send({ topic: out, messages: [{ value: payload, headers: headers as never }] })));
        },
      });
    }
    await Promise.all(joined);
    return {
      async relay(policy, payload, headers) {
        const done = new Promise<Relayed>((resolve) => waiting.set(payload, { resolve }));
        await raw.send({ topic: topics[policy], messages: [{ value: payload, headers: headers as never }] });
        return done;
      },
      names: (policy) => ({ process: `process ${topics[policy]}`, send: `send ${out}` }),
      largest: MiB,
      // kafkajs itself decodes a repeated header in quadratic time (it copies the array for
      // every repeat, protocol/recordBatch/record/v0/decoder.js): 100,000 repeats cost it
      // half a minute before any handler runs. 20,000 keep the test about tracebus.
      repeats: 20_000,
      async close() {
        await Promise.allSettled(consumers.map((consumer) => consumer.disconnect()));
        await Promise.allSettled([raw.disconnect(), admin.disconnect()]);
      },
    };
  });
});
