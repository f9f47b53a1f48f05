/**
 * Vitest global setup for the brokers project: a Zipkin server for
 * test/integration/zipkin.test.ts, handed to the tests as `inject('zipkinUrl')`.
 *
 * The Zipkin comes from the first of these that works:
 *   1. the environment: ZIPKIN_URL (for example http://127.0.0.1:9411), used as it is;
 *   2. a Zipkin already answering on 127.0.0.1:$ZIPKIN_PORT (default 9411), left running;
 *   3. scripts/zipkin/zipkin.sh start (Zipkin's jar from Maven Central, in-memory storage;
 *      needs Java 17+ and Maven), stopped when the run ends.
 *
 * As for the brokers: with CI=true a Zipkin that cannot be had fails the run. Elsewhere its
 * test is skipped with a warning.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    zipkinUrl: string | undefined;
  }
}

const run = promisify(execFile);
const inCi = process.env.CI === 'true' || process.env.CI === '1';

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
    return response.ok && ((await response.json()) as { status?: string }).status === 'UP';
  } catch {
    return false;
  }
}

async function provideZipkin(): Promise<{ url: string; source: string; stop?: () => Promise<unknown> }> {
  if (process.env.ZIPKIN_URL) return { url: process.env.ZIPKIN_URL.replace(/\/+$/, ''), source: 'ZIPKIN_URL' };
  const url = `http://127.0.0.1:${process.env.ZIPKIN_PORT ?? 9411}`;
  if (await healthy(url)) return { url, source: 'a Zipkin already running' };
  await run('bash', ['scripts/zipkin/zipkin.sh', 'start'], { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 });
  return { url, source: `scripts/zipkin/zipkin.sh (Zipkin ${process.env.ZIPKIN_VERSION ?? '3.5.1'})`, stop: () => run('bash', ['scripts/zipkin/zipkin.sh', 'stop']) };
}

/** The lines of a failed zipkin.sh that say what went wrong, or the error's message. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const lines = ((error as { stderr?: string }).stderr ?? '').split('\n').map((line) => line.replace(/\x1b\[[0-9;]*m/g, '').trim());
  const telling = lines.filter((line) => /^\[ERROR\] Failed|^zipkin: /.test(line));
  return (telling.length > 0 ? telling : lines.filter((line) => line !== '').slice(-5)).join(' ') || error.message;
}

export default async function setup(project: TestProject) {
  try {
    const zipkin = await provideZipkin();
    project.provide('zipkinUrl', zipkin.url);
    console.log(`[zipkin] Zipkin at ${zipkin.url} from ${zipkin.source}`);
    return async () => {
      await zipkin.stop?.().catch(() => undefined);
    };
  } catch (error) {
    project.provide('zipkinUrl', undefined);
    const detail = describe(error);
    const message = `[zipkin] no Zipkin: ${detail}`;
    if (inCi) throw new Error(`${message}. In CI a missing Zipkin fails the run.`);
    console.warn(`${message}. test/integration/zipkin.test.ts is skipped; set ZIPKIN_URL or see scripts/zipkin/zipkin.sh.`);
    return undefined;
  }
}
