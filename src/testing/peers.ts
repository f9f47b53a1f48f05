import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as ContextAsyncHooks from '@opentelemetry/context-async-hooks';
import type * as SdkTrace from '@opentelemetry/sdk-trace';

/** The optional peer dependencies `recordSpans` is built on. */
export interface RecorderPeers {
  sdkTrace: typeof SdkTrace;
  contextAsyncHooks: typeof ContextAsyncHooks;
}

const PEERS = ['@opentelemetry/sdk-trace', '@opentelemetry/context-async-hooks'] as const;

// The peers are loaded when `recordSpans` first runs, not when `tracebus/testing` is
// imported, so that the assertions and `formatTraceTree` work without them. `require()` is
// synchronous, which keeps `recordSpans` synchronous, and resolves from this file, as an
// import would. In the ES module build, import.meta.resolve finds the peers' ES module
// builds, which require() loads (Node.js 22.12 and later) as the very instances the
// application's own imports get: one @opentelemetry/api, one ROOT_CONTEXT. The CommonJS
// build has no import.meta: scripts/build.mjs puts `{ url }` (the file's own URL) in its
// place, and there the peers' CommonJS builds are loaded, as the application's require()s get.
// @ts-ignore TS1343 in the CommonJS build only.
const meta: { url: string; resolve?: (specifier: string) => string } = import.meta;
const requireHere = createRequire(meta.url);
const load = (name: string): unknown => requireHere(meta.resolve === undefined ? name : fileURLToPath(meta.resolve(name)));

let loaded: RecorderPeers | undefined;

/**
 * Loads `@opentelemetry/sdk-trace` and `@opentelemetry/context-async-hooks`; when one is
 * not installed, throws an Error whose message says what to install.
 */
export function recorderPeers(): RecorderPeers {
  if (loaded !== undefined) return loaded;
  const missing = PEERS.filter((name) => {
    try {
      requireHere.resolve(name);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    const which = missing.length === PEERS.length ? 'neither is installed' : `${missing.join(', ')} is not installed`;
    throw new Error(
      `tracebus/testing: recordSpans() needs tracebus's optional peer dependencies ${PEERS.join(' and ')}, of your OpenTelemetry SDK's line; ${which}. Install them with: npm install -D ${PEERS.join(' ')} (with @opentelemetry/api 1.9, the 2.x SDK line: npm install -D ${PEERS.map((name) => `${name}@2`).join(' ')})`,
    );
  }
  loaded = { sdkTrace: load(PEERS[0]) as typeof SdkTrace, contextAsyncHooks: load(PEERS[1]) as typeof ContextAsyncHooks };
  return loaded;
}
