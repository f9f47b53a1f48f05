/**
 * One Kafka benchmark variant, run in its own process by scripts/bench/run.ts:
 *   KAFKA_BROKERS=host:port node scripts/bench/kafka.ts <variant> <messages> [single]
 * Prints one JSON line: { variant, messages, seconds, cpuMicrosPerMessage, latency, spansPerMessage, traceparentsPerMessage }
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
 *   floor+semconv   the floor, its spans started with the attributes semantic conventions
 *                   require (kafka-workload.ts)
 *   floor+semconv+confirm
 *                   with `single` only: floor+semconv, its send span active while kafkajs sends
 *                   and ended when the broker acknowledges the message (kafka-workload.ts)
 *   tracebus@1%, otel@1%, floor+semconv@1%
 *                   the same under the SDK's production sampler, ParentBased(TraceIdRatioBased(0.01)):
 *                   each producer span starts a trace, 1% of them are kept, and the consumer
 *                   span follows the decision the message carried
 *
 * Workload, the same for every variant and for confluent-kafka.ts (kafka-workload.ts): a
 * fresh topic of 3 partitions; one producer sends `messages` keyless messages of 256 bytes in
 * `send` calls of 100 messages, at most 4 calls in flight (acks from all in-sync replicas,
 * kafkajs's default); one consumer in its own group runs an `eachMessage` handler (one
 * partition at a time, kafkajs's default) that counts the messages. Throughput is end to end:
 * from the first send to the last message consumed.
 *
 * With `single` (the kafka-single section), each `send` call carries one message and up to
 * 32 calls are in flight (kafka-workload.ts's SEND_SINGLY): the per-call work of the client
 * and of tracing, which a call of 100 spreads over its messages, then falls on every message;
 * the calls in flight keep the pass from measuring the broker's round trip instead.
 *
 * With BENCH_PROFILE=<file>, the first throughput pass is CPU-profiled into that file (cpu-profile.ts).
 * BENCH_PAYLOAD_BYTES and BENCH_STATIC_HEADERS change the messages (payload.ts); with
 * BENCH_MEMORY=1, under --expose-gc, the child measures the heap and allocation instead (heap.ts).
 *
 * Passes on the one topic and consumer: a warm-up (as many messages as the measured pass,
 * at least 30,000), three throughput passes, and a latency pass of the same size with the
 * wrapper probe on (probe.ts, passes.ts).
 */
import { createRequire } from 'node:module';
import type { Consumer, EachMessagePayload, Kafka as KafkaClient, Producer } from 'kafkajs';
import { setUpBrokerVariant } from './broker-variant.ts';
import { measureMemory } from './heap.ts';
import { createBenchTopic, kafkaWorkload, quietNegativeTimeouts, SEND_IN_BATCHES, SEND_SINGLY } from './kafka-workload.ts';
import { measurePasses } from './passes.ts';
import { WrapperProbe } from './probe.ts';
import { CONFIRM_FLOOR } from './results.ts';

// Before kafkajs is first loaded: the official instrumentation hooks its require.
// A send of one message has a floor whose send span covers the call (kafka-workload.ts).
const single = process.argv[4] === 'single';
const { variant, messages, provider, sampled, floor } = await setUpBrokerVariant(50_000, async () => new (await import('@opentelemetry/instrumentation-kafkajs')).KafkaJsInstrumentation(), single ? [CONFIRM_FLOOR] : []);
const shape = single ? SEND_SINGLY : SEND_IN_BATCHES;
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

quietNegativeTimeouts();
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
const { topic, remove } = await createBenchTopic(kafka.admin());

const rawProducer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
const groupId = `${topic}-group`;
const rawConsumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 });
const producer: Producer = tracebus ? tracebus.traceProducer({ brokers, clientId })(rawProducer) : rawProducer;
const consumer: Consumer = tracebus ? (tracebus.traceConsumer({ brokers, clientId })(rawConsumer) as unknown as Consumer) : rawConsumer;
await Promise.all([producer.connect(), consumer.connect()]);
await consumer.subscribe({ topics: [topic], fromBeginning: true });

const workload = kafkaWorkload<EachMessagePayload>({ topic, groupId, variant, floor, shape, probe, send: (messages) => producer.send({ topic, messages }) });
const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
await consumer.run({ eachMessage: workload.eachMessage });
await joined;

// With BENCH_MEMORY=1 (the memory sections, under --expose-gc), the heap and allocation instead (heap.ts).
const measured = process.env.BENCH_MEMORY === '1' ? await measureMemory({ pass: workload.pass, messages, provider, spansExpected: 2 }) : await measurePasses({ pass: workload.pass, messages, provider, probe, spansExpected: 2, sampled, traceparents: workload.traceparents });

await Promise.all([consumer.disconnect(), producer.disconnect()]);
await remove();
await provider?.shutdown();
console.log(JSON.stringify({ variant, messages, ...measured }));
