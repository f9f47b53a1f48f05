/**
 * One benchmark variant of @confluentinc/kafka-javascript (its KafkaJS API), run in its own
 * process by scripts/bench/run.ts, side by side with kafka.ts's kafkajs:
 *   KAFKA_BROKERS=host:port node scripts/bench/confluent-kafka.ts <variant> <messages>
 * Prints one JSON line: { variant, messages, seconds, cpuMicrosPerMessage, latency, spansPerMessage, traceparentsPerMessage }
 * The client is built with `bash scripts/clients/build-confluent.sh`.
 *
 * Variants (those of kafka.ts but `otel` and `otel@1%`: this client has no official
 * OpenTelemetry instrumentation, so tracebus is measured against its untraced run and the floors):
 *   untraced        the client alone, no SDK
 *   tracebus        traceConfluentProducer() and traceConfluentConsumer(), with the SDK of sdk.ts
 *   tracebus-nosdk  traceConfluentProducer() and traceConfluentConsumer(), no SDK registered
 *   floor           the client and, with the same SDK, only the OpenTelemetry work each message
 *                   cannot avoid (kafka-workload.ts)
 *   floor+semconv   the floor with the attributes semantic conventions require (kafka-workload.ts)
 *   tracebus@1%, floor+semconv@1%
 *                   the same under the SDK's production sampler, ParentBased(TraceIdRatioBased(0.01))
 *
 * Workload: kafka.ts's (kafka-workload.ts), with the client's defaults (acks from all in-sync
 * replicas, `eachMessage` on one partition at a time) but `linger.ms` 0, so that a `send`
 * goes out at once as with kafkajs rather than after librdkafka's 5 ms.
 *
 * With BENCH_PROFILE=<file>, the first throughput pass is CPU-profiled into that file (cpu-profile.ts).
 *
 * Passes on the one topic and consumer: a warm-up (as many messages as the measured pass,
 * at least 30,000), three throughput passes, and a latency pass of the same size with the
 * wrapper probe on (probe.ts, passes.ts).
 */
import { createRequire } from 'node:module';
import type { KafkaJS } from '@confluentinc/kafka-javascript';
import { assigned } from '../../test/support/confluent-kafka.ts';
import { setUpBrokerVariant } from './broker-variant.ts';
import { createBenchTopic, kafkaWorkload, quietNegativeTimeouts, SEND_IN_BATCHES } from './kafka-workload.ts';
import { measurePasses } from './passes.ts';
import { WrapperProbe } from './probe.ts';

const { variant, messages, provider, sampled, floor } = await setUpBrokerVariant(50_000);
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

const require = createRequire(import.meta.url);
const { Kafka, logLevel } = (require('@confluentinc/kafka-javascript') as { KafkaJS: typeof KafkaJS }).KafkaJS;
const tracebus = variant.startsWith('tracebus') ? await import('../../src/confluent-kafka/index.ts') : undefined;

const clientId = 'tracebus-bench';
const kafka = new Kafka({ kafkaJS: { clientId, brokers, logLevel: logLevel.NOTHING } });
// Topics through a kafkajs admin, as the tests make them: it waits for their leaders.
quietNegativeTimeouts();
const { Kafka: KafkaJsClient, logLevel: kafkaJsLogLevel } = await import('kafkajs');
const { topic, remove } = await createBenchTopic(new KafkaJsClient({ clientId: `${clientId}-admin`, brokers, logLevel: kafkaJsLogLevel.NOTHING }).admin());

const rawProducer = kafka.producer({ 'linger.ms': 0 });
const groupId = `${topic}-group`;
const rawConsumer = kafka.consumer({ kafkaJS: { groupId, fromBeginning: true, maxWaitTimeInMs: 100 } });

// The probe goes where the client calls eachMessage (it calls the handler its `run()` was
// given), so it wraps whatever the client was handed: the handler itself or tracebus's.
const probe = new WrapperProbe(messages);
const run = rawConsumer.run.bind(rawConsumer);
rawConsumer.run = (config) => run({ ...config, eachMessage: config?.eachMessage && (probe.wrapAsync(config.eachMessage) as KafkaJS.EachMessageHandler) });

const producer: KafkaJS.Producer = tracebus ? tracebus.traceConfluentProducer({ brokers, clientId })(rawProducer) : rawProducer;
const consumer: KafkaJS.Consumer = tracebus ? (tracebus.traceConfluentConsumer({ brokers, clientId })(rawConsumer) as unknown as KafkaJS.Consumer) : rawConsumer;
await Promise.all([producer.connect(), consumer.connect()]);
await consumer.subscribe({ topics: [topic] });

const workload = kafkaWorkload<KafkaJS.EachMessagePayload>({ topic, groupId, variant, floor, shape: SEND_IN_BATCHES, probe, send: (batch) => producer.send({ topic, messages: batch }) });
await consumer.run({ eachMessage: workload.eachMessage });
// This client has no group-join event: its assignment is polled.
await assigned(consumer);

const measured = await measurePasses({ pass: workload.pass, messages, provider, probe, spansExpected: 2, sampled, traceparents: workload.traceparents });

await Promise.all([consumer.disconnect(), producer.disconnect()]);
await remove();
await provider?.shutdown();
console.log(JSON.stringify({ variant, messages, ...measured }));
