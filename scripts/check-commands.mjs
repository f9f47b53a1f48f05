// The commands the documentation gives work as written on the Node.js running this script
// (check:engines runs it on 22.15, the oldest that "engines" allows):
//
// 1. no documented command runs a TypeScript file with plain `node`: Node.js 22.15 to 22.17
//    fail on that with ERR_UNKNOWN_FILE_EXTENSION unless given --experimental-strip-types;
// 2. every documented `npm run demo` / `npm run example -- <file>` names an existing file, and
//    each one that needs no broker (its file imports neither kafkajs nor amqplib) is run as
//    written from a shell like a user's: this Node.js first on the PATH and no node_modules/.bin
//    on it. It must exit 0 and print its trace. The examples that need Kafka or RabbitMQ run in
//    test/integration/examples.test.ts instead.
//
// Where commands are documented: README.md, DEVELOPERS.md, docs/*.md, and the header comment
// of every file in examples/.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { delimiter, dirname } from 'node:path';

const texts = new Map();
for (const file of ['README.md', 'DEVELOPERS.md', ...readdirSync('docs').filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)]) {
  texts.set(file, readFileSync(file, 'utf8'));
}
for (const name of readdirSync('examples', { recursive: true, encoding: 'utf8' }).filter((each) => each.endsWith('.ts'))) {
  texts.set(`examples/${name}`, /^\/\*\*[\s\S]*?\*\//.exec(readFileSync(`examples/${name}`, 'utf8'))?.[0] ?? '');
}

/** What each example that needs no broker must print: its trace, one way or another. */
const PRINTS = {
  'examples/demo/order-pipeline.ts': (out) => {
    const tree = /^trace ([0-9a-f]{32}) {2}\(10 spans, [\d.]+ ms\)$/m.exec(out);
    if (tree === null) return 'no trace tree of 10 spans';
    if (!/^10 spans in 1 trace\.$/m.test(out)) return 'no "10 spans in 1 trace."';
    if ((out.match(new RegExp(`trace_id=${tree[1]}`, 'g')) ?? []).length !== 5) return `not 5 log lines with trace_id=${tree[1]}`;
  },
  'examples/log-correlation/pino.ts': (out) => {
    const lines = out.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
    const byMessage = Object.fromEntries(lines.map((line) => [line.msg, line]));
    const traceId = byMessage['publishing orders.placed']?.trace_id;
    if (!/^[0-9a-f]{32}$/.test(traceId ?? '')) return 'no trace_id on "publishing orders.placed"';
    for (const msg of ['charging the card', 'card charged']) if (byMessage[msg]?.trace_id !== traceId) return `"${msg}" is not logged with trace_id ${traceId}`;
  },
  'examples/node-sdk/sampling.ts': (out) => {
    const summary = /^20 orders, (\d+) sampled at the producer; (\d+) consumer spans recorded \(the same ones\)\.$/m.exec(out);
    if (summary === null) return 'no sampling summary';
    if (summary[1] !== summary[2]) return `${summary[1]} sampled but ${summary[2]} consumer spans`;
  },
};

const failures = [];

// 1. `node <file>.ts` without the flag.
for (const [file, text] of texts) {
  for (const match of text.matchAll(/(?<![\w./-])node +(?!--experimental-strip-types)[^\s`'"]*\.[mc]?ts\b/g)) {
    const line = text.slice(0, match.index).split('\n').length;
    failures.push(`${file}:${line}: \`${match[0]}\` fails on Node.js 22.15 to 22.17 (ERR_UNKNOWN_FILE_EXTENSION); document an npm script, or add --experimental-strip-types`);
  }
}

// 2. The npm scripts.
const commands = new Map(); // command → example file
for (const [file, text] of texts) {
  for (const match of text.matchAll(/npm run (?:demo\b|example -- (\S+?\.ts)\b)/g)) {
    const example = match[1] ?? 'examples/demo/order-pipeline.ts';
    if (!texts.has(example)) failures.push(`${file}: \`${match[0]}\` names ${example}, which does not exist`);
    else commands.set(match[0], example);
  }
}
const needsBroker = (example) => /from '(kafkajs|amqplib)'/.test(readFileSync(example, 'utf8'));
const inProcess = [...commands].filter(([, example]) => !needsBroker(example));
for (const example of Object.keys(PRINTS)) {
  if (!inProcess.some(([, each]) => each === example)) failures.push(`${example}: no documented command runs it`);
}

// A user's shell: this Node.js is `node`, and npm finds the repository's own Node 24 by itself.
const PATH = [dirname(process.execPath), ...(process.env.PATH ?? '').split(delimiter).filter((entry) => !/node_modules[\\/]\.bin$|node-gyp-bin$/.test(entry))].join(delimiter);
const env = { ...process.env, PATH };
const shellNode = spawnSync('node --version', { shell: true, env, encoding: 'utf8' }).stdout?.trim();
if (shellNode !== process.version) failures.push(`the shell's node is ${shellNode}, not ${process.version}`);

const ran = [];
for (const [command, example] of inProcess) {
  const check = PRINTS[example];
  if (check === undefined) {
    failures.push(`${example} needs no broker: add what it prints to PRINTS in scripts/check-commands.mjs`);
    continue;
  }
  const started = performance.now();
  const result = spawnSync(command, { shell: true, env, encoding: 'utf8', timeout: 180_000 });
  const problem = result.error?.message ?? (result.status !== 0 ? `exit code ${result.status}${result.signal ? ` (${result.signal})` : ''}` : check(result.stdout));
  if (problem) failures.push(`\`${command}\`: ${problem}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`);
  else ran.push(`${command} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}

if (failures.length > 0) {
  console.error(`check-commands: ${failures.length} problem(s):\n\n${failures.join('\n\n')}`);
  process.exit(1);
}
console.log(`check-commands: with Node.js ${process.version} as the shell's node, ${ran.length} documented commands ran and printed their trace:\n  ${ran.join('\n  ')}`);
