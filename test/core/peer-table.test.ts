import assert from 'node:assert/strict';
import { test } from 'node:test';
import { identityRef } from '../../src/core/identity.js';
import { Journal } from '../../src/core/journal.js';
import { Membership } from '../../src/core/membership.js';
import { MAX_MARK_EPOCH, PeerTable } from '../../src/core/peer-table.js';
import { identitySize } from '../../src/wire/codec.js';

test('peer table: identity sizes small and large, kept through growth and renumbering', () => {
  const t = new PeerTable(10, 2);
  const ids = [10, 200, 253, 254, 255, 300, 1000].map((n, i) => ({
    id: 'x'.repeat(n),
    generation: i + 1,
    address: `10.0.0.${i}:9111`,
  }));
  const slots = ids.map((id, i) => t.allocate(id, i));
  slots.forEach((s, i) => assert.equal(t.identitySize(s), identitySize(ids[i]!)));
  const order = Int32Array.from(slots).reverse();
  t.permute(order);
  order.forEach((old, k) => {
    assert.equal(t.identity(k), ids[old]);
    assert.equal(t.identitySize(k), identitySize(ids[old]!));
  });
  assert.ok(t.records.length >= t.used);
});

const member = (i: number): { id: string; generation: number; address: string } => ({
  id: `m${i}`,
  generation: 1,
  address: `10.0.1.${i}:9111`,
});

test('peer table: key-value maps only for members that have keys, moved with their members and dropped with them', () => {
  const t = new PeerTable(10, 2);
  const slots = [0, 1, 2, 3, 4].map((i) => t.allocate(member(i), i));
  const a = new Map([['k', { value: 'a', version: 1, tombstone: false, expiresAt: Infinity, deletedAt: 0 }]]);
  const b = new Map([['k', { value: 'b', version: 1, tombstone: false, expiresAt: Infinity, deletedAt: 0 }]]);
  t.values.set(slots[1]!, a);
  t.values.set(slots[3]!, b);
  assert.equal(t.values.size, 2, 'no entry for the members without keys');
  t.release(slots[1]!);
  assert.equal(t.values.get(slots[1]!), undefined, 'released with its member');
  const reused = t.allocate(member(9), 9);
  assert.equal(reused, slots[1], 'the free slot is reused');
  assert.equal(t.values.get(reused), undefined, 'a new member starts without the old one’s keys');
  t.values.set(reused, a);
  // Reversed after self: the member with b (old slot 3) moves to slot 2, the one with a (old slot 1) to slot 4.
  t.permute(Int32Array.from([0, 4, 3, 2, 1]));
  assert.equal(t.values.get(2), b);
  assert.equal(t.values.get(4), a);
  assert.equal(t.values.size, 2);
});

test('peer table: the mode-6 columns exist only once written, read as a new member’s before and after, and follow growth and renumbering', () => {
  const t = new PeerTable(10, 2);
  const slots = [0, 1, 2].map((i) => t.allocate(member(i), i));
  assert.equal(t.hasMode6Columns, false);
  const fresh = (s: number): number[] => [
    t.heartbeat(s),
    t.birth(s),
    t.deadline(s),
    t.lagAllowance(s),
    t.intervalCount(s),
    t.intervalMean(s),
    t.intervalStd(s),
  ];
  const NEW = [0, 0, Infinity, 0, 0, 0, 0];
  for (const s of slots) assert.deepEqual(fresh(s), NEW);
  t.restartSampling(slots[1]!);
  assert.equal(t.hasMode6Columns, false, 'reads and resets allocate nothing');
  t.setHeartbeat(slots[1]!, 7);
  assert.equal(t.hasMode6Columns, true);
  assert.deepEqual(fresh(slots[2]!), NEW, 'the other members read as new ones');
  // The first measured birth anchors the sampling (no interval): as for a member allocated with the columns present.
  t.sampleBirth(slots[2]!, 5, 1000, 'measured');
  assert.equal(t.intervalCount(slots[2]!), 0);
  t.sampleBirth(slots[2]!, 7, 3000, 'measured');
  assert.deepEqual([t.intervalCount(slots[2]!), t.intervalMean(slots[2]!)], [1, 1000]);
  t.setDeadline(slots[2]!, 4500);
  // Growth (capacity 2 -> 3 -> 5) and renumbering carry the columns with their members.
  const more = [3, 4].map((i) => t.allocate(member(i), i));
  for (const s of more) assert.deepEqual(fresh(s), NEW);
  t.permute(Int32Array.from([0, 2, 1, 3, 4]));
  assert.deepEqual([t.heartbeat(2), t.heartbeat(1), t.deadline(1), t.intervalMean(1)], [7, 0, 4500, 1000]);
  t.dropMode6Columns();
  assert.equal(t.hasMode6Columns, false);
  for (let s = 0; s < t.used; s++) assert.deepEqual(fresh(s), NEW, 'dropped: every member reads as new');
});

test('peer table: tables handed the same identity and commitment objects share one record; other objects get their own', () => {
  const [x, y] = [new PeerTable(10, 4), new PeerTable(10, 4)];
  const id = member(1);
  const [sx, sy] = [x.allocate(id, 1), y.allocate(id, 1)];
  assert.equal(x.records[sx], y.records[sy], 'shared before any commitment');
  const c = Uint8Array.from([1, 2, 3]);
  x.setCommitment(sx, c);
  assert.equal(y.commitment(sy), null, 'a commitment heard by one table is not the other’s');
  y.setCommitment(sy, c);
  assert.equal(x.records[sx], y.records[sy], 'shared with the same commitment');
  const z = new PeerTable(10, 4);
  const sz = z.allocate(id, 1);
  const other = Uint8Array.from([9]);
  z.setCommitment(sz, other);
  assert.notEqual(z.records[sz], x.records[sx]);
  assert.equal(z.commitment(sz), other, 'a different commitment stays this table’s');
  assert.equal(x.commitment(sx), c);
  // An equal identity in another object (decoded afresh): the same fields, a record of its own.
  const w = new PeerTable(10, 4);
  const sw = w.allocate({ ...id }, 1);
  assert.notEqual(w.records[sw], x.records[sx]);
  assert.deepEqual(w.identity(sw), id);
  assert.equal(w.identitySize(sw), x.identitySize(sx));
});

test('membership: a fresh mark epoch never matches a mark left by an earlier one, across the one-byte wrap', () => {
  const m = new Membership({ journal: new Journal() }, { self: member(0), graceMs: 1000, window: 10, expected: 8 });
  for (let i = 1; i <= 5; i++) m.admit(member(i), identityRef(member(i)), 1, 0);
  const t = m.table;
  const seen = new Set<number>();
  for (let k = 0; k < 3 * MAX_MARK_EPOCH + 7; k++) {
    const epoch = m.nextEpoch();
    seen.add(epoch);
    for (let s = 0; s < t.used; s++) assert.notEqual(t.mark[s], epoch, `epoch ${epoch} (draw ${k}) found marked`);
    // The first few epochs each leave a mark that stays: their numbers come round again after the wrap.
    if (k < t.used) t.mark[k] = epoch;
  }
  assert.equal(seen.size, MAX_MARK_EPOCH, 'every epoch a byte holds is drawn, and reused');
});

test('peer table: a member’s report-signing key lives in its record, shared like the commitment and kept beside it', () => {
  const [x, y] = [new PeerTable(10, 4), new PeerTable(10, 4)];
  const id = member(2);
  const [sx, sy] = [x.allocate(id, 2), y.allocate(id, 2)];
  const key = Uint8Array.from([7, 7]);
  const c = Uint8Array.from([1]);
  assert.equal(x.publicKey(sx), null);
  x.setPublicKey(sx, key);
  x.setCommitment(sx, c);
  assert.equal(x.publicKey(sx), key, 'a commitment noted later keeps the key');
  y.setCommitment(sy, c);
  y.setPublicKey(sy, key);
  assert.equal(y.commitment(sy), c, 'a key noted later keeps the commitment');
  assert.equal(x.records[sx], y.records[sy], 'the same key and commitment objects: one record');
  x.release(sx);
  assert.equal(x.publicKey(sx), null, 'a free slot holds no key');
  assert.equal(x.publicKey(x.allocate(id, 2)), null, 'a slot allocated again starts without one');
});

test('membership: fresh heartbeats revive a dead member only while its revivesOnHeartbeat says so, asked each time', () => {
  let revives = true;
  const m = new Membership(
    { journal: new Journal(), revivesOnHeartbeat: () => revives },
    { self: member(0), graceMs: 1000, window: 10, expected: 8 },
  );
  const s = m.admit(member(1), identityRef(member(1)), 5, 0);
  m.convict(s, 'suspected', 10);
  assert.equal(m.mayRevive(s, 6), false, 'one heartbeat past the conviction is stale gossip');
  assert.equal(m.mayRevive(s, 7), true);
  revives = false; // Mode 7 runs: only a refutation brings a member back.
  assert.equal(m.mayRevive(s, 7), false);
  assert.equal(m.mayRevive(s, 1000), false);
  revives = true;
  assert.equal(m.mayRevive(s, 7), true, 'the answer is not kept: back in mode 6, heartbeats revive again');
  const plain = new Membership({ journal: new Journal() }, { self: member(0), graceMs: 1000, window: 10, expected: 8 });
  const p = plain.admit(member(1), identityRef(member(1)), 5, 0);
  plain.convict(p, 'suspected', 10);
  assert.equal(plain.mayRevive(p, 7), true, 'without a liveness switch, mode 6 rule: heartbeats revive');
});
