/**
 * No import circle in src/, type-only imports included: a module that needs a type from the module
 * that imports it wants a narrow interface or a sink instead (docs/architecture.md, "The rooms").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describeCycles, graphOf, readSources, specifiersOf } from './import-graph.js';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));

test('every kind of import is an edge: import type, export from, side effects, import() and import types', () => {
  const source = [
    "import type { A } from './a.js';",
    "import { type B, c } from './b.js';",
    "export * from './d.js';",
    "export type { E } from './e.js';",
    "import './f.js';",
    "const g = await import('./g.js');",
    "let h: import('./h.js').H;",
    "import i = require('./i.js');",
    "import { readFileSync } from 'node:fs';",
    "// import { x } from './not-an-import.js';",
  ].join('\n');
  assert.deepEqual(specifiersOf(source), [
    './a.js',
    './b.js',
    './d.js',
    './e.js',
    './f.js',
    './g.js',
    './h.js',
    './i.js',
    'node:fs',
  ]);
});

test('a planted circle is found and named, through a type-only import and a re-export', () => {
  const sources = new Map([
    ['runtime/node.ts', "import { publish } from './channels.js';\nimport '../core/core.ts';"],
    ['runtime/channels.ts', "export * from './payloads.js';"],
    ['runtime/payloads.ts', "import type { Node } from './node.js';"],
    ['core/core.ts', "import type { Wire } from '../wire/wire.js';"],
    ['wire/wire.ts', "import { x } from './self.js';"],
    ['wire/self.ts', "import type { Self } from './self.js';"],
  ]);
  const graph = graphOf(sources);
  assert.deepEqual(graph.get('runtime/node.ts'), ['core/core.ts', 'runtime/channels.ts']);
  assert.deepEqual(describeCycles(graph), [
    'runtime/channels.ts -> runtime/payloads.ts -> runtime/node.ts -> runtime/channels.ts',
    'wire/self.ts -> wire/self.ts',
  ]);
  sources.set('runtime/payloads.ts', 'export interface Node { id: string }');
  assert.deepEqual(describeCycles(graphOf(sources)), ['wire/self.ts -> wire/self.ts']);
});

test('src/ has no import circle', () => {
  const graph = graphOf(readSources(SRC));
  assert.ok(
    graph.size > 50 && [...graph.values()].some((to) => to.length > 5),
    `read ${graph.size} modules under ${SRC}`,
  );
  const cycles = describeCycles(graph);
  assert.deepEqual(
    cycles,
    [],
    `import circles in src/ (break each with a narrow interface, a sink, or a module both sides import):\n${cycles.join('\n')}`,
  );
});
