import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeMessage, encodeMessage, messageSize } from '../../src/wire/codec.js';
import { message } from './arbitraries.js';

/** Typed arrays and plain arrays compare by content. */
const plain = (m: unknown): unknown => JSON.parse(JSON.stringify(m, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v)));

test('every message round-trips exactly, and messageSize is its encoded length', () => {
  fc.assert(
    fc.property(message, (m) => {
      const bytes = encodeMessage(m);
      assert.equal(bytes.length, messageSize(m));
      assert.deepEqual(plain(decodeMessage(bytes)), plain(m));
    }),
    { numRuns: 2000, seed: 20261125 },
  );
});
