import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ObserverAssignment, ringKey } from '../../src/core/observers.js';
import { ReferenceAssignment } from './observers-reference.js';

/**
 * Every node with the same view must agree on neighbours, however it got to that view: the assignment updated
 * by `with` over any sequence of joins and departures answers every query exactly as the eager reference
 * built from scratch over the final view (and so as `ObserverAssignment.of`, checked against it too).
 */

const ref48 = fc.integer({ min: 0, max: 2 ** 48 - 1 });

/** All queries of `a` against the reference over the same view; `pairs` sampled for eligibility. */
function assertSame(a: ObserverAssignment, view: number[], k: number, pairs: [number, number][]): void {
  const want = ReferenceAssignment.of(view, k);
  assert.equal(a.size, want.size);
  assert.equal(a.k, want.k);
  assert.deepEqual([...a.members()], [...Float64Array.from(view).sort()]);
  for (const x of view) {
    assert.ok(a.has(x));
    assert.deepEqual(a.observersOf(x), want.observersOf(x), `neighbours of ${String(x)}`);
  }
  // Members near each other on some ring, up to past a wide (2K) list's reach: where a stale list would show.
  const n = view.length;
  for (let r = 0; r < k / 2; r++) {
    const ring = [...view].sort((x, y) => ringKey(x, r) - ringKey(y, r) || x - y);
    for (let i = 0; i < n; i++) {
      for (let d = 1; d <= 2 * k + 2; d++) pairs.push([ring[i] as number, ring[(i + d) % n] as number]);
      for (let d = 1; d <= 2 * k + 2; d++) pairs.push([ring[(i + d) % n] as number, ring[i] as number]);
    }
  }
  for (const [o, s] of pairs) {
    assert.equal(a.isEligibleReporter(o, s), want.isEligibleReporter(o, s), `eligible ${String(o)} -> ${String(s)}`);
    assert.equal(a.areNeighbours(o, s), want.areNeighbours(o, s));
  }
  assert.deepEqual([...a.edges()], [...want.edges()]);
}

/** Every ordered pair for small views, otherwise each member against the members at a few offsets. */
function pairsOf(view: number[]): [number, number][] {
  const out: [number, number][] = [];
  const n = view.length;
  if (n <= 40) {
    for (const o of view) for (const s of view) out.push([o, s]);
    return out;
  }
  for (let i = 0; i < n; i++) {
    for (const step of [1, 2, 3, 5, 8, 13, n >> 1]) out.push([view[i] as number, view[(i + step) % n] as number]);
  }
  return out;
}

test('of equals the eager reference on views of 1 to 60 members, K = 2 to 8', () => {
  fc.assert(
    fc.property(fc.uniqueArray(ref48, { minLength: 1, maxLength: 60 }), fc.constantFrom(2, 4, 6, 8), (view, k) => {
      assertSame(ObserverAssignment.of(view, k), view, k, pairsOf(view));
    }),
    { numRuns: 150 },
  );
});

test('with, over any sequence of joins and departures, equals a build from scratch over the same view', () => {
  const step = fc.record({
    joins: fc.uniqueArray(ref48, { maxLength: 3 }),
    leaves: fc.array(fc.nat(), { maxLength: 3 }),
  });
  fc.assert(
    fc.property(
      fc.uniqueArray(ref48, { minLength: 1, maxLength: 80 }),
      fc.constantFrom(2, 4, 6),
      fc.array(step, { minLength: 1, maxLength: 8 }),
      (start, k, steps) => {
        let view = [...start];
        let a = ObserverAssignment.of(view, k);
        for (const { joins, leaves } of steps) {
          const present = new Set(view);
          const added = joins.filter((r) => !present.has(r));
          const removed = [...new Set(leaves.map((i) => view[i % view.length] as number))];
          // Keep at least one member: an empty view has no assignment to update.
          if (removed.length >= view.length + added.length) removed.pop();
          a = a.with(added, removed);
          const gone = new Set(removed);
          view = [...view.filter((r) => !gone.has(r)), ...added];
          assertSame(a, view, k, pairsOf(view));
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('with: one join and one death in 2,000 members, each equal to the rebuild, the old view unchanged', () => {
  const rng = fc.sample(fc.uniqueArray(ref48, { minLength: 2002, maxLength: 2002 }), { numRuns: 1, seed: 7 })[0]!;
  const view = rng.slice(0, 2000);
  const before = ObserverAssignment.of(view);
  const joined = before.with([rng[2000] as number], []);
  assertSame(joined, [...view, rng[2000] as number], 4, pairsOf(view));
  const died = joined.with([], [view[17] as number]);
  const after = [...view.filter((r) => r !== view[17]), rng[2000] as number];
  assertSame(died, after, 4, pairsOf(after));
  assertSame(before, view, 4, pairsOf(view));
});

test('with refuses a ref already in the view, or one not in it', () => {
  const a = ObserverAssignment.of([1, 2, 3, 4, 5]);
  assert.throws(() => a.with([3], []), /given twice/);
  assert.throws(() => a.with([9, 9], []), /given twice/);
  assert.throws(() => a.with([], [9]), /not in the view/);
  assert.throws(() => a.with([], [2, 2]), /not in the view/);
  assert.deepEqual([...a.with([3], [3]).members()], [1, 2, 3, 4, 5]);
});

test('with after every row was asked: one join or departure leaves no stale cached row, on any ring', () => {
  // A change moves strict lists near it on one ring; the rows those lists feed belong to members that may sit
  // anywhere on the other rings, so a handed-over row cache must drop them too.
  fc.assert(
    fc.property(
      fc.uniqueArray(ref48, { minLength: 21, maxLength: 160 }),
      fc.constantFrom(2, 4, 6),
      ref48,
      fc.nat(),
      fc.boolean(),
      (view, k, joiner, pick, join) => {
        if (view.includes(joiner)) return;
        const a = ObserverAssignment.of(view, k);
        for (const x of view) a.observersOf(x);
        const leaver = view[pick % view.length] as number;
        const b = join ? a.with([joiner], []) : a.with([], [leaver]);
        const after = join ? [...view, joiner] : view.filter((r) => r !== leaver);
        const fresh = ObserverAssignment.of(after, k);
        for (const x of after) assert.deepEqual(b.observersOf(x), fresh.observersOf(x), `neighbours of ${String(x)}`);
      },
    ),
    { numRuns: 400, seed: 26 },
  );
});

test('with: several joins and departures at once (below the rebuild threshold) equal a build from scratch', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(ref48, { minLength: 200, maxLength: 400 }),
      fc.constantFrom(2, 4, 6),
      fc.array(
        fc.record({ joins: fc.uniqueArray(ref48, { maxLength: 6 }), leaves: fc.array(fc.nat(), { maxLength: 6 }) }),
        {
          minLength: 1,
          maxLength: 4,
        },
      ),
      fc.boolean(),
      (start, k, steps, rejoin) => {
        let view = [...start];
        let a = ObserverAssignment.of(view, k);
        for (const x of view.slice(0, 40)) a.observersOf(x);
        for (const { joins, leaves } of steps) {
          const present = new Set(view);
          const removed = [...new Set(leaves.map((i) => view[i % view.length] as number))];
          const added = joins.filter((r) => !present.has(r));
          // A member cut and joined in one call (a restart seen at once) goes back where it was.
          if (rejoin && removed.length > 0) added.push(removed[0] as number);
          a = a.with(added, removed);
          const gone = new Set(removed);
          view = [...view.filter((r) => !gone.has(r)), ...added.filter((r) => !present.has(r) || gone.has(r))];
          const fresh = ObserverAssignment.of(view, k);
          assert.deepEqual([...a.members()], [...fresh.members()]);
          for (const x of view) assert.deepEqual(a.observersOf(x), fresh.observersOf(x), `neighbours of ${String(x)}`);
          assert.deepEqual([...a.edges()], [...fresh.edges()]);
        }
      },
    ),
    { numRuns: 150 },
  );
});
