export { assertChildOf, assertLinkedTo, assertOneTrace, findSpan, TraceAssertionError } from './assertions.ts';
export { isError, recordSpans } from './recorder.ts';
export type { SpanRecorder, SpanRecorderOptions } from './recorder.ts';
export { formatTraceTree } from './tree.ts';
export type { TreeOptions } from './tree.ts';
