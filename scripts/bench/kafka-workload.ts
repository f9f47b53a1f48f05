/**
 * The workload of the Kafka benchmark children, the same for both clients (kafka.ts with
 * kafkajs, confluent-kafka.ts with @confluentinc/kafka-javascript's KafkaJS API) and every
 * variant: a fresh topic of 3 partitions; one producer sends keyless messages of 256 bytes in
 * `send` calls of 100 messages, at most 4 calls in flight (SEND_IN_BATCHES; kafka.ts's
 * `single` shape sends one message per call instead, SEND_SINGLY); one consumer in its own
 * group runs an `eachMessage` handler that counts the messages, and those that carried a
 * `traceparent`. A pass's throughput is end to end: from the first send to the last message
 * consumed.
 *
 * The floor variants' work is here too: a producer span started, its context injected and
 * the span ended for every message sent; the context extracted and a consumer span around
 * the handler for every message consumed. `floor+semconv` starts those spans with the
 * attributes semantic conventions require for Kafka, named and valued as tracebus records
 * them: the system (`kafka`), the operation's name and type (`create` for a message of a
 * `send` of several, as tracebus's per-message span; `send` for a `send` of one; `process`),
 * the topic as the destination, and on the consumer's spans the consumer group (Conditionally
 * Required "if applicable" on Kafka's process spans, and sampling-relevant there). A `send`
 * of several messages under `floor+semconv` also gets the span semantic conventions give a
 * batch API beside its per-message `create` spans: a CLIENT `send` span for the call, with
 * `messaging.batch.message_count` (Conditionally Required on batch operations) and a link to
 * each message's `create` span (the send span SHOULD link to every creation context it
 * injected), active while the client sends and ended when the call settles, as tracebus's.
 * `floor+semconv+confirm` (the kafka-single section, a `send` of one message) is
 * `floor+semconv` with its send span active while the client sends and ended when the broker
 * acknowledges the message, failed on an error, as tracebus and the official instrumentation
 * end theirs, rather than before the call: what a send span that covers the send, as its
 * duration and its error status say it does, costs on top of the floor.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Link, type TextMapGetter } from '@opentelemetry/api';
import type { Admin } from 'kafkajs';
import { ATTR_ERROR_TYPE, ATTR_MESSAGING_BATCH_MESSAGE_COUNT, ATTR_MESSAGING_CONSUMER_GROUP_NAME, ATTR_MESSAGING_DESTINATION_NAME, ATTR_MESSAGING_OPERATION_NAME, ATTR_MESSAGING_OPERATION_TYPE, ATTR_MESSAGING_SYSTEM } from '../../src/core/semconv.ts';
import { KAFKA_SYSTEM } from '../../src/kafka/attributes.ts';
import type { FloorKind } from './broker-variant.ts';
import { benchPayload } from './payload.ts';
import type { WrapperProbe } from './probe.ts';
import { CONFIRM_FLOOR } from './results.ts';

const PARTITIONS = 3;

/** How the producer sends: messages per `send` call, and how many calls may be in flight at once. */
export interface SendShape {
  batch: number;
  inFlight: number;
}

/** The Kafka sections' shape: `send` calls of 100 messages, at most 4 in flight. */
export const SEND_IN_BATCHES: SendShape = { batch: 100, inFlight: 4 };

/**
 * The kafka-single section's shape: one message per `send` call, as a service that sends
 * each message where it arises does. With one call at a time the pass would measure the
 * broker's round trip, not the client; 32 in flight keep the client busy (each call is its
 * own produce request: kafkajs does not linger to batch them).
 */
export const SEND_SINGLY: SendShape = { batch: 1, inFlight: 32 };

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
  message: { headers?: Record<string, unknown> | undefined };
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
  /** The handler to give the consumer's `run()`: it counts, inside the floor's consumer span for the floor variants. */
  eachMessage: (payload: P) => Promise<void>;
  /** Sends `n` messages and resolves with the seconds from the first send to the last message consumed. */
  pass: (n: number) => Promise<number>;
  /** How many consumed messages so far carried a `traceparent` header. */
  traceparents: () => number;
}

/**
 * The workload on `topic` for a variant (`floor` says which floor, if any), consumed in the
 * group `groupId`: `send` sends one call's messages through the (traced or untraced)
 * producer, as `shape` groups them; the handler marks the user handler's start and end on
 * `probe`.
 */
export function kafkaWorkload<P extends ConsumedPayload>({ topic, groupId, variant, floor, shape, probe, send }: { topic: string; groupId: string; variant: string; floor: FloorKind | undefined; shape: SendShape; probe: WrapperProbe; send: (messages: BenchMessage[]) => Promise<unknown> }): KafkaWorkload<P> {
  const floorTracer = trace.getTracer('floor');
  const withAttributes = floor === 'semconv';
  // tracebus's per-message producer span: `create` in a send of several, `send` in a send of one.
  const producerOperation = shape.batch === 1 ? 'send' : 'create';
  const operationAttributes = (operation: string): Attributes => ({ [ATTR_MESSAGING_SYSTEM]: KAFKA_SYSTEM, [ATTR_MESSAGING_OPERATION_NAME]: operation, [ATTR_MESSAGING_OPERATION_TYPE]: operation, [ATTR_MESSAGING_DESTINATION_NAME]: topic });
  const producerAttributes = (): Attributes => operationAttributes(producerOperation);
  const consumerAttributes = (): Attributes => ({ ...operationAttributes('process'), [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: groupId });
  const producerName = `${withAttributes ? producerOperation : 'send'} ${topic}`;
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
      const span = floorTracer.startSpan(`process ${topic}`, { kind: SpanKind.CONSUMER, attributes: withAttributes ? consumerAttributes() : undefined }, parent);
      try {
        await context.with(trace.setSpan(parent, span), handler, undefined, payload);
      } finally {
        span.end();
      }
    };

  /**
   * One message to send; the floor's producer side: a producer span whose context the
   * message carries, linked from `links` when the call has a batch `send` span.
   */
  const message: (links: Link[] | undefined) => BenchMessage =
    floor !== undefined
      ? (links) => {
          const span = floorTracer.startSpan(producerName, { kind: SpanKind.PRODUCER, attributes: withAttributes ? producerAttributes() : undefined });
          const headers: Record<string, string> = {};
          propagation.inject(trace.setSpan(context.active(), span), headers);
          span.end();
          links?.push({ context: span.spanContext() });
          return { value: payload, headers };
        }
      : staticHeaders === undefined
        ? () => ({ value: payload })
        : () => ({ value: payload, headers: { ...staticHeaders } });

  // floor+semconv+confirm (see the header): a send of one message whose span covers the call.
  const endAtAck = variant === CONFIRM_FLOOR;
  if (endAtAck && shape.batch !== 1) throw new Error(`${CONFIRM_FLOOR} sends one message per call: run it with the single shape`);
  const sendAcked = (): Promise<unknown> => {
    const span = floorTracer.startSpan(producerName, { kind: SpanKind.PRODUCER, attributes: producerAttributes() });
    const ctx = trace.setSpan(context.active(), span);
    const headers: Record<string, string> = {};
    propagation.inject(ctx, headers);
    return context.with(ctx, send, undefined, [{ value: payload, headers }]).then(
      () => span.end(),
      (error: unknown) => {
        // `error.type` is Conditionally Required on a failed operation: only a span that is
        // still open when the send settles can record it.
        span.setStatus({ code: SpanStatusCode.ERROR });
        span.setAttribute(ATTR_ERROR_TYPE, error instanceof Error ? error.name : '_OTHER');
        span.end();
        throw error;
      },
    );
  };

  // floor+semconv's batch `send` span (see the header): only where a call carries several messages.
  const batchSpans = withAttributes && shape.batch > 1;
  const sendInSpan = (batch: BenchMessage[], links: Link[]): Promise<unknown> => {
    const attributes = operationAttributes('send');
    attributes[ATTR_MESSAGING_BATCH_MESSAGE_COUNT] = batch.length;
    const span = floorTracer.startSpan(`send ${topic}`, { kind: SpanKind.CLIENT, attributes, links });
    return context.with(trace.setSpan(context.active(), span), send, undefined, batch).finally(() => span.end());
  };

  /** One `send` call of `count` messages, as the variant makes it. */
  const call = (count: number): Promise<unknown> => {
    if (endAtAck) return sendAcked();
    // Fresh message objects for every call: an instrumentation may write its headers into
    // the objects it is given.
    const batch: BenchMessage[] = [];
    const links: Link[] | undefined = batchSpans ? [] : undefined;
    for (let index = 0; index < count; index++) batch.push(message(links));
    return links === undefined ? send(batch) : sendInSpan(batch, links);
  };

  let received = 0;
  let carried = 0;
  let target = 0;
  let lastConsumed = 0n;
  let allConsumed = () => {};
  const handler = async (payload: P): Promise<void> => {
    probe.handlerStarted();
    if (payload.message.headers?.traceparent !== undefined) carried++;
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
    for (let sent = 0; sent < n; sent += shape.batch) {
      const sending: Promise<unknown> = call(Math.min(shape.batch, n - sent)).finally(() => inFlight.delete(sending));
      inFlight.add(sending);
      if (inFlight.size >= shape.inFlight) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    await consumed;
    return Number(lastConsumed - start) / 1e9;
  }

  return { eachMessage: floor !== undefined ? floorEachMessage(handler) : handler, pass, traceparents: () => carried };
}
