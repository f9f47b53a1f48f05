/**
 * What tracing alone costs per message, without a broker: tracebus's Kafka producer and
 * consumer wrappers around clients that do nothing (a `send` that resolves at once, an
 * `eachMessage` payload made in memory), side by side with the floor that records the
 * attributes semantic conventions require, in one process, with the SDK of sdk.ts.
 *
 *   npm run bench:isolated -- [messages=100000] [rounds=5]
 *   ISOLATED_VARIANTS=eachMessage,send  only the variants whose names contain one of these
 *   ISOLATED_BASE=/path/to/other/checkout  also that checkout's tracebus, marked (base)
 *   ISOLATED_SAMPLED=1  under ParentBased(TraceIdRatioBased(0.01)) instead of every trace
 *   ISOLATED_JSON=1     one JSON line of the medians, for run.ts's `isolated` section
 *
 * The variants alternate within every round, so a noisy neighbour hits all of them alike;
 * the figure is CPU time (user + system) per message, the median of the rounds, and each
 * tracebus row is also given as a ratio to its floor. Broker benchmarks (run.ts) measure
 * the same wrappers with real clients; this one shows tracing's own share without the
 * client's noise, for work on tracebus's hot path.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, trace, type TextMapGetter } from '@opentelemetry/api';
import type { ConfirmChannel, ConsumeMessage } from 'amqplib';
import { traceChannel } from '../../src/amqplib/index.ts';
import { traceConsumer, traceProducer } from '../../src/kafkajs/index.ts';
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

const rabbitSemconv = (operation: string, type: string) => ({ 'messaging.system.name': 'rabbitmq', 'messaging.operation.name': operation, 'messaging.operation.type': type, 'messaging.destination.name': queue });
const semconv = (operation: string, type: string) => ({ 'messaging.system.name': 'kafka', 'messaging.operation.name': operation, 'messaging.operation.type': type, 'messaging.destination.name': topic });

/** Headers as they come off the wire: what a traced producer wrote, as Buffers. */
function wireHeaders(): Record<string, Buffer> {
  const headers: Record<string, string> = {};
  const span = floorTracer.startSpan('seed');
  propagation.inject(trace.setSpan(ROOT_CONTEXT, span), headers);
  span.end();
  return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, Buffer.from(value)]));
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

/** tracebus's Kafka wrappers from `module` around the no-op clients. */
async function wrappers(module: typeof import('../../src/kafkajs/index.ts')) {
  const producer = module.traceProducer({ brokers: ['127.0.0.1:9092'], clientId: 'bench' })(new NoopProducer() as never) as unknown as NoopProducer;
  const consumer = new NoopConsumer();
  await (module.traceConsumer({ brokers: ['127.0.0.1:9092'], clientId: 'bench', groupId: 'bench-group' })(consumer as never) as unknown as NoopConsumer).run({ eachMessage: async () => {} });
  return { producer, eachMessage: consumer.eachMessage! };
}

/** The tracebus variants of the wrappers from `kafka` and `amqp`, named with `suffix`. */
async function tracebusVariants(kafka: typeof import('../../src/kafkajs/index.ts'), amqp: typeof import('../../src/amqplib/index.ts'), suffix: string): Promise<Record<string, (n: number) => Promise<void>>> {
  const { producer, eachMessage } = await wrappers(kafka);
  const raw = new NoopChannel();
  const channel = amqp.traceChannel({ serverAddress: '127.0.0.1', serverPort: 5672 })(raw as unknown as ConfirmChannel);
  await channel.consume(queue, (message) => message !== null && channel.ack(message));
  return {
    [`amqp publish: tracebus${suffix}`]: async (n) => {
      for (let sent = 1; sent <= n; sent++) {
        channel.sendToQueue(queue, payload);
        if (sent % 100 === 0) await channel.waitForConfirms();
      }
      await channel.waitForConfirms();
    },
    [`amqp consume: tracebus${suffix}`]: async (n) => {
      const headers = wireHeaders();
      for (let tag = 1; tag <= n; tag++) {
        raw.deliver(delivery(tag, headers));
        if (tag % 100 === 0) await Promise.resolve();
      }
    },
    [`send x100: tracebus${suffix}`]: async (n) => {
      for (let sent = 0; sent < n; sent += BATCH) {
        const batch: KafkaMessage[] = [];
        for (let index = 0; index < BATCH; index++) batch.push({ value: payload });
        await producer.send({ topic, messages: batch });
      }
    },
    [`send x1: tracebus${suffix}`]: async (n) => {
      for (let sent = 0; sent < n; sent++) await producer.send({ topic, messages: [{ value: payload }] });
    },
    [`eachMessage: tracebus${suffix}`]: async (n) => {
      const headers = wireHeaders();
      for (let offset = 0; offset < n; offset++) {
        await eachMessage({ topic, partition: 0, message: { key: null, value: payload, headers, offset: String(offset), timestamp: '1700000000000' } });
      }
    },
  };
}

// ISOLATED_BASE=<checkout> adds the same variants from another checkout's sources, to
// compare a change with the code before it in one run.
const base = process.env.ISOLATED_BASE;
const tracebus = {
  ...(await tracebusVariants(await import('../../src/kafkajs/index.ts'), await import('../../src/amqplib/index.ts'), '')),
  ...(base === undefined
    ? {}
    : await tracebusVariants(
        (await import(`${base}/src/kafkajs/index.ts`)) as typeof import('../../src/kafkajs/index.ts'),
        (await import(`${base}/src/amqplib/index.ts`)) as typeof import('../../src/amqplib/index.ts'),
        ' (base)',
      )),
};

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

const variants: Record<string, (n: number) => Promise<void>> = {
  'amqp publish: floor+semconv': async (n) => {
    for (let sent = 1; sent <= n; sent++) {
      const span = floorTracer.startSpan(`send ${queue}`, { kind: SpanKind.PRODUCER, attributes: rabbitSemconv('send', 'send') });
      const headers: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), span), headers);
      rabbitSink.sendToQueue(queue, payload, { headers }, () => span.end());
      if (sent % 100 === 0) await rabbitSink.waitForConfirms();
    }
    await new Promise((resolve) => setImmediate(resolve));
  },
  'amqp consume: floor+semconv': async (n) => {
    const headers = wireHeaders();
    const handler = (message: ConsumeMessage | null) => message !== null && rabbitSink.ack();
    for (let tag = 1; tag <= n; tag++) {
      const message = delivery(tag, headers);
      const parent = propagation.extract(ROOT_CONTEXT, message.properties.headers);
      const span = floorTracer.startSpan(`process ${queue}`, { kind: SpanKind.CONSUMER, attributes: rabbitSemconv('process', 'process') }, parent);
      try {
        context.with(trace.setSpan(parent, span), handler, undefined, message);
      } finally {
        span.end();
      }
      if (tag % 100 === 0) await Promise.resolve();
    }
  },
  'send x100: floor+semconv': async (n) => {
    for (let sent = 0; sent < n; sent += BATCH) {
      const batch: KafkaMessage[] = [];
      for (let index = 0; index < BATCH; index++) {
        const span = floorTracer.startSpan(`send ${topic}`, { kind: SpanKind.PRODUCER, attributes: semconv('send', 'send') });
        const headers: Record<string, string> = {};
        propagation.inject(trace.setSpan(context.active(), span), headers);
        span.end();
        batch.push({ value: payload, headers });
      }
      await sink.send({ topic, messages: batch });
    }
  },
  'send x1: floor+semconv': async (n) => {
    for (let sent = 0; sent < n; sent++) {
      const span = floorTracer.startSpan(`send ${topic}`, { kind: SpanKind.PRODUCER, attributes: semconv('send', 'send') });
      const headers: Record<string, string> = {};
      const ctx = trace.setSpan(context.active(), span);
      propagation.inject(ctx, headers);
      await context.with(ctx, () => sink.send({ topic, messages: [{ value: payload, headers }] }));
      span.end();
    }
  },
  'eachMessage: floor+semconv': floorEachMessage(() => semconv('process', 'process')),
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

/** CPU µs per message of one run of `variant`, its spans flushed (export included). */
async function measure(name: string, n: number): Promise<number> {
  const before = process.cpuUsage();
  await variants[name]!(n);
  await provider.forceFlush();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / n;
}

Object.assign(variants, tracebus);
const only = process.env.ISOLATED_VARIANTS?.split(',');
const names = Object.keys(variants).filter((name) => only === undefined || only.some((part) => name.includes(part)));
for (const name of names) await measure(name, Math.min(messages, 20_000));
const spansBefore = exportedSpans();
const samples: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
for (let round = 0; round < rounds; round++) {
  for (let index = 0; index < names.length; index++) {
    const name = names[(index + round) % names.length]!;
    samples[name]!.push(await measure(name, messages));
  }
}
const median = (values: number[] = []) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const spansPerMessage = (exportedSpans() - spansBefore) / (rounds * messages);
if (process.env.ISOLATED_JSON === '1') {
  // For run.ts's `isolated` section: one JSON line, the medians by variant.
  const rows = names.map((name) => ({ name, cpuMicrosPerMessage: median(samples[name]) }));
  console.log(JSON.stringify({ variant: sampled ? 'isolated@1%' : 'isolated', messages, rounds, seconds: 0, spansPerMessage, rows }));
} else {
  console.log(`CPU µs per message, median of ${rounds} rounds of ${messages.toLocaleString('en')} (${spansPerMessage.toFixed(2)} spans exported per message and variant):`);
  for (const name of names) {
    const value = median(samples[name]!);
    const floor = name.includes('tracebus') ? median(samples[name.replace(/tracebus.*$/, 'floor+semconv')]!) : undefined;
    console.log(`  ${name.padEnd(40)} ${value.toFixed(2).padStart(7)}${floor === undefined ? '' : `   ${(value / floor).toFixed(2)}× the floor`}`);
  }
}
await provider.shutdown();
