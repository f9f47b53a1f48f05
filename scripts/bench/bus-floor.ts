/**
 * The floor's work written by hand around the in-process bus, shared by the in-process section
 * (inprocess.ts: `bus+floor`, `bus+floor+attributes`) and its memory section (memory.ts: `floor`,
 * `floor+attributes`): a publisher that starts the producer span, injects its context and ends
 * it once the bus has the message; a handler that extracts the context and runs in a consumer
 * span. With attributes, the spans start with the messaging attributes tracebus records on this
 * bus's spans (the semconv ones), as tracebus records them.
 */
import { context, propagation, ROOT_CONTEXT, SpanKind, trace } from '@opentelemetry/api';
import type { MemoryBus, MemoryHandler, MemoryMessage, MemoryPublisher } from '../../src/memory/index.ts';

/** The messaging attributes of tracebus's `send bench` span on this bus. */
export const SEND_ATTRIBUTES = { 'messaging.system.name': 'tracebus.memory', 'messaging.operation.type': 'send', 'messaging.operation.name': 'send', 'messaging.destination.name': 'bench' };
/** The messaging attributes of tracebus's `process bench` span on this bus, besides the message id. */
export const PROCESS_ATTRIBUTES = { 'messaging.system.name': 'tracebus.memory', 'messaging.operation.type': 'process', 'messaging.operation.name': 'process', 'messaging.destination.name': 'bench' };

/** The floor's producer half around `bus.publish`, with no checks. */
export function floorPublisher(bus: MemoryBus, withAttributes: boolean): MemoryPublisher {
  const tracer = trace.getTracer('floor');
  return {
    publish(topic, message) {
      const producer = tracer.startSpan(`send ${topic}`, { kind: SpanKind.PRODUCER, attributes: withAttributes ? { ...SEND_ATTRIBUTES } : undefined }, context.active());
      const headers: Record<string, string> = {};
      propagation.inject(trace.setSpan(context.active(), producer), headers);
      return bus.publish(topic, { ...message, headers }).then(() => producer.end());
    },
  };
}

/** The floor's consumer half around `handler`. */
export function floorHandler(handler: (message: MemoryMessage) => void, withAttributes: boolean): MemoryHandler {
  const tracer = trace.getTracer('floor');
  return (message) => {
    const parent = propagation.extract(ROOT_CONTEXT, message.headers);
    const attributes = withAttributes ? { ...PROCESS_ATTRIBUTES, 'messaging.message.id': message.id } : undefined;
    const consumer = tracer.startSpan(`process ${message.topic}`, { kind: SpanKind.CONSUMER, attributes }, parent);
    context.with(trace.setSpan(parent, consumer), handler, undefined, message);
    consumer.end();
  };
}
