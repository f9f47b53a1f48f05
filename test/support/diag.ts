import { diag, DiagLogLevel } from '@opentelemetry/api';
import { afterEach, beforeEach } from 'vitest';

/** What {@link captureDiag} has collected since it was called. */
export interface DiagCapture {
  /** Every warning and error, in order, as `warn: <message>` or `error: <message>`. */
  readonly logged: string[];
  /** The messages of the warnings alone, in order. */
  readonly warnings: string[];
  /** Removes the logger (`diag.disable()`). */
  stop(): void;
}

/** Installs a diag logger at WARN that collects what tracebus reports; `stop()` removes it. */
export function captureDiag(): DiagCapture {
  const logged: string[] = [];
  const warnings: string[] = [];
  const ignore = () => {};
  diag.setLogger(
    {
      error: (message) => void logged.push(`error: ${message}`),
      warn: (message) => {
        logged.push(`warn: ${message}`);
        warnings.push(String(message));
      },
      info: ignore,
      debug: ignore,
      verbose: ignore,
    },
    DiagLogLevel.WARN,
  );
  return { logged, warnings, stop: () => diag.disable() };
}

/**
 * {@link captureDiag} around each test of the file or `describe` block it is called in:
 * the logger is installed in a `beforeEach` and removed in an `afterEach`, and what is
 * returned reads the current test's capture.
 */
export function captureDiagEachTest(): Pick<DiagCapture, 'logged' | 'warnings'> {
  let current: DiagCapture | undefined;
  beforeEach(() => {
    current = captureDiag();
  });
  afterEach(() => current?.stop());
  return {
    get logged() {
      return current!.logged;
    },
    get warnings() {
      return current!.warnings;
    },
  };
}
