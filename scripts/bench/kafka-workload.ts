/**
 * The workload of the Kafka benchmark children, the same for both clients (kafka.ts with
 * kafkajs, confluent-kafka.ts with @confluentinc/kafka-javascript's KafkaJS API) and every
 * variant: a fresh topic of 3 partitions; one producer sends keyless messages of 256 bytes in
 * `send` calls of 100 messages, at most 4 calls in flight; one consumer in its own group runs
 * an `eachMessage` handler that counts the messages. A pass's throughput is end to end: from
 * the first send to the last message consumed.
 *
 * The `floor` variant's work is here too: a producer span started, its context injected and
 * the span ended for every message sent; the context extracted and a consumer span around
 * the handler for every message consumed.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type TextMapGetter } from '@opentelemetry/api';
import type { Admin } from 'kafkajs';
import { benchPayload } from './payload.ts';
import type { WrapperProbe } from './probe.ts';

const PARTITIONS = 3;
const BATCH = 100;
const IN_FLIGHT = 4;

/**
 * kafkajs 2.2.4 (the client of kafka.ts, the admin of both) arms timers with negative delays
 * on Node 24; the warning for each is noise in the benchmark's output, every other warning
 * is still printed.
 */
export function quietNegativeTimeouts(): void {
  const [defaultWarningListener] = process.listeners('warning');
  if (defaultWarningListener === undefined) return;
  process.removeListener('warning', defaultWarningListener);
  process.on('warning', (warning) => warning.name === 'TimeoutNegativeWarning' || defaultWarningListener(warning));
}

/** A message as both clients take it. */
export interface BenchMessage {
  value: Buffer;
  headers?: Record<string, string>;
}

/** What both clients hand `eachMessage`, as far as the workload reads it. */
interface ConsumedPayload {
  message: { headers?: Record<string, unknown> };
}

/** A fresh topic of the workload's partitions, made and later deleted through a kafkajs admin (which waits for the leaders). */
export async function createBenchTopic(admin: Admin): Promise<{ topic: string; remove: () => Promise<void> }> {
  const topic = `tracebus-bench-${process.pid}-${Date.now()}`;
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
  return {
    topic,
    async remove() {
      await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
      await admin.disconnect();
    },
  };
}

export interface KafkaWorkload<P extends ConsumedPayload> {
  /** The handler to give the consumer's `run()`: it counts, inside the floor's consumer span for `floor`. */
  eachMessage: (payload: P) => Promise<void>;
  /** Sends `n` messages and resolves with the seconds from the first send to the last message consumed. */
  pass: (n: number) => Promise<number>;
}

/**
 * The workload on `topic` for `variant`: `send` sends one batch of messages through the
 * (traced or untraced) producer; the handler marks the user handler's start and end on `probe`.
 */
export function kafkaWorkload<P extends ConsumedPayload>({ topic, variant, probe, send }: { topic: string; variant: string; probe: WrapperProbe; send: (messages: BenchMessage[]) => Promise<unknown> }): KafkaWorkload<P> {
  const floorTracer = trace.getTracer('floor');
  const { payload, staticHeaders } = benchPayload(variant);
  // Both clients hand consumed header values over as Buffers.
  const bufferGetter: TextMapGetter<Record<string, unknown>> = {
    get: (carrier, key) => carrier[key]?.toString(),
    keys: (carrier) => Object.keys(carrier),
  };

  /** The floor's consumer side: the handler inside a consumer span continuing the message's context. */
  const floorEachMessage = (handler: (payload: P) => Promise<void>) =>
    async function floorConsumer(payload: P): Promise<void> {
      const parent = propagation.extract(ROOT_CONTEXT, payload.message.headers ?? {}, bufferGetter);
      const span = floorTracer.startSpan(`process ${topic}`, { kind: SpanKind.CONSUMER }, parent);
      try {
        await context.with(trace.setSpan(parent, span), handler, undefined, payload);
      } finally {
        span.end();
      }
    };

  /** One message to send; the floor's producer side: a producer span whose context the message carries. */
  const message: () => BenchMessage =
    variant === 'floor'
      ? () => {
          const span = floorTracer.startSpan(`send ${topic}`, { kind: SpanKind.PRODUCER });
          const headers: Record<string, string> = {};
          propagation.inject(trace.setSpan(context.active(), span), headers);
          span.end();
          return { value: payload, headers };
        }
      : staticHeaders === undefined
        ? () => ({ value: payload })
        : () => ({ value: payload, headers: { ...staticHeaders } });

  let received = 0;
  let target = 0;
  let lastConsumed = 0n;
  let allConsumed = () => {};
  const handler = async (): Promise<void> => {
    probe.handlerStarted();
    const done = ++received === target;
    probe.handlerEnded();
    if (done) {
      lastConsumed = process.hrtime.bigint();
      allConsumed();
    }
  };

  async function pass(n: number): Promise<number> {
    const consumed = new Promise<void>((resolve) => (allConsumed = resolve));
    target = received + n;
    const inFlight = new Set<Promise<unknown>>();
    const start = process.hrtime.bigint();
    for (let sent = 0; sent < n; sent += BATCH) {
      // Fresh message objects for every call: an instrumentation may write its headers into
      // the objects it is given.
      const batch: BenchMessage[] = [];
      for (let index = 0; index < Math.min(BATCH, n - sent); index++) batch.push(message());
      const sending: Promise<unknown> = send(batch).finally(() => inFlight.delete(sending));
      inFlight.add(sending);
      if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await consumed;
    return Number(lastConsumed - start) / 1e9;
  }

  return { eachMessage: variant === 'floor' ? floorEachMessage(handler) : handler, pass };
}
