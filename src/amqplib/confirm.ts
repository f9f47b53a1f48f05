import { ENDED, type OpenPublish } from '../core/messaging-tracer.ts';
import { callOwn } from '../core/overlap.ts';

// On a ConfirmChannel a send ends when the broker confirms it, in a callback the core's
// runInSpan cannot wrap: the send span is begun with MessagingTracer.beginPublish and
// ended here, through its `end`.

/** amqplib's publish callback on a ConfirmChannel. */
export type ConfirmCallback = (error: unknown, ok?: unknown) => void;

/** The channel methods a traced send calls. */
export type Publishing = { publish(exchange: string, routingKey: string, content: Buffer, options?: unknown, callback?: ConfirmCallback): boolean };

/**
 * Publishes on `raw` and ends `open` when the send is done: on a ConfirmChannel when the
 * broker acks or nacks (whether the caller passes a callback, waits for confirms, or
 * neither), else once the message is written to the socket buffer.
 */
export function sendTraced(raw: Publishing, confirms: boolean, open: OpenPublish, exchange: string, routingKey: string, content: Buffer, options: unknown, callback: ConfirmCallback | undefined): boolean {
  // A span that has ended already (it records nothing) needs no confirm: the caller's callback goes as it is.
  if (confirms) return callOwn(raw, raw.publish, exchange, routingKey, content, options, open.end === ENDED ? callback : confirmation(open.end, callback));
  const sent: boolean = callOwn(raw, raw.publish, exchange, routingKey, content, options);
  open.end(undefined, false);
  return sent;
}

/**
 * The confirm callback that ends the send span when the broker acks or nacks, then calls the
 * caller's (amqp-connection-manager's publish callback has the same shape). It holds on to
 * `end` alone: the context and headers of the send are not kept alive for as long as the
 * broker takes to confirm.
 */
export function confirmation(end: OpenPublish['end'], callback: ConfirmCallback | undefined): ConfirmCallback {
  return function confirmed(error: unknown, ok?: unknown) {
    end(error, error != null, nackType(error));
    if (typeof callback === 'function') callback(error, ok);
  };
}

/**
 * `error.type` of a failed send: `nack` for a broker nack, which amqplib reports as a plain
 * `Error('message nacked')`; `undefined` otherwise, so that the error's class names it.
 */
export function nackType(error: unknown): string | undefined {
  return error instanceof Error && error.message === 'message nacked' ? 'nack' : undefined;
}

/** Ends `open` with `error` and throws it: the send failed before it left. */
export function failed(open: OpenPublish, error: unknown): never {
  open.end(error, true);
  throw error;
}
