import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { SpanKind } from '@opentelemetry/api';
import { beforeAll, describe, expect, it } from 'vitest';
import { amqpUrl, kafkaBrokers } from '../support/integration.ts';

// tracebus next to the official instrumentations, as most NodeSDK users run them:
// test/support/overlap/app.cjs starts NodeSDK with getNodeAutoInstrumentations() at its
// defaults, so @opentelemetry/instrumentation-kafkajs and -amqplib patch kafkajs and
// amqplib (and amqp-connection-manager's channels), and sends one message per scenario
// through real brokers. A client traced by tracebus must give exactly one producer and one
// consumer span per message, in one trace with exact parents; a client tracebus does not
// wrap keeps the patch's tracing.

interface ExportedSpan {
  name: string;
  kind: SpanKind;
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  links: string[];
}

const KAFKAJS = '@opentelemetry/instrumentation-kafkajs';
const AMQPLIB = '@opentelemetry/instrumentation-amqplib';
const app = fileURLToPath(new URL('../support/overlap/app.cjs', import.meta.url));
const brokers = kafkaBrokers();
const url = amqpUrl();

/** Each scenario: who traces the producing and the consuming client. */
const SCENARIOS = [
  { name: 'kafka.eachMessage', producer: 'tracebus', consumer: 'tracebus' },
  { name: 'kafka.eachBatch', producer: 'tracebus', consumer: 'tracebus' },
  { name: 'kafka.tracebus-to-plain', producer: 'tracebus', consumer: KAFKAJS },
  { name: 'kafka.plain-to-tracebus', producer: KAFKAJS, consumer: 'tracebus' },
  { name: 'rabbitmq.publish', producer: 'tracebus', consumer: 'tracebus' },
  { name: 'rabbitmq.confirm', producer: 'tracebus', consumer: 'tracebus' },
  { name: 'rabbitmq.tracebus-to-plain', producer: 'tracebus', consumer: AMQPLIB },
  { name: 'rabbitmq.plain-to-tracebus', producer: AMQPLIB, consumer: 'tracebus' },
  { name: 'amqp-connection-manager', producer: 'tracebus', consumer: 'tracebus' },
] as const;

describe.skipIf(brokers === undefined || url === undefined)('next to getNodeAutoInstrumentations(): one span a side, one trace', () => {
  let spans: ExportedSpan[];
  let delivered: Record<string, { traceparent: string; active: string }>;

  beforeAll(async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [app], {
      env: { ...process.env, KAFKA_BROKERS: brokers!.join(','), AMQP_URL: url, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none', KAFKAJS_NO_PARTITIONER_WARNING: '1' },
      timeout: 150_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    ({ spans, delivered } = JSON.parse(stdout.trim().split('\n').at(-1)!));
  }, 180_000);

  it.each(SCENARIOS)('$name: producer traced by $producer, consumer by $consumer', ({ name, producer, consumer }) => {
    const request = spans.find((span) => span.name === `request ${name}`);
    expect(request, `the request span of ${name}`).toBeDefined();
    // Messaging spans of this trace: the connection spans of instrumentation-net aside.
    const inTrace = spans.filter((span) => span.traceId === request!.traceId && span.spanId !== request!.spanId && !span.scope.endsWith('instrumentation-net'));
    const sends = inTrace.filter((span) => span.kind === SpanKind.PRODUCER);
    const processes = inTrace.filter((span) => span.kind === SpanKind.CONSUMER);
    expect(sends.map((span) => span.scope)).toEqual([producer]);
    expect(processes.map((span) => span.scope)).toEqual([consumer]);
    expect(inTrace).toHaveLength(2);
    const [send] = sends;
    const [processed] = processes;
    expect(send!.parentSpanId).toBe(request!.spanId);
    expect(processed!.parentSpanId).toBe(send!.spanId);
    // The wire carries the producer's own span, and the handler runs in the consumer span.
    expect(delivered[name]).toEqual({ traceparent: `00-${request!.traceId}-${send!.spanId}-01`, active: processed!.spanId });
  });

  it('kafka.eachBatch: the batch span is the only other span, in a trace of its own, linked to the send', () => {
    const request = spans.find((span) => span.name === 'request kafka.eachBatch')!;
    const send = spans.find((span) => span.traceId === request.traceId && span.kind === SpanKind.PRODUCER)!;
    const batches = spans.filter((span) => span.links.includes(send.spanId));
    expect(batches.map((span) => [span.scope, span.kind, span.parentSpanId])).toEqual([['tracebus', SpanKind.CONSUMER, undefined]]);
    expect(spans.filter((span) => span.traceId === batches[0]!.traceId && !span.scope.endsWith('instrumentation-net'))).toHaveLength(1);
    // No span of the patch anywhere for the clients tracebus wraps.
    expect(spans.filter((span) => span.scope === KAFKAJS && span.name.includes('.batch.'))).toEqual([]);
  });
});
