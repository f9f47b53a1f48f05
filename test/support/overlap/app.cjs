// A CommonJS application set up as NodeSDK's documentation and most users do it: NodeSDK
// with getNodeAutoInstrumentations() at its defaults, started before kafkajs and amqplib
// are required, so @opentelemetry/instrumentation-kafkajs and -amqplib patch them. Some
// clients are traced by tracebus, others are left to the patches. Each scenario sends one
// message; the spans come out as JSON on stdout for test/integration/overlap.test.ts.
'use strict';
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { getNodeAutoInstrumentations } = require('@opentelemetry/auto-instrumentations-node');
const { InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace');
const { trace, context, SpanKind } = require('@opentelemetry/api');

const exporter = new InMemorySpanExporter();
const sdk = new NodeSDK({ spanProcessors: [new SimpleSpanProcessor({ exporter })], instrumentations: [getNodeAutoInstrumentations()] });
sdk.start();

// Required after sdk.start(), as NodeSDK's documentation asks, so that the patches apply.
const { Kafka, logLevel } = require('kafkajs');
const amqp = require('amqplib');
const { traceProducer, traceConsumer } = require('../../../src/kafkajs/index.ts');
const { traceChannel } = require('../../../src/amqplib/index.ts');
const amqpConnectionManager = require('amqp-connection-manager');
const { traceChannelWrapper } = require('../../../src/amqp-connection-manager/index.ts');

const brokers = process.env.KAFKA_BROKERS.split(',');
const run = `${process.pid}.${Date.now().toString(36)}`;
const tracer = trace.getTracer('overlap-app');
const delivered = {};

function within(ms, promise, what) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms).unref())]);
}

/** Runs `send` inside a root span `request <scenario>`, as a request handler would. */
function request(scenario, send) {
  return tracer.startActiveSpan(`request ${scenario}`, { kind: SpanKind.SERVER }, async (span) => {
    try {
      await send();
    } finally {
      span.end();
    }
  });
}

async function kafkaScenarios() {
  const kafka = new Kafka({ clientId: 'overlap', brokers, logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  const topics = ['each', 'batch', 'to-plain', 'from-plain'].map((name) => `overlap.${name}.${run}`);
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: 1 })), waitForLeaders: true });
  const [each, batch, toPlain, fromPlain] = topics;
  const traced = traceProducer({ brokers, clientId: 'overlap' })(kafka.producer());
  const plain = kafka.producer();
  await Promise.all([traced.connect(), plain.connect()]);
  const consumers = [];
  async function consume(topic, wrap, config) {
    const consumer = wrap(kafka.consumer({ groupId: `${topic}.group`, maxWaitTimeInMs: 100 }));
    consumers.push(consumer);
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let done;
    const got = new Promise((resolve) => (done = resolve));
    await consumer.run(config(done));
    return got;
  }
  const keep = (name, done) => (message) => {
    delivered[name] = { traceparent: String(message.headers?.traceparent ?? ''), active: trace.getSpanContext(context.active())?.spanId };
    done();
  };
  const tracedConsumer = traceConsumer({ brokers, clientId: 'overlap' });
  const plainConsumer = (consumer) => consumer;
  const received = [
    consume(each, tracedConsumer, (done) => ({ eachMessage: async ({ message }) => keep('kafka.eachMessage', done)(message) })),
    consume(batch, tracedConsumer, (done) => ({
      eachBatch: async ({ batch: { messages } }, batchTrace) => batchTrace.forEachMessage(async (message) => keep('kafka.eachBatch', done)(message)),
    })),
    consume(toPlain, plainConsumer, (done) => ({ eachMessage: async ({ message }) => keep('kafka.tracebus-to-plain', done)(message) })),
    consume(fromPlain, tracedConsumer, (done) => ({ eachMessage: async ({ message }) => keep('kafka.plain-to-tracebus', done)(message) })),
  ];
  await request('kafka.eachMessage', () => traced.send({ topic: each, messages: [{ key: 'k', value: 'each' }] }));
  await request('kafka.eachBatch', () => traced.send({ topic: batch, messages: [{ key: 'k', value: 'batch' }] }));
  await request('kafka.tracebus-to-plain', () => traced.send({ topic: toPlain, messages: [{ key: 'k', value: 'to plain' }] }));
  await request('kafka.plain-to-tracebus', () => plain.send({ topic: fromPlain, messages: [{ key: 'k', value: 'from plain' }] }));
  await within(60_000, Promise.all(received), 'kafka');
  await Promise.all([...consumers.map((consumer) => consumer.disconnect()), traced.disconnect(), plain.disconnect(), admin.disconnect()]);
}

async function rabbitScenarios() {
  const connection = await amqp.connect(process.env.AMQP_URL);
  const tracedChannel = traceChannel()(await connection.createChannel());
  const tracedConfirm = traceChannel()(await connection.createConfirmChannel());
  const plainChannel = await connection.createChannel();
  const queues = ['consume', 'confirm', 'to-plain', 'from-plain'].map((name) => `overlap.${name}.${run}`);
  for (const queue of queues) await plainChannel.assertQueue(queue, { autoDelete: true });
  const [consumeQueue, confirmQueue, toPlain, fromPlain] = queues;
  const received = [];
  function consume(channel, queue, name) {
    let done;
    received.push(new Promise((resolve) => (done = resolve)));
    return channel.consume(queue, (message) => {
      delivered[name] = { traceparent: String(message.properties.headers?.traceparent ?? ''), active: trace.getSpanContext(context.active())?.spanId };
      channel.ack(message);
      done();
    });
  }
  await consume(tracedChannel, consumeQueue, 'rabbitmq.publish');
  await consume(tracedChannel, confirmQueue, 'rabbitmq.confirm');
  await consume(plainChannel, toPlain, 'rabbitmq.tracebus-to-plain');
  await consume(tracedChannel, fromPlain, 'rabbitmq.plain-to-tracebus');
  await request('rabbitmq.publish', async () => void tracedChannel.sendToQueue(consumeQueue, Buffer.from('publish')));
  await request('rabbitmq.confirm', async () => {
    tracedConfirm.sendToQueue(confirmQueue, Buffer.from('confirm'));
    await tracedConfirm.waitForConfirms();
  });
  await request('rabbitmq.tracebus-to-plain', async () => void tracedChannel.sendToQueue(toPlain, Buffer.from('to plain')));
  await request('rabbitmq.plain-to-tracebus', async () => void plainChannel.sendToQueue(fromPlain, Buffer.from('from plain')));
  await within(30_000, Promise.all(received), 'rabbitmq');
  await connection.close();
}

/** amqp-connection-manager: a traced ChannelWrapper publishes and consumes. */
async function wrapperScenario() {
  const queue = `overlap.wrapper.${run}`;
  const connection = amqpConnectionManager.connect([process.env.AMQP_URL]);
  const wrapper = traceChannelWrapper()(connection.createChannel({ setup: (raw) => raw.assertQueue(queue, { autoDelete: true }) }));
  let done;
  const received = new Promise((resolve) => (done = resolve));
  await wrapper.consume(queue, (message) => {
    delivered['amqp-connection-manager'] = { traceparent: String(message.properties.headers?.traceparent ?? ''), active: trace.getSpanContext(context.active())?.spanId };
    wrapper.ack(message);
    done();
  });
  await request('amqp-connection-manager', () => wrapper.sendToQueue(queue, Buffer.from('wrapper')));
  await within(30_000, received, 'amqp-connection-manager');
  await wrapper.close();
  await connection.close();
}

async function main() {
  await kafkaScenarios();
  await rabbitScenarios();
  await wrapperScenario();
  // Spans still being handled end a moment after their message arrives; NodeSDK's resource
  // detectors can hold an export past a span's end, so flush before reading.
  await new Promise((resolve) => setTimeout(resolve, 300));
  await trace.getTracerProvider().getDelegate().forceFlush();
  const spans = exporter.getFinishedSpans().map((span) => ({
    name: span.name,
    kind: span.kind,
    scope: span.instrumentationScope.name,
    traceId: span.spanContext().traceId,
    spanId: span.spanContext().spanId,
    parentSpanId: span.parentSpanContext?.spanId,
    links: span.links.map((link) => link.context.spanId),
  }));
  await sdk.shutdown().catch(() => undefined);
  process.stdout.write(`${JSON.stringify({ spans, delivered })}\n`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
