// Builds dist/esm (ES modules) and dist/cjs (CommonJS) from src with the TypeScript compiler.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { compileFunction } from 'node:vm';

const tsc = (...args) => execFileSync('tsc', ['-p', 'tsconfig.build.json', ...args], { stdio: 'inherit' });

rmSync('dist', { recursive: true, force: true });
tsc();
tsc('--module', 'commonjs', '--moduleResolution', 'bundler', '--verbatimModuleSyntax', 'false', '--outDir', 'dist/cjs');
mkdirSync('dist/cjs', { recursive: true });
writeFileSync('dist/cjs/package.json', '{ "type": "commonjs" }\n');

// CommonJS has no import.meta, and TypeScript emits it unchanged. The one use,
// `… = import.meta;` in src/testing/peers.ts (which loads optional peers when they are
// needed), becomes `{ url }`, the module's own file URL, in the CommonJS build. Then every
// file must parse as CommonJS, which fails the build on any other use.
for (const file of readdirSync('dist/cjs', { recursive: true, encoding: 'utf8' })) {
  if (!file.endsWith('.js')) continue;
  const path = `dist/cjs/${file}`;
  let code = readFileSync(path, 'utf8');
  if (code.includes('= import.meta;')) writeFileSync(path, (code = code.replaceAll('= import.meta;', '= { url: require("node:url").pathToFileURL(__filename).href };')));
  compileFunction(code, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: path });
}
