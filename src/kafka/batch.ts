import { ROOT_CONTEXT, SpanKind, trace, type Context, type Link, type Span, type SpanContext } from '@opentelemetry/api';
import { measureReceive, runHook, runInSpan } from '../core/lifecycle.ts';
import { messageTraceOf, type MessageTrace } from '../core/message-trace.ts';
import { ATTR_LINKS_DROPPED, type Placement } from '../core/messaging-tracer.ts';
import type { OperationInfo } from '../core/operation.ts';
import { consumerGroupAttributes } from '../core/semconv.ts';
import { batchAttributes, consumedAttributes } from './attributes.ts';
import type { ConsumedMessage, EachBatchShape } from './client.ts';
import type { ConsumerSpans } from './consumer.ts';

// A batch span ends when the handler does, through the core's runInSpan; each message's
// span inside it starts when the handler asks for it (forEachMessage, processMessage), so
// it is started here and run through runInSpan too.

// A batch is processed as one `process` operation (for its metrics).
const PROCESS = { type: 'process' } as const;

/**
 * Whether `forEachMessage` stops before its next message for a consumer that stops where the
 * client's payload cannot tell (see ConsumerBinding.runsOnAfterDisconnect): the consumer
 * decorator gives each `run()` that may stop early a signal of its own and counts in it the
 * calls of the traced consumer's `disconnect()`. A batch stops when the count changed while it
 * ran: a batch that starts after a `disconnect()` the client refused (the consumer goes on) is
 * handled, so that a refusal costs at most the redelivery of the batches in flight.
 */
export interface RunSignal {
  readonly disconnects: number;
}

/** The signal of every other run: the middleware's, kafkajs's, and a run that must go on. */
export const RUNS_ON: RunSignal = Object.freeze({ disconnects: 0 });

/** Options of {@link BatchMessageTraceOf.forEachMessage}. */
export interface ForEachMessageOptions {
  /** Call `resolveOffset(message.offset)` after each message's work succeeds. Default `true`. */
  resolveOffsets?: boolean;
  /** Call `heartbeat()` after each message. Default `true`. */
  heartbeat?: boolean;
}

/**
 * What an `eachBatch` handler gets besides the client's payload: the batch span's trace, and
 * two ways to run each message's work in *that message's own* trace context. `M` is the
 * client's consumed message type.
 *
 * Each message's work runs in a CONSUMER span `process <topic>` with the message's
 * offset, key and partition. Under policy `parent` it is a child of the producer's span
 * and links to the batch span; under `link` it is a child of the batch span and links to
 * the producer's span (keeping the message's baggage); under `root` it is a child of the
 * batch span. A failure is recorded on that message's span and rethrown.
 */
export interface BatchMessageTraceOf<M> extends MessageTrace {
  /**
   * Runs `work` for the batch's messages one after another, as the clients' own `eachBatch`
   * loop does: it stops when the consumer stops running or the batch goes stale (after a
   * seek or a rebalance), resolves each message's offset once its work succeeded, and
   * heartbeats after each message (both can be turned off). A failure stops the loop
   * and rejects, so the client retries from the first unresolved message. A loop that stops
   * because the consumer stops returns normally: with `run()`'s default
   * `eachBatchAutoResolve: true`, kafkajs then commits the batch's last offset, skipping the
   * messages the loop did not reach; `eachBatchAutoResolve: false` has them delivered again.
   *
   * @confluentinc/kafka-javascript (1.10) answers `isRunning()` true after `disconnect()`, so
   * there the loop stops for it only on a consumer traced with `traceConfluentConsumer`, for a
   * `run()` whose own `eachBatchAutoResolve` is falsy, and with a handler that consumer wrapped
   * itself: it stops before the next message once `disconnect()` is called on the traced
   * consumer, only what it resolved is committed, and the messages it did not reach are
   * delivered again. Otherwise it goes on through the batch, and of the offsets it resolves
   * after the call some may be committed and the rest not, whose messages are delivered again,
   * handled twice. With the client's default that is the lesser harm: the client resolves the
   * batch's last offset when the handler returns and may commit it, so stopping early would
   * skip the messages not reached. A handler wrapped with `traceConfluentEachBatch` (passed to
   * the traced consumer or not) and a `disconnect()` called on the consumer itself, not on the
   * traced one, never stop it.
   */
  forEachMessage(work: (message: M, trace: MessageTrace) => unknown, options?: ForEachMessageOptions): Promise<void>;
  /**
   * Runs `work` for one message inside its own span and returns what `work` returns, for
   * handlers that iterate themselves (concurrently, in chunks, with their own offset
   * handling). `message` is normally one of `payload.batch.messages`.
   */
  processMessage<R>(message: M, work: (message: M, trace: MessageTrace) => R): R;
}

/** What a traced handler says when run() was given it under the other handler's name. */
export const WRONG_PAYLOAD = {
  batchToMessage: 'tracebus: a traced eachMessage handler was given an eachBatch payload: pass it to run() as eachMessage, or wrap eachBatch handlers with the eachBatch middleware',
  messageToBatch: 'tracebus: a traced eachBatch handler was given an eachMessage payload: pass it to run() as eachBatch, or wrap eachMessage handlers with the eachMessage middleware',
};

/**
 * Runs `handler` for one `eachBatch` payload inside a CONSUMER span `process <topic>`
 * with no parent and a link to each message's context (semconv for batch receivers).
 */
export function processBatch(this: ConsumerSpans, payload: EachBatchShape, handler: (payload: EachBatchShape, trace: BatchMessageTraceOf<ConsumedMessage>) => unknown, self?: unknown, run: RunSignal = RUNS_ON): unknown {
  const tracer = this.tracer;
  if (payload?.batch == null && typeof (payload as { message?: unknown } | undefined)?.message === 'object') throw new TypeError(WRONG_PAYLOAD.messageToBatch);
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
  // The root context, not the active one: the clients run handlers in whatever context was
  // active when `consumer.run()` was called, which is no parent of these messages.
  const span = tracer.startSpan(info, SpanKind.CONSUMER, ROOT_CONTEXT, links, attributes);
  const ctx = trace.setSpan(ROOT_CONTEXT, span);
  const batchTrace = new BatchMessages(this, span, payload, placements, run).attachTo(messageTraceOf(span, ctx));
  return runInSpan(span, ctx, handler, self, payload, batchTrace, measureReceive(tracer.instruments(), attributes, PROCESS));
}


/**
 * Resolves `message`'s offset, with its leader epoch where the message has one, as a client's
 * own loop does: @confluentinc/kafka-javascript then commits the epoch with the offset (log
 * truncation detection, KIP-320), and, the offset resolved, skips its own resolve at the end of
 * the batch, which would have carried it. kafkajs takes the offset alone.
 */
function resolve(payload: EachBatchShape, message: ConsumedMessage): void {
  const leaderEpoch = (message as { leaderEpoch?: unknown }).leaderEpoch;
  if (typeof leaderEpoch === 'number') (payload as { resolveOffset(offset: string, leaderEpoch: number): void }).resolveOffset(message.offset, leaderEpoch);
  else payload.resolveOffset(message.offset);
}

/** Runs `work` for one message of a batch inside its own `process` span. */
function processInBatch<R>(consumer: ConsumerSpans, batchSpan: Span, topic: string, partition: number, message: ConsumedMessage, placement: Placement, work: (message: ConsumedMessage, trace: MessageTrace) => R): R {
  const tracer = consumer.tracer;
  const info: OperationInfo = { type: 'process', destination: topic, sampling: consumerGroupAttributes(consumer.groupId), attributes: consumedAttributes(partition, message, consumer.client) };
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
  if (consumer.hook !== undefined) runHook(consumer.hook, span, { topic, partition, message }, 'consumerHook');
  const ctx = trace.setSpan(parent, span);
  return runInSpan(span, ctx, work, undefined, message, messageTraceOf(span, ctx), undefined);
}
/**
 * The per-message helpers of one `eachBatch` call, added to the batch span's
 * {@link MessageTrace} to make its {@link BatchMessageTraceOf}.
 */
class BatchMessages {
  readonly #consumer: ConsumerSpans;
  readonly #batchSpan: Span;
  readonly #payload: EachBatchShape;
  readonly #placements: Placement[];
  readonly #run: RunSignal;
  /** The run's count of `disconnect()` calls when this batch started. */
  readonly #disconnects: number;
  #next = 0;

  constructor(consumer: ConsumerSpans, batchSpan: Span, payload: EachBatchShape, placements: Placement[], run: RunSignal) {
    this.#consumer = consumer;
    this.#batchSpan = batchSpan;
    this.#payload = payload;
    this.#placements = placements;
    this.#run = run;
    this.#disconnects = run.disconnects;
  }

  /** `trace`, given the methods of {@link BatchMessageTraceOf}. */
  attachTo(trace: MessageTrace): BatchMessageTraceOf<ConsumedMessage> {
    return Object.defineProperties(trace, {
      forEachMessage: { value: this.forEachMessage.bind(this), enumerable: false },
      processMessage: { value: this.processMessage.bind(this), enumerable: false },
    }) as BatchMessageTraceOf<ConsumedMessage>;
  }

  async forEachMessage(work: (message: ConsumedMessage, trace: MessageTrace) => unknown, options: ForEachMessageOptions = {}): Promise<void> {
    if (typeof work !== 'function') throw new TypeError('tracebus: trace.forEachMessage(work) needs a function (message, trace) => …');
    if (options === null || typeof options !== 'object') throw new TypeError('tracebus: trace.forEachMessage(work, options) takes options as an object such as { resolveOffsets: false }, or none');
    const { resolveOffsets = true, heartbeat = true } = options;
    if (typeof resolveOffsets !== 'boolean' || typeof heartbeat !== 'boolean') throw new TypeError('tracebus: trace.forEachMessage(work, { resolveOffsets, heartbeat }) takes true or false for each');
    const payload = this.#payload;
    const run = this.#run;
    for (const message of payload.batch.messages) {
      if (run.disconnects !== this.#disconnects || payload.isRunning() === false || payload.isStale() === true) break;
      await this.processMessage(message, work);
      if (resolveOffsets) resolve(payload, message);
      if (heartbeat) await payload.heartbeat();
    }
  }

  processMessage<R>(message: ConsumedMessage, work: (message: ConsumedMessage, trace: MessageTrace) => R): R {
    if (typeof work !== 'function') throw new TypeError('tracebus: trace.processMessage(message, work) needs a function (message, trace) => …');
    if (message === null || typeof message !== 'object') throw new TypeError('tracebus: trace.processMessage(message, work) needs a message of the batch, such as one of payload.batch.messages');
    const { topic, partition, messages } = this.#payload.batch;
    const index = this.#indexOf(messages, message);
    // A message from elsewhere is placed on its own; the batch span has no link to it.
    const placement = index >= 0 ? this.#placements[index]! : this.#consumer.place(topic, partition, message, undefined);
    return processInBatch(this.#consumer, this.#batchSpan, topic, partition, message, placement, work);
  }

  /** Where `message` is in the batch; handlers mostly go in order, so that is tried first. */
  #indexOf(messages: readonly ConsumedMessage[], message: ConsumedMessage): number {
    const hint = this.#next;
    const index = messages[hint] === message ? hint : messages.indexOf(message);
    if (index >= 0) this.#next = index + 1;
    return index;
  }
}

