import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildDigest7, compareDigest7, request7, slotsOfLeaves } from '../../src/core/digest7.js';
import { SELF } from '../../src/core/membership.js';
import { leafOf } from '../../src/core/state-hash.js';
import { digest7Bytes } from '../../src/wire/liveness-sizes.js';
import type { Digest7 } from '../../src/wire/liveness-messages.js';
import { introductions, Node7 } from './state7-node.js';

/** n holding owners 1..count (each introduced by its own delta). */
function holding(count: number): { n: Node7; owners: Node7[] } {
  const n = new Node7(0);
  const owners = Array.from({ length: count }, (_, i) => new Node7(i + 1));
  for (const o of owners) n.deltas.apply(introductions(o), 0, o.membership.self.address);
  return { n, owners };
}

function digestOf(entries: readonly (readonly [number, number, number, number, number])[], complete = false): Digest7 {
  return {
    complete,
    hot: false,
    count: entries.length,
    refs: entries.map((e) => e[0]),
    incarnations: entries.map((e) => e[1]),
    maxVersions: entries.map((e) => e[2]),
    gcVersions: entries.map((e) => e[3]),
    reportVersions: entries.map((e) => e[4]),
  };
}

test('a digest7 takes the longest prefix of its members that fits the budget, complete only when whole and all fit', () => {
  const { n } = holding(40);
  const slots = n.slots();
  for (const budget of [0, 5, 11, 30, 100, 200, 399, 1000]) {
    const d = buildDigest7(n.membership.table, slots, budget, { hot: true, whole: true });
    assert.ok(digest7Bytes(d) <= budget || d.count === 0, `budget ${budget}: ${digest7Bytes(d)} B`);
    assert.deepEqual(
      d.refs,
      slots.slice(0, d.count).map((s) => n.membership.table.ref(s)),
    );
    assert.equal(d.complete, d.count === slots.length);
    assert.equal(d.hot, true);
    if (d.count < slots.length) {
      // The next entry would not have fitted.
      const more = buildDigest7(n.membership.table, slots.slice(0, d.count + 1), 1 << 20, { hot: true });
      assert.ok(digest7Bytes(more) > budget - 1 || d.count === 0);
    }
  }
  const part = buildDigest7(n.membership.table, slots.slice(0, 3), 1 << 20, { hot: false });
  assert.equal(part.complete, false, 'not whole: never complete');
});

test('slotsOfLeaves lists exactly our members in the given leaves, in ref order', () => {
  const { n } = holding(60);
  const t = n.membership.table;
  const leaves = [...new Set(n.slots().map((s) => leafOf(t.ref(s))))].slice(0, 5).sort((x, y) => x - y);
  const got = slotsOfLeaves(n.membership, leaves);
  const want = n
    .slots()
    .filter((s) => leaves.includes(leafOf(t.ref(s))))
    .sort((x, y) => t.ref(x) - t.ref(y));
  assert.deepEqual(got, want);
  assert.deepEqual(slotsOfLeaves(n.membership, []), []);
});

test('compareDigest7: who lacks what, by each column; unknown refs requested unless removed here', () => {
  const { n, owners } = holding(6);
  const t = n.membership.table;
  const slot = (o: Node7): number => n.membership.slotOfRef(o.ref);
  const [o1, o2, o3, o4, o5, o6] = owners as [Node7, Node7, Node7, Node7, Node7, Node7];
  t.setMaxVersion(slot(o1), 5);
  t.setReportVersion(slot(o2), 2);
  t.setGcVersion(slot(o3), 4);
  t.setMaxVersion(slot(o3), 6);
  const gone = slot(o6);
  n.membership.convict(gone, 'suspected', 0);
  n.membership.removeIfDue(gone, 1e9);
  const stranger = new Node7(77).ref;
  const d = digestOf([
    [o1.ref, 1, 2, 0, 0], // behind on versions: send from 2
    [o2.ref, 1, 0, 0, 0], // behind on the report set
    [o3.ref, 1, 1, 0, 0], // behind our GC: a reset
    [o4.ref, 3, 0, 0, 0], // ahead by incarnation: request
    [o5.ref, 0, 0, 0, 0], // knows nothing of it: introduce
    [o6.ref, 9, 9, 0, 0], // removed here: ignored
    [stranger, 1, 0, 0, 0], // unknown: request by ref
    [n.ref, 1, 0, 0, 0], // ourselves, equal: nothing
  ]);
  const found = compareDigest7(n.membership, d, n.membership.nextEpoch());
  assert.deepEqual(found.requestRefs, [o4.ref, stranger]);
  assert.deepEqual(found.request, [slot(o4), -1]);
  const send = new Map(found.send.map((c) => [c.slot, c]));
  assert.deepEqual([...send.keys()].sort(), [slot(o1), slot(o2), slot(o3), slot(o5)].sort());
  assert.equal(send.get(slot(o1))?.fromVersion, 2);
  assert.equal(send.get(slot(o1))?.introduce, false);
  assert.equal(send.get(slot(o2))?.receiverReportVersion, 0);
  assert.equal(send.get(slot(o3))?.receiverGc, 0);
  assert.equal(send.get(slot(o5))?.introduce, true);
  // A claim about us above ours is requested, so that it reaches us and is refuted.
  const claim = compareDigest7(n.membership, digestOf([[n.ref, 5, 0, 0, 0]]), n.membership.nextEpoch());
  assert.deepEqual(claim.request, [SELF]);
  // The request lists our values, and 0 for the ref we do not know ("send its identity").
  const req = request7(t, found, 1 << 20);
  assert.deepEqual(req.refs, [o4.ref, stranger]);
  assert.deepEqual(req.incarnations, [1, 0]);
});

test('compareDigest7: a complete digest that leaves out our live members introduces them; an incomplete one does not', () => {
  const { n, owners } = holding(4);
  const [o1] = owners as [Node7];
  const named = digestOf([[o1.ref, 1, 0, 0, 0]], true);
  const found = compareDigest7(n.membership, named, n.membership.nextEpoch());
  const introduced = found.send.filter((c) => c.introduce).map((c) => n.membership.table.ref(c.slot));
  assert.deepEqual(introduced.sort(), [n.ref, ...owners.slice(1).map((o) => o.ref)].sort());
  const partial = compareDigest7(n.membership, { ...named, complete: false }, n.membership.nextEpoch());
  assert.deepEqual(partial.send, []);
});

test('compareDigest7: a malformed digest finds nothing', () => {
  const { n, owners } = holding(2);
  const o = (owners[0] as Node7).ref;
  for (const bad of [
    { ...digestOf([[o, 1, 0, 0, 0]]), count: 2 },
    digestOf([[o, -1, 0, 0, 0]]),
    digestOf([[o, 1, 0.5, 0, 0]]),
    digestOf([[o, 1, 0, Number.NaN, 0]]),
  ]) {
    const found = compareDigest7(n.membership, bad, n.membership.nextEpoch());
    assert.deepEqual(found, { request: [], requestRefs: [], send: [] });
  }
});
