/**
 * Self time from a V8 tick log (`node --prof --log-source-code`), with the code V8 inlined
 * counted as the inlined function's own.
 *
 * A CPU profile from the inspector (cpu-profile.ts) counts a sample taken in code that V8
 * inlined into a function as that function's own: the SDK's `span.end()` inlined into a
 * tracebus closure is tracebus's self time there, and the profile keeps only a line number
 * for it, without its file. The tick log keeps what the profile drops: for each optimized
 * code object the source position of every instruction, with the chain of functions inlined
 * at it (`code-source-info`), and each tick's program counter. This reads them back and
 * charges each tick to the innermost function at its program counter, in its own file.
 *
 *   npm run bench:ticks -- '<isolated.ts variant>' [top=25]   runs that variant alone (its whole
 *                       name, as ISOLATED_VARIANTS takes it) under the tick log, then reads it
 *   npm run bench:ticks -- <file> [top=25]   reads a log written by
 *                       node --prof --log-source-code --logfile=<file> --no-logfile-per-isolate <script>
 *
 * Either prints self time by file, by source line and by function (with what it was inlined into).
 *
 * Ticks in builtins, the runtime or a native library count for the JavaScript frame nearest
 * the top of the stack, as a CPU profile counts them; ticks of the garbage collector, of V8
 * compiling or logging, and of an idle (or blocked) thread are counted apart. A script can mark
 * the stretch to count (see {@link markLog}); ticks outside it are left out.
 *
 * One limit it shares with the CPU profile: a builtin that runs without a frame of its own (a
 * string concatenation, a megamorphic property load) hides the function that called it from
 * V8's stack walk, so its ticks count for that function's caller. V8 13 no longer records the
 * top of the stack that would tell; only a disassembly of the code around each return address
 * could (`--log-code-disassemble`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where a tick's self time went. */
export interface TickOwner {
  /** The innermost function at the tick, inlined or not. */
  functionName: string;
  /** Its script's URL (a file path or a `node:` module); '' when it is not JavaScript. */
  url: string;
  /** The line its definition starts on (1-based; 0 when unknown). */
  line: number;
  /** The function the tick's code object was compiled for, into which `functionName` may have been inlined. */
  physicalName: string;
  physicalUrl: string;
}

export interface TickSummary {
  /** Ticks counted (inside the marks, when there are marks), idle and V8's own work included. */
  ticks: number;
  /** Ticks by kind of work that is not JavaScript's: 'gc', 'compiler', 'logging', 'idle' (waiting for work, or blocked in Atomics.wait). */
  apart: Map<string, number>;
  /** Ticks charged to JavaScript, by owner (innermost function, file). */
  owners: Map<string, { owner: TickOwner; ticks: number }>;
  /** Ticks with no JavaScript frame that could be resolved. */
  unresolved: number;
  /** Ticks charged to JavaScript by the source line they were on, `url:line`, where the code has source positions (optimized code). */
  lines: Map<string, number>;
  /** Median gap between counted ticks, µs. */
  intervalMicros: number;
  /** The gaps between counted ticks summed, µs: the wall-clock time they cover. */
  sampledMicros: number;
}

interface CodeEntry {
  start: number;
  size: number;
  /** When it was logged at `start`, in the order of the log: of two entries that overlap, the later one is live. */
  since: number;
  /** Bytecode: a frame in it is the current bytecode's address, not a return address. */
  interpreted: boolean;
  name: string;
  url: string;
  line: number;
  /** The function's SharedFunctionInfo, for JavaScript code. */
  sfi: number | undefined;
  /** Source positions: code offsets, ascending, with their script offsets and inlining ids (-1: not inlined). */
  offsets?: number[];
  positions?: number[];
  inlining?: number[];
  /** Per inlining id, the index into `inlined` of the function inlined there. */
  inlinedAt?: number[];
  /** The names V8 logged for the inlined functions, read when the code was logged (their SharedFunctionInfos may move later). */
  inlined?: (string | undefined)[];
}

// V8's StateTag (v8-unwinder.h): the VM state a tick was taken in. A thread blocked in
// Atomics.wait is as idle as one waiting for work.
const VM_STATES = ['js', 'gc', 'compiler', 'compiler', 'compiler', 'other', 'external', 'idle', 'idle', 'logging'] as const;

/**
 * The Node.js flags that write the tick log `file` for v8-log.ts: a tick every 250 µs (the
 * default is 1 ms), as cpu-profile.ts asks of the inspector's sampler.
 */
export function tickLogFlags(file: string): string[] {
  return ['--prof', '--log-source-code', '--prof-sampling-interval=250', `--logfile=${file}`, '--no-logfile-per-isolate'];
}

/** The names the two marks give to the code they compile (see {@link markLog}). */
const MARK_START = 'tracebus-bench-mark-start';
const MARK_END = 'tracebus-bench-mark-end';

/**
 * Marks the start or the end of the stretch a tick log should count: compiles a script whose
 * source names the mark, which V8 logs among the ticks. Costs one tiny compile without a log.
 */
export function markLog(mark: 'start' | 'end'): void {
  // Each mark a new source, so that V8's compilation cache cannot skip the event.
  new Function(`return ${Date.now()} //# sourceURL=${mark === 'start' ? MARK_START : MARK_END}-${Math.random()}`)();
}

/** The URL and line of a name V8 logs: "functionName url:line:column", or " url:line:column" for a script's top level. */
const locationOf = (name: string): { url: string; line: number } => {
  const space = name.lastIndexOf(' ');
  const located = space === -1 ? name : name.slice(space + 1);
  const match = /^(.*):(\d+):\d+$/.exec(located);
  return match ? { url: match[1]!, line: Number(match[2]) } : { url: '', line: 0 };
};

const functionNameOf = (name: string): string => {
  const space = name.lastIndexOf(' ');
  return space <= 0 ? '(anonymous)' : name.slice(0, space);
};

/** Reads the tick log `text` (the file V8 wrote, as Latin-1) into self time by function and line. */
export function summarizeTickLog(text: string): TickSummary {
  const code = new Map<number, CodeEntry>();
  /** SharedFunctionInfo address → the name V8 logged with it ("name url:line:column"). */
  const functions = new Map<number, string>();
  let sorted: CodeEntry[] = [];
  let dirty = true;
  let logged = 0;
  /**
   * The code live at `address`. V8 logs no deletion of JavaScript code: code that died stays
   * in the map until newer code is logged over its memory, and then the newer one is live.
   */
  const find = (address: number): CodeEntry | undefined => {
    if (!Number.isFinite(address)) return undefined;
    if (dirty) {
      sorted = [];
      for (const entry of [...code.values()].sort((a, b) => a.start - b.start)) {
        let live = true;
        while (sorted.length > 0 && live) {
          const last = sorted[sorted.length - 1]!;
          if (last.start + last.size <= entry.start) break;
          if (last.since < entry.since) code.delete(sorted.pop()!.start);
          else live = false;
        }
        if (live) sorted.push(entry);
        else code.delete(entry.start);
      }
      dirty = false;
    }
    let low = 0;
    let high = sorted.length - 1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      const entry = sorted[middle]!;
      if (address < entry.start) high = middle - 1;
      else if (address >= entry.start + entry.size) low = middle + 1;
      else return entry;
    }
    return undefined;
  };

  /** Where each line of a script starts, by the script's URL, to turn a source position into a line. */
  const lineStarts = new Map<string, number[]>();
  const lineOf = (url: string, position: number): number | undefined => {
    const starts = lineStarts.get(url);
    if (starts === undefined || position < 0) return undefined;
    let low = 0;
    let high = starts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (starts[middle]! <= position) low = middle;
      else high = middle - 1;
    }
    return low + 1;
  };

  /** The innermost function at `offset` of `entry`, and the script offset there (-1 when unknown). */
  const ownerAt = (entry: CodeEntry, offset: number): { owner: TickOwner; position: number } => {
    const physical = { physicalName: functionNameOf(entry.name), physicalUrl: entry.url };
    const own = { functionName: physical.physicalName, url: entry.url, line: entry.line, ...physical };
    const offsets = entry.offsets;
    if (offsets === undefined || offsets.length === 0) return { owner: own, position: -1 };
    let low = 0;
    let high = offsets.length - 1;
    let found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (offsets[middle]! <= offset) {
        found = middle;
        low = middle + 1;
      } else high = middle - 1;
    }
    const inliningId = found === -1 ? -1 : entry.inlining![found]!;
    const position = found === -1 ? -1 : entry.positions![found]!;
    if (inliningId === -1) return { owner: own, position };
    const at = entry.inlinedAt![inliningId];
    const name = at === undefined || at === -1 ? undefined : entry.inlined![at];
    if (name === undefined) return { owner: { functionName: '(inlined, unknown)', url: '(unknown)', line: 0, ...physical }, position: -1 };
    return { owner: { functionName: functionNameOf(name), ...locationOf(name), ...physical }, position };
  };

  const owners = new Map<string, { owner: TickOwner; ticks: number }>();
  const lines = new Map<string, number>();
  const apart = new Map<string, number>();
  let ticks = 0;
  let unresolved = 0;
  // Without marks every tick counts; with them, those between a start and the next end.
  const marked = text.includes(`sourceURL=${MARK_START}-`);
  let counting = !marked;
  const gaps: number[] = [];
  let lastTick: number | undefined;

  for (const line of text.split('\n')) {
    // V8 writes a comma inside a field as `\x2C`: every comma separates fields.
    const field = line.split(',');
    switch (field[0]) {
      case 'code-creation': {
        // code-creation,type,kind,timestamp,address,size,name[,sfi,state]
        const address = Number(field[4]);
        const name = field.slice(6, field.length >= 9 ? field.length - 2 : undefined).join(',');
        const sfi = field.length >= 9 ? Number(field[field.length - 2]) : undefined;
        // The state after the SharedFunctionInfo: '~' bytecode, '^' Sparkplug, '+' Maglev, '*' TurboFan.
        const interpreted = field.length >= 9 && field[field.length - 1] === '~';
        code.set(address, { start: address, size: Number(field[5]), since: logged++, interpreted, name, ...locationOf(name), sfi });
        if (sfi !== undefined && field[1] !== 'Builtin') functions.set(sfi, name);
        dirty = true;
        break;
      }
      case 'code-move': {
        const from = Number(field[1]);
        const entry = code.get(from);
        if (entry !== undefined) {
          code.delete(from);
          entry.start = Number(field[2]);
          entry.since = logged++;
          code.set(entry.start, entry);
          dirty = true;
        }
        break;
      }
      case 'code-delete': {
        if (code.delete(Number(field[1]))) dirty = true;
        break;
      }
      case 'sfi-move': {
        const from = Number(field[1]);
        const name = functions.get(from);
        if (name !== undefined) {
          functions.delete(from);
          functions.set(Number(field[2]), name);
        }
        break;
      }
      case 'code-source-info': {
        // code-source-info,address,script,start,end,positions,inlining positions,inlined functions
        const entry = code.get(Number(field[1]));
        if (entry === undefined) break;
        const offsets: number[] = [];
        const positions: number[] = [];
        const inlining: number[] = [];
        for (const match of (field[5] ?? '').matchAll(/C(\d+)O(\d+)(?:I(\d+))?/g)) {
          offsets.push(Number(match[1]));
          positions.push(Number(match[2]));
          inlining.push(match[3] === undefined ? -1 : Number(match[3]));
        }
        entry.offsets = offsets;
        entry.positions = positions;
        entry.inlining = inlining;
        // V8 leaves out the function of an inlining position it does not know (`FO…`).
        entry.inlinedAt = [...(field[6] ?? '').matchAll(/F(\d*)O\d+(?:I\d+)?/g)].map((match) => (match[1] === '' ? -1 : Number(match[1])));
        entry.inlined = [...(field[7] ?? '').matchAll(/S(0x[0-9a-f]+)/g)].map((match) => functions.get(Number(match[1])));
        break;
      }
      case 'script-source': {
        // The marks: the script compiled at each, logged in the order of the ticks around it.
        if (line.includes(`sourceURL=${MARK_START}-`)) counting = true;
        else if (line.includes(`sourceURL=${MARK_END}-`)) {
          counting = false;
          lastTick = undefined;
        }
        // script-source,id,url,source: the source with newlines, commas and backslashes escaped.
        else if (field.length >= 4) {
          const source = unescape(field.slice(3).join(','));
          const starts = [0];
          for (let index = source.indexOf('\n'); index !== -1; index = source.indexOf('\n', index + 1)) starts.push(index + 1);
          lineStarts.set(field[2]!, starts);
        }
        break;
      }
      case 'tick': {
        // tick,pc,timestamp,is_external_callback,tos_or_external_callback,vm_state,stack...
        if (!counting) break;
        const at = Number(field[2]);
        ticks++;
        if (lastTick !== undefined) gaps.push(at - lastTick);
        lastTick = at;
        const state = VM_STATES[Number(field[5])] ?? 'other';
        if (state === 'gc' || state === 'compiler' || state === 'logging' || state === 'idle') {
          apart.set(state, (apart.get(state) ?? 0) + 1);
          break;
        }
        // The program counter, then the frames from the top of the stack down (an `overflow`
        // field may come first): the first in JavaScript code owns the tick. A frame of machine
        // code is a return address, which points after its call; one of bytecode is the
        // address of the bytecode it is at.
        const frames = [field[1]!, ...field.slice(6)].filter((frame) => frame.startsWith('0x')).map(Number);
        let found: { owner: TickOwner; position: number } | undefined;
        for (let index = 0; index < frames.length && found === undefined; index++) {
          const address = frames[index]!;
          const entry = find(address);
          if (entry === undefined || entry.sfi === undefined || entry.url === '') continue;
          found = ownerAt(entry, address - entry.start - (index === 0 || entry.interpreted ? 0 : 1));
        }
        if (found === undefined) {
          unresolved++;
          break;
        }
        const { owner, position } = found;
        const sourceLine = lineOf(owner.url, position);
        if (sourceLine !== undefined) lines.set(`${owner.url}:${sourceLine}`, (lines.get(`${owner.url}:${sourceLine}`) ?? 0) + 1);
        const key = `${owner.functionName} ${owner.url}:${owner.line}`;
        const counted = owners.get(key);
        if (counted === undefined) owners.set(key, { owner, ticks: 1 });
        else counted.ticks++;
        break;
      }
    }
  }
  const sampledMicros = gaps.reduce((all, gap) => all + gap, 0);
  gaps.sort((a, b) => a - b);
  return { ticks, apart, owners, unresolved, lines, intervalMicros: gaps[Math.floor(gaps.length / 2)] ?? 0, sampledMicros };
}

/** A script's source as V8's log escapes it (`\n`, `\x2C`, `\\`, `\u2028`) back to its text. */
function unescape(text: string): string {
  return text.replace(/\\(?:x([0-9A-Fa-f]{2})|u([0-9A-Fa-f]{4})|(.))/g, (_, hex: string | undefined, unicode: string | undefined, char: string) =>
    hex !== undefined ? String.fromCharCode(Number.parseInt(hex, 16)) : unicode !== undefined ? String.fromCharCode(Number.parseInt(unicode, 16)) : char === 'n' ? '\n' : char === 'r' ? '\r' : char === 't' ? '\t' : char,
  );
}

if (import.meta.main) {
  const [target, topArg = '25'] = process.argv.slice(2);
  if (target === undefined) throw new Error("usage: npm run bench:ticks -- '<isolated.ts variant>' [top], or npm run bench:ticks -- <v8.log> [top]");
  let file = target;
  if (!existsSync(target)) {
    // A variant of isolated.ts: run alone under the tick log, its measured rounds marked.
    file = join(mkdtempSync(join(tmpdir(), 'tracebus-ticks-')), 'v8.log');
    execFileSync(process.execPath, [...tickLogFlags(file), fileURLToPath(new URL('isolated.ts', import.meta.url)), '100000', '2'], { env: { ...process.env, ISOLATED_VARIANTS: target, BENCH_TICK_LOG: '1' }, stdio: 'inherit' });
  }
  const summary = summarizeTickLog(readFileSync(file, 'latin1'));
  const busy = summary.ticks - (summary.apart.get('idle') ?? 0);
  const share = (count: number) => `${((count / busy) * 100).toFixed(1).padStart(5)}%  ${String(count).padStart(7)}`;
  console.log(`${file}: ${summary.ticks} ticks, ${busy} busy, median gap ${summary.intervalMicros} µs; unresolved ${summary.unresolved}; ${[...summary.apart].map(([state, count]) => `${state} ${count}`).join(', ')}`);
  const byFile = new Map<string, number>();
  for (const { owner, ticks } of summary.owners.values()) byFile.set(owner.url, (byFile.get(owner.url) ?? 0) + ticks);
  console.log('\nself time by file:');
  for (const [url, count] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg))) console.log(`  ${share(count)}  ${url}`);
  console.log(`\nself time by line (top ${topArg}):`);
  for (const [at, count] of [...summary.lines].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg))) console.log(`  ${share(count)}  ${at.replace(/^.*\/(src|scripts|node_modules)\//, '$1/')}`);
  console.log(`\nself time by function (top ${topArg}):`);
  for (const { owner, ticks } of [...summary.owners.values()].sort((a, b) => b.ticks - a.ticks).slice(0, Number(topArg))) {
    const inlined = owner.functionName !== owner.physicalName || owner.url !== owner.physicalUrl ? `  (inlined into ${owner.physicalName} ${owner.physicalUrl.replace(/^.*\/(src|scripts|node_modules)\//, '$1/')})` : '';
    console.log(`  ${share(ticks)}  ${owner.functionName}  ${owner.url.replace(/^.*\/(src|scripts|node_modules)\//, '$1/')}${inlined}`);
  }
}
