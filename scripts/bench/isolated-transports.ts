/**
 * One process of run.ts's `isolated` section, made of one isolated.ts child per transport:
 *   ISOLATED_JSON=1 [ISOLATED_SAMPLED=1] node scripts/bench/isolated-transports.ts <messages> <rounds>
 * Prints one JSON line, isolated.ts's, with the rows of every child together.
 *
 * A service runs one client library, and V8 compiles tracebus's shared code (the core's
 * spans and propagation, src/kafka for both Kafka clients) for the shapes that client hands
 * it. Every transport's wrappers in one process would make that code handle the shapes of
 * all of them, which no service asks of it, while each floor is its own code. So each group
 * of ISOLATED_GROUPS (isolated-report.ts) runs in a child of its own, with the floors it is
 * compared with.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ISOLATED_GROUPS } from './isolated-report.ts';

const [messages = '50000', rounds = '3'] = process.argv.slice(2);
if (process.env.ISOLATED_JSON !== '1') throw new Error('isolated-transports.ts prints the JSON line of run.ts: set ISOLATED_JSON=1 (npm run bench:isolated runs the variants in one process)');
const script = fileURLToPath(new URL('./isolated.ts', import.meta.url));

interface ChildLine {
  variant: string;
  messages: number;
  rounds: number;
  seconds: number;
  spansPerMessage: number;
  warmupMillis: number;
  rows: { name: string; cpuMicrosPerMessage: number; mainThreadCpuMicrosPerMessage: number }[];
}

const lines: ChildLine[] = ISOLATED_GROUPS.map(({ name }) => {
  const output = execFileSync(process.execPath, [script, messages, rounds], { encoding: 'utf8', env: { ...process.env, ISOLATED_GROUP: name }, maxBuffer: 16 * 1024 * 1024, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = JSON.parse(output.trim().split('\n').pop()!) as ChildLine;
  if (line.rows.length === 0) throw new Error(`isolated.ts ran no variant of the ${name} process`);
  return line;
});
const first = lines[0]!;
console.log(
  JSON.stringify({
    variant: first.variant,
    messages: first.messages,
    rounds: first.rounds,
    seconds: 0,
    warmupMillis: first.warmupMillis,
    // Spans each child exported per message of one round, all its variants together; summed, as one process of them all would count them.
    spansPerMessage: lines.reduce((sum, line) => sum + line.spansPerMessage, 0),
    rows: lines.flatMap((line) => line.rows),
  }),
);
