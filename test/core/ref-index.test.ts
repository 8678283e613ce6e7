import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/core/random.js';
import { RefIndex } from '../../src/core/ref-index.js';

/**
 * The index against a Map, through admissions, removals, slot reuse, growth, tombstone sweeps and
 * renumbering, with the keys held outside it as the peer table holds them (slot -> key).
 */
test('ref index: agrees with a map through inserts, deletes, slot reuse and renumbering', () => {
  const rng = seededRandom(7);
  let keyOfSlot = new Float64Array(4096);
  const index = new RefIndex((s) => keyOfSlot[s] as number, 4);
  const model = new Map<number, number>();
  const free: number[] = [];
  let used = 0;
  for (let step = 0; step < 20_000; step++) {
    const r = rng.next();
    if (r < 0.55 || model.size === 0) {
      // Keys cluster in a small range so probes collide; 2^47 + ... keeps them past 32 bits.
      const key = 2 ** 47 + Math.floor(rng.next() * 3000);
      if (model.has(key)) continue;
      const slot = free.pop() ?? used++;
      keyOfSlot[slot] = key;
      index.set(key, slot);
      model.set(key, slot);
    } else if (r < 0.95) {
      const keys = [...model.keys()];
      const key = keys[Math.floor(rng.next() * keys.length)] as number;
      index.delete(key);
      free.push(model.get(key) as number);
      model.delete(key);
    } else {
      // Renumber the occupied slots densely, as Membership.renumber does after PeerTable.permute.
      const occupied = [...model.values()].sort((a, b) => keyOfSlot[a]! - keyOfSlot[b]!);
      const slotOf = new Int32Array(used).fill(-1);
      const keys = new Float64Array(4096);
      occupied.forEach((old, k) => {
        slotOf[old] = k;
        keys[k] = keyOfSlot[old] as number;
      });
      keyOfSlot = keys;
      index.remap(slotOf);
      for (const [key, old] of model) model.set(key, slotOf[old] as number);
      used = occupied.length;
      free.length = 0;
    }
    assert.equal(index.size, model.size);
    if (step % 97 === 0) {
      for (const [key, slot] of model) assert.equal(index.get(key), slot);
      assert.equal(index.get(2 ** 47 + 5000), -1);
    }
  }
  for (const [key, slot] of model) assert.equal(index.get(key), slot);
});

test('ref index: setting a present key moves it to the new slot', () => {
  const keys = new Float64Array(8);
  const index = new RefIndex((s) => keys[s] as number);
  keys[1] = 42;
  index.set(42, 1);
  keys[2] = 42;
  index.set(42, 2);
  assert.equal(index.get(42), 2);
  assert.equal(index.size, 1);
});

test('ref index: slots past 2^22 (no room for hash bits beside them) keep every entry, through renumbering', () => {
  const keyOf = new Map<number, number>();
  const index = new RefIndex((s) => keyOf.get(s) as number, 4);
  for (let s = 0; s < 30; s++) {
    keyOf.set(s, 2 ** 47 + s * 977);
    index.set(2 ** 47 + s * 977, s);
  }
  keyOf.set(2 ** 22 + 5, 7);
  index.set(7, 2 ** 22 + 5);
  for (let s = 0; s < 30; s++) assert.equal(index.get(2 ** 47 + s * 977), s);
  assert.equal(index.get(7), 2 ** 22 + 5);
  index.delete(2 ** 47);
  assert.equal(index.get(2 ** 47), -1);
  assert.equal(index.size, 30);
  // Renumbered: slot s moves to 2^23 + s, keys unchanged.
  const slotOf = new Int32Array(2 ** 22 + 6).fill(-1);
  const moved = new Map<number, number>();
  for (const [s, key] of keyOf) {
    slotOf[s] = 2 ** 23 + (s % 1000);
    moved.set(2 ** 23 + (s % 1000), key);
  }
  keyOf.clear();
  for (const [s, key] of moved) keyOf.set(s, key);
  index.remap(slotOf);
  for (let s = 1; s < 30; s++) assert.equal(index.get(2 ** 47 + s * 977), 2 ** 23 + s);
  assert.equal(index.get(7), 2 ** 23 + ((2 ** 22 + 5) % 1000));
});

test('ref index: a renumbering onto slots past 2^22 drops the hash bits and keeps every entry', () => {
  const keys = new Map<number, number>();
  const index = new RefIndex((s) => keys.get(s) as number, 100);
  for (let s = 0; s < 50; s++) {
    keys.set(s, 2 ** 40 + s * 31);
    index.set(2 ** 40 + s * 31, s);
  }
  const slotOf = new Int32Array(50);
  const next = new Map<number, number>();
  for (let s = 0; s < 50; s++) {
    slotOf[s] = 2 ** 22 + 49 - s;
    next.set(2 ** 22 + 49 - s, 2 ** 40 + s * 31);
  }
  keys.clear();
  for (const [s, k] of next) keys.set(s, k);
  index.remap(slotOf);
  for (let s = 0; s < 50; s++) assert.equal(index.get(2 ** 40 + s * 31), 2 ** 22 + 49 - s);
  assert.equal(index.get(2 ** 40 + 50 * 31), -1);
});
