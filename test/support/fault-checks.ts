/**
 * Checks shared by the fault suites. Each returns a list of problems, empty when all is
 * well, so that `expect(problems).toEqual([])` shows every offending span at once.
 */
import { SpanStatusCode, type AttributeValue } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { ConsumeMessage } from 'amqplib';
import { ATTR_RABBITMQ_REDELIVERED } from '../../src/amqplib/attributes.ts';
import type { MessageTrace } from '../../src/index.ts';

/**
 * What the checks read of a span: a recorded `ReadableSpan`, or a span another process
 * exported, rebuilt with these members.
 */
export type SpanView = Pick<ReadableSpan, 'name' | 'attributes' | 'parentSpanContext' | 'spanContext'>;

const describe = (span: SpanView) => `'${span.name}' ${span.spanContext().traceId}/${span.spanContext().spanId}`;

/**
 * Every consumer span's parent is a producer span (same trace, parent span id) of the
 * same message, as told by the attribute `idAttribute` that both carry (`messaging.message.id`,
 * `kafka.message.key`).
 */
export function notInProducersTrace(producers: readonly SpanView[], consumers: readonly SpanView[], idAttribute: string): string[] {
  const bySpanId = new Map(producers.map((span) => [span.spanContext().spanId, span]));
  const problems: string[] = [];
  for (const consumer of consumers) {
    const parent = consumer.parentSpanContext;
    const producer = parent === undefined ? undefined : bySpanId.get(parent.spanId);
    const id: AttributeValue | undefined = consumer.attributes[idAttribute];
    if (producer === undefined) problems.push(`${describe(consumer)} (${idAttribute} ${String(id)}) has parent ${parent === undefined ? 'none' : `${parent.traceId}/${parent.spanId}`}, no producer span`);
    else if (producer.spanContext().traceId !== consumer.spanContext().traceId) problems.push(`${describe(consumer)} is not in the trace of its producer ${describe(producer)}`);
    else if (producer.attributes[idAttribute] !== id) problems.push(`${describe(consumer)} (${idAttribute} ${String(id)}) is a child of the producer span of ${String(producer.attributes[idAttribute])}`);
  }
  return summarized(problems);
}

/** A handler failure as the test threw it. */
export interface Thrown {
  readonly message: string;
  readonly type: string;
}

/**
 * Every error in `thrown` is on exactly one of `spans`, with status ERROR and its message,
 * an `exception` event with its type and message, and `error.type`; and no other span
 * has status ERROR.
 */
export function unrecordedErrors(spans: readonly ReadableSpan[], thrown: readonly Thrown[]): string[] {
  const problems: string[] = [];
  const failed = spans.filter((span) => span.status.code === SpanStatusCode.ERROR);
  const byMessage = new Map<string, ReadableSpan[]>();
  for (const span of failed) {
    const message = span.status.message ?? '';
    byMessage.set(message, [...(byMessage.get(message) ?? []), span]);
  }
  for (const error of thrown) {
    const found = byMessage.get(error.message) ?? [];
    if (found.length !== 1) {
      problems.push(`'${error.message}' is on ${found.length} spans`);
      continue;
    }
    const span = found[0]!;
    const events = span.events.filter((event) => event.name === 'exception');
    if (events.length !== 1 || events[0]!.attributes?.['exception.message'] !== error.message || events[0]!.attributes?.['exception.type'] !== error.type) {
      problems.push(`${describe(span)}: expected one exception event (${error.type}: ${error.message}), got ${JSON.stringify(events.map((event) => event.attributes))}`);
    }
    if (span.attributes['error.type'] !== error.type) problems.push(`${describe(span)}: error.type is ${String(span.attributes['error.type'])}, expected ${error.type}`);
  }
  if (failed.length !== thrown.length) problems.push(`${failed.length} spans have status ERROR for ${thrown.length} errors thrown`);
  return summarized(problems);
}

/** The first ten problems, and how many more there are. */
function summarized(problems: string[]): string[] {
  return problems.length <= 10 ? problems : [...problems.slice(0, 10), `… and ${problems.length - 10} more`];
}

/**
 * What went wrong in a keyed stream through a broker that was killed and restarted: a key
 * never processed, a key without a `process` span, a `process` span outside its send span's
 * trace (see {@link notInProducersTrace}), a handler that ran in another trace than its
 * message's. Spans are matched by `kafka.message.key`.
 */
export function recoveredStreamProblems(
  ids: readonly string[],
  processed: ReadonlyMap<string, number>,
  handlerTraces: ReadonlyMap<string, ReadonlySet<string>>,
  sends: readonly SpanView[],
  processes: readonly SpanView[],
): string[] {
  const key = 'kafka.message.key';
  const problems: string[] = [];
  const spanKeys = new Set(processes.map((span) => span.attributes[key]));
  for (const id of ids) {
    if (!processed.has(id)) problems.push(`${id} was never processed`);
    if (!spanKeys.has(id)) problems.push(`${id} has no process span`);
  }
  problems.push(...notInProducersTrace(sends, processes, key));
  for (const [id, traceIds] of handlerTraces) {
    const allowed = new Set(sends.filter((span) => span.attributes[key] === id).map((span) => span.spanContext().traceId));
    for (const traceId of traceIds) if (!allowed.has(traceId)) problems.push(`${id}: its handler ran in trace ${traceId}, not its message's`);
  }
  return summarized(problems);
}

/** One message as a handler received it. */
export interface Delivery {
  /** The message's own id (its key). */
  readonly id: string;
  /** The values of its `traceparent` header as delivered: one, unless something repeated it. */
  readonly traceparents: readonly string[];
  /** The trace and span the handler ran in (`MessageTrace`). */
  readonly traceId: string;
  readonly spanId: string;
}

/** The values of a header as kafkajs delivers it (a Buffer, a string, or an array of them when repeated). */
export function headerValues(header: Buffer | string | ReadonlyArray<Buffer | string> | undefined): string[] {
  return (header === undefined ? [] : Array.isArray(header) ? header : [header]).map(String);
}

/**
 * What is wrong between the messages as delivered and the consumer spans: a message that
 * did not carry exactly one `traceparent`; a handler whose span is not the consumer span of
 * that message (by `idAttribute`) or whose parent is not exactly the delivered context
 * (its trace id and parent span id); a consumer span no delivery ran in. At most
 * `unfinished` deliveries may lack their span: a process killed after its handler returned
 * and before the span ended.
 */
export function deliveredContextProblems(deliveries: readonly Delivery[], consumers: readonly SpanView[], idAttribute: string, unfinished = 0): string[] {
  const bySpanId = new Map(consumers.map((span) => [span.spanContext().spanId, span]));
  const problems: string[] = [];
  const missing: string[] = [];
  const matched = new Set<string>();
  for (const delivery of deliveries) {
    if (delivery.traceparents.length !== 1) problems.push(`${delivery.id} was delivered with ${delivery.traceparents.length} traceparent headers: ${JSON.stringify(delivery.traceparents)}`);
    const span = bySpanId.get(delivery.spanId);
    if (span === undefined) {
      missing.push(`${delivery.id} (span ${delivery.spanId})`);
      continue;
    }
    matched.add(delivery.spanId);
    const [, traceId, parentSpanId] = (delivery.traceparents[0] ?? '').split('-');
    const parent = span.parentSpanContext;
    if (span.attributes[idAttribute] !== delivery.id) problems.push(`${describe(span)} ran the handler of ${delivery.id} but is the span of ${String(span.attributes[idAttribute])}`);
    if (span.spanContext().traceId !== delivery.traceId) problems.push(`${describe(span)}: the handler of ${delivery.id} saw trace ${delivery.traceId}`);
    if (parent?.traceId !== traceId || parent?.spanId !== parentSpanId) problems.push(`${describe(span)} has parent ${parent === undefined ? 'none' : `${parent.traceId}/${parent.spanId}`}; ${delivery.id} was delivered with ${delivery.traceparents[0]}`);
  }
  if (missing.length > unfinished) problems.push(`${missing.length} deliveries have no consumer span (at most ${unfinished} may): ${missing.slice(0, 5).join(', ')}`);
  for (const span of consumers) if (!matched.has(span.spanContext().spanId)) problems.push(`${describe(span)} (${String(span.attributes[idAttribute])}): no delivery ran in it`);
  return summarized(problems);
}

/** One delivery of a RabbitMQ message, as its handler saw it. */
export interface AmqpDelivery {
  /** `messageId`. */
  readonly id: string;
  /** The broker's `redelivered` flag. */
  readonly redelivered: boolean;
  /** The span the handler ran in. */
  readonly spanId: string;
  /** The value of every header named `traceparent`, in any case. */
  readonly traceparents: readonly string[];
}

/** What the handler of `message`, running in `trace`, knows of its delivery. */
export function amqpDeliveryOf(message: ConsumeMessage, trace: MessageTrace): AmqpDelivery {
  const traceparents = Object.entries(message.properties.headers ?? {})
    .filter(([key]) => key.toLowerCase() === 'traceparent')
    .map(([, value]) => String(value));
  return { id: String(message.properties.messageId), redelivered: message.fields.redelivered, spanId: trace.spanId, traceparents };
}

/**
 * What is wrong with the deliveries of a RabbitMQ stream and their `process` spans, spans
 * and messages matched by `messaging.message.id`: a delivery without a span of its own, a
 * span whose `tracebus.rabbitmq.redelivered` differs from the broker's flag, a message
 * without exactly one `traceparent` naming its span's parent, and a message delivered
 * unflagged more often than it was sent (a redelivery the broker did not flag: each copy
 * sent is delivered unflagged once at most).
 */
export function deliveryProblems(deliveries: readonly AmqpDelivery[], processes: readonly ReadableSpan[], sends: readonly ReadableSpan[]): string[] {
  const key = 'messaging.message.id';
  const problems: string[] = [];
  const bySpanId = new Map(processes.map((span) => [span.spanContext().spanId, span]));
  const sent = new Map<string, number>();
  for (const span of sends) sent.set(String(span.attributes[key]), (sent.get(String(span.attributes[key])) ?? 0) + 1);
  const unflagged = new Map<string, number>();
  for (const delivery of deliveries) {
    const span = bySpanId.get(delivery.spanId);
    if (span === undefined) {
      problems.push(`${delivery.id}: no process span ${delivery.spanId}`);
      continue;
    }
    if (span.attributes[key] !== delivery.id) problems.push(`${delivery.id}: its span ${delivery.spanId} is about ${String(span.attributes[key])}`);
    if (span.attributes[ATTR_RABBITMQ_REDELIVERED] !== (delivery.redelivered ? true : undefined)) {
      problems.push(`${delivery.id}: redelivered ${delivery.redelivered}, but ${describe(span)} has ${ATTR_RABBITMQ_REDELIVERED} ${String(span.attributes[ATTR_RABBITMQ_REDELIVERED])}`);
    }
    const parent = span.parentSpanContext;
    const wire = parent === undefined ? 'none' : `00-${parent.traceId}-${parent.spanId}-01`;
    if (delivery.traceparents.length !== 1 || delivery.traceparents[0] !== wire) problems.push(`${delivery.id}: traceparent ${JSON.stringify(delivery.traceparents)}, but the parent of ${describe(span)} is ${wire}`);
    if (!delivery.redelivered) unflagged.set(delivery.id, (unflagged.get(delivery.id) ?? 0) + 1);
  }
  for (const [id, count] of unflagged) {
    if (count > (sent.get(id) ?? 0)) problems.push(`${id}: delivered ${count}× without the redelivered flag, sent ${sent.get(id) ?? 0}×`);
  }
  return summarized(problems);
}
