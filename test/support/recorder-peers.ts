import * as contextAsyncHooks from '@opentelemetry/context-async-hooks';
import * as sdkTrace from '@opentelemetry/sdk-trace';
import type { RecorderPeers } from '../../src/testing/peers.ts';

// src/testing/peers.ts loads recordSpans' peers with require() from the package's own
// location, as an application's would be found. Under `npm run test:otel-2x` they must come
// from the 2.x line that vitest's aliases point at, so there this module stands in for it:
// the same peers, imported through the aliases.

export function recorderPeers(): RecorderPeers {
  return { sdkTrace, contextAsyncHooks } as unknown as RecorderPeers;
}
