import type { Attributes } from '@opentelemetry/api';
import { errorType, METRIC_ATTRIBUTES } from '../core/lifecycle.ts';
import { metricAttributes, type Instruments } from '../core/metrics.ts';
import { ATTR_ERROR_TYPE, ATTR_MESSAGING_DESTINATION_NAME, ATTR_MESSAGING_OPERATION_TYPE } from '../core/semconv.ts';
import { ATTR_MESSAGING_DESTINATION_TEMPLATE } from './attributes.ts';


/**
 * Metric attributes of a span. A temporary destination (a reply queue) is named by its
 * template: its name is per-client and would make a new time series per client.
 */
export function metricAttributesOf(spanAttributes: Attributes): Attributes {
  const attributes = metricAttributes(spanAttributes, METRIC_ATTRIBUTES);
  const template = spanAttributes[ATTR_MESSAGING_DESTINATION_TEMPLATE];
  if (template !== undefined) {
    delete attributes[ATTR_MESSAGING_DESTINATION_NAME];
    attributes[ATTR_MESSAGING_DESTINATION_TEMPLATE] = template;
  }
  return attributes;
}

/** Span attributes fit for the propagation counter: a temporary destination by its template. */
export function lowCardinality(spanAttributes: Attributes): Attributes {
  const template = spanAttributes[ATTR_MESSAGING_DESTINATION_TEMPLATE];
  return template === undefined ? spanAttributes : { ...spanAttributes, [ATTR_MESSAGING_DESTINATION_NAME]: template };
}

/**
 * Records a finished send (or receive) operation: its duration, with `error.type` when it
 * failed, and a sent message on success.
 */
export function recordOperation(instruments: Instruments, spanAttributes: Attributes, started: number, failure: string | undefined): void {
  const attributes = metricAttributesOf(spanAttributes);
  const type = spanAttributes[ATTR_MESSAGING_OPERATION_TYPE];
  const duration: Attributes = { ...attributes, [ATTR_MESSAGING_OPERATION_TYPE]: type };
  if (failure !== undefined) duration[ATTR_ERROR_TYPE] = failure;
  instruments.operationDuration.record((performance.now() - started) / 1e3, duration);
  if (failure === undefined && type === 'send') instruments.sent.add(1, attributes);
}

/**
 * Counts a delivery and its time in queue; returns the attributes for its process
 * duration. AMQP's `timestamp` property is read as seconds since the epoch (the AMQP and
 * RabbitMQ convention), or as milliseconds when it is too large to be seconds.
 */
export function recordDelivered(instruments: Instruments, spanAttributes: Attributes, timestamp: unknown): Attributes {
  const attributes = metricAttributesOf(spanAttributes);
  instruments.consumed.add(1, attributes);
  if (typeof timestamp === 'number' && timestamp > 0) {
    const publishedAt = timestamp < 1e11 ? timestamp * 1e3 : timestamp;
    instruments.timeInQueue.record(Math.max(0, Date.now() - publishedAt) / 1e3, attributes);
  }
  return attributes;
}

/** Records how long a handler ran, with `error.type` when it failed. */
export function recordProcessed(instruments: Instruments, attributes: Attributes, started: number, error: unknown, failed: boolean): void {
  instruments.processDuration.record((performance.now() - started) / 1e3, failed ? { ...attributes, [ATTR_ERROR_TYPE]: errorType(error) } : attributes);
}
