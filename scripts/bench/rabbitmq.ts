/**
 * One RabbitMQ benchmark variant, run in its own process by scripts/bench/run.ts:
 *   AMQP_URL=amqp://… node scripts/bench/rabbitmq.ts <variant> <messages>
 * Prints one JSON line: { variant, messages, seconds, cpuMicrosPerMessage, latency, spansPerMessage, traceparentsPerMessage, broker }.
 *
 * Variants:
 *   untraced        amqplib alone, no SDK
 *   tracebus        traceChannel() on both channels, with the SDK of sdk.ts
 *   tracebus-nosdk  traceChannel() on both channels, no SDK registered
 *   otel            @opentelemetry/instrumentation-amqplib with the same SDK
 *   floor           amqplib and, with the same SDK, only the OpenTelemetry work each message
 *                   cannot avoid: start and end a producer span and inject its context;
 *                   extract it, start a consumer span and run the handler in its context
 *   floor+semconv   the floor with the attributes semantic conventions require for RabbitMQ,
 *                   named and valued as tracebus records them: its spans start with
 *                   `messaging.system.name` `rabbitmq`, the operation's name and type (`send`,
 *                   `process`) and the destination (the queue: the default exchange with the
 *                   queue as routing key); a span that records then gets the routing key
 *                   (Conditionally Required "if not empty") and, on the consumer's side, the
 *                   delivery tag (Conditionally Required "when available")
 *   floor+semconv+confirm
 *                   floor+semconv, its send span ended when the broker confirms the message
 *                   (failed on a nack), as tracebus's is, rather than right after the publish
 *   tracebus@1%, otel@1%, floor+semconv@1%
 *                   the same under the SDK's production sampler, ParentBased(TraceIdRatioBased(0.01)):
 *                   each producer span starts a trace, 1% of them are kept, and the consumer
 *                   span follows the decision the message carried
 *
 * Workload, the same for every variant: one producer connection with a ConfirmChannel,
 * one consumer connection with a channel of prefetch 500, a fresh exclusive queue. The
 * producer publishes `messages` messages of 256 bytes to the queue through the default
 * exchange, waiting for the broker's confirms after every 1,000 (a bounded window, as a
 * producer that cares about its messages does); the consumer acks each message in its
 * handler, and counts those that carried a `traceparent`. Throughput is end to end: from the
 * first publish to the last message consumed.
 *
 * With BENCH_PROFILE=<file>, the first throughput pass is CPU-profiled into that file (cpu-profile.ts).
 * BENCH_PAYLOAD_BYTES and BENCH_STATIC_HEADERS change the messages (payload.ts); with
 * BENCH_MEMORY=1, under --expose-gc, the child measures the heap and allocation instead (heap.ts).
 *
 * Passes on the one queue: a warm-up (as many messages as the measured pass, at least
 * 30,000), three throughput passes, and a latency pass of the same size with the wrapper
 * probe on (probe.ts, passes.ts).
 */
import { createRequire } from 'node:module';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span } from '@opentelemetry/api';
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { RABBITMQ_SYSTEM } from '../../src/amqplib/attributes.ts';
import { ATTR_ERROR_TYPE, ATTR_MESSAGING_DESTINATION_NAME, ATTR_MESSAGING_OPERATION_NAME, ATTR_MESSAGING_OPERATION_TYPE, ATTR_MESSAGING_SYSTEM, ATTR_RABBITMQ_DELIVERY_TAG, ATTR_RABBITMQ_ROUTING_KEY } from '../../src/core/semconv.ts';
import { setUpBrokerVariant } from './broker-variant.ts';
import { measureMemory } from './heap.ts';
import { measurePasses } from './passes.ts';
import { benchPayload } from './payload.ts';
import { CONFIRM_FLOOR } from './results.ts';
import { WrapperProbe } from './probe.ts';

// Before amqplib is first loaded: the official instrumentation hooks its require.
const { variant, messages, provider, sampled, floor } = await setUpBrokerVariant(20_000, async () => new (await import('@opentelemetry/instrumentation-amqplib')).AmqplibInstrumentation(), [CONFIRM_FLOOR]);
const url = process.env.AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const CONFIRM_WINDOW = 1_000;
const PREFETCH = 500;
const { payload, staticHeaders } = benchPayload(variant);

const amqp = createRequire(import.meta.url)('amqplib') as typeof import('amqplib');
const decorate = variant.startsWith('tracebus') ? (await import('../../src/amqplib/index.ts')).traceChannel() : undefined;

const producerConnection = await amqp.connect(url);
const consumerConnection = await amqp.connect(url);
const rawProducer = await producerConnection.createConfirmChannel();
const rawConsumer = await consumerConnection.createChannel();
await rawConsumer.prefetch(PREFETCH);

// The probe goes where amqplib keeps the consumer callback, so it wraps whatever amqplib
// was handed: the handler itself, tracebus's callback, or the instrumentation's.
const probe = new WrapperProbe(messages);
const registerConsumer = (rawConsumer as unknown as { registerConsumer: (tag: string, callback: (message: unknown) => unknown) => void }).registerConsumer;
Object.defineProperty(rawConsumer, 'registerConsumer', {
  value: function probedRegister(this: unknown, tag: string, callback: (message: unknown) => unknown) {
    return registerConsumer.call(this, tag, probe.wrapSync(callback));
  },
});

const producer = (decorate ? decorate(rawProducer) : rawProducer) as ConfirmChannel;
const consumer = (decorate ? decorate(rawConsumer) : rawConsumer) as Channel;

const queue = `tracebus.bench.${process.pid}.${Date.now()}`;
await consumer.assertQueue(queue, { exclusive: true, durable: false });

const floorTracer = trace.getTracer('floor');
const withAttributes = floor === 'semconv';
const endAtConfirm = variant === CONFIRM_FLOOR;
const sendAttributes = (): Attributes => ({ [ATTR_MESSAGING_SYSTEM]: RABBITMQ_SYSTEM, [ATTR_MESSAGING_OPERATION_NAME]: 'send', [ATTR_MESSAGING_OPERATION_TYPE]: 'send', [ATTR_MESSAGING_DESTINATION_NAME]: queue });
const processAttributes = (): Attributes => ({ [ATTR_MESSAGING_SYSTEM]: RABBITMQ_SYSTEM, [ATTR_MESSAGING_OPERATION_NAME]: 'process', [ATTR_MESSAGING_OPERATION_TYPE]: 'process', [ATTR_MESSAGING_DESTINATION_NAME]: queue });
// The routing key and the delivery tag are set after the start, on a span that records, as
// tracebus sets its own: the cheapest way to record them (a start attribute is checked twice,
// and also for the spans the sampler drops).
const recordSend = (span: Span): void => {
  if (span.isRecording()) span.setAttribute(ATTR_RABBITMQ_ROUTING_KEY, queue);
};
const recordProcess = (span: Span, message: ConsumeMessage): void => {
  if (span.isRecording()) span.setAttributes({ [ATTR_RABBITMQ_ROUTING_KEY]: message.fields.routingKey, [ATTR_RABBITMQ_DELIVERY_TAG]: message.fields.deliveryTag });
};
type OnMessage = (message: ConsumeMessage | null) => void;

/** The floor's consumer side: the handler inside a consumer span continuing the message's context. */
const floorConsume = (handler: OnMessage): OnMessage =>
  function floorConsumer(message) {
    if (message === null) return handler(message);
    const parent = propagation.extract(ROOT_CONTEXT, message.properties.headers ?? {});
    const span = floorTracer.startSpan(`process ${queue}`, { kind: SpanKind.CONSUMER, attributes: withAttributes ? processAttributes() : undefined }, parent);
    if (withAttributes) recordProcess(span, message);
    try {
      context.with(trace.setSpan(parent, span), handler, undefined, message);
    } finally {
      span.end();
    }
  };

/** One publish; the floor's producer side: a producer span whose context the message carries. */
const publish =
  floor !== undefined
    ? () => {
        const span = floorTracer.startSpan(`send ${queue}`, { kind: SpanKind.PRODUCER, attributes: withAttributes ? sendAttributes() : undefined });
        if (withAttributes) recordSend(span);
        const headers: Record<string, string> = {};
        propagation.inject(trace.setSpan(context.active(), span), headers);
        if (endAtConfirm) {
          producer.sendToQueue(queue, payload, { headers }, (error) => {
            // `error.type` is Conditionally Required on a failed send.
            if (error != null) span.setStatus({ code: SpanStatusCode.ERROR }).setAttribute(ATTR_ERROR_TYPE, error instanceof Error ? error.name : '_OTHER');
            span.end();
          });
        } else {
          producer.sendToQueue(queue, payload, { headers });
          span.end();
        }
      }
    : staticHeaders === undefined
      ? () => producer.sendToQueue(queue, payload)
      : () => producer.sendToQueue(queue, payload, { headers: staticHeaders });

let received = 0;
let carried = 0;
let target = 0;
let lastConsumed = 0n;
let allConsumed = () => {};
const handler: OnMessage = (message) => {
  if (message === null) return;
  probe.handlerStarted();
  if (message.properties.headers?.traceparent !== undefined) carried++;
  const done = ++received === target;
  probe.handlerEnded();
  consumer.ack(message);
  if (done) {
    lastConsumed = process.hrtime.bigint();
    allConsumed();
  }
};
await consumer.consume(queue, floor !== undefined ? floorConsume(handler) : handler);

async function pass(n: number): Promise<number> {
  const consumed = new Promise<void>((resolve) => (allConsumed = resolve));
  target = received + n;
  const start = process.hrtime.bigint();
  for (let index = 1; index <= n; index++) {
    publish();
    if (index % CONFIRM_WINDOW === 0) await producer.waitForConfirms();
  }
  await producer.waitForConfirms();
  await consumed;
  return Number(lastConsumed - start) / 1e9;
}

// With BENCH_MEMORY=1 (the memory sections, under --expose-gc), the heap and allocation instead (heap.ts).
const measured = process.env.BENCH_MEMORY === '1' ? await measureMemory({ pass, messages, provider, spansExpected: 2 }) : await measurePasses({ pass, messages, provider, probe, spansExpected: 2, sampled, traceparents: () => carried });

const serverProperties = (consumerConnection as unknown as { connection: { serverProperties?: { product?: string; version?: string } } }).connection.serverProperties;
await consumerConnection.close();
await producerConnection.close();
await provider?.shutdown();
console.log(JSON.stringify({ variant, messages, ...measured, broker: `${serverProperties?.product ?? 'RabbitMQ'} ${serverProperties?.version ?? '?'}` }));
