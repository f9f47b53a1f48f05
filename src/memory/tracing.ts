import { context, ROOT_CONTEXT, type Attributes } from '@opentelemetry/api';
import { copyWithoutTraceHeaders } from '../core/headers.ts';
import type { HandlerMiddleware, PublisherDecorator } from '../core/compose.ts';
import { assertPolicyOption, IDLE_TRACE_CONTEXT, MessagingTracer, type SpanHook, type TracingOptions } from '../core/messaging-tracer.ts';
import type { PolicyOption } from '../core/policy.ts';
import { ATTR_MESSAGING_CONSUMER_GROUP_NAME, ATTR_MESSAGING_MESSAGE_ID } from '../core/semconv.ts';
import type { MemoryMessage, MemoryPublisher, OutgoingMessage } from './bus.ts';

/** `messaging.system.name` of the in-process bus. */
export const MEMORY_SYSTEM = 'tracebus.memory';
/** Delivery attempt of a redelivered bus message (2 on the first redelivery); absent on the first delivery. */
export const ATTR_MEMORY_ATTEMPT = 'tracebus.memory.attempt';

/** What a producer hook receives. */
export interface MemoryPublish {
  readonly topic: string;
  readonly message: OutgoingMessage;
}

export interface MemoryPublisherTracingOptions extends TracingOptions {
  /** Adds attributes to each `send` span. A hook that throws is reported to `diag`. */
  producerHook?: SpanHook<MemoryPublish>;
}

export interface MemoryHandlerTracingOptions extends TracingOptions {
  /** Where the consumer span goes in the trace. Default `parent`. */
  policy?: PolicyOption<MemoryMessage>;
  /** Adds attributes to each `process` span. A hook that throws is reported to `diag`. */
  consumerHook?: SpanHook<MemoryMessage>;
}

/**
 * A publisher decorator: each `publish` records a PRODUCER span `send <topic>` and
 * writes its context into a copy of the message's headers.
 *
 * @example
 * const publisher = traceMemoryPublisher()(bus);
 * await publisher.publish('orders.placed', { payload: order });
 */
export function traceMemoryPublisher(options: MemoryPublisherTracingOptions = {}): PublisherDecorator<MemoryPublisher> {
  const tracer = new MessagingTracer(MEMORY_SYSTEM, options);
  const { producerHook } = options;
  return function decorateMemoryPublisher(publisher) {
    if (publisher === null || typeof publisher !== 'object' || typeof publisher.publish !== 'function') {
      throw new TypeError('tracebus: traceMemoryPublisher()(publisher) needs an object with a publish(topic, message) method, such as a MemoryBus');
    }
    return {
      publish: function tracedPublish<P>(topic: string, message: OutgoingMessage<P>): Promise<void> {
        // With nothing registered, skip even building the attributes (see MessagingTracer.idle).
        if (tracer.idle()) return publisher.publish(topic, message?.headers == null ? message : { ...message, headers: copyWithoutTraceHeaders(message.headers) });
        const attributes: Attributes | undefined = message?.id === undefined ? undefined : { [ATTR_MESSAGING_MESSAGE_ID]: message.id };
        return tracer.tracePublish({ type: 'send', destination: topic, attributes }, message?.headers, { topic, message }, producerHook, (headers) =>
          publisher.publish(topic, { ...message, headers }),
          false,
        );
      },
    };
  };
}

/**
 * Handler middleware: runs the handler inside a CONSUMER span `process <topic>`, placed
 * by `policy`, with the message's context active. A handler error is recorded on the
 * span and rethrown unchanged, so the bus redelivers as usual.
 *
 * @example
 * bus.subscribe('orders.placed', traceMemoryHandler()(async (message, trace) => {
 *   log.info({ trace_id: trace.traceId }, 'charging');
 * }), { group: 'payments' });
 */
export function traceMemoryHandler(options: MemoryHandlerTracingOptions = {}): HandlerMiddleware<MemoryMessage<any>, void | Promise<void>> {
  assertPolicyOption(options.policy);
  const tracer = new MessagingTracer(MEMORY_SYSTEM, options);
  const { policy, consumerHook } = options;
  return function traceHandler(next) {
    if (typeof next !== 'function') throw new TypeError('tracebus: traceMemoryHandler()(handler) needs a handler function');
    return function tracedHandler(message) {
      if (tracer.idle()) return context.with(ROOT_CONTEXT, next, undefined, message, IDLE_TRACE_CONTEXT);
      const attributes: Attributes = { [ATTR_MESSAGING_MESSAGE_ID]: message.id };
      if (message.redelivered) attributes[ATTR_MEMORY_ATTEMPT] = message.attempt;
      if (!isAnonymousGroup(message.group, message.topic)) attributes[ATTR_MESSAGING_CONSUMER_GROUP_NAME] = message.group;
      return tracer.traceProcess({ type: 'process', destination: message.topic, attributes, publishedAt: message.publishedAt }, message.headers, message, policy, consumerHook, (trace) => next(message, trace));
    };
  };
}

/** Whether `group` is the bus's name for a subscription without a group: `<topic>#<n>`. */
function isAnonymousGroup(group: string, topic: string): boolean {
  return group.length > topic.length && group.charCodeAt(topic.length) === 0x23 && group.startsWith(topic);
}
