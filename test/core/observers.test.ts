import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { convictionQuorum, DEFAULT_OBSERVERS, ObserverAssignment, ringKey } from '../../src/core/observers.js';
import { seededRandom, shuffle } from '../../src/core/random.js';
import type { Random } from '../../src/core/types.js';

const K = DEFAULT_OBSERVERS;

/** n distinct 48-bit refs. */
function refsOf(n: number, rng: Random): number[] {
  const seen = new Set<number>();
  while (seen.size < n) seen.add(Math.floor(rng.next() * 2 ** 48));
  return [...seen];
}

function edgeSet(a: ObserverAssignment): Set<string> {
  const out = new Set<string>();
  for (const [x, y] of a.edges()) out.add(`${x}:${y}`);
  return out;
}

function symmetricDifference(a: Set<string>, b: Set<string>): number {
  let n = 0;
  for (const e of a) if (!b.has(e)) n++;
  for (const e of b) if (!a.has(e)) n++;
  return n;
}

/** Edges touching none of `except`. */
function edgesWithout(edges: Set<string>, except: Set<number>): Set<string> {
  const out = new Set<string>();
  for (const e of edges) {
    const [x, y] = e.split(':').map(Number) as [number, number];
    if (!except.has(x) && !except.has(y)) out.add(e);
  }
  return out;
}

/** fast-check arbitrary: a view of 1 to `max` distinct refs. */
const view = (max: number): fc.Arbitrary<number[]> =>
  fc.uniqueArray(fc.integer({ min: 0, max: 2 ** 48 - 1 }), { minLength: 1, maxLength: max });

test('a view of K + 1 members or fewer: everyone watches everyone', () => {
  const rng = seededRandom(1);
  for (let n = 1; n <= K + 1; n++) {
    const refs = refsOf(n, rng);
    const a = ObserverAssignment.of(refs);
    for (const r of refs) {
      assert.deepEqual(
        a.observersOf(r),
        refs.filter((x) => x !== r).sort((x, y) => x - y),
      );
    }
  }
});

test('every member has at least min(K, N - 1) neighbours, at most 2K, and the relation is symmetric', () => {
  fc.assert(
    fc.property(view(300), fc.constantFrom(2, 4, 6, 8), (refs, k) => {
      const a = ObserverAssignment.of(refs, k);
      const floor = Math.min(k, refs.length - 1);
      for (const r of refs) {
        const obs = a.observersOf(r);
        if (obs.length < floor || obs.length > 2 * k) return false;
        if (obs.includes(r)) return false;
        for (const o of obs) if (!a.observersOf(o).includes(r) || !a.areNeighbours(o, r)) return false;
      }
      return true;
    }),
    { numRuns: 300, seed: 11 },
  );
});

test('deterministic: the same set in any order gives the same assignment', () => {
  fc.assert(
    fc.property(view(200), fc.integer(), (refs, seed) => {
      const shuffled = [...refs];
      shuffle(shuffled, seededRandom(seed));
      const a = edgeSet(ObserverAssignment.of(refs));
      const b = edgeSet(ObserverAssignment.of(shuffled));
      return symmetricDifference(a, b) === 0;
    }),
    { numRuns: 200, seed: 12 },
  );
});

test('ring keys are independent orders: two rings rarely agree on a neighbour', () => {
  const refs = refsOf(2000, seededRandom(3));
  const a = ObserverAssignment.of(refs, 2);
  const b = ObserverAssignment.of(refs, 4);
  // With one ring a member has exactly its 2 ring neighbours; with two rings 4 distinct ones,
  // unless ring 1 repeats a neighbour of ring 0 (about 4/N of the time).
  let exact = 0;
  for (const r of refs) {
    if (a.observersOf(r).length === 2) exact++;
    assert.ok(b.observersOf(r).length >= 4);
  }
  assert.equal(exact, refs.length);
  assert.notEqual(ringKey(refs[0] as number, 0), ringKey(refs[0] as number, 1));
});

/**
 * A join or a death changes O(K) neighbour pairs: only members near it on some ring move. Measured over
 * 300 joins and 300 deaths in a 1,000-member view (printed for docs/design/liveness-7.md).
 */
test('a join or a death changes O(K) neighbour pairs', () => {
  const rng = seededRandom(4);
  const base = refsOf(1000, rng);
  const before = edgeSet(ObserverAssignment.of(base));
  const changes: number[] = [];
  for (let t = 0; t < 300; t++) {
    const joiner = refsOf(1, rng)[0] as number;
    if (base.includes(joiner)) continue;
    changes.push(symmetricDifference(before, edgeSet(ObserverAssignment.of([...base, joiner]))));
  }
  for (let t = 0; t < 300; t++) {
    const dead = base[Math.floor(rng.next() * base.length)] as number;
    changes.push(symmetricDifference(before, edgeSet(ObserverAssignment.of(base.filter((r) => r !== dead)))));
  }
  const mean = changes.reduce((s, c) => s + c, 0) / changes.length;
  const max = Math.max(...changes);
  console.log(`# K=${K}, N=1000: changed neighbour pairs per join or death: mean ${mean.toFixed(2)}, max ${max}`);
  // The member's own K pairs, plus, on each of the K/2 rings, the pair it splits or rejoins and the
  // next-nearest entries that shift in the lists of the members around it.
  assert.ok(max <= 4 * K, `max ${max}`);
  assert.ok(mean >= K, `mean ${mean}`);
});

test('two views that differ in a few members agree on everyone else’s neighbours but O(K) per difference', () => {
  fc.assert(
    fc.property(fc.integer(), fc.integer({ min: 50, max: 600 }), fc.integer({ min: 1, max: 6 }), (seed, n, d) => {
      const rng = seededRandom(seed);
      const refs = refsOf(n + d, rng);
      // u's view lacks the first d members (joins it has not heard of), v's view lacks the last d.
      const u = ObserverAssignment.of(refs.slice(d));
      const v = ObserverAssignment.of(refs.slice(0, n));
      const common = refs.slice(d, n);
      let differing = 0;
      for (const r of common) {
        const a = u.observersOf(r).join();
        const b = v.observersOf(r).join();
        if (a !== b) differing++;
      }
      // Each of the 2d differing members moves at most about 2K others' lists (see above).
      return differing <= 2 * d * 2 * K;
    }),
    { numRuns: 200, seed: 13 },
  );
});

test('a neighbour in a view one member apart is still an eligible reporter', () => {
  fc.assert(
    fc.property(view(400), fc.integer({ min: 0, max: 2 ** 48 - 1 }), (refs, extra) => {
      if (refs.includes(extra) || refs.length < 2) return true;
      const without = ObserverAssignment.of(refs);
      const withIt = ObserverAssignment.of([...refs, extra]);
      const skip = new Set([extra]);
      for (const [a, b] of [
        [without, withIt],
        [withIt, without],
      ] as const) {
        for (const e of edgesWithout(edgeSet(a), skip)) {
          const [x, y] = e.split(':').map(Number) as [number, number];
          if (!b.isEligibleReporter(x, y) || !b.isEligibleReporter(y, x)) return false;
        }
      }
      return true;
    }),
    { numRuns: 300, seed: 14 },
  );
});

test('eligibility is narrow: about 2 x 2K reporters per subject whatever N', () => {
  const refs = refsOf(3000, seededRandom(5));
  const a = ObserverAssignment.of(refs);
  const sample = refs.slice(0, 200);
  let total = 0;
  for (const s of sample) {
    let eligible = 0;
    for (const o of refs) if (a.isEligibleReporter(o, s)) eligible++;
    assert.ok(eligible >= a.observersOf(s).length);
    assert.ok(eligible <= 4 * 2 * K, `${eligible} eligible`);
    total += eligible;
  }
  console.log(`# K=${K}, N=3000: eligible reporters per subject, mean ${(total / sample.length).toFixed(2)}`);
  assert.equal(a.isEligibleReporter(refs[0] as number, refs[0] as number), false);
  assert.equal(a.isEligibleReporter(refs[0] as number, 1), false);
});

test('unknown refs have no neighbours; bad K and repeated refs are refused', () => {
  const a = ObserverAssignment.of([1, 2, 3]);
  assert.deepEqual(a.observersOf(4), []);
  assert.equal(a.areNeighbours(1, 4), false);
  assert.equal(a.has(2), true);
  assert.throws(() => ObserverAssignment.of([1, 2], 3), { code: 'SB_ERR_INVALID_ARG' });
  assert.throws(() => ObserverAssignment.of([1, 2], 0), { code: 'SB_ERR_INVALID_ARG' });
  assert.throws(() => ObserverAssignment.of([1, 1, 2]), { code: 'SB_ERR_INVALID_ARG' });
});

test('conviction quorum is a strict majority of the neighbours', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 8].map(convictionQuorum), [1, 2, 2, 3, 3, 4, 5]);
});
