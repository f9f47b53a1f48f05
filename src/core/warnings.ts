import { diag } from '@opentelemetry/api';

/**
 * The kinds of problem tracebus makes visible, each with the stable code of its process
 * warning (`process.emitWarning`, type `TracebusWarning`):
 * - `TRACEBUS_HOOK_FAILED`: a `producerHook`, `consumerHook`, policy function or `onError` threw;
 * - `TRACEBUS_MISSING_CONTEXT`: a message arrived with no, a malformed or another system's trace context;
 * - `TRACEBUS_HEADERS_DROPPED`: trace headers were left off a message to fit the transport's limits;
 * - `TRACEBUS_PROPAGATOR_FAILED`: the propagator threw;
 * - `TRACEBUS_TELEMETRY_FAILED`: the OpenTelemetry SDK or a meter threw while tracebus started
 *   or ended a span or recorded a metric (a span processor's `onStart`/`onEnd`, an instrument).
 */
export type WarningCode = 'TRACEBUS_HOOK_FAILED' | 'TRACEBUS_MISSING_CONTEXT' | 'TRACEBUS_HEADERS_DROPPED' | 'TRACEBUS_PROPAGATOR_FAILED' | 'TRACEBUS_TELEMETRY_FAILED';

/** The `type` of every process warning tracebus emits, for `node --disable-warning=TracebusWarning`. */
export const WARNING_TYPE = 'TracebusWarning';

const INTERVAL_MS = 60_000;

interface Seen {
  /** When the last process warning of this kind went out (0: never). */
  at: number;
  /** Occurrences since then. */
  since: number;
}

const seen = new Map<WarningCode, Seen>();

/**
 * Reports a problem: always to `diag` in full (`level`), and as a process warning the first
 * time its kind occurs, then at most once a minute per kind with how often it occurred
 * meanwhile. Under NodeSDK's defaults `diag` prints nothing, so the process warning is
 * what makes the problem visible. `TRACEBUS_WARNINGS=off` (or Node's own
 * `--disable-warning=TracebusWarning`, or one code) turns the process warnings off.
 */
export function reportProblem(code: WarningCode, message: string, error?: unknown, level: 'warn' | 'error' = 'warn'): void {
  if (error === undefined) diag[level](message);
  else diag[level](message, error);
  if (warningsOff()) return;
  const now = Date.now();
  let entry = seen.get(code);
  if (entry === undefined) seen.set(code, (entry = { at: 0, since: 0 }));
  entry.since++;
  if (entry.at !== 0 && now - entry.at < INTERVAL_MS) return;
  const repeats = entry.since - 1;
  entry.at = now;
  entry.since = 0;
  const detail = error instanceof Error ? ` (${error.name}: ${error.message})` : '';
  const more = repeats > 0 ? ` [${repeats} more of this kind since the last warning]` : '';
  try {
    process.emitWarning(`${message}${detail}${more}. Full detail goes to the OpenTelemetry diag logger; TRACEBUS_WARNINGS=off turns these warnings off.`, { type: WARNING_TYPE, code });
  } catch {
    // Nothing about a warning may break message flow. (Listeners of 'warning' run later, on
    // their own tick: one that throws is the process's uncaught exception, as for any warning.)
  }
}

function warningsOff(): boolean {
  const value = globalThis.process?.env?.TRACEBUS_WARNINGS?.toLowerCase();
  return value === 'off' || value === '0' || value === 'false';
}

/** Forgets what was reported, so the next problem of each kind warns again (for tests). */
export function resetWarnings(): void {
  seen.clear();
}
