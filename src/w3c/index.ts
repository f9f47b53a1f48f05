// W3C Trace Context (Level 2) and W3C Baggage propagators that pass the W3C test suites;
// docs/w3c.md says why they exist and when they can go.
export { ConformantBaggagePropagator, MAX_BAGGAGE_BYTES, MAX_BAGGAGE_MEMBERS } from './baggage.ts';
export { w3cConformant } from './conformant.ts';
export { ConformantTraceContextPropagator, parseTraceparent } from './trace-context.ts';
export type { Traceparent } from './trace-context.ts';
export { MAX_TRACESTATE_LENGTH, MAX_TRACESTATE_MEMBERS, W3CTraceState } from './trace-state.ts';
