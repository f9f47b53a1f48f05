import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';

/** A span processor that counts started and ended spans and keeps nothing, so a heap measurement shows tracebus, not a recorder. */
export class CountingProcessor implements SpanProcessor {
  started = 0;
  ended = 0;
  onStart(_span: Span): void {
    this.started++;
  }
  onEnd(_span: ReadableSpan): void {
    this.ended++;
  }
  forceFlush = () => Promise.resolve();
  shutdown = () => Promise.resolve();
}
