/**
 * Writes docs/benchmarks.md and docs/benchmarks.svg again from the results a run kept with
 * BENCH_RESULTS=<file>, without measuring anything: for changes to the report itself.
 *
 *   node scripts/bench/render.ts <results.json>
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { benchmarkChart } from './chart.ts';
import { benchmarkReport } from './report.ts';
import type { BenchResults } from './results.ts';

const [file] = process.argv.slice(2);
if (file === undefined) throw new Error('usage: node scripts/bench/render.ts <results.json> (from a run with BENCH_RESULTS=<results.json>)');
const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
writeFileSync('docs/benchmarks.md', benchmarkReport(results));
writeFileSync('docs/benchmarks.svg', benchmarkChart(results));
console.error('[bench] wrote docs/benchmarks.md and docs/benchmarks.svg');
