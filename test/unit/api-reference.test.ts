import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/adapter/index.ts';

// docs/api.md lists every export of every entry: a name exported and not listed there
// (or listed and not exported) fails here, so the reference cannot fall behind.

const ENTRIES: Record<string, string> = {
  tracebus: 'src/index.ts',
  'tracebus/memory': 'src/memory/index.ts',
  'tracebus/kafkajs': 'src/kafkajs/index.ts',
  'tracebus/confluent-kafka': 'src/confluent-kafka/index.ts',
  'tracebus/amqplib': 'src/amqplib/index.ts',
  'tracebus/amqp-connection-manager': 'src/amqp-connection-manager/index.ts',
  'tracebus/testing': 'src/testing/index.ts',
  'tracebus/adapter': 'src/adapter/index.ts',
  'tracebus/w3c': 'src/w3c/index.ts',
};

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

/** Names an index file exports (values and types), from its `export { … } from` lines. */
function declaredExports(source: string): { values: string[]; types: string[] } {
  const values: string[] = [];
  const types: string[] = [];
  for (const match of source.matchAll(/export (type )?\{([^}]*)\}/g)) {
    const names = match[2]!.split(',').map((name) => name.trim().split(/\s+as\s+/).pop()!).filter(Boolean);
    (match[1] ? types : values).push(...names);
  }
  return { values, types };
}

/** Names docs/api.md lists under each `## \`entry\`` heading: the first cell of each table row. */
function documentedExports(markdown: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of markdown.split('\n')) {
    const heading = /^## `([^`]+)`\s*$/.exec(line);
    if (heading) sections.set(heading[1]!, (current = []));
    else if (/^## /.test(line)) current = undefined;
    else if (current !== undefined) {
      const row = /^\|\s*`([A-Za-z_$][\w$]*)`\s*\|/.exec(line);
      if (row) current.push(row[1]!);
    }
  }
  return sections;
}

describe('the API reference (docs/api.md)', () => {
  const documented = documentedExports(read('docs/api.md'));

  it('has a section for every entry point and no other', () => {
    expect([...documented.keys()]).toEqual(Object.keys(ENTRIES));
  });

  for (const [entry, file] of Object.entries(ENTRIES)) {
    it(`lists exactly what ${entry} exports`, async () => {
      const { values, types } = declaredExports(read(file));
      // The parsed value exports are what the module really exports at run time.
      const module = await import(new URL(file, root).href);
      expect(Object.keys(module).sort()).toEqual([...values].sort());
      const listed = documented.get(entry) ?? [];
      expect(new Set(listed).size, `${entry}: a name listed twice`).toBe(listed.length);
      expect([...listed].sort()).toEqual([...values, ...types].sort());
    });
  }

  it('no name means two things: an export name two entries share is the same export, from the same module', () => {
    const seen = new Map<string, { entry: string; from: string }>();
    for (const [entry, file] of Object.entries(ENTRIES)) {
      for (const match of read(file).matchAll(/export (?:type )?\{([^}]*)\} from '([^']+)'/g)) {
        const from = new URL(match[2]!, new URL(file, root)).pathname;
        for (const name of match[1]!.split(',').map((part) => part.trim().split(/\s+as\s+/).pop()!).filter(Boolean)) {
          const earlier = seen.get(name);
          if (earlier !== undefined) expect(from, `${name} is exported by ${earlier.entry} and ${entry} from different modules`).toBe(earlier.from);
          else seen.set(name, { entry, from });
        }
      }
    }
  });
});

describe('the version', () => {
  it('is written once in the sources and matches package.json', () => {
    expect(VERSION).toBe(JSON.parse(read('package.json')).version);
    const uses = ['src/core/messaging-tracer.ts', 'src/core/metrics.ts'].map(read);
    for (const source of uses) expect(source).not.toMatch(/'\d+\.\d+\.\d+'/);
  });
});
