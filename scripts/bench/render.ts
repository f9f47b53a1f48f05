/**
 * Writes docs/benchmarks.md and docs/benchmarks.svg again from the results a run kept, without
 * measuring anything: for changes to the report itself. By default, the results of the run
 * the committed report comes from (docs/benchmarks.json); else a file kept with BENCH_RESULTS.
 *
 *   node scripts/bench/render.ts [results.json]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { benchmarkChart } from './chart.ts';
import { benchmarkReport } from './report.ts';
import { RESULTS_FILE, type BenchResults } from './results.ts';

const [file = RESULTS_FILE] = process.argv.slice(2);
if (!existsSync(file)) throw new Error(`render.ts: no ${file}; \`npm run bench\` writes ${RESULTS_FILE}, or pass a file kept with BENCH_RESULTS=<file>`);
const results = JSON.parse(readFileSync(file, 'utf8')) as BenchResults;
writeFileSync('docs/benchmarks.md', benchmarkReport(results));
writeFileSync('docs/benchmarks.svg', benchmarkChart(results));
console.error('[bench] wrote docs/benchmarks.md and docs/benchmarks.svg');
