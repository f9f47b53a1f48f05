// Fails when a source map in the package points at a file the package does not ship: every
// `sources` entry of every .map that `npm pack` would include must resolve, relative to the
// map, to another file it includes (the TypeScript under src/), so go-to-definition and stack
// traces lead to real code. Run after the build.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path/posix';

const [{ files }] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' }));
const shipped = new Set(files.map((file) => file.path));
const maps = [...shipped].filter((path) => path.endsWith('.map'));
if (maps.length === 0) throw new Error('check-source-maps: the package has no .map files; run `npm run build` first');

const broken = [];
for (const map of maps) {
  const { sourceRoot = '', sources = [] } = JSON.parse(readFileSync(map, 'utf8'));
  for (const source of sources) {
    if (!shipped.has(join(dirname(map), sourceRoot, source))) broken.push(`  ${map}: ${source}`);
  }
}
if (broken.length > 0) {
  console.error(`check-source-maps: ${broken.length} source map entries point outside the package files:\n${broken.slice(0, 20).join('\n')}`);
  process.exit(1);
}
console.log(`source maps resolve: ${maps.length} maps, every source shipped`);
