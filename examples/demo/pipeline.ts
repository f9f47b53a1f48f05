import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { compose, type MessageTrace } from 'tracebus';
import { MemoryBus, traceMemoryHandler, traceMemoryPublisher, type MemoryHandler, type MemoryMessage } from 'tracebus/memory';

export interface Order {
  orderId: string;
  amount: number;
  items: string[];
}

class GatewayTimeout extends Error {}

export interface PipelineResult {
  spans: ReadableSpan[];
  /** One line per handler run: service, trace id, what happened. */
  log: string[];
}

/**
 * An order pipeline on the in-process bus, one tracer provider per service:
 *
 *   orders ──orders.placed──▶ payments ──payments.captured──▶ shipping
 *                                                        └──▶ notifications
 *
 * The payment gateway times out on the first attempt; the bus redelivers and the
 * second attempt succeeds. Every hop is traced by tracebus's publisher decorator and
 * handler middleware, and the context travels only in the message headers.
 */
export async function runOrderPipeline(extraProcessors: (service: string) => SpanProcessor[] = () => []): Promise<PipelineResult> {
  const exporter = new InMemorySpanExporter();
  const providers = new Map<string, TracerProvider>();
  const providerFor = (service: string) => {
    let provider = providers.get(service);
    if (provider === undefined) {
      provider = new TracerProvider({
        resource: resourceFromAttributes({ 'service.name': service }),
        spanProcessors: [new SimpleSpanProcessor({ exporter }), ...extraProcessors(service)],
      });
      providers.set(service, provider);
    }
    return provider;
  };
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));

  const log: string[] = [];
  const bus = new MemoryBus({ maxAttempts: 3, retryDelayMs: 5 });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const note = (service: string, traced: MessageTrace, what: string) => log.push(`${service.padEnd(13)} trace_id=${traced.traceId} ${what}`);

  /** Everything one service needs: a traced publisher and traced handlers, on its own provider. */
  const service = (name: string) => {
    const tracerProvider = providerFor(name);
    return {
      publisher: traceMemoryPublisher({ tracerProvider })(bus),
      handler: <P>(handle: MemoryHandler<P>) => compose(traceMemoryHandler({ tracerProvider }))(handle as MemoryHandler) as MemoryHandler<P>,
      tracer: tracerProvider.getTracer('demo'),
    };
  };

  const orders = service('orders');
  const payments = service('payments');
  const shipping = service('shipping');
  const notifications = service('notifications');

  let gatewayCalls = 0;
  bus.subscribe<Order>(
    'orders.placed',
    payments.handler(async (message: MemoryMessage<Order>, traced) => {
      await payments.tracer.startActiveSpan('charge card', { kind: SpanKind.CLIENT }, async (span) => {
        try {
          await sleep(4);
          if (++gatewayCalls === 1) {
            note('payments', traced, `attempt ${message.attempt}: payment gateway timed out`);
            const timeout = new GatewayTimeout('payment gateway timed out');
            span.recordException(timeout);
            span.setStatus({ code: SpanStatusCode.ERROR, message: timeout.message });
            throw timeout;
          }
        } finally {
          span.end();
        }
      });
      note('payments', traced, `attempt ${message.attempt}: captured ${message.payload.amount} for ${message.payload.orderId}`);
      await payments.publisher.publish('payments.captured', { payload: { orderId: message.payload.orderId, amount: message.payload.amount } });
    }),
    { group: 'payments' },
  );
  bus.subscribe<{ orderId: string }>(
    'payments.captured',
    shipping.handler(async (message, traced) => {
      await shipping.tracer.startActiveSpan('reserve stock', async (span) => {
        await sleep(3);
        span.end();
      });
      note('shipping', traced, `shipping ${message.payload.orderId}`);
    }),
    { group: 'shipping' },
  );
  bus.subscribe<{ orderId: string }>(
    'payments.captured',
    notifications.handler(async (message, traced) => {
      await sleep(2);
      note('notifications', traced, `emailed the receipt for ${message.payload.orderId}`);
    }),
    { group: 'notifications' },
  );

  await orders.tracer.startActiveSpan('POST /orders', { kind: SpanKind.SERVER }, async (span) => {
    const order: Order = { orderId: 'order-1001', amount: 42.5, items: ['book', 'lamp'] };
    log.push(`${'orders'.padEnd(13)} trace_id=${span.spanContext().traceId} placed ${order.orderId}`);
    await orders.publisher.publish('orders.placed', { payload: order, key: order.orderId });
    span.end();
  });

  await bus.close();
  await Promise.all([...providers.values()].map((provider) => provider.forceFlush()));
  const spans = exporter.getFinishedSpans().slice();
  await Promise.all([...providers.values()].map((provider) => provider.shutdown()));
  context.disable();
  propagation.disable();
  trace.disable();
  return { spans, log };
}
