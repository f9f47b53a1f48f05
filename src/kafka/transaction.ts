import { SpanKind, trace, type Context, type Link, type Span } from '@opentelemetry/api';
import { isTraced } from '../core/checks.ts';
import { delegateTo } from '../core/delegate.ts';
import { closeSpan, isPromiseLike, recordError } from '../core/lifecycle.ts';
import { ATTR_MESSAGING_CONSUMER_GROUP_NAME } from '../core/semconv.ts';
import { ATTR_KAFKA_TRANSACTION_OUTCOME } from './attributes.ts';
import { groupOf, type ProducerBatchShape, type TopicMessagesShape, type TransactionShape } from './client.ts';
import type { SendTracer } from './publisher.ts';

// A transaction's span starts in `producer.transaction()` and ends in `commit()` or
// `abort()`, calls the core's lifecycle cannot wrap in one function: it keeps the span
// here, and sends inside the transaction go through the publisher's lifecycle.

/** How a transaction's span ended; see {@link ATTR_KAFKA_TRANSACTION_OUTCOME}. */
export type TransactionOutcome = 'committed' | 'aborted' | 'abandoned';

/**
 * The transaction the client began (kafkajs: a transaction object; @confluentinc/kafka-javascript:
 * the producer itself), whose sends are traced and whose span ends on commit or abort.
 */
export function tracedTransaction(raw: TransactionShape, begun: TransactionSpan, sends: SendTracer): TransactionShape {
  if (raw === null || typeof raw !== 'object' || isTraced(raw)) return raw;
  return delegateTo(raw, {
    send: function send(record: TopicMessagesShape) {
      return sends.send(raw, record, begun);
    },
    sendBatch: function sendBatch(batch: ProducerBatchShape) {
      return sends.sendBatch(raw, batch, begun);
    },
    commit: function commit() {
      return begun.settle(raw, 'commit', 'committed');
    },
    abort: function abort() {
      return begun.settle(raw, 'abort', 'aborted');
    },
    sendOffsets: function sendOffsets(offsets: object) {
      return begun.offsetsSent(offsets, raw.sendOffsets(offsets));
    },
  });
}

/** The span of one producer transaction, from `transaction()` to `commit()` or `abort()`. */
export class TransactionSpan {
  readonly span: Span;
  /** The span that was active when the transaction began (`undefined` for none). */
  readonly ambient: Span | undefined;
  /** Whether the transaction is the producer itself (@confluentinc/kafka-javascript), so the producer's own calls belong to it. */
  isProducer = false;
  #ended = false;
  /** A `commit()` or `abort()` in flight. */
  #settling = false;
  /** The producer disconnected: the transaction cannot go on past a settle in flight. */
  #disconnected = false;

  constructor(span: Span, ambient: Span | undefined) {
    this.span = span;
    this.ambient = ambient;
  }

  /** Parent of a send made in `active`: the transaction when the send runs where it began. */
  parentFor(active: Context): Context {
    return trace.getSpan(active) === this.ambient ? trace.setSpan(active, this.span) : active;
  }

  /** Links of a send made in `active`: to the transaction when it is not the parent. */
  linksFor(active: Context): Link[] | undefined {
    return trace.getSpan(active) === this.ambient ? undefined : [{ context: this.span.spanContext() }];
  }

  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Records `sendOffsets(offsets)`, whose call returned `sent`, as an event once it succeeds
   * (offsets the client refused are not part of the transaction), with the consumer group:
   * kafkajs names it (`consumerGroupId`), @confluentinc/kafka-javascript takes the consumer,
   * whose group is known when tracebus traces it. Returns a promise that settles as `sent`
   * does, with the same value or error.
   */
  offsetsSent<R>(offsets: object, sent: R): R {
    if (!isPromiseLike(sent)) {
      this.#recordOffsets(offsets);
      return sent;
    }
    return Promise.resolve(sent).then((value) => {
      this.#recordOffsets(offsets);
      return value;
    }) as R;
  }

  #recordOffsets(offsets: object): void {
    // The transaction may have ended meanwhile (a commit not waiting for sendOffsets).
    if (this.#ended) return;
    try {
      const { consumerGroupId, consumer } = (offsets ?? {}) as { consumerGroupId?: unknown; consumer?: unknown };
      const groupId = typeof consumerGroupId === 'string' ? consumerGroupId : groupOf(consumer);
      this.span.addEvent('kafka.transaction.send_offsets', groupId === undefined ? undefined : { [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: groupId });
    } catch {
      // Offsets the client took but tracebus cannot read (a getter that throws): no event, and the call still succeeds.
    }
  }

  /**
   * The producer is disconnecting: the transaction ends as `abandoned`, unless a `commit()` or
   * `abort()` is in flight, whose outcome it then gets (abandoned if that fails).
   */
  disconnected(): void {
    this.#disconnected = true;
    if (!this.#settling) this.end('abandoned');
  }

  end(outcome: TransactionOutcome): void {
    if (this.#ended) return;
    this.#ended = true;
    this.span.setAttribute(ATTR_KAFKA_TRANSACTION_OUTCOME, outcome);
    closeSpan(this.span);
  }

  failed(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    recordError(this.span, error);
    closeSpan(this.span);
  }

  /**
   * Calls `commit` or `abort` and ends the span with `outcome` when it succeeds. A failure
   * is recorded; the span stays open while the transaction is still active (it can still
   * be aborted: @confluentinc/kafka-javascript), else it ends as `abandoned`, neither
   * committed nor aborted by the application (kafkajs: a transaction whose commit failed is
   * no longer active, and cannot be aborted; the broker aborts it once it times out, or once a
   * newer producer with the same transactionalId fences this one).
   */
  async settle(transaction: TransactionShape, method: 'commit' | 'abort', outcome: TransactionOutcome): Promise<void> {
    // Ended already (an abort after a commit that failed and ended the transaction): the call is the client's alone.
    if (this.#ended) return transaction[method]();
    this.#settling = true;
    try {
      await transaction[method]();
    } catch (error) {
      this.#settling = false;
      recordError(this.span, error);
      let active = false;
      try {
        active = !this.#disconnected && typeof transaction.isActive === 'function' && transaction.isActive();
      } catch {
        active = false;
      }
      if (!active) this.end('abandoned');
      throw error;
    }
    this.#settling = false;
    this.end(outcome);
  }
}

