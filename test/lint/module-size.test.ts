/**
 * No module in src/ over MAX_LINES lines: past that a file holds more than one room, and the seam
 * between them wants a name (docs/architecture.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { readSources } from './import-graph.js';

const SRC = fileURLToPath(new URL('../../../src/', import.meta.url));
const MAX_LINES = 500;

test(`no module in src/ has more than ${MAX_LINES} lines`, () => {
  const sources = readSources(SRC);
  assert.ok(sources.size > 50, `read ${sources.size} modules under ${SRC}`);
  const long = [...sources]
    .map(([path, text]) => ({ path, lines: text.split('\n').length - (text.endsWith('\n') ? 1 : 0) }))
    .filter((m) => m.lines > MAX_LINES);
  assert.deepEqual(
    long.map((m) => `${m.path}: ${m.lines} lines`),
    [],
    'split these along a seam (a collaborator with its own state, or pure helpers)',
  );
});
