/**
 * A batch of the coordinator's changes (Liveness7.batch: joins, leaves, removals, raised incarnations) builds the
 * view's arrays once at its end, and reads each change's neighbours through a DraftAssignment in between; neither
 * may change anything a node does: the neighbour sets after each change (NeighbourWatch keeps one dropped in
 * between lingering), the assignment and the census membership at the end, as one change at a time leaves them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SortedRefs } from '../../src/core/census-bits.js';
import type { CensusMembership } from '../../src/core/census.js';
import type { Liveness7 } from '../../src/core/liveness7.js';
import type { MemberView7 } from '../../src/core/liveness7-view.js';
import type { NeighbourWatch } from '../../src/core/neighbours.js';
import { DraftAssignment } from '../../src/core/observers-draft.js';
import { ObserverAssignment } from '../../src/core/observers.js';
import { seededRandom } from '../../src/core/random.js';
import { simReportSigner } from '../../src/sim/report-signer.js';
import { liveness7Node } from './liveness7-node.js';

const ref48 = fc.integer({ min: 0, max: 2 ** 48 - 1 });

test('a draft answers as the assignment built over the same view', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(ref48, { minLength: 1, maxLength: 120 }),
      fc.nat(),
      fc.constantFrom(2, 4, 6, 8),
      fc.double({ min: 0, max: 1, noNaN: true }),
      (all, seed, k, removeShare) => {
        const rng = seededRandom(seed);
        const inBase = all.filter(() => rng.next() < 0.7);
        if (inBase.length === 0) inBase.push(all[0]!);
        const base = ObserverAssignment.of(inBase, k);
        const removed = inBase.filter(() => rng.next() < removeShare * 0.5);
        const added = all.filter((r) => !inBase.includes(r) && rng.next() < 0.5);
        const view = [...inBase.filter((r) => !removed.includes(r)), ...added];
        if (view.length === 0) return;
        const built = ObserverAssignment.of(view, k);
        const draft = new DraftAssignment(base, added, removed);
        assert.equal(draft.size, built.size);
        for (let r = 0; r < k / 2; r++) {
          for (let i = 0; i < built.size; i++) assert.equal(draft.at(r, i), built.at(r, i), `ring ${r} at ${i}`);
          for (const x of view) assert.equal(draft.position(x, r), built.position(x, r), `ring ${r}: ${x}`);
        }
        for (const x of view) assert.deepEqual(draft.observersOf(x), built.observersOf(x), `neighbours of ${x}`);
      },
    ),
    { numRuns: 300, seed: 7 },
  );
});

test('SortedRefs.update: the refs and hash of inserting and removing one at a time', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.nat(2 ** 48 - 1), { maxLength: 30 }),
      fc.uniqueArray(fc.nat(2 ** 48 - 1), { maxLength: 20 }),
      fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }),
      (initial, changes, adds) => {
        const one = SortedRefs.of(initial);
        const many = SortedRefs.of(initial);
        const insert = changes.filter((_, i) => adds[i]);
        const cut = changes.filter((_, i) => !adds[i]);
        const before = many.refs;
        const oneBefore = one.refs;
        const snapshot = [...before];
        for (const ref of insert) one.insert(ref);
        for (const ref of cut) one.remove(ref);
        many.update(insert, cut);
        assert.deepEqual([...many.refs], [...one.refs]);
        assert.equal(many.hash, one.hash);
        assert.deepEqual([...before], snapshot, 'the previous array is left as it was (a census indexes it)');
        assert.equal(many.refs === before, one.refs === oneBefore, 'a new array exactly when the set changed');
      },
    ),
    { numRuns: 300, seed: 48 },
  );
});

const CLUSTER = 'batch';
const rng = seededRandom(5);
const pool = Array.from({ length: 160 }, () => Math.floor(rng.next() * 2 ** 48));
const self = pool[0]!;

interface Insides {
  readonly view: MemberView7;
  readonly membership: CensusMembership;
  readonly watch: NeighbourWatch;
  readonly neighbourRefs: readonly number[];
}
const insides = (l: Liveness7): Insides => l as unknown as Insides;

/** A node over `view`, and the neighbour sets its watch is given, in order. */
function node(view: readonly number[]): { l: Liveness7; given: number[][] } {
  const l = liveness7Node({ self, clusterId: CLUSTER, incarnation: 1, signer: simReportSigner(5, 0, 0), view });
  const given: number[][] = [];
  const watch = insides(l).watch;
  const set = watch.setNeighbours.bind(watch);
  watch.setNeighbours = (refs, now) => {
    given.push([...refs]);
    set(refs, now);
  };
  return { l, given };
}

type Change = { kind: 'join' | 'leave' | 'remove' | 'raise'; pick: number };

const change: fc.Arbitrary<Change> = fc.record({
  kind: fc.constantFrom('join', 'join', 'leave', 'remove', 'raise'),
  pick: fc.nat(10_000),
});

test('a batch gives the watch the neighbour sets, and leaves the view, one change at a time gives', () => {
  let moved = 0;
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: pool.length }),
      fc.array(fc.array(change, { maxLength: 30 }), { minLength: 1, maxLength: 6 }),
      (n, batches) => {
        const start = pool.slice(0, n);
        const a = node(start); // batched
        const b = node(start); // one at a time
        let now = 0;
        for (const [i, changes] of batches.entries()) {
          now += 250;
          const apply = (l: Liveness7): void => {
            for (const c of changes) {
              const held = [...insides(l).view.incarnations.keys()].sort((x, y) => x - y);
              const outside = pool.filter((r) => !insides(l).view.isLive(r));
              if (c.kind === 'join' && outside.length > 0) l.join(outside[c.pick % outside.length]!, c.pick % 3, now);
              else if (c.kind === 'leave') l.leave(held[c.pick % held.length]!, now);
              else if (c.kind === 'remove') l.remove(held[c.pick % held.length]!, now);
              else if (c.kind === 'raise') l.noteIncarnation(held[c.pick % held.length]!, 1 + (c.pick % 4), now);
            }
          };
          const givenBefore = a.given.length;
          a.l.batch(() => apply(a.l));
          apply(b.l);
          const what = `batch ${i}`;
          assert.deepEqual(a.given, b.given, `${what}: neighbour sets given to the watch`);
          if (a.given.length > givenBefore + 1)
            moved += new Set(a.given.slice(givenBefore).map((g) => g.join())).size - 1;
          assert.deepEqual(insides(a.l).neighbourRefs, insides(b.l).neighbourRefs, what);
          const va = insides(a.l).view;
          const vb = insides(b.l).view;
          assert.deepEqual([...va.assignment.members()], [...vb.assignment.members()], `${what}: live view`);
          for (const r of va.assignment.members()) {
            assert.deepEqual(va.assignment.observersOf(r), vb.assignment.observersOf(r), `${what}: neighbours of ${r}`);
          }
          const ma = insides(a.l).membership;
          const mb = insides(b.l).membership;
          assert.deepEqual(Array.from(ma.refs), Array.from(mb.refs), `${what}: census membership`);
          assert.equal(ma.hash, mb.hash, `${what}: membership hash`);
          assert.equal(ma.refs, va.members.refs, `${what}: the census reads the current membership`);
          assert.deepEqual(a.l.takeVerdicts(now), b.l.takeVerdicts(now), `${what}: verdicts`);
        }
      },
    ),
    { numRuns: 200, seed: 31 },
  );
  // The batches must have moved the neighbours within themselves, or the sets in between were never checked.
  assert.ok(moved > 100, `${moved} neighbour sets within batches`);
});
