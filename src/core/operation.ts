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
  /** More attributes, under their semconv 1.45 names. */
  attributes?: Attributes;
  /** When the message was produced (ms since the epoch), for the time-in-queue metric. */
  publishedAt?: number;
}

/**
 * Adds attributes to a span from the message it is about. Called once per span, before
 * the message is sent or handled; a hook that throws is reported and the span goes on.
 *
 * @example
 * const producerHook: SpanHook<{ topic: string }> = (span, { topic }) => span.setAttribute('app.topic', topic);
 */
export type SpanHook<M> = (span: Span, message: M) => void;
