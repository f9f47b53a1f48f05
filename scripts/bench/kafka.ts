/**
 * One Kafka benchmark variant, run in its own process by scripts/bench/run.ts:
 *   KAFKA_BROKERS=host:port node scripts/bench/kafka.ts <variant> <messages>
 * Prints one JSON line: { variant, messages, seconds, cpuMicrosPerMessage, latency, spansPerMessage }
 * (kafkajs cannot tell the broker's version; run.ts names the broker it provisioned).
 *
 * Variants:
 *   untraced        kafkajs alone, no SDK
 *   tracebus        traceProducer() and traceConsumer(), with the SDK of sdk.ts
 *   tracebus-nosdk  traceProducer() and traceConsumer(), no SDK registered
 *   otel            @opentelemetry/instrumentation-kafkajs with the same SDK
 *   floor           kafkajs and, with the same SDK, only the OpenTelemetry work each message
 *                   cannot avoid: start and end a producer span per message and inject its
 *                   context; extract it, start a consumer span and run the handler in its context
 *
 * Workload, the same for every variant: a fresh topic of 3 partitions; one producer sends
 * `messages` keyless messages of 256 bytes in `send` calls of 100 messages, at most 4 calls
 * in flight (acks from all in-sync replicas, kafkajs's default); one consumer in its own
 * group runs an `eachMessage` handler (one partition at a time, kafkajs's default) that
 * counts the messages. Throughput is end to end: from the first send to the last message
 * consumed.
 *
 * With BENCH_PROFILE=<file>, the throughput pass is CPU-profiled into that file (cpu-profile.ts).
 *
 * Passes on the one topic and consumer: a warm-up (a tenth of the messages, at least 1,000),
 * the throughput pass, and a latency pass of the same size with the wrapper probe on
 * (probe.ts, passes.ts).
 */
import { createRequire } from 'node:module';
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type TextMapGetter } from '@opentelemetry/api';
import type { Consumer, EachMessagePayload, Kafka as KafkaClient, Message, Producer } from 'kafkajs';
import { setUpBrokerVariant } from './broker-variant.ts';
import { measurePasses } from './passes.ts';
import { WrapperProbe } from './probe.ts';

// Before kafkajs is first loaded: the official instrumentation hooks its require.
const { variant, messages, provider } = await setUpBrokerVariant(50_000, async () => new (await import('@opentelemetry/instrumentation-kafkajs')).KafkaJsInstrumentation());
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const PARTITIONS = 3;
const BATCH = 100;
const IN_FLIGHT = 4;
const payload = Buffer.alloc(256, 'x');

// kafkajs 2.2.4 arms timers with negative delays on Node 24; the warning for each is noise
// in the benchmark's output, every other warning is still printed.
const [defaultWarningListener] = process.listeners('warning');
if (defaultWarningListener !== undefined) {
  process.removeListener('warning', defaultWarningListener);
  process.on('warning', (warning) => warning.name === 'TimeoutNegativeWarning' || defaultWarningListener(warning));
}
const require = createRequire(import.meta.url);
const { Kafka, logLevel, Partitioners } = require('kafkajs') as typeof import('kafkajs');
const tracebus = variant.startsWith('tracebus') ? await import('../../src/kafkajs/index.ts') : undefined;

// The probe goes where kafkajs calls eachMessage, so it wraps whatever kafkajs was handed:
// the handler itself, tracebus's middleware, or the instrumentation's wrapper.
const probe = new WrapperProbe(messages);
const Runner = require('kafkajs/src/consumer/runner.js') as { prototype: { processEachMessage: (batch: unknown) => Promise<void>; eachMessage: (payload: EachMessagePayload) => unknown } };
const processEachMessage = Runner.prototype.processEachMessage;
const probed = new WeakSet<object>();
Runner.prototype.processEachMessage = function probedProcessEachMessage(batch) {
  if (!probed.has(this)) {
    probed.add(this);
    this.eachMessage = probe.wrapAsync(this.eachMessage) as (payload: EachMessagePayload) => Promise<void>;
  }
  return processEachMessage.call(this, batch);
};

const clientId = 'tracebus-bench';
const kafka: KafkaClient = new Kafka({ clientId, brokers, logLevel: logLevel.NOTHING });
const topic = `tracebus-bench-${process.pid}-${Date.now()}`;
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });

const rawProducer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
const rawConsumer = kafka.consumer({ groupId: `${topic}-group`, maxWaitTimeInMs: 100 });
const producer: Producer = tracebus ? tracebus.traceProducer({ brokers, clientId })(rawProducer) : rawProducer;
const consumer: Consumer = tracebus ? (tracebus.traceConsumer({ brokers, clientId })(rawConsumer) as unknown as Consumer) : rawConsumer;
await Promise.all([producer.connect(), consumer.connect()]);
await consumer.subscribe({ topics: [topic], fromBeginning: true });

const floorTracer = trace.getTracer('floor');
// kafkajs hands consumed header values over as Buffers.
const bufferGetter: TextMapGetter<Record<string, unknown>> = {
  get: (carrier, key) => carrier[key]?.toString(),
  keys: (carrier) => Object.keys(carrier),
};
type EachMessage = (payload: EachMessagePayload) => Promise<void>;

/** The floor's consumer side: the handler inside a consumer span continuing the message's context. */
const floorEachMessage = (handler: EachMessage): EachMessage =>
  async function floorConsumer(payload) {
    const parent = propagation.extract(ROOT_CONTEXT, payload.message.headers ?? {}, bufferGetter);
    const span = floorTracer.startSpan(`process ${topic}`, { kind: SpanKind.CONSUMER }, parent);
    try {
      await context.with(trace.setSpan(parent, span), handler, undefined, payload);
    } finally {
      span.end();
    }
  };

/** One message to send; the floor's producer side: a producer span whose context the message carries. */
const message: () => Message =
  variant === 'floor'
    ? () => {
        const span = floorTracer.startSpan(`send ${topic}`, { kind: SpanKind.PRODUCER });
        const headers: Record<string, string> = {};
        propagation.inject(trace.setSpan(context.active(), span), headers);
        span.end();
        return { value: payload, headers };
      }
    : () => ({ value: payload });

let received = 0;
let target = 0;
let lastConsumed = 0n;
let allConsumed = () => {};
const handler: EachMessage = async () => {
  probe.handlerStarted();
  const done = ++received === target;
  probe.handlerEnded();
  if (done) {
    lastConsumed = process.hrtime.bigint();
    allConsumed();
  }
};
const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
await consumer.run({ eachMessage: variant === 'floor' ? floorEachMessage(handler) : handler });
await joined;

async function pass(n: number): Promise<number> {
  const consumed = new Promise<void>((resolve) => (allConsumed = resolve));
  target = received + n;
  const inFlight = new Set<Promise<unknown>>();
  const start = process.hrtime.bigint();
  for (let sent = 0; sent < n; sent += BATCH) {
    // Fresh message objects for every call: the official instrumentation writes its
    // headers into the objects it is given.
    const batch: Message[] = [];
    for (let index = 0; index < Math.min(BATCH, n - sent); index++) batch.push(message());
    const sending: Promise<unknown> = producer.send({ topic, messages: batch }).finally(() => inFlight.delete(sending));
    inFlight.add(sending);
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await consumed;
  return Number(lastConsumed - start) / 1e9;
}

const measured = await measurePasses({ pass, messages, provider, probe, spansExpected: 2 });

await Promise.all([consumer.disconnect(), producer.disconnect()]);
await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
await admin.disconnect();
await provider?.shutdown();
console.log(JSON.stringify({ variant, messages, ...measured }));
