import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Candidate7 } from '../../src/core/digest7.js';
import { SELF } from '../../src/core/membership.js';
import { DEAD, LIVE } from '../../src/core/peer-table.js';
import { nodeDeltas7Bytes } from '../../src/wire/liveness-sizes.js';
import type { NodeDelta7 } from '../../src/wire/liveness-messages.js';
import { fakeSignature, identityOf, introductions, keyOf, Node7, secretOf } from './state7-node.js';

function candidate(slot: number, over: Partial<Candidate7> = {}): Candidate7 {
  return {
    slot,
    fromVersion: 0,
    receiverGc: 0,
    receiverIncarnation: 1,
    receiverReportVersion: 0,
    introduce: false,
    staleness: 0,
    ...over,
  };
}

/** n holding owner o (introduced by o's own delta). */
function pair(o = new Node7(1)): { n: Node7; o: Node7; s: number } {
  const n = new Node7(0);
  n.deltas.apply(introductions(o), 0, o.membership.self.address);
  return { n, o, s: n.membership.slotOfRef(o.ref) };
}

test('pack: within the budget, each member a prefix of what the receiver lacks, in version order', () => {
  const o = new Node7(1);
  for (let i = 0; i < 30; i++) o.own.set(`key${i % 12}`, 'x'.repeat(i), i);
  o.own.delete('key3', 40);
  const max = o.membership.table.maxVersion(SELF);
  const carried = new Set<number>();
  for (let budget = 0; budget < 900; budget += 7) {
    for (const from of [0, 5, 20]) {
      const nodes = o.deltas.pack([candidate(SELF, { fromVersion: from })], budget);
      assert.ok(nodes.length === 0 || nodeDeltas7Bytes(nodes) <= budget, `budget ${budget}`);
      for (const nd of nodes) carried.add(nd.values.length);
      for (const nd of nodes) {
        const versions = nd.values.map((v) => v.version);
        const want = [...(o.membership.table.values.get(SELF) ?? new Map()).values()]
          .map((v) => v.version)
          .filter((v) => v > from && v <= nd.maxVersion);
        assert.deepEqual(versions, want, 'every version from `from` up to its maxVersion, ascending');
        assert.ok(nd.maxVersion <= max);
      }
    }
  }
  assert.ok(carried.size > 5, 'budgets cut at many places');
});

test('pack: introductions carry identity, commitment and key; report sets when behind; the leave proof', () => {
  const o = new Node7(1);
  o.publishReports();
  const [intro] = o.deltas.pack([candidate(SELF, { introduce: true, receiverIncarnation: 0 })], 1 << 20);
  assert.deepEqual(intro?.identity, identityOf(1));
  assert.deepEqual(intro?.publicKey, keyOf(1));
  assert.equal(intro?.commitment?.length, 16);
  assert.equal(intro?.reports?.version, 1);
  const [known] = o.deltas.pack([candidate(SELF, { receiverReportVersion: 1 })], 1 << 20);
  assert.equal(known?.identity, null);
  assert.equal(known?.publicKey, undefined);
  assert.equal(known?.reports, undefined, 'no report set for a receiver that holds its version');
  o.leave();
  const [gone] = o.deltas.pack([candidate(SELF, { receiverReportVersion: 1 })], 1 << 20);
  assert.deepEqual(gone?.left, secretOf(1));
  assert.equal(gone?.incarnation, 2);
});

test("pack and apply: a receiver behind the owner's tombstone GC gets everything again from version 0", () => {
  const { n, o, s } = pair();
  o.own.set('a', '1', 0);
  o.own.set('b', '2', 0);
  n.deltas.apply(introductions(o), 0, 'x:1'); // n holds a and b (versions 1, 2)
  o.own.delete('a', 10);
  o.own.set('c', '3', 20);
  o.own.expire(5000); // the tombstone of a is collected: GC version 3
  const t = o.membership.table;
  assert.equal(t.gcVersion(SELF), 3);
  const [nd] = o.deltas.pack([candidate(SELF, { fromVersion: 2, receiverGc: 0 })], 1 << 20);
  assert.equal(nd?.fromVersion, 0, 'a reset');
  assert.deepEqual(
    nd?.values.map((v) => v.key),
    ['b', 'c'],
  );
  n.deltas.apply(nd ? [nd] : [], 6000, 'x:1');
  const map = n.membership.table.values.get(s);
  assert.deepEqual([...(map ?? new Map()).keys()].sort(), ['b', 'c'], 'the collected key is gone here too');
  assert.equal(n.membership.table.gcVersion(s), 3);
  n.assertHashInStep();
});

test('apply: the first key heard for a member is kept; a set signed with another key is refused', () => {
  const { n, o, s } = pair();
  const [intro] = introductions(o) as [NodeDelta7];
  const impostor = new Uint8Array(32).fill(99);
  n.deltas.apply([{ ...intro, publicKey: impostor }], 1, 'x:1');
  assert.deepEqual(n.state.publicKey(s), keyOf(1));
  const forged = { version: 1, censusEpoch: 0, records: [], signature: fakeSignature(impostor, 1) };
  n.deltas.apply([{ ...intro, identity: null, reports: forged }], 2, 'x:1');
  assert.equal(n.membership.table.reportVersion(s), 0);
  assert.equal(n.deltas.dropped()['report-refused'], 1);
  o.publishReports();
  n.deltas.apply(introductions(o), 3, 'x:1');
  assert.equal(n.membership.table.reportVersion(s), 1);
  n.assertHashInStep();
});

test('apply: a leave proof that does not open the commitment is refused; the true one makes the member left', () => {
  const { n, o, s } = pair();
  const [intro] = introductions(o) as [NodeDelta7];
  n.deltas.apply([{ ...intro, incarnation: 2, left: new Uint8Array(16).fill(1) }], 1, 'x:1');
  assert.equal(n.journal.rejections()['forged-leave'], 1);
  assert.equal(n.membership.table.left[s], 0);
  assert.equal(n.membership.table.status[s], LIVE);
  assert.equal(n.state.leaveSecret(s), undefined);
  o.leave();
  n.deltas.apply(introductions(o), 2, 'x:1');
  assert.equal(n.membership.table.left[s], 1);
  assert.equal(n.membership.table.status[s], DEAD);
  assert.deepEqual(n.state.leaveSecret(s), secretOf(1));
  n.assertHashInStep();
});

test('apply: incarnations max-merge; a leap past the plausible is refused whole', () => {
  const { n, o, s } = pair();
  const [intro] = introductions(o) as [NodeDelta7];
  const t = n.membership.table;
  n.deltas.apply([{ ...intro, incarnation: 7 }], 1, 'x:1');
  assert.equal(t.incarnation(s), 7);
  n.deltas.apply([{ ...intro, incarnation: 3 }], 2, 'x:1');
  assert.equal(t.incarnation(s), 7, 'an older incarnation changes nothing');
  n.deltas.apply(
    [
      {
        ...intro,
        incarnation: 7 + 70_000,
        values: [{ key: 'a', value: 'b', version: 1, tombstone: false }],
        maxVersion: 1,
      },
    ],
    3,
    'x:1',
  );
  assert.equal(t.incarnation(s), 7);
  assert.equal(t.maxVersion(s), 0, 'nothing of a refused delta applied');
  assert.equal(n.journal.rejections()['implausible-heartbeat'], 1);
});

test('apply: member limits and new members per sender, as protocol 6 applies them', () => {
  const capped = new Node7(0, { limits: { maxMembers: 3, maxNewPerSender: 100, intervalMs: 1000 } });
  for (let i = 1; i <= 4; i++) capped.deltas.apply(introductions(new Node7(i)), 0, `s${i}:1`);
  assert.equal(capped.membership.size, 3);
  assert.equal(capped.journal.rejections()['member-limit'], 2);
  const paced = new Node7(0, { limits: { maxMembers: 100, maxNewPerSender: 2, intervalMs: 1000 } });
  const fromOne = [1, 2, 3].flatMap((i) => introductions(new Node7(i)));
  paced.deltas.apply(fromOne, 0, 'one:1');
  assert.equal(paced.membership.size, 3);
  assert.equal(paced.journal.rejections()['introduction-limit'], 1);
  paced.deltas.apply(introductions(new Node7(3)), 1000, 'one:1');
  assert.equal(paced.membership.size, 4, 'the next interval admits again');
});

test('apply: state about ourselves is refuted, never taken', () => {
  const n = new Node7(0);
  n.own.set('a', '1', 0);
  const [me] = introductions(n) as [NodeDelta7];
  n.deltas.apply(
    [{ ...me, incarnation: 5, maxVersion: 9, values: [{ key: 'b', value: 'x', version: 9, tombstone: false }] }],
    1,
    'x:1',
  );
  assert.deepEqual(n.reports.claims, [5]);
  assert.equal(n.journal.rejections()['refuted-version'], 1);
  assert.ok(n.membership.table.maxVersion(SELF) > 9, 'our versions went past the forged ones');
  assert.equal(n.own.get('b'), undefined);
  n.assertHashInStep();
});

const bytes = (n: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: n, maxLength: n });
const counter = fc.oneof(fc.nat(8), fc.nat(), fc.constantFrom(2 ** 32 - 1, 2 ** 32, 2 ** 40));

test('property: random and lying node deltas never throw, never break the prefix invariant or the hash', () => {
  const owners = Array.from({ length: 6 }, (_, i) => new Node7(i + 1));
  const ref = fc.oneof(fc.constantFrom(...owners.map((o) => o.ref)), fc.integer({ min: 0, max: 2 ** 48 - 1 }));
  const value = fc.record({
    key: fc.constantFrom('a', 'b', 'c'),
    value: fc.string({ maxLength: 3 }),
    version: counter,
    tombstone: fc.boolean(),
  });
  const delta: fc.Arbitrary<NodeDelta7> = fc.record(
    {
      ref,
      identity: fc.option(fc.constantFrom(...owners.map((_, i) => identityOf(i + 1)), identityOf(50))),
      incarnation: counter,
      lastGcVersion: fc.oneof(fc.nat(8), counter),
      fromVersion: fc.oneof(fc.constant(0), counter),
      maxVersion: counter,
      values: fc.array(value, { maxLength: 4 }),
      commitment: fc.option(bytes(16), { nil: undefined }),
      publicKey: fc.option(fc.oneof(bytes(32), bytes(3)), { nil: undefined }),
      reports: fc.option(
        fc.record({ version: counter, censusEpoch: fc.nat(3), records: fc.constant([]), signature: bytes(64) }),
        { nil: undefined },
      ),
      left: fc.option(fc.oneof(bytes(16), fc.constantFrom(...owners.map((_, i) => secretOf(i + 1)))), {
        nil: undefined,
      }),
    },
    { requiredKeys: ['ref', 'identity', 'incarnation', 'lastGcVersion', 'fromVersion', 'maxVersion', 'values'] },
  );
  fc.assert(
    fc.property(
      fc.array(fc.oneof(delta, fc.constantFrom(...owners.flatMap(introductions))), { maxLength: 30 }),
      (nodes) => {
        const n = new Node7(0);
        let now = 0;
        for (const nd of nodes) n.deltas.apply([nd], (now += 100), 'x:1');
        n.assertHashInStep();
        const t = n.membership.table;
        for (const s of n.slots()) {
          let prev = 0;
          for (const v of (t.values.get(s) ?? new Map()).values()) {
            assert.ok(v.version > prev, 'values in ascending version order');
            assert.ok(v.version <= t.maxVersion(s), 'no value above the max version');
            assert.ok(!(v.tombstone && v.version <= t.gcVersion(s)), 'no tombstone the GC dropped');
            prev = v.version;
          }
          assert.ok(t.incarnation(s) <= 2 ** 32 - 1);
          const key = n.state.publicKey(s);
          assert.ok(key === undefined || key.length === 32);
        }
      },
    ),
    { numRuns: 300 },
  );
});
