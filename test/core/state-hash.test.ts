import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  entryHash,
  HASH_SPACE,
  LEAF_BUCKETS,
  leafOf,
  level1Of,
  LEVEL1_BUCKETS,
  StateHash,
  type StateEntry,
} from '../../src/core/state-hash.js';
import { seededRandom, randomInt } from '../../src/core/random.js';
import type { Random } from '../../src/core/types.js';

const M = BigInt(HASH_SPACE);

/** H, level-1 and leaf sums and leaf counts recomputed from scratch, in BigInt (independent of the class's doubles). */
function recompute(entries: Iterable<StateEntry>): {
  h: bigint;
  level1: bigint[];
  leaves: bigint[];
  counts: number[];
} {
  let h = 0n;
  const level1 = new Array<bigint>(LEVEL1_BUCKETS).fill(0n);
  const leaves = new Array<bigint>(LEAF_BUCKETS).fill(0n);
  const counts = new Array<number>(LEAF_BUCKETS).fill(0);
  for (const e of entries) {
    const x = BigInt(entryHash(e));
    const leaf = Number(BigInt(e.ref) >> 40n); // the top 8 bits, computed without bucketOf
    h = (h + x) % M;
    level1[leaf >> 4] = ((level1[leaf >> 4] as bigint) + x) % M;
    leaves[leaf] = ((leaves[leaf] as bigint) + x) % M;
    counts[leaf] = (counts[leaf] as number) + 1;
  }
  return { h, level1, leaves, counts };
}

function assertMatches(s: StateHash, entries: readonly StateEntry[]): void {
  const r = recompute(entries);
  assert.equal(BigInt(s.hash), r.h);
  assert.equal(s.size, entries.length);
  for (let i = 0; i < LEVEL1_BUCKETS; i++) assert.equal(BigInt(s.level1Sum(i)), r.level1[i], `level-1 ${i}`);
  for (let i = 0; i < LEAF_BUCKETS; i++) {
    assert.equal(BigInt(s.leafSum(i)), r.leaves[i], `leaf ${i}`);
    assert.equal(s.leafCount(i), r.counts[i], `leaf count ${i}`);
  }
}

/** A uniform 48-bit ref (two draws: one draw holds only 32 random bits). */
function randomRef(rng: Random): number {
  return randomInt(rng, 2 ** 16) * 2 ** 32 + randomInt(rng, 2 ** 32);
}

function randomEntry(rng: Random): StateEntry {
  return {
    ref: randomRef(rng),
    incarnation: randomInt(rng, 1000),
    maxVersion: randomInt(rng, 2 ** 32),
    gcVersion: randomInt(rng, 1000),
    reportVersion: randomInt(rng, 100),
    left: rng.next() < 0.1,
  };
}

/** Counters: mostly small (as in a cluster), some above 2^32 (the high word) up to 2^53 - 1. */
const counter = fc.oneof(fc.nat(20), fc.nat(), fc.maxSafeNat());
/** Refs: uniform 48-bit, or crowded into leaves 0-3 (several members per leaf and per level-1 bucket). */
const ref = fc.oneof(
  fc.tuple(fc.nat(0xffff), fc.nat(0xffffffff)).map(([hi, lo]) => hi * 2 ** 32 + lo),
  fc.tuple(fc.nat(3), fc.nat(0xffff)).map(([leaf, lo]) => leaf * 2 ** 40 + lo),
);
const fields = fc.record({
  incarnation: counter,
  maxVersion: counter,
  gcVersion: counter,
  reportVersion: counter,
  left: fc.boolean(),
});
const entryArb: fc.Arbitrary<StateEntry> = fc.tuple(ref, fields).map(([r, f]) => ({ ref: r, ...f }));

test('entry hashes are 48-bit integers', () => {
  fc.assert(
    fc.property(entryArb, (e) => {
      const h = entryHash(e);
      assert.ok(Number.isInteger(h) && h >= 0 && h < HASH_SPACE, String(h));
    }),
  );
});

test('after any sequence of add, replace and remove, H and every sum equal a recomputation from scratch', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant<'set'>('set'), at: fc.nat(30), fields }),
    fc.record({ kind: fc.constant<'remove'>('remove'), at: fc.nat(30) }),
  );
  fc.assert(
    fc.property(fc.uniqueArray(ref, { minLength: 1, maxLength: 31 }), fc.array(op, { maxLength: 120 }), (refs, ops) => {
      const s = new StateHash();
      const model = new Map<number, StateEntry>();
      for (const o of ops) {
        const r = refs[o.at % refs.length] as number;
        const old = model.get(r);
        if (o.kind === 'set') {
          const next = { ref: r, ...o.fields };
          if (old === undefined) s.add(next);
          else s.replace(old, next);
          model.set(r, next);
        } else if (old !== undefined) {
          s.remove(old);
          model.delete(r);
        }
      }
      assertMatches(s, [...model.values()]);
      // The same set built in one go agrees, whatever the order of changes that led to it.
      const fresh = StateHash.of(model.values());
      assert.equal(fresh.hash, s.hash);
      assert.deepEqual(fresh.level1Sums(), s.level1Sums());
      assert.deepEqual(fresh.leafSumsOf(0xffff), s.leafSumsOf(0xffff));
    }),
    { numRuns: 300 },
  );
});

test('a replace that moves an entry to another ref is a remove and an add', () => {
  const rng = seededRandom(3);
  const a = randomEntry(rng);
  const b = randomEntry(rng);
  const s = StateHash.of([a]);
  s.replace(a, b);
  assertMatches(s, [b]);
});

test('removing every entry leaves every sum exactly 0', () => {
  const rng = seededRandom(4);
  const entries = Array.from({ length: 2000 }, () => randomEntry(rng));
  const s = StateHash.of(entries);
  for (const e of entries) s.remove(e);
  assert.equal(s.hash, 0);
  assert.equal(s.size, 0);
  assert.ok(s.level1Sums().every((x) => x === 0));
  assert.ok(s.leafSumsOf(0xffff).every((x) => x === 0));
});

test('the level-1 bucket is the top 4 bits of a ref, and holds leaves 16i to 16i + 15', () => {
  fc.assert(
    fc.property(ref, (r) => {
      assert.equal(leafOf(r), Number(BigInt(r) >> 40n));
      assert.equal(level1Of(leafOf(r)), Number(BigInt(r) >> 44n));
    }),
  );
});

test('a change to any one replicated field changes the entry hash and H', () => {
  const keys = ['ref', 'incarnation', 'maxVersion', 'gcVersion', 'reportVersion', 'left'] as const;
  fc.assert(
    fc.property(
      entryArb,
      fc.array(entryArb, { maxLength: 20 }),
      fc.constantFrom(...keys),
      counter,
      (e, others, key, value) => {
        let changed: StateEntry;
        if (key === 'left') changed = { ...e, left: !e.left };
        else if (key === 'ref') changed = { ...e, ref: value % HASH_SPACE };
        else changed = { ...e, [key]: value };
        fc.pre(changed[key] !== e[key]);
        const rest = others.filter((o) => o.ref !== e.ref && o.ref !== changed.ref);
        assert.notEqual(entryHash(changed), entryHash(e));
        assert.notEqual(StateHash.of([...rest, changed]).hash, StateHash.of([...rest, e]).hash);
      },
    ),
    { numRuns: 2000 },
  );
});

test('no collisions among 200,000 random entries, nor among single-field neighbours of one entry', () => {
  const rng = seededRandom(7);
  const seen = new Set<number>();
  const n = 200_000;
  // Expected collisions among n uniform 48-bit values: n^2 / 2^49, about 7e-5.
  for (let i = 0; i < n; i++) seen.add(entryHash(randomEntry(rng)));
  assert.equal(seen.size, n);
  // Structured inputs: one member, each counter stepped through 0..19,999 with the rest fixed, and both lefts.
  const base = randomEntry(rng);
  const near = new Set<number>();
  let count = 0;
  for (const left of [false, true]) {
    for (const key of ['incarnation', 'maxVersion', 'gcVersion', 'reportVersion'] as const) {
      for (let v = 0; v < 20_000; v++) {
        const e = { ...base, left, [key]: v };
        if (e[key] === base[key] && key !== 'incarnation') continue; // the base itself, once per left
        near.add(entryHash(e));
        count++;
      }
    }
  }
  assert.equal(near.size, count);
});

test('every output bit is balanced over sequential inputs (the hash mixes, it does not just add fields)', () => {
  const rng = seededRandom(11);
  const base = randomEntry(rng);
  const ones = new Array<number>(48).fill(0);
  const n = 40_000;
  for (let v = 0; v < n; v++) {
    let h = entryHash({ ...base, maxVersion: v, ref: base.ref + (v & 1) });
    for (let b = 0; b < 48; b++) {
      ones[b] = (ones[b] as number) + (h % 2);
      h = Math.floor(h / 2);
    }
  }
  for (let b = 0; b < 48; b++) {
    // 4.5 standard deviations of a fair coin over n draws: about 1.1 %.
    assert.ok(Math.abs((ones[b] as number) / n - 0.5) < 0.0113, `bit ${b}: ${(ones[b] as number) / n}`);
  }
});

test('sums stay exact near 2^48: entries whose hashes exceed 2^47 wrap without losing a bit', () => {
  const rng = seededRandom(12);
  const high: StateEntry[] = [];
  while (high.length < 3000) {
    const e = randomEntry(rng);
    if (entryHash(e) > 2 ** 47) high.push(e);
  }
  const s = new StateHash();
  const live: StateEntry[] = [];
  for (const e of high) {
    s.add(e);
    live.push(e);
    // Every sum is checked against BigInt after each wrap-heavy step, while it sits anywhere in [0, 2^48).
    if (live.length % 500 === 0) assertMatches(s, live);
  }
  // Two above 2^47: their sum wraps, exactly.
  const [a, b] = high as [StateEntry, StateEntry];
  const two = StateHash.of([a, b]);
  assert.equal(BigInt(two.hash), (BigInt(entryHash(a)) + BigInt(entryHash(b))) % M);
  assert.ok(two.hash < entryHash(a) && two.hash < entryHash(b), 'the pair wrapped');
  // Removing one from a sum below its hash wraps the other way.
  two.remove(a);
  assert.equal(two.hash, entryHash(b));
  for (let i = 0; i < 1500; i++) {
    const e = live.pop() as StateEntry;
    s.remove(e);
  }
  assertMatches(s, live);
  // Counters above 2^32 (high words) are hashed, not truncated.
  const big = { ...(high[0] as StateEntry), maxVersion: 2 ** 40 + 5 };
  assert.notEqual(entryHash(big), entryHash({ ...big, maxVersion: 5 }));
});
