import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import { checkHandler, checkOptions, markTraced, optionKeys } from '../core/checks.ts';
import type { HandlerMiddleware } from '../core/compose.ts';
import { IDLE_MESSAGE_TRACE, MessagingTracer } from '../core/messaging-tracer.ts';
import type { SpanHook } from '../core/operation.ts';
import { TRACING_OPTION_KEYS, type TracingOptions } from '../core/options.ts';
import { assertPolicyOption, type PolicyOption } from '../core/policy.ts';
import { consumedAttributes, groupAttributes, MEMORY_SYSTEM } from './attributes.ts';
import type { MemoryMessage } from './bus.ts';

/** Options of {@link traceMemoryHandler}. */
export interface MemoryHandlerOptions extends TracingOptions {
  /** Where the consumer span goes in the trace. Default `parent`. */
  policy?: PolicyOption<MemoryMessage>;
  /** Adds attributes to each `process` span. A hook that throws is reported to `diag`. */
  consumerHook?: SpanHook<MemoryMessage>;
}

/** Every option of {@link traceMemoryHandler}. */
const HANDLER_OPTIONS = [...TRACING_OPTION_KEYS, ...optionKeys<Omit<MemoryHandlerOptions, keyof TracingOptions>>({ policy: 1, consumerHook: 1 })];

/**
 * Handler middleware: runs the handler inside a CONSUMER span `process <topic>`, placed
 * by `policy`, with the message's context active. A handler error is recorded on the
 * span and rethrown unchanged, so the bus redelivers as usual.
 *
 * @example
 * bus.subscribe('orders.placed', traceMemoryHandler()(async (message, trace) => {
 *   console.log(`trace_id=${trace.traceId} charging`);
 * }), { group: 'payments' });
 */
export function traceMemoryHandler(options?: MemoryHandlerOptions): HandlerMiddleware<MemoryMessage<any>, void | Promise<void>> {
  const { policy, consumerHook } = checkOptions(options, 'traceMemoryHandler', 'handler', HANDLER_OPTIONS);
  assertPolicyOption(policy);
  if (consumerHook !== undefined && typeof consumerHook !== 'function') throw new TypeError('tracebus: traceMemoryHandler({ consumerHook }) must be a function (span, message) => void');
  const tracer = new MessagingTracer(MEMORY_SYSTEM, options);
  return function traceHandler(next) {
    checkHandler(next, 'traceMemoryHandler', '(message, trace) => …');
    return markTraced(function tracedHandler(message: MemoryMessage<any>) {
      const state = tracer.prepare();
      if (state === undefined) return context.with(ROOT_CONTEXT, next, undefined, message, IDLE_MESSAGE_TRACE);
      const info = { type: 'process', destination: message.topic, sampling: groupAttributes(message), attributes: consumedAttributes(message), publishedAt: message.publishedAt } as const;
      return tracer.traceProcess(info, message.headers, message, policy, consumerHook, (trace) => next(message, trace), state);
    });
  };
}
