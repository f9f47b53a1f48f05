import { SpanKind, trace, type Context, type Link, type Span } from '@opentelemetry/api';
import type { Offsets, ProducerBatch, ProducerRecord, Transaction } from 'kafkajs';
import { isTraced } from '../core/checks.ts';
import { delegateTo } from '../core/delegate.ts';
import { recordError } from '../core/lifecycle.ts';
import { ATTR_MESSAGING_CONSUMER_GROUP_NAME } from '../core/semconv.ts';
import { ATTR_KAFKA_TRANSACTION_OUTCOME } from './attributes.ts';
import type { SendTracer } from './publisher.ts';

// A transaction's span starts in `producer.transaction()` and ends in `commit()` or
// `abort()`, calls the core's lifecycle cannot wrap in one function: it keeps the span
// here, and sends inside the transaction go through the publisher's lifecycle.

/** How a transaction's span ended; see {@link ATTR_KAFKA_TRANSACTION_OUTCOME}. */
export type TransactionOutcome = 'committed' | 'aborted' | 'abandoned';

/** The transaction kafkajs began, whose sends are traced and whose span ends on commit or abort. */
export function tracedTransaction(raw: Transaction, begun: TransactionSpan, sends: SendTracer): Transaction {
  if (raw === null || typeof raw !== 'object' || isTraced(raw)) return raw;
  return delegateTo(
    raw,
    {
      send: function send(record: ProducerRecord) {
        return sends.send(raw, record, begun);
      },
      sendBatch: function sendBatch(batch: ProducerBatch) {
        return sends.sendBatch(raw, batch, begun);
      },
      commit: function commit() {
        return begun.settle(raw, 'commit', 'committed');
      },
      abort: function abort() {
        return begun.settle(raw, 'abort', 'aborted');
      },
      sendOffsets: function sendOffsets(offsets: Offsets & { consumerGroupId: string }) {
        const groupId = offsets?.consumerGroupId;
        begun.span.addEvent('kafka.transaction.send_offsets', typeof groupId === 'string' ? { [ATTR_MESSAGING_CONSUMER_GROUP_NAME]: groupId } : undefined);
        return raw.sendOffsets(offsets);
      },
    },
  );
}

/** The span of one producer transaction, from `transaction()` to `commit()` or `abort()`. */
export class TransactionSpan {
  readonly span: Span;
  /** The span that was active when the transaction began (`undefined` for none). */
  readonly ambient: Span | undefined;
  #ended = false;

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

  end(outcome: TransactionOutcome): void {
    if (this.#ended) return;
    this.#ended = true;
    this.span.setAttribute(ATTR_KAFKA_TRANSACTION_OUTCOME, outcome);
    this.span.end();
  }

  failed(error: unknown): void {
    if (this.#ended) return;
    this.#ended = true;
    recordError(this.span, error);
    this.span.end();
  }

  /**
   * Calls `commit` or `abort` and ends the span with `outcome` when it succeeds. A failure
   * is recorded; the span stays open while the transaction is still active (it can still
   * be aborted), else it ends.
   */
  async settle(transaction: Transaction, method: 'commit' | 'abort', outcome: TransactionOutcome): Promise<void> {
    try {
      await transaction[method]();
    } catch (error) {
      recordError(this.span, error);
      let active = false;
      try {
        active = typeof transaction.isActive === 'function' && transaction.isActive();
      } catch {
        active = false;
      }
      if (!active) this.end(outcome);
      throw error;
    }
    this.end(outcome);
  }
}

