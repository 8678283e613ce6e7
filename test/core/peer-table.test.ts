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
  const slots = ids.map((id) => t.allocate(id));
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
  const slots = [0, 1, 2, 3, 4].map((i) => t.allocate(member(i)));
  const a = new Map([['k', { value: 'a', version: 1, tombstone: false, expiresAt: Infinity, deletedAt: 0 }]]);
  const b = new Map([['k', { value: 'b', version: 1, tombstone: false, expiresAt: Infinity, deletedAt: 0 }]]);
  t.values.set(slots[1]!, a);
  t.values.set(slots[3]!, b);
  assert.equal(t.values.size, 2, 'no entry for the members without keys');
  t.release(slots[1]!);
  assert.equal(t.values.get(slots[1]!), undefined, 'released with its member');
  const reused = t.allocate(member(9));
  assert.equal(reused, slots[1], 'the free slot is reused');
  assert.equal(t.values.get(reused), undefined, 'a new member starts without the old one’s keys');
  t.values.set(reused, a);
  // Reversed after self: the member with b (old slot 3) moves to slot 2, the one with a (old slot 1) to slot 4.
  t.permute(Int32Array.from([0, 4, 3, 2, 1]));
  assert.equal(t.values.get(2), b);
  assert.equal(t.values.get(4), a);
  assert.equal(t.values.size, 2);
});

test('peer table: the mode-6 columns exist only once written, read as a new member’s before and after, and follow growth and renumbering; heartbeats and births are always held', () => {
  const t = new PeerTable(10, 2);
  const slots = [0, 1, 2].map((i) => t.allocate(member(i)));
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
  t.shiftTimes(slots[1]!, 0);
  t.setHeartbeat(slots[1]!, 7);
  t.setBirth(slots[1]!, 500);
  assert.equal(t.hasMode6Columns, false, 'reads, resets, shifts, heartbeats and births allocate nothing');
  assert.deepEqual([t.heartbeat(slots[1]!), t.birth(slots[1]!), t.deadline(slots[1]!)], [7, 500, Infinity]);
  t.setLagAllowance(slots[1]!, 0);
  assert.equal(t.hasMode6Columns, true);
  assert.deepEqual(fresh(slots[2]!), NEW, 'the other members read as new ones');
  // The first measured birth anchors the sampling (no interval): as for a member allocated with the columns present.
  t.sampleBirth(slots[2]!, 5, 1000, 'measured');
  assert.equal(t.intervalCount(slots[2]!), 0);
  t.sampleBirth(slots[2]!, 7, 3000, 'measured');
  assert.deepEqual([t.intervalCount(slots[2]!), t.intervalMean(slots[2]!)], [1, 1000]);
  t.setDeadline(slots[2]!, 4500);
  // Growth (capacity 2 -> 3 -> 5) and renumbering carry the columns with their members.
  const more = [3, 4].map((i) => t.allocate(member(i)));
  for (const s of more) assert.deepEqual(fresh(s), NEW);
  t.permute(Int32Array.from([0, 2, 1, 3, 4]));
  assert.deepEqual([t.heartbeat(2), t.heartbeat(1), t.deadline(1), t.intervalMean(1)], [7, 0, 4500, 1000]);
  t.dropMode6Columns();
  assert.equal(t.hasMode6Columns, false);
  assert.deepEqual([t.heartbeat(2), t.birth(2)], [7, 500], 'heartbeats and births stay');
  t.setHeartbeat(2, 0);
  t.setBirth(2, 0);
  for (let s = 0; s < t.used; s++) assert.deepEqual(fresh(s), NEW, 'dropped: every member reads as new');
});

test('peer table: tables handed the same identity and commitment objects share one record; other objects get their own', () => {
  const [x, y] = [new PeerTable(10, 4), new PeerTable(10, 4)];
  const id = member(1);
  const [sx, sy] = [x.allocate(id), y.allocate(id)];
  assert.equal(x.records[sx], y.records[sy], 'shared before any commitment');
  const c = Uint8Array.from([1, 2, 3]);
  x.setCommitment(sx, c);
  assert.equal(y.commitment(sy), null, 'a commitment heard by one table is not the other’s');
  y.setCommitment(sy, c);
  assert.equal(x.records[sx], y.records[sy], 'shared with the same commitment');
  const z = new PeerTable(10, 4);
  const sz = z.allocate(id);
  const other = Uint8Array.from([9]);
  z.setCommitment(sz, other);
  assert.notEqual(z.records[sz], x.records[sx]);
  assert.equal(z.commitment(sz), other, 'a different commitment stays this table’s');
  assert.equal(x.commitment(sx), c);
  // An equal identity in another object (decoded afresh): the same fields, a record of its own.
  const w = new PeerTable(10, 4);
  const sw = w.allocate({ ...id });
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
  const [sx, sy] = [x.allocate(id), y.allocate(id)];
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
  assert.equal(x.publicKey(x.allocate(id)), null, 'a slot allocated again starts without one');
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

test('peer table: a slot’s ref is its identity’s, from the shared record; a released slot reads the one it held until reused or renumbered', () => {
  const t = new PeerTable(10, 2);
  const slots = [0, 1, 2, 3].map((i) => t.allocate(member(i)));
  slots.forEach((s, i) => assert.equal(t.ref(s), identityRef(member(i))));
  t.setCommitment(slots[1]!, new Uint8Array(32));
  assert.equal(t.ref(slots[1]!), identityRef(member(1)), 'a record with a commitment keeps the ref');
  t.release(slots[2]!);
  assert.equal(t.ref(slots[2]!), identityRef(member(2)), 'released: the ref it last held, as a column kept it');
  assert.equal(t.allocate(member(7)), slots[2]);
  assert.equal(t.ref(slots[2]!), identityRef(member(7)), 'reused: the new member’s');
  t.release(slots[3]!);
  t.permute(Int32Array.from([0, 2, 1]));
  assert.deepEqual(
    [0, 1, 2].map((s) => t.ref(s)),
    [0, 7, 1].map((i) => identityRef(member(i))),
  );
  assert.equal(t.ref(3), 0, 'renumbered: a slot past the members reads 0, as a fresh column');
});

test('peer table: heartbeats, sampling anchors and interval counts in narrow columns while they fit, widened (every value kept) once one does not', () => {
  const columns = (t: PeerTable): Record<string, ArrayLike<number>> =>
    (t as unknown as { mode6: Record<string, ArrayLike<number>> }).mode6;
  const heartbeats = (t: PeerTable): ArrayLike<number> =>
    (t as unknown as { heartbeats: ArrayLike<number> }).heartbeats;
  const t = new PeerTable(1000, 2);
  const [a, b, c] = [0, 1, 2].map((i) => t.allocate(member(i))) as [number, number, number];
  t.setHeartbeat(a, 0xfffffffe);
  t.sampleBirth(a, 0xfffffffe, 1000, 'measured');
  for (let i = 0; i < 255; i++) t.addInterval(c, 1000);
  assert.equal(heartbeats(t).constructor, Uint32Array, '4 B a member while heartbeats fit 32 bits');
  assert.equal(columns(t).sampledHeartbeats!.constructor, Uint32Array);
  assert.equal(columns(t).fdCount!.constructor, Uint8Array);
  t.sampleBirth(b, 2 ** 40, 500, 'measured');
  t.setHeartbeat(b, 2 ** 40);
  t.setHeartbeat(c, -0);
  t.addInterval(c, 1000);
  t.allocate(member(3)); // grows the table
  assert.equal(t.heartbeat(a), 0xfffffffe);
  assert.equal(t.heartbeat(b), 2 ** 40);
  assert.ok(Object.is(t.heartbeat(c), -0));
  assert.equal(t.intervalCount(c), 256);
  // The anchors held their heartbeats exactly (NO_SAMPLE included): each next birth is one interval of 100 ms.
  t.sampleBirth(a, 0xffffffff, 1100, 'measured');
  t.sampleBirth(b, 2 ** 40 + 2, 700, 'measured');
  t.sampleBirth(c, 5, 0, 'measured');
  assert.deepEqual([t.intervalCount(a), t.intervalMean(a)], [1, 100]);
  assert.deepEqual([t.intervalCount(b), t.intervalMean(b)], [1, 100]);
  assert.equal(t.intervalCount(c), 256, 'a first anchor is no interval');
  t.permute(Int32Array.from([0, 2, 1, 3]));
  assert.deepEqual([t.heartbeat(0), t.heartbeat(2), t.intervalCount(1)], [0xfffffffe, 2 ** 40, 256]);
  assert.equal(heartbeats(t).constructor, Float64Array);
});

test('peer table: versions and incarnations narrow while they can be, read back as Uint32 columns would hold them', () => {
  const cols = (t: PeerTable): Record<string, ArrayLike<number> | null> =>
    t as unknown as Record<string, ArrayLike<number> | null>;
  const t = new PeerTable(10, 2);
  const [a, b, c] = [0, 1, 2].map((i) => t.allocate(member(i))) as [number, number, number];
  t.setGcVersion(a, 0);
  t.setReportVersion(a, 2 ** 32);
  assert.equal(cols(t).gcVersions, null, 'no column while every GC version is 0');
  assert.equal(cols(t).reportVersions, null, '2^32 is stored as 0 (ToUint32), as in a Uint32Array');
  t.setMaxVersion(a, 255);
  t.setIncarnation(a, 255);
  assert.equal(cols(t).maxVersions!.constructor, Uint8Array);
  assert.equal(cols(t).incarnations!.constructor, Uint8Array);
  t.setGcVersion(b, 7);
  t.setReportVersion(c, 0xffffffff);
  t.setMaxVersion(b, 256);
  t.setIncarnation(c, 2 ** 32 + 3);
  t.allocate(member(3)); // grows the table
  assert.deepEqual(
    [a, b, c].map((s) => [t.gcVersion(s), t.reportVersion(s), t.maxVersion(s), t.incarnation(s)]),
    [
      [0, 0, 255, 255],
      [7, 0, 256, 0],
      [0, 0xffffffff, 0, 3],
    ],
  );
  assert.equal(cols(t).maxVersions!.constructor, Uint32Array, 'widened by 256');
  assert.equal(cols(t).incarnations!.constructor, Uint8Array, 'ToUint32(2^32 + 3) = 3 fits a byte');
  t.permute(Int32Array.from([0, 2, 1, 3]));
  assert.deepEqual([t.gcVersion(2), t.reportVersion(1), t.maxVersion(2), t.incarnation(1)], [7, 0xffffffff, 256, 3]);
});
