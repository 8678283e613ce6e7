import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomInt, seededRandom } from '../../src/core/random.js';
import { RefIncarnations } from '../../src/core/ref-incarnations.js';

test('RefIncarnations answers as a Map would through growth, deletions and reuse (random sequences, 48-bit refs)', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const rng = seededRandom(seed);
    const m = new RefIncarnations(4);
    const ref = new Map<number, number>();
    // Few distinct refs, so deletions and reinsertions collide on the same probe paths.
    const pool = Array.from({ length: 300 }, (_, i) => i * 2 ** 32 + randomInt(rng, 2 ** 31) + (i % 3));
    for (let step = 0; step < 5000; step++) {
      const r = pool[randomInt(rng, pool.length)] as number;
      const op = randomInt(rng, 3);
      if (op === 0) assert.equal(m.delete(r), ref.delete(r));
      else {
        const inc = randomInt(rng, 2 ** 31);
        m.set(r, inc);
        ref.set(r, inc);
      }
      assert.equal(m.size, ref.size);
      const probe = pool[randomInt(rng, pool.length)] as number;
      assert.equal(m.get(probe), ref.get(probe));
      assert.equal(m.has(probe), ref.has(probe));
    }
    assert.deepEqual(
      m.refs().sort((a, b) => a - b),
      [...ref.keys()].sort((a, b) => a - b),
    );
    assert.deepEqual(
      [...m].sort((a, b) => a[0] - b[0]),
      [...ref].sort((a, b) => a[0] - b[0]),
    );
  }
});

test('ref incarnations: bytes while every incarnation fits, widened with every value kept, through rehashing', () => {
  const inc = new RefIncarnations();
  const refs = Array.from({ length: 40 }, (_, i) => 2 ** 40 + i * 7919);
  refs.forEach((r, i) => inc.set(r, i));
  inc.set(refs[3]!, 255);
  assert.equal((inc as unknown as { values: object }).values.constructor, Uint8Array);
  inc.set(refs[5]!, 1000);
  refs.slice(40).forEach((r) => inc.set(r, 1));
  for (let i = 40; i < 100; i++) inc.set(2 ** 41 + i, i * 3);
  assert.equal((inc as unknown as { values: object }).values.constructor, Uint32Array);
  assert.deepEqual(
    refs.map((r) => inc.get(r)),
    refs.map((_, i) => (i === 3 ? 255 : i === 5 ? 1000 : i)),
  );
  for (let i = 40; i < 100; i++) assert.equal(inc.get(2 ** 41 + i), i * 3);
});

test('ref incarnations: the two refs the table uses as markers, and keys that are not 48-bit refs, answer as a Map', () => {
  const inc = new RefIncarnations(4);
  const ref = new Map<number, number>();
  const odd = [2 ** 48 - 1, 2 ** 48 - 2, 2 ** 48, 2 ** 50 + 4, 1.5, -3];
  const plain = Array.from({ length: 20 }, (_, i) => 2 ** 47 + i * 65537);
  [...odd, ...plain].forEach((r, i) => {
    inc.set(r, i);
    ref.set(r, i);
  });
  assert.equal(inc.delete(2 ** 48 - 2), ref.delete(2 ** 48 - 2));
  assert.equal(inc.delete(plain[3]!), ref.delete(plain[3]!));
  assert.equal(inc.delete(2 ** 48 - 2), false);
  inc.set(-3, 2 ** 32 + 7);
  ref.set(-3, 7);
  assert.equal(inc.size, ref.size);
  for (const r of [...odd, ...plain, 0, 2 ** 48 - 3]) {
    assert.equal(inc.get(r), ref.get(r));
    assert.equal(inc.has(r), ref.has(r));
  }
  assert.deepEqual(
    inc.refs().sort((a, b) => a - b),
    [...ref.keys()].sort((a, b) => a - b),
  );
});
