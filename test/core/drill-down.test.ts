import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ALL_LEVEL1,
  BeatHashTracker,
  differingLevel1,
  fitsBudget,
  leafRefRange,
  leafSpan,
  planSyn7,
  sendsAllEntries,
  SMALL_MEMBERSHIP,
  sumsReply,
  sumsRequest,
  type EntryBudget,
} from '../../src/core/drill-down.js';
import { leafOf, level1Of, StateHash, type StateEntry } from '../../src/core/state-hash.js';
import { seededRandom, randomInt } from '../../src/core/random.js';
import type { Random } from '../../src/core/types.js';
import { HASH_BYTES } from '../../src/wire/liveness-messages.js';
import { stringSize, varintSize } from '../../src/wire/varint.js';

const CLUSTER = 'default';
/** No budget limit: the drill-down's leaves alone are under test. */
const UNLIMITED: EntryBudget = { entryBytes: 10, budgetBytes: Infinity };

function randomRef(rng: Random): number {
  return randomInt(rng, 2 ** 16) * 2 ** 32 + randomInt(rng, 2 ** 32);
}

function randomEntry(rng: Random, ref = randomRef(rng)): StateEntry {
  return {
    ref,
    incarnation: 1 + randomInt(rng, 3),
    maxVersion: randomInt(rng, 40),
    gcVersion: 0,
    reportVersion: randomInt(rng, 3),
    left: false,
  };
}

/**
 * Two memberships of n members that differ in exactly d: each differing member is only in A, only in B, or in both
 * with another state. Returns both and the differing refs.
 */
function pair(
  n: number,
  d: number,
  rng: Random,
): { a: Map<number, StateEntry>; b: Map<number, StateEntry>; differing: number[] } {
  const a = new Map<number, StateEntry>();
  while (a.size < n) {
    const e = randomEntry(rng);
    a.set(e.ref, e);
  }
  const b = new Map(a);
  const refs = [...a.keys()];
  const differing = new Set<number>();
  while (differing.size < d) {
    const kind = randomInt(rng, 3);
    if (kind === 0) {
      const e = randomEntry(rng);
      if (a.has(e.ref)) continue;
      a.set(e.ref, e); // only in A
      differing.add(e.ref);
    } else {
      const r = refs[randomInt(rng, refs.length)] as number;
      if (differing.has(r)) continue;
      const e = a.get(r) as StateEntry;
      if (kind === 1)
        b.delete(r); // only in A
      else b.set(r, { ...e, maxVersion: e.maxVersion + 1 + randomInt(rng, 5) }); // newer in B
      differing.add(r);
    }
  }
  return { a, b, differing: [...differing] };
}

/** A's drill-down against B: SUMS from A, B's reply, A's plan. */
function drill(a: StateHash, b: StateHash, budget: EntryBudget) {
  const request = sumsRequest(CLUSTER, a);
  const reply = sumsReply(CLUSTER, b, request, budget);
  const plan = reply === null ? null : planSyn7(a, reply, budget);
  return { request, reply, plan };
}

function sortedUnique(xs: number[]): number[] {
  return [...new Set(xs)].sort((x, y) => x - y);
}

test('two memberships differing in d members: the drill-down finds exactly the leaves holding them', () => {
  fc.assert(
    fc.property(fc.integer({ min: 129, max: 3000 }), fc.integer({ min: 1, max: 12 }), fc.nat(), (n, d, seed) => {
      const { a, b, differing } = pair(n, d, seededRandom(seed));
      const ha = StateHash.of(a.values());
      const hb = StateHash.of(b.values());
      assert.notEqual(ha.hash, hb.hash);
      const { request, reply, plan } = drill(ha, hb, UNLIMITED);
      assert.equal(request.sums.length, 16);
      assert.ok(reply !== null && plan !== null);
      const expectedLevel1 = sortedUnique(differing.map((r) => level1Of(leafOf(r))));
      const mask = expectedLevel1.reduce((m, i) => m | (1 << i), 0);
      assert.equal(reply.mask, mask);
      assert.equal(reply.sums.length, 16 * expectedLevel1.length);
      assert.deepEqual(plan.leaves, sortedUnique(differing.map(leafOf)));
      // The entries A would send are A's members in those leaves, found by ref range.
      let inLeaves = 0;
      for (const r of a.keys()) {
        if (plan.leaves.some((leaf) => r >= leafRefRange(leaf)[0] && r < leafRefRange(leaf)[1])) inLeaves++;
      }
      assert.equal(plan.entries, inLeaves);
      assert.equal(plan.streamWanted, false);
      // After A learns B's differing members (B's entries replace A's), the states agree: nothing more to drill.
      const merged = new Map(a);
      for (const r of differing) {
        const e = b.get(r);
        if (e === undefined) merged.delete(r);
        else merged.set(r, e);
      }
      assert.equal(sumsReply(CLUSTER, hb, sumsRequest(CLUSTER, StateHash.of(merged.values())), UNLIMITED), null);
    }),
    { numRuns: 60 },
  );
});

test('the byte budget: the plan asks for a stream exactly when its entries exceed it', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 129, max: 2000 }),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 0, max: 3000 }),
      fc.nat(),
      (n, d, budgetBytes, seed) => {
        const { a, b } = pair(n, d, seededRandom(seed));
        const budget = { entryBytes: 10, budgetBytes };
        const ha = StateHash.of(a.values());
        const hb = StateHash.of(b.values());
        const { reply, plan } = drill(ha, hb, budget);
        assert.ok(reply !== null && plan !== null);
        const exceeds = plan.entries * 10 > budgetBytes;
        if (exceeds) assert.equal(plan.streamWanted, true);
        else assert.equal(plan.streamWanted, reply.streamWanted);
        // The reply's early call is a lower bound: when it asks for a stream, one side's entries in the differing
        // leaves (what the SYN7 or the SYN-ACK7 would carry) do exceed the budget.
        if (reply.streamWanted) {
          let bEntries = 0;
          for (const leaf of plan.leaves) bEntries += hb.leafCount(leaf);
          assert.ok(!fitsBudget(Math.max(plan.entries, bEntries), budget), `${plan.entries} ${bEntries}`);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('the reply asks for a stream when the member counts alone show too much to send', () => {
  const rng = seededRandom(5);
  const { a } = pair(1000, 0, rng);
  const b = new Map([...a].slice(0, 700));
  const reply = sumsReply(CLUSTER, StateHash.of(b.values()), sumsRequest(CLUSTER, StateHash.of(a.values())), {
    entryBytes: 10,
    budgetBytes: 1300,
  });
  assert.ok(reply !== null);
  assert.equal(reply.streamWanted, true);
});

test('N <= 128 skips the sums; such a SYN7 with every entry fits a 1400-byte packet', () => {
  assert.equal(sendsAllEntries(SMALL_MEMBERSHIP), true);
  assert.equal(sendsAllEntries(SMALL_MEMBERSHIP + 1), false);
  assert.equal(sendsAllEntries(2), true);
  const rng = seededRandom(6);
  const entries = Array.from({ length: SMALL_MEMBERSHIP }, () => randomEntry(rng));
  const bytes = syn7Bytes(CLUSTER, SMALL_MEMBERSHIP, entries);
  assert.ok(bytes <= 1400 - 4 - 28, `${bytes}`);
});

test('malformed SUMS are dropped, not trusted', () => {
  const rng = seededRandom(8);
  const { a, b } = pair(500, 3, rng);
  const ha = StateHash.of(a.values());
  const hb = StateHash.of(b.values());
  const request = sumsRequest(CLUSTER, ha);
  assert.equal(sumsReply(CLUSTER, hb, { ...request, sums: Array.from(request.sums).slice(0, 15) }, UNLIMITED), null);
  assert.equal(sumsReply(CLUSTER, hb, { ...request, level: 2 }, UNLIMITED), null);
  assert.equal(sumsReply(CLUSTER, hb, { ...request, reply: true }, UNLIMITED), null);
  const bad = Float64Array.from(request.sums);
  bad[3] = 2 ** 48;
  assert.equal(sumsReply(CLUSTER, hb, { ...request, sums: bad }, UNLIMITED), null);
  const reply = sumsReply(CLUSTER, hb, request, UNLIMITED);
  assert.ok(reply !== null);
  assert.equal(planSyn7(ha, { ...reply, mask: reply.mask | 0x10000 }, UNLIMITED), null);
  assert.equal(planSyn7(ha, { ...reply, sums: [...Array.from(reply.sums), 0] }, UNLIMITED), null);
  assert.equal(planSyn7(ha, request, UNLIMITED), null, 'a request is not a reply');
  assert.equal(differingLevel1(ha.level1Sums(), ha.level1Sums()), 0);
  assert.equal(request.mask, ALL_LEVEL1);
});

test('leaf ref ranges tile the ref space and agree with leafOf', () => {
  assert.deepEqual(leafRefRange(0), [0, 2 ** 40]);
  assert.equal(leafRefRange(255)[1], 2 ** 48);
  fc.assert(
    fc.property(fc.tuple(fc.nat(0xffff), fc.nat(0xffffffff)), ([hi, lo]) => {
      const r = hi * 2 ** 32 + lo;
      const [from, to] = leafRefRange(leafOf(r));
      assert.ok(r >= from && r < to);
    }),
  );
});

test('leafSpan finds the members of a leaf in a ref-sorted list', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 3000 }), fc.nat(), fc.nat(255), (n, seed, leaf) => {
      const rng = seededRandom(seed);
      const refs = Array.from({ length: n }, () => randomRef(rng)).sort((x, y) => x - y);
      // Crowd one leaf, so the span is often long and touches both ends of the list.
      if (n > 0 && rng.next() < 0.5) refs[0] = leafRefRange(leaf)[0];
      refs.sort((x, y) => x - y);
      const [from, to] = leafSpan((i) => refs[i] as number, refs.length, leaf);
      const expected = refs.flatMap((r, i) => (leafOf(r) === leaf ? [i] : []));
      assert.equal(to - from, expected.length);
      if (expected.length > 0) assert.equal(from, expected[0]);
    }),
    { numRuns: 200 },
  );
});

test('beats: a drill-down after two differing beats in a row, then not again within the quiet interval', () => {
  const t = new BeatHashTracker(1000);
  const peer = 42;
  assert.equal(t.onBeat(peer, 5, 5, 0), false);
  assert.equal(t.onBeat(peer, 6, 5, 1000), false, 'one differing beat: news may be in flight');
  assert.equal(t.onBeat(peer, 6, 5, 2000), true);
  assert.equal(t.onBeat(peer, 6, 5, 2500), false);
  assert.equal(t.onBeat(peer, 6, 5, 2900), false, 'within the quiet interval of the drill-down');
  assert.equal(t.onBeat(peer, 6, 5, 3100), true);
  // An equal beat breaks the streak.
  assert.equal(t.onBeat(peer, 6, 5, 5000), false);
  assert.equal(t.onBeat(peer, 7, 7, 6000), false);
  assert.equal(t.onBeat(peer, 8, 7, 7000), false);
  assert.equal(t.onBeat(peer, 8, 7, 8000), true);
  // An exchange (news, say) restarts both the streak and the quiet interval.
  assert.equal(t.onBeat(peer, 9, 7, 9500), false);
  t.noteExchange(peer, 9600);
  assert.equal(t.onBeat(peer, 9, 7, 10_000), false);
  assert.equal(t.onBeat(peer, 9, 7, 10_500), false, 'two in a row, but within the quiet interval');
  assert.equal(t.onBeat(peer, 9, 7, 10_700), true);
  // Neighbours are tracked apart; a forgotten one starts afresh.
  assert.equal(t.onBeat(1, 2, 3, 0), false);
  assert.equal(t.onBeat(2, 2, 3, 0), false);
  assert.equal(t.onBeat(1, 2, 3, 1000), true);
  t.forget(2);
  assert.equal(t.size, 2);
  assert.equal(t.onBeat(2, 2, 3, 1000), false);
});

test('beats: any sequence never drills down without two differing beats in a row, nor twice within the interval', () => {
  const beat = fc.record({ peer: fc.nat(3), differs: fc.boolean(), dt: fc.nat(700), exchange: fc.boolean() });
  fc.assert(
    fc.property(fc.array(beat, { maxLength: 200 }), (beats) => {
      const quiet = 1000;
      const t = new BeatHashTracker(quiet);
      const prevDiffered = new Map<number, boolean>();
      const lastExchange = new Map<number, number>();
      let now = 0;
      let drills = 0;
      for (const b of beats) {
        now += b.dt;
        if (b.exchange) {
          t.noteExchange(b.peer, now);
          lastExchange.set(b.peer, now);
          prevDiffered.set(b.peer, false);
        }
        const go = t.onBeat(b.peer, b.differs ? 1 : 0, 0, now);
        if (go) {
          drills++;
          assert.ok(b.differs && prevDiffered.get(b.peer) === true, 'two differing beats in a row');
          assert.ok(now - (lastExchange.get(b.peer) ?? -Infinity) >= quiet, 'quiet interval');
          lastExchange.set(b.peer, now);
        }
        prevDiffered.set(b.peer, b.differs && !go);
      }
      // Liveness: a neighbour that keeps differing, beating every 400 ms with no exchange, is drilled within 3 s.
      const start = now;
      let fired = false;
      for (let k = 1; k <= 8 && !fired; k++) fired = t.onBeat(0, 1, 0, start + 400 * k);
      assert.ok(fired, `a differing neighbour is drilled within 3.2 s (${drills} drills before)`);
    }),
    { numRuns: 300 },
  );
});

/** Bytes of a SUMS body (type code included) as docs/design/liveness-7.md lays it out. */
function sumsBytes(clusterId: string, memberCount: number, sums: number): number {
  return 1 + stringSize(clusterId) + 1 + HASH_BYTES + varintSize(memberCount) + 1 + 2 + sums * HASH_BYTES;
}

/** Bytes of a SYN7 body carrying these digest7 entries (epoch 0). */
function syn7Bytes(clusterId: string, memberCount: number, entries: readonly StateEntry[]): number {
  let digest = 1 + varintSize(entries.length);
  for (const e of entries) {
    digest += 6 + varintSize(e.incarnation) + varintSize(e.maxVersion) + varintSize(e.gcVersion);
    digest += varintSize(e.reportVersion);
  }
  return 1 + stringSize(clusterId) + HASH_BYTES + varintSize(memberCount) + varintSize(0) + digest;
}

test('bytes of a drill-down for one differing member at N = 10,000', () => {
  const n = 10_000;
  const rows: string[] = [];
  let worst = 0;
  for (let seed = 1; seed <= 5; seed++) {
    const { a, b } = pair(n - 1, 1, seededRandom(seed));
    const ha = StateHash.of(a.values());
    const hb = StateHash.of(b.values());
    const budget = { entryBytes: 10, budgetBytes: 1400 - 4 - 60 };
    const { request, reply, plan } = drill(ha, hb, budget);
    assert.ok(reply !== null && plan !== null);
    assert.equal(plan.leaves.length, 1);
    assert.equal(plan.streamWanted, false);
    const sent = [...a.values()].filter((e) => plan.leaves.includes(leafOf(e.ref)));
    const s1 = sumsBytes(CLUSTER, request.memberCount, request.sums.length);
    const s2 = sumsBytes(CLUSTER, reply.memberCount, reply.sums.length);
    const s3 = syn7Bytes(CLUSTER, ha.size, sent);
    assert.equal(s1, 117, 'the design table: 117 B at level 1 with cluster id "default"');
    assert.equal(s2, 117, 'one level-1 bucket expanded: 16 leaf sums');
    // One leaf holds about N / 256 = 39 entries of about 10 B.
    assert.ok(sent.length > 10 && sent.length < 80, `${sent.length}`);
    worst = Math.max(worst, s1 + s2 + s3);
    rows.push(`seed ${seed}: SUMS ${s1} B + reply ${s2} B + SYN7 ${s3} B (${sent.length} entries) = ${s1 + s2 + s3} B`);
  }
  console.log(`drill-down, 1 member of 10,000 differing (before the SYN-ACK7's delta):\n  ${rows.join('\n  ')}`);
  assert.ok(worst < 1400, 'three messages of at most a packet each, about 0.7 KB in all');
});
