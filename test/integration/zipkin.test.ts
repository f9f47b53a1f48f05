import { SpanKind } from '@opentelemetry/api';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { main as crossTransport } from '../../examples/cross-transport/order-flow.ts';
import { exported } from '../../examples/support/export.ts';
import { amqpUrl, kafkaBrokers } from '../support/integration.ts';

/** Zipkin's base URL from the global setup (test/support/zipkin.ts), or `undefined` when none could be had (never in CI). */
const zipkinUrl = (): string | undefined => inject('zipkinUrl');

/** A span as Zipkin's API v2 returns it (the fields checked here). */
interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name?: string;
  kind?: 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER';
  localEndpoint?: { serviceName?: string };
}

const zipkinKind: Partial<Record<SpanKind, ZipkinSpan['kind']>> = {
  [SpanKind.CLIENT]: 'CLIENT',
  [SpanKind.SERVER]: 'SERVER',
  [SpanKind.PRODUCER]: 'PRODUCER',
  [SpanKind.CONSUMER]: 'CONSUMER',
};

const keys = ['OTEL_TRACES_EXPORTER', 'OTEL_EXPORTER_ZIPKIN_ENDPOINT', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] as const;
let saved: Partial<Record<(typeof keys)[number], string>>;
beforeEach(() => {
  saved = Object.fromEntries(keys.map((key) => [key, process.env[key]]));
  for (const key of keys) delete process.env[key];
});
afterEach(() => {
  for (const key of keys) {
    if (saved[key] === undefined) delete process.env[key];
    else process.env[key] = saved[key];
  }
});

describe.skipIf(kafkaBrokers() === undefined || amqpUrl() === undefined || zipkinUrl() === undefined)('the cross-transport example, exported to Zipkin', () => {
  it('OTEL_TRACES_EXPORTER=zipkin: Zipkin returns the trace the example recorded, every span with its exact parent and service', async () => {
    const endpoint = `${zipkinUrl()}/api/v2/spans`;
    Object.assign(process.env, { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: endpoint });
    const spans = await crossTransport({ brokers: kafkaBrokers(), amqpUrl: amqpUrl() });
    expect(await exported()).toEqual([{ kind: 'zipkin', endpoint }]);

    const traceIds = new Set(spans.map((span) => span.spanContext().traceId));
    expect(traceIds.size).toBe(1);
    const [traceId] = traceIds;
    // Zipkin stores what its collector accepted shortly after answering the POST.
    let stored: ZipkinSpan[] = [];
    for (const deadline = Date.now() + 15_000; stored.length < spans.length; ) {
      if (Date.now() > deadline) throw new Error(`Zipkin returned ${stored.length} of the ${spans.length} spans of trace ${traceId} within 15 s`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const response = await fetch(`${zipkinUrl()}/api/v2/trace/${traceId}`);
      stored = response.ok ? ((await response.json()) as ZipkinSpan[]) : [];
    }

    const byId = new Map(stored.map((span) => [span.id, span]));
    expect(stored).toHaveLength(spans.length);
    expect(byId.size).toBe(spans.length);
    for (const span of spans) {
      const { spanId } = span.spanContext();
      const found = byId.get(spanId);
      expect(found, `span ${spanId} (${span.name}) in Zipkin`).toBeDefined();
      expect({ traceId: found!.traceId, id: found!.id, parentId: found!.parentId, name: found!.name, kind: found!.kind, service: found!.localEndpoint?.serviceName }).toEqual({
        traceId,
        id: spanId,
        parentId: span.parentSpanContext?.spanId,
        // Zipkin keeps span and service names in lower case.
        name: span.name.toLowerCase(),
        kind: zipkinKind[span.kind],
        service: String(span.resource.attributes['service.name']).toLowerCase(),
      });
    }
    // One root: the request; every other span's parent is a span of the same trace.
    expect(stored.filter((span) => span.parentId === undefined).map((span) => span.name)).toEqual(['post /orders']);
    for (const span of stored) if (span.parentId !== undefined) expect(byId.has(span.parentId)).toBe(true);
    const services = new Set(stored.map((span) => span.localEndpoint?.serviceName));
    expect([...services].sort()).toEqual(['notifier', 'orders', 'payments']);
  });
});
