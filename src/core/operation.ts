import type { Attributes, Span } from '@opentelemetry/api';
import type { OperationType } from './semconv.ts';

/** What an adapter knows about one messaging operation. */
export interface OperationInfo {
  /** `messaging.operation.type`. */
  type: OperationType;
  /** `messaging.operation.name`, the span name's first word. Default: `type`. */
  name?: string;
  /** Destination for the span name and `messaging.destination.name`. Omit when anonymous. */
  destination?: string;
  /**
   * Attributes a sampler should see when the span starts, beside the system, operation and
   * destination (semconv's sampling-relevant attributes, such as Kafka's consumer group),
   * under their semconv 1.45 names.
   */
  sampling?: Attributes;
  /**
   * More attributes, under their semconv 1.45 names. They are set right after the span
   * starts, and only on a span that records: a span its sampler dropped costs none of them.
   */
  attributes?: Attributes;
  /** When the message was produced (ms since the epoch), for the time-in-queue metric. */
  publishedAt?: number;
  /**
   * The destination on metrics, as `messaging.destination.template`, where `destination` is
   * not known to be of low cardinality (a RabbitMQ routing key): metrics then carry this
   * instead of the name. Spans keep the name.
   */
  metricTemplate?: string;
}

/**
 * Adds attributes to a span from the message it is about. Called once per span, before
 * the message is sent or handled; a hook that throws is reported and the span goes on.
 *
 * @example
 * const producerHook: SpanHook<{ topic: string }> = (span, { topic }) => span.setAttribute('app.topic', topic);
 */
export type SpanHook<M> = (span: Span, message: M) => void;
