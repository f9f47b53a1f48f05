import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Every ```ts block of README.md compiles as written, under the repository's compiler options
// (strict, noUncheckedIndexedAccess, …) with 'tracebus/*' resolved to src/ (tsconfig.json's
// `paths`). Each block is a module of its own, in a folder under the gitignored .cache/,
// checked by one run of `tsc`.
//
// A block that is a fragment (it uses names it does not declare, such as a `consumer` made
// in an earlier block) gets them from an HTML comment on the line right before its fence,
// which the rendered page does not show; its text is put before the block's code:
//
//   <!-- readme-code context:
//   import type { TracedConsumer } from 'tracebus/kafkajs';
//   declare const consumer: TracedConsumer;
//   -->
//   ```ts
//   await consumer.run({ … });
//   ```

interface Block {
  /** README line of the block's first line of code. */
  line: number;
  code: string;
  context: string;
}

const root = fileURLToPath(new URL('../../', import.meta.url));
const CONTEXT = /^<!-- readme-code context:\n([\s\S]*?)\n?-->$/;

/** The ```ts blocks of a markdown text; fences may be indented (inside a list item). */
function tsBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let index = 0; index < lines.length; index++) {
    const open = /^( *)```ts\s*$/.exec(lines[index]!);
    if (open === null) continue;
    const indent = open[1]!.length;
    const start = index + 1;
    let end = start;
    while (end < lines.length && !/^ *```\s*$/.test(lines[end]!)) end++;
    if (end === lines.length) throw new Error(`README.md:${index + 1}: a \`\`\`ts fence that is never closed`);
    const code = lines.slice(start, end).map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length))).join('\n');
    // The context comment, if any, ends on the line right before the fence.
    let context = '';
    if (lines[index - 1]?.trim() === '-->') {
      let first = index - 1;
      while (first > 0 && !lines[first]!.includes('<!--')) first--;
      const comment = lines.slice(first, index).map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length))).join('\n');
      const match = CONTEXT.exec(comment);
      if (match === null) throw new Error(`README.md:${first + 1}: the comment before this block is not a '<!-- readme-code context:' comment`);
      context = match[1]!;
    }
    blocks.push({ line: start + 1, code, context });
    index = end;
  }
  return blocks;
}

const blocks = tsBlocks(readFileSync(`${root}README.md`, 'utf8'));
const folder = `${root}.cache/readme-code-${process.pid}`;
const fileOf = (block: Block) => `readme-line-${block.line}.ts`;
/** Diagnostics by file name, with line numbers turned into README.md's. */
const diagnostics = new Map<string, string[]>();

beforeAll(() => {
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  for (const block of blocks) {
    // `export {}` makes a block without imports a module too, so blocks cannot clash.
    writeFileSync(`${folder}/${fileOf(block)}`, `${block.context}\n${block.code}\nexport {};\n`);
  }
  writeFileSync(`${folder}/tsconfig.json`, JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noEmit: true }, include: ['*.ts'] }, null, 2));
  const tsc = `${createRequire(import.meta.url).resolve('typescript/package.json').replace(/package\.json$/, '')}bin/tsc`;
  const result = spawnSync(process.execPath, [tsc, '-p', `${folder}/tsconfig.json`, '--pretty', 'false'], { encoding: 'utf8' });
  if (result.error) throw result.error;
  let last: string[] | undefined;
  for (const line of `${result.stdout}${result.stderr}`.split('\n')) {
    if (line.trim() === '') continue;
    // An indented line continues the diagnostic before it (the elaboration of a type error).
    if (/^\s/.test(line) && last !== undefined) {
      last.push(line);
      continue;
    }
    const match = /^(?:.*[\\/])?(readme-line-(\d+)\.ts)\((\d+),(\d+)\): (.*)$/.exec(line);
    const block = match && blocks.find((each) => fileOf(each) === match[1]);
    if (!match || !block) {
      // A diagnostic outside the blocks (a broken tsconfig, say) fails every block.
      last = [line];
      for (const each of blocks) diagnostics.set(fileOf(each), [...(diagnostics.get(fileOf(each)) ?? []), line]);
      continue;
    }
    const contextLines = block.context.split('\n').length;
    const codeLine = Number(match[3]) - contextLines;
    const where = codeLine >= 1 ? `README.md:${block.line + codeLine - 1}:${match[4]}` : `the context comment of the block at README.md:${block.line}`;
    if (!diagnostics.has(match[1]!)) diagnostics.set(match[1]!, []);
    last = diagnostics.get(match[1]!)!;
    last.push(`${where}: ${match[5]}`);
  }
  if (result.status !== 0 && diagnostics.size === 0) throw new Error(`tsc exited with ${result.status} and printed nothing we could read`);
}, 60_000);

afterAll(() => rmSync(folder, { recursive: true, force: true }));

describe('README.md code', () => {
  it('has the quick starts among its ```ts blocks', () => {
    const code = blocks.map((block) => block.code).join('\n');
    for (const entry of ['tracebus/memory', 'tracebus/kafkajs', 'tracebus/amqplib', 'tracebus/amqp-connection-manager', 'tracebus/testing']) expect(code).toContain(`from '${entry}'`);
  });

  for (const block of blocks) {
    it(`the block at README.md:${block.line} compiles with strict and noUncheckedIndexedAccess`, () => {
      expect(diagnostics.get(fileOf(block)) ?? []).toEqual([]);
    });
  }
});
