/** The simulator counts wire bytes without the transport: its count must be what the envelope really sends. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { plaintextPacketBytes } from '../../src/sim/wire-bytes.js';
import { seal } from '../../src/transport/envelope.js';
import { MAX_UDP_PAYLOAD } from '../../src/wire/envelope-sizes.js';

test('the simulator sizes a packet exactly as the envelope seals it (compression on, no key)', () => {
  const bodies = fc.oneof(
    fc.uint8Array({ maxLength: 2000 }),
    fc.string({ maxLength: 3000 }).map((s) => new TextEncoder().encode(s.repeat(3))),
  );
  fc.assert(
    fc.property(bodies, (body) => {
      assert.equal(
        plaintextPacketBytes(body),
        seal(body, { keys: [], compress: true, maxPacketBytes: MAX_UDP_PAYLOAD }).length,
      );
    }),
    { numRuns: 300 },
  );
});
