import type { PublisherDecorator } from '../core/compose.ts';
import { checkOptions, checkTarget, markTraced, optionKeys } from '../core/checks.ts';
import { MessagingTracer } from '../core/messaging-tracer.ts';
import type { SpanHook } from '../core/operation.ts';
import { TRACING_OPTION_KEYS, type TracingOptions } from '../core/options.ts';
import { MEMORY_SYSTEM, publishedAttributes } from './attributes.ts';
import type { MemoryPublisher, OutgoingMessage } from './bus.ts';
import { withHeaders, withoutTraceHeaders } from './headers.ts';

/** What a producer hook receives. */
export interface MemoryPublish {
  readonly topic: string;
  readonly message: OutgoingMessage;
}

/** Options of {@link traceMemoryPublisher}. */
export interface MemoryPublisherOptions extends TracingOptions {
  /** Adds attributes to each `send` span. A hook that throws is reported to `diag`. */
  producerHook?: SpanHook<MemoryPublish>;
}

/** Every option of {@link traceMemoryPublisher}. */
const PUBLISHER_OPTIONS = [...TRACING_OPTION_KEYS, ...optionKeys<Omit<MemoryPublisherOptions, keyof TracingOptions>>({ producerHook: 1 })];

/**
 * A publisher decorator: each `publish` records a PRODUCER span `send <topic>` and
 * writes its context into a copy of the message's headers.
 *
 * @example
 * const publisher = traceMemoryPublisher()(bus);
 * await publisher.publish('orders.placed', { payload: order });
 */
export function traceMemoryPublisher(options?: MemoryPublisherOptions): PublisherDecorator<MemoryPublisher> {
  const { producerHook } = checkOptions(options, 'traceMemoryPublisher', 'bus', PUBLISHER_OPTIONS);
  if (producerHook !== undefined && typeof producerHook !== 'function') throw new TypeError('tracebus: traceMemoryPublisher({ producerHook }) must be a function (span, { topic, message }) => void');
  const tracer = new MessagingTracer(MEMORY_SYSTEM, options);
  return function decorateMemoryPublisher(publisher) {
    checkTarget(publisher, ['publish'], 'traceMemoryPublisher', 'bus', 'an object with a publish(topic, message) method, such as a MemoryBus');
    return markTraced({
      publish: function tracedPublish<P>(topic: string, message: OutgoingMessage<P>): Promise<void> {
        // No message object: the bus's own error, not a traced copy that would make one up.
        if (message === null || typeof message !== 'object') return publisher.publish(topic, message);
        // With nothing registered, skip even building the attributes (see MessagingTracer.idle).
        const state = tracer.prepare();
        if (state === undefined) return publisher.publish(topic, withoutTraceHeaders(message));
        return tracer.tracePublish({ type: 'send', destination: topic, attributes: publishedAttributes(message) }, message?.headers, { topic, message }, producerHook, (headers) =>
          publisher.publish(topic, withHeaders(message, headers)),
          false,
          state,
        );
      },
    });
  };
}
