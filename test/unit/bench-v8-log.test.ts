/**
 * v8-log.ts: the benchmark's own-time figures charge each tick of V8's log to the innermost
 * function at its program counter, inlined or not, and count only the marked stretch.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { summarizeTickLog, tickLogFlags } from '../../scripts/bench/v8-log.ts';

const SDK = 'file:///app/node_modules/@opentelemetry/sdk-trace/dist/Span.mjs';
const OWN = 'file:///app/src/core/lifecycle.ts';

/** A log in V8's format: `outer` (at 0x1000, 256 bytes) has `end` inlined at code offsets 0x40–0x7f. */
const LOG = [
  'code-creation,Builtin,2,90,0x9000,256,ArrayPrototypePush',
  `code-creation,JS,10,100,0x2000,64,end ${SDK}:10:3,0x6000,~`,
  `code-creation,JS,10,101,0x1000,256,outer ${OWN}:20:5,0x5000,*`,
  'code-source-info,0x1000,1,0,500,C0O5C64O90I0C128O30,F0O20,S0x6000',
  // Lines of ten characters, the first with a comma that V8 escapes: position 5 is on line 1, 30 on line 4.
  `script-source,1,${OWN},a\\x2Caaaaaaa\\n${'aaaaaaaaa\\n'.repeat(9)}`,
  // Before the start mark: not counted.
  'tick,0x1010,150,0,0x0,0',
  'script-source,7,<unknown>,(function anonymous(\\n) {\\nreturn 1 //# sourceURL=tracebus-bench-mark-start-0.5\\n})',
  'tick,0x1010,200,0,0x0,0',
  'tick,0x1050,210,0,0x0,0',
  'tick,0x1060,220,0,0x0,1',
  // In a builtin, called from outer at offset 0x90 (after the inlined code): outer's.
  'tick,0x9010,230,0,0x0,6,0x1091',
  'tick,0x1010,240,0,0x0,8',
  'code-move,0x1000,0x3000',
  'sfi-move,0x6000,0x7000',
  'tick,0x3050,250,0,0x0,0',
  'tick,0xdead0,260,0,0x0,0,0xbeef0',
  'script-source,8,<unknown>,(function anonymous(\\n) {\\nreturn 2 //# sourceURL=tracebus-bench-mark-end-0.7\\n})',
  'tick,0x3050,300,0,0x0,0',
].join('\n');

describe('summarizeTickLog', () => {
  const summary = summarizeTickLog(LOG);
  const owner = (name: string) => [...summary.owners.values()].find(({ owner: found }) => found.functionName === name);

  it('charges inlined code to the inlined function, in its own file, and builtins to their JavaScript caller', () => {
    expect(owner('end')).toEqual({ ticks: 2, owner: { functionName: 'end', url: SDK, line: 10, physicalName: 'outer', physicalUrl: OWN } });
    expect(owner('outer')).toEqual({ ticks: 2, owner: { functionName: 'outer', url: OWN, line: 20, physicalName: 'outer', physicalUrl: OWN } });
    expect(summary.owners.size).toBe(2);
  });

  it('gives the line of each tick where the code has source positions and the script its source', () => {
    expect([...summary.lines]).toEqual([
      [`${OWN}:1`, 1],
      [`${OWN}:4`, 1],
    ]);
  });

  it('counts the marked stretch only, with the garbage collector and idle ticks apart and unknown code unresolved', () => {
    expect(summary.ticks).toBe(7);
    expect([...summary.apart]).toEqual([
      ['gc', 1],
      ['idle', 1],
    ]);
    expect(summary.unresolved).toBe(1);
    expect(summary.intervalMicros).toBe(10);
    expect(summary.sampledMicros).toBe(60);
  });

  it('counts every tick of a log without marks', () => {
    const unmarked = summarizeTickLog(LOG.split('\n').filter((line) => !line.includes('sourceURL=')).join('\n'));
    expect(unmarked.ticks).toBe(9);
  });
});

describe('summarizeTickLog, where code dies and moves', () => {
  // `dead` (TurboFan) is never deleted from the log; `live` is later logged over its memory.
  const log = [
    `code-creation,JS,12,90,0x800,16,other ${OWN}:40:1,0x4f00,*`,
    `code-creation,JS,12,100,0x1000,256,dead ${SDK}:1:1,0x5000,*`,
    `code-creation,JS,12,110,0x1080,64,live ${OWN}:30:1,0x5100,*`,
    // Bytecode of `interpreted`: positions at bytecode offsets 0 and 4, on lines 1 and 2.
    `code-creation,JS,9,120,0x2000,32,interpreted ${OWN}:1:1,0x5200,~`,
    'code-source-info,0x2000,1,0,40,C0O0C4O10,,',
    `script-source,1,${OWN},${'aaaaaaaaa\\n'.repeat(5)}`,
    // In `live`, over the dead code.
    'tick,0x1090,200,0,0x0,0',
    // In a builtin, the sample buffer overflowed (`overflow` before the frames), called from `live`.
    'tick,0x9999,210,0,0x0,6,overflow,0x1091',
    // At bytecode offset 4 of `interpreted`: its frame is that bytecode's address, not a return address.
    'tick,0x9999,220,0,0x0,0,0x2004',
    // A thread blocked in Atomics.wait.
    'tick,0x9999,230,0,0x0,7',
  ].join('\n');
  const summary = summarizeTickLog(log);

  it('charges a tick to the code logged last over the memory it was in', () => {
    expect([...summary.owners.values()].map(({ owner, ticks }) => [owner.functionName, ticks])).toEqual([
      ['live', 2],
      ['interpreted', 1],
    ]);
  });

  it('takes the frame of bytecode as the bytecode it is at, and a blocked thread as idle', () => {
    expect(summary.lines.get(`${OWN}:2`)).toBe(1);
    expect(summary.apart.get('idle')).toBe(1);
    expect(summary.unresolved).toBe(0);
  });
});

describe('a real tick log', () => {
  const directory = mkdtempSync(join(os.tmpdir(), 'tracebus-v8-log-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('finds a function V8 inlined into a hot loop, inside the marks', () => {
    const script = join(directory, 'hot.mjs');
    const log = join(directory, 'v8.log');
    const v8Log = pathToFileURL(join(import.meta.dirname, '../../scripts/bench/v8-log.ts')).href;
    writeFileSync(
      script,
      [
        `import { markLog } from ${JSON.stringify(v8Log)};`,
        'function inlinedStep(value) { return (value * 31 + 7) % 1000003; }',
        'function hotLoop(count) { let value = 1; for (let index = 0; index < count; index++) value = inlinedStep(value); return value; }',
        // Optimized now rather than when V8 gets to it, which on a loaded machine may be late.
        '%PrepareFunctionForOptimization(hotLoop);',
        'hotLoop(100000);',
        'hotLoop(100000);',
        '%OptimizeFunctionOnNextCall(hotLoop);',
        'hotLoop(100000);',
        "markLog('start');",
        'let sum = 0; const until = Date.now() + 400; while (Date.now() < until) sum += hotLoop(100000);',
        "markLog('end');",
        'console.log(sum);',
      ].join('\n'),
    );
    // The script imports v8-log.ts: Node.js 22 (npm run check:engines) strips types only when asked.
    const stripTypes = (process.features as { typescript?: unknown }).typescript ? [] : ['--experimental-strip-types'];
    // Without Maglev: with it, Node.js 22.15 ran inlinedStep as a function of its own in about
    // half the runs (3 of 6 here), nothing inlined into hotLoop; TurboFan, which
    // %OptimizeFunctionOnNextCall asks for, inlines it (8 of 8 without Maglev).
    // On a loaded machine V8 still sometimes leaves inlinedStep a function of its own (1 run in 6
    // beside two busy processes); the log then shows it running as its own code, and says
    // nothing about inlined code. Such a run is made again, at most twice.
    let summary = summarizeTickLog('');
    for (let run = 0; run < 3; run++) {
      execFileSync(process.execPath, [...stripTypes, '--allow-natives-syntax', '--no-maglev', ...tickLogFlags(log), script], { stdio: 'ignore' });
      summary = summarizeTickLog(readFileSync(log, 'latin1'));
      if (![...summary.owners.values()].some(({ owner }) => owner.physicalName === 'inlinedStep')) break;
    }
    const owners = [...summary.owners.values()];
    const inlined = owners.find(({ owner }) => owner.functionName === 'inlinedStep' && owner.physicalName === 'hotLoop');
    expect(inlined?.owner.url, JSON.stringify(owners.map(({ owner, ticks }) => `${owner.functionName} in ${owner.physicalName}: ${ticks}`))).toBe(pathToFileURL(script).href);
    expect(inlined!.ticks).toBeGreaterThan(0);
    // 400 ms at a tick every 250 µs or so, and none from the start-up outside the marks.
    expect(summary.ticks).toBeGreaterThan(100);
    expect(summary.ticks).toBeLessThan(4000);
  }, 30_000);
});
