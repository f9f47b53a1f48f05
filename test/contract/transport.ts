import type { MessageTrace } from '../../src/index.ts';

/** A received message as the contract suite sees it: payload text and the raw wire headers. */
export interface ContractMessage {
  readonly payload: string;
  readonly headers: Readonly<Record<string, unknown>>;
  /** Delivery attempt when the transport knows it (1 = first). */
  readonly attempt?: number;
}

export type ContractHandler = (message: ContractMessage, trace: MessageTrace) => Promise<void> | void;

export interface ContractSubscription {
  close(): Promise<void>;
}

/** What a transport offers; tests that need a feature it lacks are not registered for it. */
export interface ContractFeatures {
  /** Header values may be sent as Buffers. */
  bufferHeaders: boolean;
  /** A header may be sent more than once (an array value). */
  repeatedHeaders: boolean;
}

/**
 * One transport, adapted for the contract suite. Each method uses the adapter's real
 * publisher decorator and consumer middleware; `publishRaw` bypasses tracing so that
 * tests control the exact headers on the wire.
 */
export interface ContractTransport {
  /** A fresh destination (topic or queue) no other test uses. */
  destination(label: string): Promise<string>;
  /** Publishes through the traced publisher, in the active context. */
  publish(destination: string, payload: string, headers?: Record<string, unknown>): Promise<void>;
  /** Publishes with exactly these headers, untraced. */
  publishRaw(destination: string, payload: string, headers: Record<string, unknown>): Promise<void>;
  /**
   * Subscribes a traced handler. When the handler throws, the transport must deliver
   * the message again (its own retry, redelivery or requeue), which proves that the
   * error reached it.
   */
  subscribe(destination: string, handler: ContractHandler, options?: { policy?: 'parent' | 'link' | 'root' | ((message: unknown) => 'parent' | 'link' | 'root') }): Promise<ContractSubscription>;
  close(): Promise<void>;
}
