import { context, ROOT_CONTEXT, SpanKind, trace, type Attributes, type Context, type Link, type Span, type SpanContext } from '@opentelemetry/api';
import type { EachBatchPayload, EachMessagePayload, KafkaMessage } from 'kafkajs';
import type { MessageHeaders } from '../core/headers.ts';
import { measureReceive, runInSpan } from '../core/lifecycle.ts';
import { ATTR_LINKS_DROPPED, IDLE_TRACE_CONTEXT, runHook, type MessagingTracer, type OperationInfo, type SpanHook, type TracingOptions } from '../core/messaging-tracer.ts';
import type { PolicyOption } from '../core/policy.ts';
import { activeTraceContext, traceContextOf, type TraceContext } from '../core/trace-context.ts';
import { ATTR_KAFKA_ATTEMPT, batchAttributes, consumedAttributes, timestampOf, type ClientAttributes, type KafkaClientOptions } from './attributes.ts';

// A batch is processed as one `process` operation (for its metrics).
const PROCESS = { type: 'process' } as const;

/** One consumed message with where it came from: what policy functions and consumer hooks receive. */
export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly message: KafkaMessage;
}

/** Options of the consumer middleware and {@link traceConsumer}. */
export interface ConsumerTracingOptions extends TracingOptions, KafkaClientOptions {
  /**
   * `messaging.consumer.group.name`: the consumer's `groupId`. `traceConsumer` learns it
   * when the consumer joins its group, so there it is needed only to override that.
   */
  groupId?: string;
  /**
   * Where each `process` span goes in the trace: `parent` (default: a child of the
   * producer's span), `link` (a new trace linked to it, keeping the message's baggage),
   * `root` (ignore the incoming context), or a function of the {@link ConsumedRecord}.
   */
  policy?: PolicyOption<ConsumedRecord>;
  /** Adds attributes to each span about one message. A hook that throws is reported to `diag`. */
  consumerHook?: SpanHook<ConsumedRecord>;
}

/** Options of {@link BatchTraceContext.forEachMessage}. */
export interface ForEachMessageOptions {
  /** Call `resolveOffset(message.offset)` after each message's work succeeds. Default `true`. */
  resolveOffsets?: boolean;
  /** Call `heartbeat()` after each message. Default `true`. */
  heartbeat?: boolean;
}

/**
 * What an `eachBatch` handler gets besides kafkajs' payload: the batch span's trace, and
 * two ways to run each message's work in *that message's own* trace context.
 *
 * Each message's work runs in a CONSUMER span `process <topic>` with the message's
 * offset, key and partition. Under policy `parent` it is a child of the producer's span
 * and links to the batch span; under `link` it is a child of the batch span and links to
 * the producer's span (keeping the message's baggage); under `root` it is a child of the
 * batch span. A failure is recorded on that message's span and rethrown.
 */
export interface BatchTraceContext extends TraceContext {
  /**
   * Runs `work` for the batch's messages one after another, as kafkajs' own `eachBatch`
   * loop does: it stops when the consumer stops running or the batch goes stale (after a
   * seek or a rebalance), resolves each message's offset once its work succeeded, and
   * heartbeats after each message (both can be turned off). A failure stops the loop
   * and rejects, so kafkajs retries from the first unresolved message.
   */
  forEachMessage(work: (message: KafkaMessage, trace: TraceContext) => unknown, options?: ForEachMessageOptions): Promise<void>;
  /**
   * Runs `work` for one message inside its own span and returns what `work` returns, for
   * handlers that iterate themselves (concurrently, in chunks, with their own offset
   * handling). `message` is normally one of `payload.batch.messages`.
   */
  processMessage<R>(message: KafkaMessage, work: (message: KafkaMessage, trace: TraceContext) => R): R;
}

type Placement = { parent: Context; links: Link[] | undefined };

/**
 * The consumer side: spans for `eachMessage` and `eachBatch`, shared by the middleware of
 * one `traceEachMessage()`, `traceEachBatch()` or `traceConsumer()` call.
 */
export class ConsumerSpans {
  readonly tracer: MessagingTracer;
  readonly client: ClientAttributes;
  /** Mutable: `traceConsumer` learns the group when the consumer joins it. */
  groupId: string | undefined;
  readonly #policy: PolicyOption<ConsumedRecord> | undefined;
  readonly #hook: SpanHook<ConsumedRecord> | undefined;

  constructor(tracer: MessagingTracer, client: ClientAttributes, options: ConsumerTracingOptions) {
    this.tracer = tracer;
    this.client = client;
    this.groupId = options.groupId;
    this.#policy = options.policy;
    this.#hook = options.consumerHook;
  }

  /** Runs `handler` for one `eachMessage` payload inside its `process` span. */
  processMessage(payload: EachMessagePayload, handler: (payload: EachMessagePayload, trace: TraceContext) => unknown, attempts: Attempts): unknown {
    if (payload?.message == null) return handler(payload, activeTraceContext(context.active()));
    // With nothing registered, skip even the attributes (see MessagingTracer.idle).
    if (this.tracer.idle()) return context.with(ROOT_CONTEXT, handler, undefined, payload, IDLE_TRACE_CONTEXT);
    const { topic, partition, message } = payload;
    const attributes = consumedAttributes(this.groupId, partition, message, this.client);
    const attempt = attempts.seen(topic, partition, message.offset);
    if (attempt > 1) attributes[ATTR_KAFKA_ATTEMPT] = attempt;
    const info: OperationInfo = { type: 'process', destination: topic, attributes, publishedAt: timestampOf(message) };
    return this.tracer.traceProcess(info, message.headers as MessageHeaders | undefined, payload, this.#policy, this.#hook, function handle(trace) {
      return handler(payload, trace);
    });
  }

  /**
   * Runs `handler` for one `eachBatch` payload inside a CONSUMER span `process <topic>`
   * with no parent and a link to each message's context (semconv for batch receivers).
   */
  processBatch(payload: EachBatchPayload, handler: (payload: EachBatchPayload, trace: BatchTraceContext) => unknown): unknown {
    const tracer = this.tracer;
    const { topic, partition, messages } = payload.batch;
    const info: OperationInfo = { type: 'process', destination: topic, attributes: batchAttributes(this.groupId, partition, messages.length, this.client) };
    const attributes = tracer.attributes(info);
    const placements: Placement[] = new Array(messages.length);
    const remotes: Array<SpanContext | undefined> = new Array(messages.length);
    for (let index = 0; index < messages.length; index++) {
      const placement = (placements[index] = this.place(topic, partition, messages[index]!, attributes));
      remotes[index] = trace.getSpanContext(placement.parent) ?? placement.links?.[0]?.context;
    }
    const { links, dropped } = tracer.links(remotes);
    if (dropped > 0) attributes[ATTR_LINKS_DROPPED] = dropped;
    // The root context, not the active one: kafkajs runs handlers in whatever context was
    // active when `consumer.run()` was called, which is no parent of these messages.
    const span = tracer.startSpan(info, SpanKind.CONSUMER, ROOT_CONTEXT, links, attributes);
    const ctx = trace.setSpan(ROOT_CONTEXT, span);
    const batchTrace = new BatchMessages(this, span, payload, placements).attachTo(traceContextOf(span, ctx));
    return runInSpan(span, ctx, handler, undefined, payload, batchTrace, measureReceive(tracer.instruments(), attributes, PROCESS));
  }

  /** Parent and links of one message's span under the policy. */
  place(topic: string, partition: number, message: KafkaMessage, attributes: Attributes | undefined): Placement {
    const policy = this.#policy;
    // Only a policy function reads the record: one is built for it alone.
    const record = typeof policy === 'function' ? { topic, partition, message } : (message as unknown as ConsumedRecord);
    return this.tracer.placement(message.headers as MessageHeaders | undefined, record, policy, topic, attributes);
  }

  /** Runs `work` for one message of a batch inside its own `process` span. */
  processInBatch<R>(batchSpan: Span, topic: string, partition: number, message: KafkaMessage, placement: Placement, work: (message: KafkaMessage, trace: TraceContext) => R): R {
    const tracer = this.tracer;
    const info: OperationInfo = { type: 'process', destination: topic, attributes: consumedAttributes(this.groupId, partition, message, this.client) };
    let parent: Context;
    let links: Link[] | undefined;
    if (trace.getSpan(placement.parent) !== undefined) {
      // Policy `parent` with a valid producer context: semconv asks for a link to the
      // ambient context, here the batch span.
      parent = placement.parent;
      links = [{ context: batchSpan.spanContext() }];
    } else {
      parent = trace.setSpan(placement.parent, batchSpan);
      links = placement.links;
    }
    const span = tracer.startSpan(info, SpanKind.CONSUMER, parent, links);
    if (this.#hook !== undefined) runHook(this.#hook, span, { topic, partition, message }, 'consumerHook');
    const ctx = trace.setSpan(parent, span);
    return runInSpan(span, ctx, work, undefined, message, traceContextOf(span, ctx), undefined);
  }
}

/**
 * The per-message helpers of one `eachBatch` call, added to the batch span's
 * {@link TraceContext} to make its {@link BatchTraceContext}.
 */
class BatchMessages {
  readonly #consumer: ConsumerSpans;
  readonly #batchSpan: Span;
  readonly #payload: EachBatchPayload;
  readonly #placements: Placement[];
  #next = 0;

  constructor(consumer: ConsumerSpans, batchSpan: Span, payload: EachBatchPayload, placements: Placement[]) {
    this.#consumer = consumer;
    this.#batchSpan = batchSpan;
    this.#payload = payload;
    this.#placements = placements;
  }

  /** `trace`, given the methods of {@link BatchTraceContext}. */
  attachTo(trace: TraceContext): BatchTraceContext {
    return Object.defineProperties(trace, {
      forEachMessage: { value: this.forEachMessage.bind(this), enumerable: false },
      processMessage: { value: this.processMessage.bind(this), enumerable: false },
    }) as BatchTraceContext;
  }

  async forEachMessage(work: (message: KafkaMessage, trace: TraceContext) => unknown, options: ForEachMessageOptions = {}): Promise<void> {
    if (typeof work !== 'function') throw new TypeError('tracebus: trace.forEachMessage(work) needs a function (message, trace) => …');
    const { resolveOffsets = true, heartbeat = true } = options;
    const payload = this.#payload;
    for (const message of payload.batch.messages) {
      if (payload.isRunning() === false || payload.isStale() === true) break;
      await this.processMessage(message, work);
      if (resolveOffsets) payload.resolveOffset(message.offset);
      if (heartbeat) await payload.heartbeat();
    }
  }

  processMessage<R>(message: KafkaMessage, work: (message: KafkaMessage, trace: TraceContext) => R): R {
    if (typeof work !== 'function') throw new TypeError('tracebus: trace.processMessage(message, work) needs a function (message, trace) => …');
    const { topic, partition, messages } = this.#payload.batch;
    const index = this.#indexOf(messages, message);
    // A message from elsewhere is placed on its own; the batch span has no link to it.
    const placement = index >= 0 ? this.#placements[index]! : this.#consumer.place(topic, partition, message, undefined);
    return this.#consumer.processInBatch(this.#batchSpan, topic, partition, message, placement, work);
  }

  /** Where `message` is in the batch; handlers mostly go in order, so that is tried first. */
  #indexOf(messages: readonly KafkaMessage[], message: KafkaMessage): number {
    const hint = this.#next;
    const index = messages[hint] === message ? hint : messages.indexOf(message);
    if (index >= 0) this.#next = index + 1;
    return index;
  }
}

/**
 * Counts how often a handler sees the same offset of a partition in a row, which is how
 * kafkajs redelivers a message after its handler failed (it seeks back to it).
 */
export class Attempts {
  readonly #topics = new Map<string, Array<{ offset: string; attempt: number } | undefined>>();

  /** The attempt number of this delivery: 1, or more when the partition's last delivery was the same offset. */
  seen(topic: string, partition: number, offset: string): number {
    let partitions = this.#topics.get(topic);
    if (partitions === undefined) this.#topics.set(topic, (partitions = []));
    const last = partitions[partition];
    if (last === undefined) {
      partitions[partition] = { offset, attempt: 1 };
      return 1;
    }
    if (last.offset === offset) return ++last.attempt;
    last.offset = offset;
    last.attempt = 1;
    return 1;
  }
}
