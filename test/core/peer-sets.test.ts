import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerSets } from '../../src/core/peer-sets.js';

test('peer sets: what each address last said, past 32 bits and past the first growth', () => {
  const p = new PeerSets(1024);
  for (let i = 0; i < 100; i++) p.set(`a${i}`, 2 ** 47 + i, i * 3);
  p.set('a5', 7, 8);
  for (let i = 0; i < 100; i++) {
    const e = p.find(`a${i}`);
    assert.ok(e >= 0);
    assert.equal(p.hash(e), i === 5 ? 7 : 2 ** 47 + i);
    assert.equal(p.size(e), i === 5 ? 8 : i * 3);
  }
  assert.equal(p.find('b'), -1);
});

test('peer sets: full, the next report forgets all others, even from an address already held', () => {
  const p = new PeerSets(4);
  for (let i = 0; i < 4; i++) p.set(`a${i}`, i, i);
  p.set('a2', 20, 21);
  for (const a of ['a0', 'a1', 'a3']) assert.equal(p.find(a), -1);
  const e = p.find('a2');
  assert.equal(p.hash(e), 20);
  assert.equal(p.size(e), 21);
  for (let i = 0; i < 3; i++) p.set(`b${i}`, 100 + i, i);
  assert.equal(p.hash(p.find('b2')), 102);
  p.set('c', 1, 1);
  assert.equal(p.find('b0'), -1);
  assert.equal(p.hash(p.find('c')), 1);
});
