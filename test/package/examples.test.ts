/**
 * Every program in examples/ runs as a user would run it (`node examples/NAME.js`, importing the
 * package by name) and prints what it promises; and the examples type-check against the package.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePorts } from '../runtime/procs.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const EXAMPLES = `${ROOT}examples/`;

/**
 * What each example must print, given the first of its ports, in order; a nested array is lines that
 * race each other (any order among themselves). An example without an entry fails the suite.
 */
type Line = string | RegExp;
const EXPECT: Record<string, (port: number) => (Line | Line[])[]> = {
  'basic-cluster.js': () => [
    'node-1 sees node-1, node-2, node-3',
    'node-2 sees node-1, node-2, node-3',
    'node-3 sees node-1, node-2, node-3',
    ['node-1: node-2 is dead (left)', 'node-3: node-2 is dead (left)'],
  ],
  'key-rotation.js': () => [
    'a and b gossip encrypted with the old key',
    "keyring [old, new]: b read a's step=1",
    "keyring [new, old]: b read a's step=2",
    "keyring [new]: b read a's step=3",
    'packets dropped during the rotation: 0',
    /^a node on the old key alone is refused: a counts envelope:decrypt-failed, sees 2 members$/,
  ],
  'service-discovery.js': (p) => [
    `databases ready: db-1@127.0.0.1:${p + 1} (zone a), db-2@127.0.0.1:${p + 2} (zone b)`,
    `databases ready: db-1@127.0.0.1:${p + 1} (zone a)`,
    'databases ready: none',
  ],
  'sharded-cache.js': () => [
    /^60 keys written: \d+ on cache-1, \d+ on cache-2, \d+ on cache-3$/,
    /^read back 60 of 60: \d+ from this process, \d+ by query$/,
    /^cache-3 left: \d+ ranges \(\d+% of the keys\) moved to cache-1 and cache-2$/,
    /^after it left: \d+ hits, \d+ misses, exactly the keys cache-3 held$/,
  ],
  'event-iterator.js': () => [
    'live    worker-1',
    'update  worker-1 job=resize-images',
    'dead    worker-1 (left)',
    'the loop ended after 3 events',
  ],
};

/** The expected lines appear in this order (other lines may come between them: events race). */
function assertInOrder(lines: string[], expected: (Line | Line[])[], name: string): void {
  const matches = (line: string, want: Line): boolean => (typeof want === 'string' ? line === want : want.test(line));
  let at = 0;
  for (const step of expected) {
    let end = at;
    for (const want of Array.isArray(step) ? step : [step]) {
      const found = lines.findIndex((line, i) => i >= at && matches(line, want));
      assert.ok(found >= 0, `${name}: expected ${String(want)} after line ${at} in:\n${lines.join('\n')}`);
      end = Math.max(end, found + 1);
    }
    at = end;
  }
}

const files = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith('.js'))
  .sort();

test('every example has its expected output here', () => {
  assert.deepEqual(files, Object.keys(EXPECT).sort());
});

for (const file of files) {
  test(`examples/${file} runs, prints what it promises and ends by itself`, async () => {
    const [port] = freePorts(4) as [number];
    const { stdout, stderr } = await run(process.execPath, [`${EXAMPLES}${file}`], {
      cwd: ROOT,
      env: { ...process.env, BASE_PORT: String(port) },
      timeout: 15_000,
    });
    assert.equal(stderr, '', `${file} wrote to stderr`);
    assertInOrder(stdout.trimEnd().split('\n'), EXPECT[file]?.(port) ?? [], file);
  });
}

test('the examples type-check against the package (tsc -p examples)', { timeout: 60_000 }, async () => {
  const tsc = `${ROOT}node_modules/typescript/bin/tsc`;
  await run(process.execPath, [tsc, '-p', `${EXAMPLES}tsconfig.json`], { cwd: ROOT }).catch(
    (err: { stdout?: string }) => {
      assert.fail(`tsc -p examples:\n${err.stdout ?? String(err)}`);
    },
  );
});
