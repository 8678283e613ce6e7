/**
 * Liveness7's single-member calls (`join`, `leave`, `remove`) and its own deaths and revivals update the view
 * change by change (src/core/liveness7-view.ts): each must leave exactly the state the bulk calls (`setView`,
 * `setMembers`) leave, and that state must be what a from-scratch build gives: the assignment of
 * `ObserverAssignment.of` over the live members, the census's membership sorted by ref with its set hash.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SortedRefs } from '../../src/core/census-bits.js';
import type { CensusMembership } from '../../src/core/census.js';
import type { Liveness7 } from '../../src/core/liveness7.js';
import { membershipHash } from '../../src/core/liveness7-parts.js';
import type { MemberView7 } from '../../src/core/liveness7-view.js';
import { ObserverAssignment } from '../../src/core/observers.js';
import { seededRandom } from '../../src/core/random.js';
import { OwnReports } from '../../src/core/reports.js';
import { simReportSigner, type SimReportSigner } from '../../src/sim/report-signer.js';
import { REPORT_SILENT } from '../../src/wire/liveness-messages.js';
import { liveness7Node } from './liveness7-node.js';

const CLUSTER = 'incremental';
const rng = seededRandom(11);
const pool = Array.from({ length: 48 }, () => Math.floor(rng.next() * 2 ** 48));
const signers = new Map<number, SimReportSigner>(pool.map((r, i) => [r, simReportSigner(11, i, 0)]));
const self = pool[0]!;

/** The private state compared (read through a cast: not part of the API). */
interface Insides {
  readonly view: MemberView7;
  readonly membership: CensusMembership;
}
const insides = (l: Liveness7): Insides => l as unknown as Insides;

const members = (l: Liveness7): number[] => [...insides(l).view.incarnations.keys()].sort((a, b) => a - b);
const live = (l: Liveness7): number[] => members(l).filter((r) => !insides(l).view.dead.has(r));

function node(view: readonly number[]): Liveness7 {
  return liveness7Node({ self, clusterId: CLUSTER, incarnation: 1, signer: signers.get(self)!, view });
}

/** `l`'s assignment and census membership are a from-scratch build's over what it holds. */
function assertBuiltFromScratch(l: Liveness7, what: string): void {
  const { view, membership } = insides(l);
  const liveRefs = live(l);
  const fresh = ObserverAssignment.of(liveRefs);
  assert.deepEqual([...view.assignment.members()], [...fresh.members()], `${what}: live members`);
  for (const r of liveRefs) assert.deepEqual(view.assignment.observersOf(r), fresh.observersOf(r), `${what}: ${r}`);
  const all = members(l);
  assert.deepEqual(Array.from(membership.refs), all, `${what}: census membership`);
  assert.equal(membership.hash, membershipHash(all), `${what}: membership hash`);
  assert.equal(membership.refs, view.members.refs, `${what}: the census reads the current membership`);
}

type Op =
  | { kind: 'join' | 'leave' | 'remove' | 'convict' | 'refute'; pick: number; incarnation: number }
  | { kind: 'bulk'; keep: boolean[] };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('join', 'leave', 'remove', 'convict', 'refute'),
    pick: fc.nat(1000),
    incarnation: fc.nat(3),
  }),
  fc.record({
    kind: fc.constant('bulk'),
    keep: fc.array(fc.boolean(), { minLength: pool.length, maxLength: pool.length }),
  }),
);

let convictions = 0;
let revivals = 0;

test('incremental changes leave the assignment, membership and hash a bulk setView and a rebuild give', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 30 }), fc.array(op, { maxLength: 40 }), (n, ops) => {
      const start = pool.slice(0, n);
      const a = node(start); // incremental calls
      const b = node(start); // the bulk calls they stand for
      const observers = new Map<number, OwnReports>();
      let now = 0;
      for (const [step, o] of ops.entries()) {
        now += 1;
        const what = `step ${step} (${o.kind})`;
        if (o.kind === 'bulk') {
          const view = pool.filter((_, i) => o.keep[i]);
          a.setView(view, now);
          b.setView(view, now);
        } else if (o.kind === 'join') {
          // A new member, one that left or was removed, or one held dead (a revival by the coordinator).
          const outside = pool.filter((r) => !live(a).includes(r));
          if (outside.length === 0) continue;
          const ref = outside[o.pick % outside.length]!;
          a.join(ref, o.incarnation, now);
          b.setView([...live(b), ref], now);
          b.noteIncarnation(ref, o.incarnation, now);
        } else if (o.kind === 'leave' || o.kind === 'remove') {
          // Self included: both calls keep it.
          const held = members(a);
          const ref = held[o.pick % held.length]!;
          if (o.kind === 'leave') {
            a.leave(ref, now);
            b.setView(
              live(b).filter((r) => r !== ref),
              now,
            );
          } else {
            a.remove(ref, now);
            b.setMembers(
              members(b).filter((r) => r !== ref),
              now,
            );
          }
        } else if (o.kind === 'convict') {
          // A quorum of the subject's observers (self's own records come from its detector, not from here).
          const candidates = live(a).filter((r) => r !== self);
          if (candidates.length === 0) continue;
          const subject = candidates[o.pick % candidates.length]!;
          const incarnation = insides(a).view.incarnations.get(subject)!;
          const all = insides(a).view.assignment.observersOf(subject);
          const others = all.filter((r) => r !== self);
          if (others.length < Math.floor(all.length / 2) + 1) continue;
          for (const x of others) {
            let own = observers.get(x);
            if (!own) observers.set(x, (own = new OwnReports(CLUSTER, x, 0, signers.get(x)!, 4)));
            own.set([{ subject, incarnation, kind: REPORT_SILENT }], now, 0);
            const key = signers.get(x)!.publicKey;
            assert.equal(
              a.acceptReportSet(x, 0, key, own.current!, now),
              b.acceptReportSet(x, 0, key, own.current!, now),
            );
          }
        } else {
          // A raised incarnation (mostly of a member held dead, which it revives).
          const dead = [...insides(a).view.dead.keys()];
          const held = dead.length > 0 && o.pick % 4 !== 0 ? dead : members(a).filter((r) => r !== self);
          if (held.length === 0) continue;
          const ref = held[o.pick % held.length]!;
          const next = insides(a).view.incarnations.get(ref)! + 1;
          a.noteIncarnation(ref, next, now);
          b.noteIncarnation(ref, next, now);
        }
        const va = a.takeVerdicts(now);
        assert.deepEqual(va, b.takeVerdicts(now), `${what}: verdicts`);
        convictions += va.convictions.length;
        revivals += va.revivals.length;
        assert.deepEqual([...insides(a).view.incarnations].sort(), [...insides(b).view.incarnations].sort(), what);
        assert.deepEqual([...insides(a).view.dead].sort(), [...insides(b).view.dead].sort(), `${what}: dead`);
        assertBuiltFromScratch(a, `${what}, incremental`);
        assertBuiltFromScratch(b, `${what}, bulk`);
      }
    }),
    { numRuns: 150, seed: 26, verbose: 2 },
  );
  // The runs above must have exercised Liveness7's own deaths and revivals, not only the coordinator's calls.
  assert.ok(convictions > 20, `${convictions} convictions`);
  assert.ok(revivals > 5, `${revivals} revivals`);
});

test('SortedRefs: inserts and removals keep the refs sorted and the hash that of the set', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.nat(2 ** 48 - 1), { maxLength: 30 }),
      fc.array(fc.tuple(fc.boolean(), fc.nat(2 ** 48 - 1)), { maxLength: 40 }),
      (initial, changes) => {
        const sorted = SortedRefs.of(initial);
        const set = new Set(initial);
        for (const [add, ref] of changes) {
          const before = sorted.refs;
          const snapshot = [...before];
          assert.equal(add ? sorted.insert(ref) : sorted.remove(ref), add ? !set.has(ref) : set.has(ref));
          if (add) set.add(ref);
          else set.delete(ref);
          assert.deepEqual([...before], snapshot, 'the previous array is left as it was (a census indexes it)');
          const expected = [...set].sort((x, y) => x - y);
          assert.deepEqual([...sorted.refs], expected);
          assert.equal(sorted.hash, membershipHash(expected));
          for (const r of expected) assert.ok(sorted.has(r));
        }
      },
    ),
    { numRuns: 300, seed: 48 },
  );
});
