/**
 * What tracing alone costs per message, without a broker: tracebus's producer and consumer
 * wrappers (kafkajs, @confluentinc/kafka-javascript's KafkaJS API, amqplib, the in-process
 * bus's publisher and handler) around clients
 * that do nothing (a `send` that resolves at once, an `eachMessage` payload made in memory,
 * a delivery handed over in memory), side by side with the floor that records the
 * attributes semantic conventions require, in one process, with the SDK of sdk.ts. The
 * no-op clients are kafkajs-shaped, so the Kafka floors stand for both Kafka clients.
 * @opentelemetry/instrumentation-kafkajs runs on the same Kafka clients (`… : otel`).
 *
 *   npm run bench:isolated -- [messages=100000] [rounds=5]
 *   ISOLATED_VARIANTS=eachMessage,send  only the variants whose names contain one of these;
 *                       a part that is a variant's whole name selects that variant alone
 *                       (`send x1: tracebus`, not `send x100: tracebus` too)
 *   ISOLATED_GROUP=kafkajs|confluent|amqplib|bus|w3c  only the variants of that transport's
 *                       process in run.ts's isolated section (ISOLATED_GROUPS, isolated-transports.ts)
 *   ISOLATED_BASE=/path/to/other/checkout  also that checkout's tracebus, marked (base)
 *   ISOLATED_SAMPLED=1  under ParentBased(TraceIdRatioBased(0.01)) instead of every trace
 *   ISOLATED_JSON=1     one JSON line of the medians, for run.ts's `isolated` section
 *   ISOLATED_WARMUP_MS=3000  the warm-up before the measured rounds: passes of every selected
 *                       variant (up to 20,000 messages each) until the process has spent this
 *                       much CPU time in them, three passes at least
 *   BENCH_PROFILE=<file>  a CPU profile of the measured rounds (not the warm-up) into that
 *                       file (cpu-profile.ts); the output says how many operations (messages,
 *                       all selected variants together) those rounds ran, `profiledOperations`
 *                       in the JSON line, so that self time per operation can be computed
 *   BENCH_TICK_LOG=1    marks the measured rounds in V8's tick log, for a run under
 *                       `node --prof --log-source-code` (v8-log.ts, whose tickLogFlags run.ts
 *                       passes); `profiledOperations` as above
 *
 * The variants alternate within every round, so a noisy neighbour hits all of them alike;
 * the figure is CPU time (user + system) per message, the median of the rounds, and each
 * tracebus row is also given as a ratio to its floor. The process's CPU time counts V8's
 * threads too (the GC's helpers, the optimizing compiler); the main thread's alone is given
 * beside it, the time a profile of the main thread divides among functions. Broker
 * benchmarks (run.ts) measure the same wrappers with real clients; this one shows tracing's
 * own share without the client's noise, for work on tracebus's hot path.
 */
import { context, defaultTextMapSetter, propagation, ROOT_CONTEXT, SpanKind, trace, type Attributes, type Link, type TextMapGetter, type TextMapPropagator, type TextMapSetter } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { headerGetter, headerSetter } from '../../src/core/headers.ts';
import { activeMessageTrace } from '../../src/core/message-trace.ts';
import type { MemoryMessage } from '../../src/memory/index.ts';
import { w3cConformant } from '../../src/w3c/index.ts';
import { ISOLATED_GROUPS, isolatedGroupOf, W3C_CORE, W3C_TRACEBUS } from './isolated-report.ts';
import { profileIfAsked } from './cpu-profile.ts';
import { markLog } from './v8-log.ts';
import { NoopChannel, NoopConsumer, NoopProducer, type KafkaMessage } from './noop-clients.ts';
import { exportedSpans, productionSampler, registerSdk } from './sdk.ts';

const [count = '100000', roundsText = '5'] = process.argv.slice(2);
const messages = Number(count);
const rounds = Number(roundsText);
const BATCH = 100;
const topic = 'orders';
const payload = Buffer.alloc(256, 'x');

// ISOLATED_SAMPLED=1: under the sampled variants' ParentBased(TraceIdRatioBased(0.01)), where
// most messages get non-recording spans.
const sampled = process.env.ISOLATED_SAMPLED === '1';
const provider = registerSdk(sampled ? { sampler: productionSampler() } : {});
const floorTracer = trace.getTracer('floor');
const bufferGetter: TextMapGetter<Record<string, unknown>> = {
  get: (carrier, key) => carrier[key]?.toString(),
  keys: (carrier) => Object.keys(carrier),
};

const sink = new NoopProducer();

// What RabbitMQ's floor spans start with. They also require the routing key (here the queue,
// through the default exchange) and, on the consumer's, the delivery tag: the floors below set
// those after the start, on a span that records, as rabbitmq.ts's floor and tracebus do.
const rabbitSemconv = (operation: string, type: string) => ({ 'messaging.system.name': 'rabbitmq', 'messaging.operation.name': operation, 'messaging.operation.type': type, 'messaging.destination.name': queue });
const busSemconv = (operation: 'send' | 'process') => ({ 'messaging.system.name': 'tracebus.memory', 'messaging.operation.name': operation, 'messaging.operation.type': operation, 'messaging.destination.name': busTopic });
const semconv = (operation: string, type: string) => ({ 'messaging.system.name': 'kafka', 'messaging.operation.name': operation, 'messaging.operation.type': type, 'messaging.destination.name': topic });

/** Headers as a Kafka client hands them over: what a traced producer wrote, as Buffers. */
function wireHeaders(): Record<string, Buffer> {
  const headers: Record<string, string> = {};
  const span = floorTracer.startSpan('seed');
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), headers);
  span.end();
  return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, Buffer.from(value)]));
}

/**
 * The same headers as text: how amqplib hands over the string headers a traced publisher
 * wrote (AMQP long strings, decoded to strings on delivery), and how the in-process bus
 * carries them.
 */
function textHeaders(): Record<string, string> {
  return Object.fromEntries(Object.entries(wireHeaders()).map(([key, value]) => [key, value.toString()]));
}

/** A delivery as amqplib hands it over, carrying `headers`. */
function delivery(deliveryTag: number, headers: Record<string, unknown>): ConsumeMessage {
  return {
    content: payload,
    fields: { deliveryTag, redelivered: false, exchange: '', routingKey: queue, consumerTag: 'bench' },
    properties: { headers } as ConsumeMessage['properties'],
  };
}
const queue = 'orders';
const rabbitSink = new NoopChannel();

type KafkaModule = typeof import('../../src/kafkajs/index.ts');
type ConfluentModule = typeof import('../../src/confluent-kafka/index.ts');
type AmqpModule = typeof import('../../src/amqplib/index.ts');
type MemoryModule = typeof import('../../src/memory/index.ts');
type Variants = Record<string, (n: number) => Promise<void>>;

/** tracebus's kafkajs wrappers from `module` around the no-op clients. */
async function wrappers(module: KafkaModule) {
  const producer = module.traceProducer({ brokers: ['127.0.0.1:9092'], clientId: 'bench' })(new NoopProducer() as never) as unknown as NoopProducer;
  const consumer = new NoopConsumer();
  await (module.traceConsumer({ brokers: ['127.0.0.1:9092'], clientId: 'bench', groupId: 'bench-group' })(consumer as never) as unknown as NoopConsumer).run({ eachMessage: async () => {} });
  return { producer, eachMessage: consumer.eachMessage! };
}

/**
 * tracebus's wrappers for @confluentinc/kafka-javascript's KafkaJS API from `module` around
 * the same no-op clients: that API has kafkajs's shape, and the wrappers need no more of the
 * client than `send`/`sendBatch` and `run`/`subscribe` (the group comes from the options,
 * as the client's internals it is otherwise read from are not there).
 */
async function confluentWrappers(module: ConfluentModule) {
  const producer = module.traceConfluentProducer({ brokers: ['127.0.0.1:9092'], clientId: 'bench' })(new NoopProducer() as never) as unknown as NoopProducer;
  const consumer = new NoopConsumer();
  await (module.traceConfluentConsumer({ brokers: ['127.0.0.1:9092'], clientId: 'bench', groupId: 'bench-group' })(consumer as never) as unknown as NoopConsumer).run({ eachMessage: async () => {} });
  return { producer, eachMessage: consumer.eachMessage! };
}

/**
 * The Kafka variants of one client's wrappers, named `<prefix>send x100: tracebus<suffix>`
 * and so on; `single` adds `send x1`, one message per `send`.
 */
function kafkaVariants({ producer, eachMessage }: { producer: NoopProducer; eachMessage: (payload: unknown) => Promise<void> }, prefix: string, suffix: string, single: boolean, tracer = 'tracebus'): Variants {
  const variants: Variants = {
    [`${prefix}send x100: ${tracer}${suffix}`]: async (n) => {
      for (let sent = 0; sent < n; sent += BATCH) {
        const batch: KafkaMessage[] = [];
        for (let index = 0; index < BATCH; index++) batch.push({ value: payload });
        await producer.send({ topic, messages: batch });
      }
    },
    [`${prefix}send x1: ${tracer}${suffix}`]: async (n) => {
      for (let sent = 0; sent < n; sent++) await producer.send({ topic, messages: [{ value: payload }] });
    },
    [`${prefix}eachMessage: ${tracer}${suffix}`]: async (n) => {
      const headers = wireHeaders();
      for (let offset = 0; offset < n; offset++) {
        await eachMessage({ topic, partition: 0, message: { key: null, value: payload, headers, offset: String(offset), timestamp: '1700000000000' } });
      }
    },
  };
  if (!single) delete variants[`${prefix}send x1: ${tracer}${suffix}`];
  return variants;
}

/** The tracebus variants of the wrappers from `kafka`, `confluent` (when there) and `amqp`, named with `suffix`. */
async function tracebusVariants(kafka: KafkaModule, confluent: ConfluentModule | undefined, amqp: AmqpModule, memory: MemoryModule, suffix: string): Promise<Variants> {
  const raw = new NoopChannel();
  const channel = amqp.traceChannel({ serverAddress: '127.0.0.1', serverPort: 5672 })(raw as unknown as ConfirmChannel);
  await channel.consume(queue, (message) => message !== null && channel.ack(message));
  // Single sends are kafkajs's alone, as in the broker sections.
  const confluentVariants = confluent === undefined ? {} : kafkaVariants(await confluentWrappers(confluent), 'confluent ', suffix, false);
  return {
    [`amqp publish: tracebus${suffix}`]: async (n) => {
      for (let sent = 1; sent <= n; sent++) {
        channel.sendToQueue(queue, payload);
        if (sent % 100 === 0) await channel.waitForConfirms();
      }
      await channel.waitForConfirms();
    },
    [`amqp consume: tracebus${suffix}`]: async (n) => {
      const headers = textHeaders();
      for (let tag = 1; tag <= n; tag++) {
        raw.deliver(delivery(tag, headers));
        if (tag % 100 === 0) await Promise.resolve();
      }
    },
    ...kafkaVariants(await wrappers(kafka), '', suffix, true),
    ...confluentVariants,
    ...busVariants(memory, suffix),
  };
}

/** A bus that takes every message at once and delivers none: the in-process bus with nothing behind it. */
const noopBus = { publish: async (_topic: string, _message: unknown): Promise<void> => {} };

/** A message as the in-process bus hands it to a handler of a subscription without a group, carrying `headers`. */
function busMessage(index: number, headers: Record<string, string>): MemoryMessage {
  return { topic: busTopic, payload: busPayload, headers, key: undefined, id: `m-${index}`, attempt: 1, redelivered: false, publishedAt: 1700000000000, group: `${busTopic}#1` };
}
const busTopic = 'bench';
const busPayload = { index: 0, kind: 'order' };

// What the bus passes a handler as its second argument; the traced handler gives its own.
const untracedTrace = activeMessageTrace(ROOT_CONTEXT);

/** tracebus's in-process bus publisher and handler from `memory`, as inprocess.ts uses them, around the no-op bus. */
function busVariants(memory: MemoryModule, suffix: string): Variants {
  const publisher = memory.traceMemoryPublisher()(noopBus as never);
  const handler = memory.traceMemoryHandler()(() => undefined);
  return {
    [`bus publish: tracebus${suffix}`]: async (n) => {
      for (let index = 0; index < n; index++) await publisher.publish(busTopic, { payload: busPayload });
    },
    [`bus handler: tracebus${suffix}`]: async (n) => {
      const headers = textHeaders();
      for (let index = 0; index < n; index++) {
        handler(busMessage(index, headers), untracedTrace);
        if (index % 100 === 0) await Promise.resolve();
      }
    },
  };
}

/**
 * @opentelemetry/instrumentation-kafkajs on the same no-op clients: its patch applied to a
 * module whose `Kafka` hands out those clients, so that its own wrappers of `send` and
 * `eachMessage` run as they do around kafkajs's, with nothing under them. The broker sections'
 * `otel` variant, without the client's and the broker's noise around it.
 */
async function officialVariants(): Promise<Variants> {
  const { KafkaJsInstrumentation } = await import('@opentelemetry/instrumentation-kafkajs');
  // Not enabled: it would hook the loading of the real kafkajs; its patch is applied by hand.
  const instrumentation = new KafkaJsInstrumentation({ enabled: false });
  const definition = instrumentation.getModuleDefinitions().find((candidate) => candidate.name === 'kafkajs');
  if (definition?.patch === undefined) throw new Error('isolated.ts: @opentelemetry/instrumentation-kafkajs has no patch for the kafkajs module');
  // kafkajs's producer has `transaction`, which the instrumentation wraps too; these runs never call it.
  class OfficialProducer extends NoopProducer {
    async transaction(): Promise<never> {
      throw new Error('isolated.ts: no transactions on the no-op producer');
    }
  }
  class NoopKafka {
    producer() {
      return new OfficialProducer();
    }
    consumer() {
      return new NoopConsumer();
    }
  }
  const patched = (definition.patch({ Kafka: NoopKafka }, '2.2.4') ?? { Kafka: NoopKafka }) as { Kafka: typeof NoopKafka };
  const kafka = new patched.Kafka();
  const producer = kafka.producer();
  if (producer.send === OfficialProducer.prototype.send) throw new Error('isolated.ts: @opentelemetry/instrumentation-kafkajs did not wrap the producer');
  const consumer = kafka.consumer();
  await consumer.run({ eachMessage: async () => {} });
  return kafkaVariants({ producer, eachMessage: consumer.eachMessage! }, '', '', true, 'otel');
}

// ISOLATED_BASE=<checkout> adds the same variants from another checkout's sources, to
// compare a change with the code before it in one run (its Confluent ones if it has them).
const base = process.env.ISOLATED_BASE;
const tracebus = {
  ...(await tracebusVariants(await import('../../src/kafkajs/index.ts'), await import('../../src/confluent-kafka/index.ts'), await import('../../src/amqplib/index.ts'), await import('../../src/memory/index.ts'), '')),
  ...(base === undefined
    ? {}
    : await tracebusVariants(
        (await import(`${base}/src/kafkajs/index.ts`)) as KafkaModule,
        (await import(`${base}/src/confluent-kafka/index.ts`).catch(() => undefined)) as ConfluentModule | undefined,
        (await import(`${base}/src/amqplib/index.ts`)) as AmqpModule,
        (await import(`${base}/src/memory/index.ts`)) as MemoryModule,
        ' (base)',
      )),
};

// What tracebus's producer spans record beyond the semconv floor's on the no-op clients: the
// broker's address and port (and on Kafka the client id), Recommended by semconv.
const tracebusServer = (port: number) => ({ 'server.address': '127.0.0.1', 'server.port': port });

/**
 * The floor of an AMQP publish on a ConfirmChannel, its span ended at the confirm; `after`
 * set after the start on a span that records, as tracebus sets its own.
 */
function amqpPublishFloor(after: Attributes): (n: number) => Promise<void> {
  return async (n) => {
    for (let sent = 1; sent <= n; sent++) {
      const span = floorTracer.startSpan(`send ${queue}`, { kind: SpanKind.PRODUCER, attributes: rabbitSemconv('send', 'send') });
      if (span.isRecording()) span.setAttributes(after);
      const headers: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), span), headers);
      rabbitSink.sendToQueue(queue, payload, { headers }, () => span.end());
      if (sent % 100 === 0) await rabbitSink.waitForConfirms();
    }
    await new Promise((resolve) => setImmediate(resolve));
  };
}

/** The floor of a Kafka `send` of one message; `after` (when given) set after the start on a span that records, as tracebus sets its own. */
function sendOneFloor(after: Attributes | undefined): (n: number) => Promise<void> {
  return async (n) => {
    for (let sent = 0; sent < n; sent++) {
      const span = floorTracer.startSpan(`send ${topic}`, { kind: SpanKind.PRODUCER, attributes: semconv('send', 'send') });
      if (after !== undefined && span.isRecording()) span.setAttributes(after);
      const headers: Record<string, string> = {};
      const ctx = trace.setSpan(context.active(), span);
      propagation.inject(ctx, headers);
      await context.with(ctx, () => sink.send({ topic, messages: [{ value: payload, headers }] }));
      span.end();
    }
  };
}

/** The floor's consumer side with the attributes `attributesOf` gives, at span start. */
function floorEachMessage(attributesOf: (offset: number) => Record<string, string | number>): (n: number) => Promise<void> {
  return async (n) => {
    const headers = wireHeaders();
    const handler = async () => {};
    for (let offset = 0; offset < n; offset++) {
      const message = { key: null, value: payload, headers, offset: String(offset), timestamp: '1700000000000' };
      const parent = propagation.extract(ROOT_CONTEXT, message.headers, bufferGetter);
      const span = floorTracer.startSpan(`process ${topic}`, { kind: SpanKind.CONSUMER, attributes: attributesOf(offset) }, parent);
      try {
        await context.with(trace.setSpan(parent, span), handler);
      } finally {
        span.end();
      }
    }
  };
}

/**
 * The W3C propagators alone, as tracebus calls its own (src/w3c, through w3cConformant, with
 * its header setter and getter) and as the floors call @opentelemetry/core's: per message, a
 * span's context written into fresh headers and a context read back from the bytes a consumer
 * receives. The contexts are made beforehand, so that no span is started in the measured loop.
 */
function w3cVariant(propagator: TextMapPropagator, setter: TextMapSetter, getter: TextMapGetter<Record<string, unknown>>): (n: number) => Promise<void> {
  const contexts = Array.from({ length: 1024 }, () => {
    const span = floorTracer.startSpan('w3c');
    span.end();
    return trace.setSpan(ROOT_CONTEXT, span);
  });
  const received = contexts.map((ctx) => {
    const headers: Record<string, string> = {};
    propagation.inject(ctx, headers);
    return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, Buffer.from(value)]));
  });
  let read = 0;
  return async (n) => {
    for (let index = 0; index < n; index++) {
      propagator.inject(contexts[index & 1023]!, {}, setter);
      if (trace.getSpanContext(propagator.extract(ROOT_CONTEXT, received[index & 1023], getter)) !== undefined) read++;
      if (index % 1000 === 0) await Promise.resolve();
    }
    if (read === 0) throw new Error('the W3C propagators read no context');
  };
}
const coreW3c = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });

const variants: Record<string, (n: number) => Promise<void>> = {
  [W3C_TRACEBUS]: w3cVariant(w3cConformant(coreW3c), headerSetter, headerGetter),
  [W3C_CORE]: w3cVariant(coreW3c, defaultTextMapSetter, bufferGetter),
  'amqp publish: floor+semconv': amqpPublishFloor({ 'rabbitmq.destination.routing_key': queue }),
  'amqp publish: floor+tracebus attributes': amqpPublishFloor({ 'rabbitmq.destination.routing_key': queue, ...tracebusServer(5672) }),
  'amqp consume: floor+semconv': async (n) => {
    const headers = textHeaders();
    const handler = (message: ConsumeMessage | null) => message !== null && rabbitSink.ack();
    for (let tag = 1; tag <= n; tag++) {
      const message = delivery(tag, headers);
      const parent = propagation.extract(ROOT_CONTEXT, message.properties.headers);
      const span = floorTracer.startSpan(`process ${queue}`, { kind: SpanKind.CONSUMER, attributes: rabbitSemconv('process', 'process') }, parent);
      if (span.isRecording()) span.setAttributes({ 'rabbitmq.destination.routing_key': message.fields.routingKey, 'rabbitmq.message.delivery_tag': message.fields.deliveryTag });
      try {
        context.with(trace.setSpan(parent, span), handler, undefined, message);
      } finally {
        span.end();
      }
      if (tag % 100 === 0) await Promise.resolve();
    }
  },
  // Semconv's spans for a batch API, as kafka-workload.ts's floor records them: a `create`
  // span per message, and a CLIENT `send` span for the call that links to each of them.
  'send x100: floor+semconv': async (n) => {
    for (let sent = 0; sent < n; sent += BATCH) {
      const batch: KafkaMessage[] = [];
      const links: Link[] = [];
      for (let index = 0; index < BATCH; index++) {
        const span = floorTracer.startSpan(`create ${topic}`, { kind: SpanKind.PRODUCER, attributes: semconv('create', 'create') });
        const headers: Record<string, string> = {};
        propagation.inject(trace.setSpan(context.active(), span), headers);
        span.end();
        links.push({ context: span.spanContext() });
        batch.push({ value: payload, headers });
      }
      const span = floorTracer.startSpan(`send ${topic}`, { kind: SpanKind.CLIENT, attributes: { ...semconv('send', 'send'), 'messaging.batch.message_count': BATCH }, links });
      try {
        await context.with(trace.setSpan(context.active(), span), () => sink.send({ topic, messages: batch }));
      } finally {
        span.end();
      }
    }
  },
  'send x1: floor+semconv': sendOneFloor(undefined),
  'send x1: floor+tracebus attributes': sendOneFloor({ ...tracebusServer(9092), 'messaging.client.id': 'bench' }),
  // The in-process bus's floors: inprocess.ts's `bus+floor+attributes` publisher and handler.
  'bus publish: floor+semconv': async (n) => {
    for (let index = 0; index < n; index++) {
      const span = floorTracer.startSpan(`send ${busTopic}`, { kind: SpanKind.PRODUCER, attributes: busSemconv('send') }, context.active());
      const headers: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), span), headers);
      await noopBus.publish(busTopic, { payload: busPayload, headers }).then(() => span.end());
    }
  },
  'bus handler: floor+semconv': async (n) => {
    const headers = textHeaders();
    const handler = (_message: MemoryMessage) => undefined;
    for (let index = 0; index < n; index++) {
      const message = busMessage(index, headers);
      const parent = propagation.extract(ROOT_CONTEXT, message.headers);
      const span = floorTracer.startSpan(`process ${message.topic}`, { kind: SpanKind.CONSUMER, attributes: { ...busSemconv('process'), 'messaging.message.id': message.id } }, parent);
      context.with(trace.setSpan(parent, span), handler, undefined, message);
      span.end();
      if (index % 100 === 0) await Promise.resolve();
    }
  },
  // Kafka's process spans also require the consumer group ("if applicable").
  'eachMessage: floor+semconv': floorEachMessage(() => ({ ...semconv('process', 'process'), 'messaging.consumer.group.name': 'bench-group' })),
  'eachMessage: floor+tracebus attributes': floorEachMessage((offset) => ({
    ...semconv('process', 'process'),
    'messaging.consumer.group.name': 'bench-group',
    'messaging.destination.partition.id': '0',
    'kafka.offset': offset,
    'server.address': '127.0.0.1',
    'server.port': 9092,
    'messaging.client.id': 'bench',
  })),
};

/** CPU µs per message of one run of `variant`, its spans flushed (export included): the process's, and its main thread's alone. */
async function measure(name: string, n: number): Promise<{ process: number; mainThread: number }> {
  const before = process.cpuUsage();
  const mainBefore = process.threadCpuUsage();
  await variants[name]!(n);
  await provider.forceFlush();
  const main = process.threadCpuUsage(mainBefore);
  const used = process.cpuUsage(before);
  return { process: (used.user + used.system) / n, mainThread: (main.user + main.system) / n };
}

Object.assign(variants, tracebus, await officialVariants());
for (const name of Object.keys(variants)) if (isolatedGroupOf(name) === undefined) throw new Error(`isolated.ts: the variant '${name}' is in no process of ISOLATED_GROUPS (isolated-report.ts), or in more than one`);
// A part of ISOLATED_VARIANTS that is a variant's whole name selects that variant alone (so
// that `send x1: tracebus` does not also select `send x100: tracebus`); any other part, the
// variants whose names contain it. ISOLATED_GROUP keeps those of one process of ISOLATED_GROUPS.
const only = process.env.ISOLATED_VARIANTS?.split(',');
const group = process.env.ISOLATED_GROUP;
if (group !== undefined && !ISOLATED_GROUPS.some(({ name }) => name === group)) throw new Error(`ISOLATED_GROUP=${group}: use one of ${ISOLATED_GROUPS.map(({ name }) => name).join(', ')}`);
// The process of the @confluentinc/kafka-javascript wrappers runs the Kafka floors too, under
// names of its group, and compares the wrappers with them there.
if (group === 'confluent') for (const operation of ['send x100', 'eachMessage']) variants[`confluent ${operation}: floor+semconv`] = variants[`${operation}: floor+semconv`]!;
const selects = (name: string) => (only === undefined || only.some((part) => (Object.hasOwn(variants, part) ? name === part : name.includes(part)))) && (group === undefined || isolatedGroupOf(name) === group);
const names = Object.keys(variants).filter(selects);
if (names.length === 0) throw new Error(`ISOLATED_VARIANTS=${process.env.ISOLATED_VARIANTS}${group === undefined ? '' : ` with ISOLATED_GROUP=${group}`} selects none of: ${Object.keys(variants).join(', ')}`);
// The warm-up runs until the process is in its steady state, as a service's is after a while:
// a process that has run its variants for a few hundred milliseconds is still growing its heap
// and optimizing, and measured up to 2–3 times the CPU per message it settles at (the W3C
// propagators alone, or one wrapper alone in a profiled child). Passes of every variant until
// the process spent ISOLATED_WARMUP_MS of CPU time in them, three at least.
const warmupMillis = Number(process.env.ISOLATED_WARMUP_MS ?? 3000);
if (!(warmupMillis >= 0)) throw new Error(`ISOLATED_WARMUP_MS=${process.env.ISOLATED_WARMUP_MS}: give the warm-up's CPU time in milliseconds, e.g. 3000`);
const warmupStart = process.cpuUsage();
const warmedMillis = () => {
  const used = process.cpuUsage(warmupStart);
  return (used.user + used.system) / 1000;
};
for (let pass = 0; pass < 3 || warmedMillis() < warmupMillis; pass++) for (const name of names) await measure(name, Math.min(messages, 20_000));
const spansBefore = exportedSpans();
const samples: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
const mainThreadSamples: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
// BENCH_PROFILE: the measured rounds alone, every selected variant's runs together.
const stopProfile = await profileIfAsked();
// BENCH_TICK_LOG=1: the same stretch, marked in V8's tick log (v8-log.ts).
const tickLog = process.env.BENCH_TICK_LOG === '1';
if (tickLog) markLog('start');
for (let round = 0; round < rounds; round++) {
  for (let index = 0; index < names.length; index++) {
    const name = names[(index + round) % names.length]!;
    const used = await measure(name, messages);
    samples[name]!.push(used.process);
    mainThreadSamples[name]!.push(used.mainThread);
  }
}
if (tickLog) markLog('end');
await stopProfile();
/** Operations (messages) the profiled rounds ran, all selected variants together. */
const profiledOperations = rounds * messages * names.length;
const profiled = process.env.BENCH_PROFILE || tickLog ? { profiledOperations } : {};
const median = (values: number[] = []) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const spansPerMessage = (exportedSpans() - spansBefore) / (rounds * messages);
if (process.env.ISOLATED_JSON === '1') {
  // For run.ts's `isolated` section: one JSON line, the medians by variant.
  const rows = names.map((name) => ({ name, cpuMicrosPerMessage: median(samples[name]), mainThreadCpuMicrosPerMessage: median(mainThreadSamples[name]) }));
  console.log(JSON.stringify({ variant: sampled ? 'isolated@1%' : 'isolated', messages, rounds, seconds: 0, spansPerMessage, warmupMillis, ...profiled, rows }));
} else {
  console.log(`CPU µs per message, median of ${rounds} rounds of ${messages.toLocaleString('en')} (${spansPerMessage.toFixed(2)} spans exported per message and variant; the process's, then the main thread's alone):`);
  for (const name of names) {
    const value = median(samples[name]!);
    // The Kafka floors stand for both Kafka clients' wrappers: under the confluent name where they ran under it.
    const floorName = name.replace(/(tracebus|otel).*$/, 'floor+semconv');
    const kafkaFloor = floorName.replace(/^confluent /, '');
    const floorRun = samples[floorName] ?? samples[kafkaFloor];
    const floor = floorName !== name && floorRun !== undefined ? median(floorRun) : undefined;
    console.log(`  ${name.padEnd(40)} ${value.toFixed(2).padStart(7)} ${median(mainThreadSamples[name]).toFixed(2).padStart(7)}${floor === undefined ? '' : `   ${(value / floor).toFixed(2)}× the floor`}`);
  }
  if (process.env.BENCH_PROFILE) console.log(`CPU profile of the measured rounds, ${profiledOperations.toLocaleString('en')} operations (${rounds} × ${messages.toLocaleString('en')} × ${names.length} variant${names.length === 1 ? '' : 's'}): ${process.env.BENCH_PROFILE}`);
}
await provider.shutdown();
