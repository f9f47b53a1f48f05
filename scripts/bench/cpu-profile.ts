/**
 * A CPU profile of one stretch of a benchmark child, written where BENCH_PROFILE says. The
 * same sampler as `node --cpu-prof`, but through the inspector, so that the profile holds
 * the measured pass alone: no start-up, no warm-up, no connection set-up.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/** Starts profiling when BENCH_PROFILE is set; the returned function stops and writes the profile. */
export async function profileIfAsked(): Promise<() => Promise<void>> {
  const file = process.env.BENCH_PROFILE;
  if (!file) return async () => {};
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  // 250 µs, finer than --cpu-prof's 1 ms default: a throughput pass lasts only seconds.
  await session.post('Profiler.setSamplingInterval', { interval: 250 });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}
