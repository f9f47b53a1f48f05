/**
 * Log correlation with pino: every line logged inside a handler carries `trace_id`,
 * `span_id` and `trace_flags`, the field names OpenTelemetry's log data model uses, so a
 * log backend can jump from a line to its trace.
 *
 * Two ways, both shown:
 * - a pino `mixin` reads the active span: tracebus runs each handler with its consumer
 *   span active, so plain `logger.info(...)` anywhere below the handler is correlated;
 * - the handler's `trace` argument, for a child logger you pass around explicitly.
 *
 * Run: npm run example -- examples/log-correlation/pino.ts
 * (with OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER=zipkin, the spans go to that collector too).
 */
import type { Writable } from 'node:stream';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { pino } from 'pino';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher } from 'tracebus/memory';
import { exported, exportProcessors } from '../support/export.ts';

/** pino mixin: the active span's ids on every line, nothing outside a span. */
function traceFields(): Record<string, string> {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (spanContext === undefined) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId, trace_flags: spanContext.traceFlags.toString(16).padStart(2, '0') };
}

export async function main(destination: Writable = process.stdout): Promise<ReadableSpan[]> {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'shop' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter }), ...exportProcessors()],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  trace.setGlobalTracerProvider(provider);

  const logger = pino({ base: undefined, timestamp: false, mixin: traceFields }, destination);
  const plainLogger = pino({ base: undefined, timestamp: false }, destination);
  const bus = new MemoryBus();
  const publisher = traceMemoryPublisher()(bus);

  bus.subscribe<{ orderId: string }>(
    'orders.placed',
    traceMemoryHandler()(async (message, traced) => {
      logger.info({ orderId: message.payload.orderId }, 'charging the card');
      // Without a mixin: bind the ids from the handler's `trace` argument.
      const requestLog = plainLogger.child({ trace_id: traced.traceId, span_id: traced.spanId, trace_flags: traced.sampled ? '01' : '00', attempt: message.attempt });
      requestLog.info('card charged');
    }),
  );

  logger.info('placing an order (no span yet: no trace fields)');
  await trace.getTracer('shop').startActiveSpan('POST /orders', async (span) => {
    logger.info('publishing orders.placed');
    await publisher.publish('orders.placed', { payload: { orderId: 'o-42' } });
    span.end();
  });
  await bus.close();

  const spans = exporter.getFinishedSpans().slice();
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
  return spans;
}

if (import.meta.main) {
  await main();
  await exported();
}
