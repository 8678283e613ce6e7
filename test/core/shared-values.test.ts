import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyNodeValues } from '../../src/core/delta.js';
import { Journal } from '../../src/core/journal.js';
import { PeerTable } from '../../src/core/peer-table.js';
import { isShared, MAX_SHARED_KEYS } from '../../src/core/shared-values.js';
import type { VersionedValue } from '../../src/wire/messages.js';

const identity = { id: 'owner', generation: 1, address: '10.0.0.1:9111' };

/** A fresh table holding `identity` (as one simulated node would) and the slot it sits in. */
function holder(): { t: PeerTable; s: number; journal: Journal } {
  const t = new PeerTable(10, 4);
  t.allocate({ id: 'self', generation: 1, address: '10.0.0.0:9111' });
  return { t, s: t.allocate(identity), journal: new Journal() };
}

const v = (key: string, value: string, version: number, tombstone = false): VersionedValue => ({
  key,
  value,
  version,
  tombstone,
});

function apply(h: ReturnType<typeof holder>, fromVersion: number, values: VersionedValue[], gc = 0): string[] {
  const maxVersion = Math.max(fromVersion, ...values.map((x) => x.version));
  return applyNodeValues(h.t, h.journal, { fromVersion, maxVersion, lastGcVersion: gc, values }, h.s);
}

const contents = (h: ReturnType<typeof holder>): string =>
  JSON.stringify(
    [...(h.t.values.get(h.s) ?? new Map()).entries()].map(([k, x]) => [k, x.value, x.version, x.tombstone]),
  );

test('shared values: tables holding the same identity with the same values hold one map', () => {
  const a = holder();
  const b = holder();
  // Separate message objects with equal content, as two senders build them.
  assert.deepEqual(apply(a, 0, [v('x', '1', 1), v('y', '2', 2)]), ['x', 'y']);
  assert.deepEqual(apply(b, 0, [v('x', '1', 1), v('y', '2', 2)]), ['x', 'y']);
  assert.equal(a.t.values.get(a.s), b.t.values.get(b.s), 'one map for both tables');
  assert.ok(isShared(a.t.values.get(a.s)!));
  // Same keys in a different order: not the same map (order is what a delta's prefix walks).
  const c = holder();
  apply(c, 0, [v('y', '2', 1), v('x', '1', 2)]);
  assert.notEqual(c.t.values.get(c.s), a.t.values.get(a.s));
});

test('shared values: a write to one table copies the shared map first, the other table is untouched', () => {
  const a = holder();
  const b = holder();
  apply(a, 0, [v('x', '1', 1), v('y', '2', 2)]);
  apply(b, 0, [v('x', '1', 1), v('y', '2', 2)]);
  const before = contents(b);
  assert.deepEqual(apply(a, 2, [v('x', '3', 3)]), ['x']);
  assert.equal(contents(b), before, 'b still holds what it was sent');
  assert.equal(
    contents(a),
    JSON.stringify([
      ['y', '2', 2, false],
      ['x', '3', 3, false],
    ]),
  );
  // b catches up and shares a's map again.
  apply(b, 2, [v('x', '3', 3)]);
  assert.equal(a.t.values.get(a.s), b.t.values.get(b.s));
  // Tombstone GC writes the map too.
  apply(a, 3, [v('y', '', 4, true)]);
  apply(b, 3, [v('y', '', 4, true)]);
  assert.equal(a.t.values.get(a.s), b.t.values.get(b.s));
  apply(a, 4, [], 4);
  assert.equal(contents(a), JSON.stringify([['x', '3', 3, false]]));
  assert.equal(
    contents(b),
    JSON.stringify([
      ['x', '3', 3, false],
      ['y', '', 4, true],
    ]),
    'b has not collected yet',
  );
});

test('shared values: large maps stay private', () => {
  const a = holder();
  const b = holder();
  const many = Array.from({ length: MAX_SHARED_KEYS + 1 }, (_, i) => v(`k${i}`, 'v', i + 1));
  apply(a, 0, many);
  apply(
    b,
    0,
    many.map((x) => ({ ...x })),
  );
  assert.notEqual(a.t.values.get(a.s), b.t.values.get(b.s));
  assert.equal(isShared(a.t.values.get(a.s)!), false);
  assert.equal(contents(a), contents(b));
});
