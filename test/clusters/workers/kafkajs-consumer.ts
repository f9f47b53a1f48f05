/**
 * One member of a consumer group, in a process of its own, for test/clusters/kafkajs.test.ts:
 * a kafkajs consumer wrapped with tracebus's `traceConsumer()`, under an SDK whose spans go
 * out as they end. Everything it has to say is a JSON line on stdout, written before the
 * next message is processed, so a SIGKILL loses nothing that was already done:
 *
 * - `{ "type": "assigned", "partitions": [...] }` each time it joins the group;
 * - `{ "type": "delivery", "id", "partition", "offset", "traceparents", "traceId", "spanId" }`
 *   when its handler has processed a message (`traceparents`: that header's values as delivered);
 * - `{ "type": "span", ... }` when a span ends ({@link ExportedSpan});
 * - `{ "type": "crash", "error", "restart" }` when the consumer crashes;
 * - `{ "type": "stopped", "open": n }` after SIGTERM, once the consumer has left the group:
 *   `n` spans started and never ended.
 *
 * With PAUSED=1 it joins the group but consumes nothing until it reads the line `resume` on
 * stdin, so that a backlog can wait for the group. Environment: KAFKA_BROKERS
 * (comma-separated), TOPIC, GROUP_ID, HANDLER_DELAY_MS, PAUSED, TRACEBUS_KAFKA_LOG.
 */
import { context, propagation, trace, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { SimpleSpanProcessor, TracerProvider, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { createInterface } from 'node:readline';
import kafkajs from 'kafkajs';
import { traceConsumer } from '../../../src/kafkajs/index.ts';
import { ConformantTraceContextPropagator } from '../../../src/w3c/index.ts';
import { headerValues } from '../../support/fault-checks.ts';
import { subscribeWhenKnown } from '../../support/kafka-topics.ts';
import { CountingProcessor } from '../../support/span-counter.ts';

/** A span as it leaves the worker. */
export interface ExportedSpan {
  type: 'span';
  name: string;
  kind: SpanKind;
  traceId: string;
  spanId: string;
  parentTraceId: string | undefined;
  parentSpanId: string | undefined;
  attributes: ReadableSpan['attributes'];
}

const { Kafka, logLevel } = kafkajs;
const brokers = process.env.KAFKA_BROKERS!.split(',');
const topic = process.env.TOPIC!;
const groupId = process.env.GROUP_ID!;
const delayMs = Number(process.env.HANDLER_DELAY_MS ?? 0);

/** Pipes to the parent are written synchronously on Linux: a line written is a line kept. */
function emit(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const lines: SpanExporter = {
  export(spans, done) {
    for (const span of spans) {
      const parent = span.parentSpanContext;
      const exported: ExportedSpan = {
        type: 'span',
        name: span.name,
        kind: span.kind,
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
        parentTraceId: parent?.traceId,
        parentSpanId: parent?.spanId,
        attributes: span.attributes,
      };
      emit(exported);
    }
    done({ code: 0 }); // ExportResultCode.SUCCESS
  },
  shutdown: () => Promise.resolve(),
};
const counter = new CountingProcessor();
const provider = new TracerProvider({ spanProcessors: [counter, new SimpleSpanProcessor({ exporter: lines })] });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(provider);
propagation.setGlobalPropagator(new ConformantTraceContextPropagator());

const retry = { initialRetryTime: 100, maxRetryTime: 1_000, retries: 30 };
const kafka = new Kafka({ clientId: `tracebus-clusters-${process.pid}`, brokers, logLevel: process.env.TRACEBUS_KAFKA_LOG ? logLevel.INFO : logLevel.NOTHING, retry });
const consumer = traceConsumer()(kafka.consumer({ groupId, sessionTimeout: 6_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 200, retry }));
consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => emit({ type: 'assigned', partitions: payload.memberAssignment[topic] ?? [] }));
consumer.on(consumer.events.CRASH, ({ payload }) => emit({ type: 'crash', error: `${payload.error.name}: ${payload.error.message}`, restart: payload.restart }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

await consumer.connect();
await subscribeWhenKnown(consumer, { topics: [topic], fromBeginning: true });
await consumer.run({
  eachMessage: async ({ partition, message }, messageTrace) => {
    if (delayMs > 0) await sleep(delayMs);
    emit({ type: 'delivery', id: message.key?.toString(), partition, offset: message.offset, traceparents: headerValues(message.headers?.traceparent), traceId: messageTrace.traceId, spanId: messageTrace.spanId });
  },
});

if (process.env.PAUSED === '1') {
  consumer.pause([{ topic }]);
  createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'resume') consumer.resume([{ topic }]);
  });
}

process.once('SIGTERM', () => {
  void consumer
    .disconnect()
    .then(() => provider.forceFlush())
    .then(
      () => emit({ type: 'stopped', open: counter.started - counter.ended }),
      (error: unknown) => emit({ type: 'stopped', open: counter.started - counter.ended, error: String(error) }),
    )
    .finally(() => process.exit(0));
});
