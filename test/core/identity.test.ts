import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { identityRef, idKey } from '../../src/core/identity.js';

test('refs are stable across versions: pinned values (refs travel on the wire)', () => {
  const ref = (generation: number): number => identityRef({ id: 'node-7', generation, address: '10.0.0.7:9111' });
  // Computed by protocol version 3's code, which hashed String(generation).
  assert.deepEqual(
    [0, 7, 1732000000000, 2 ** 53 - 1, 1.5].map(ref),
    [117600133186462, 136371056954723, 67172270123855, 269150652777343, 248428578406455],
  );
});

test('a ref is the hash of the text id NUL generation NUL address, whatever the generation', () => {
  // idKey hashes a whole string with the same hash: the reference, built the slow way.
  const generation = fc.oneof(
    fc.nat(),
    fc.maxSafeNat(),
    fc.double({ noNaN: true }),
    fc.integer({ min: -1000, max: -1 }),
  );
  fc.assert(
    fc.property(
      fc.string(),
      generation,
      fc.string(),
      (id, g, address) => identityRef({ id, generation: g, address }) === idKey(`${id}\u0000${g}\u0000${address}`),
    ),
    { numRuns: 2000, seed: 7 },
  );
});
