import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeMessage, encodeMessage, messageSize, NO_BUMPS } from '../../src/wire/codec.js';
import type { AckMessage, LeaveMessage, Message } from '../../src/wire/messages.js';
import { DecodeError } from '../../src/wire/errors.js';
import { message } from './arbitraries.js';

/** Typed arrays and plain arrays compare by content. */
const plain = (m: unknown): unknown =>
  JSON.parse(JSON.stringify(m, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Float64Array) : v)));

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

test("any message with 1..32 bytes of anything after it is refused as trailing bytes, in protocols 4 and 5 (the encoder's length is where the message ends)", () => {
  fc.assert(
    fc.property(
      message,
      fc.integer({ min: 1, max: 32 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.constantFrom(4, 5) as fc.Arbitrary<4 | 5>,
      (m, n, seed, version) => {
        const bytes = encodeMessage(m, version);
        const longer = new Uint8Array(bytes.length + n);
        longer.set(bytes);
        for (let i = 0; i < n; i++) longer[bytes.length + i] = (seed >>> (i % 24)) & 0xff;
        assert.throws(
          () => decodeMessage(longer, version),
          (e: unknown) => e instanceof DecodeError && e.reason === 'trailing-bytes',
          `${m.type}, ${bytes.length} bytes + ${n} (protocol ${version})`,
        );
      },
    ),
    { numRuns: 2000, seed: 20261205 },
  );
  // Every length, not only the ones the sampler happened to draw.
  const leave: Message = {
    type: 'leave',
    clusterId: 'c',
    identity: { id: 'a', generation: 1, address: 'h:1' },
    heartbeat: 9,
  };
  const bytes = encodeMessage(leave);
  for (let n = 1; n <= 32; n++) {
    const longer = new Uint8Array(bytes.length + n);
    longer.set(bytes);
    assert.throws(
      () => decodeMessage(longer),
      (e: unknown) => e instanceof DecodeError && e.reason === 'trailing-bytes',
      `a leave + ${n} zero bytes`,
    );
  }
});

/** A message as a reader of protocol 4 or 3 gets it: without the fields protocol 5 added. */
function withoutV5(m: Message): Message {
  if (m.type === 'leave')
    return { type: 'leave', clusterId: m.clusterId, identity: m.identity, heartbeat: m.heartbeat };
  if (m.type !== 'ack' && m.type !== 'synAck') return m;
  return { ...m, delta: { ...m.delta, nodes: m.delta.nodes.map(({ commitment: _c, ...nd }) => nd) } };
}

test('written in protocol 4, a message loses exactly its protocol-5 fields (commitments, leave proofs), sized as written', () => {
  fc.assert(
    fc.property(message, (m) => {
      const bytes = encodeMessage(m, 4);
      assert.equal(bytes.length, messageSize(m, 4));
      assert.deepEqual(plain(decodeMessage(bytes, 4)), plain(withoutV5(m)));
      assert.deepEqual(bytes, encodeMessage(withoutV5(m), 4), 'the same bytes as the message without them');
    }),
    { numRuns: 1000, seed: 20261201 },
  );
});

test('leave commitments and proofs: bounds-checked, typed errors, refused where they cannot be', () => {
  const refused = (bytes: Uint8Array, reason: string, version: 3 | 4 | 5 = 5): void =>
    assert.throws(
      () => decodeMessage(bytes, version),
      (e: unknown) => e instanceof DecodeError && e.reason === reason,
      `${reason} (protocol ${version})`,
    );
  const identity = { id: 'a', generation: 1, address: 'h:1' };
  const commitment = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  const intro = {
    ref: 5,
    identity,
    heartbeat: 1,
    heartbeatAge: 0,
    lastGcVersion: 0,
    fromVersion: 0,
    maxVersion: 0,
    values: [],
    commitment,
  };
  const ack = encodeMessage({ type: 'ack', clusterId: 'c', delta: { nodes: [intro], bumps: NO_BUMPS } });
  assert.deepEqual((decodeMessage(ack) as AckMessage).delta.nodes[0]?.commitment, commitment);
  // type, cluster id (2), node count, ref (6): the node flags follow, then the identity, then the commitment.
  const flagsAt = 1 + 2 + 1 + 6;
  assert.equal(ack[flagsAt], 3);
  refused(ack, 'bad-value', 4);
  const commitmentAlone = Uint8Array.from(ack);
  commitmentAlone[flagsAt] = 2;
  refused(commitmentAlone, 'bad-value');
  const unknownFlag = Uint8Array.from(ack);
  unknownFlag[flagsAt] = 7;
  refused(unknownFlag, 'bad-value');
  const identityEnd = flagsAt + 1 + 2 + 1 + 4;
  refused(ack.subarray(0, identityEnd + 15), 'truncated');
  assert.throws(
    () =>
      encodeMessage({ type: 'ack', clusterId: 'c', delta: { nodes: [{ ...intro, identity: null }], bumps: NO_BUMPS } }),
    { code: 'SB_ERR_INVALID_ARG', message: /only an introduction carries one/ },
  );
  assert.throws(
    () =>
      encodeMessage({
        type: 'ack',
        clusterId: 'c',
        delta: { nodes: [{ ...intro, commitment: commitment.subarray(0, 8) }], bumps: NO_BUMPS },
      }),
    { code: 'SB_ERR_INVALID_ARG', message: /a commitment is 16 bytes/ },
  );

  const proof = Uint8Array.from({ length: 16 }, (_, i) => 200 + i);
  const leave = encodeMessage({ type: 'leave', clusterId: 'c', identity, heartbeat: 9, proof });
  assert.deepEqual((decodeMessage(leave) as LeaveMessage).proof, proof);
  const lengthAt = leave.length - 17;
  assert.equal(leave[lengthAt], 16);
  refused(leave.subarray(0, leave.length - 1), 'truncated');
  refused(leave.subarray(0, lengthAt), 'truncated');
  const wrongLength = Uint8Array.from(leave);
  wrongLength[lengthAt] = 15;
  refused(wrongLength, 'bad-value');
  // Protocol 4 has no proof: the same bytes are a leave followed by trailing bytes there.
  refused(leave, 'trailing-bytes', 4);
  const none = encodeMessage({ type: 'leave', clusterId: 'c', identity, heartbeat: 9 });
  assert.equal(none[none.length - 1], 0, 'no proof: a zero length');
  assert.equal((decodeMessage(none) as LeaveMessage).proof, undefined);
  assert.deepEqual(
    encodeMessage({ type: 'leave', clusterId: 'c', identity, heartbeat: 9, proof }, 4),
    none.subarray(0, none.length - 1),
    'in 4: the leave of before',
  );
  assert.throws(
    () => encodeMessage({ type: 'leave', clusterId: 'c', identity, heartbeat: 9, proof: proof.subarray(0, 4) }),
    { code: 'SB_ERR_INVALID_ARG', message: /a leave proof is 16 bytes/ },
  );
});

test('a bucket summary is refused on a complete or compact digest, and unless its size is a power of two up to 256', () => {
  const digest = (complete: boolean, buckets: number) => ({
    mode: 'full' as const,
    complete,
    offset: 0,
    count: 0,
    refs: new Float64Array(0),
    heartbeats: new Float64Array(0),
    checks: null,
    ages: new Float64Array(0),
    ageLimit: 0,
    maxVersions: new Float64Array(0),
    gcVersions: new Float64Array(0),
    buckets: new Float64Array(buckets),
  });
  const syn = (complete: boolean, buckets: number) =>
    encodeMessage({
      type: 'syn',
      clusterId: 'c',
      setHash: 1,
      setSize: 1,
      digest: digest(complete, buckets),
      pull: true,
    });
  assert.equal(decodeMessage(syn(false, 64)).type, 'syn');
  for (const [complete, n] of [
    [true, 64],
    [false, 3],
    [false, 512],
  ] as const) {
    assert.throws(
      () => decodeMessage(syn(complete, n)),
      (e: unknown) => e instanceof DecodeError && e.reason === 'bad-value',
      `complete ${complete}, ${n} buckets`,
    );
  }
});

test("a digest age above the digest's age limit is refused", () => {
  const digest = (ageLimit: number) => ({
    mode: 'compact' as const,
    complete: true,
    offset: 0,
    count: 2,
    refs: null,
    heartbeats: Float64Array.of(5, 6),
    checks: Float64Array.of(0),
    ages: Float64Array.of(3, 20),
    ageLimit,
    maxVersions: Float64Array.of(1, 1),
    gcVersions: Float64Array.of(0, 0),
  });
  const syn = (ageLimit: number) =>
    encodeMessage({ type: 'syn', clusterId: 'c', setHash: 1, setSize: 2, digest: digest(ageLimit), pull: true });
  for (const limit of [0, 20, 21]) assert.equal(decodeMessage(syn(limit)).type, 'syn', `limit ${limit}`);
  assert.throws(
    () => decodeMessage(syn(19)),
    (e: unknown) => e instanceof DecodeError && e.reason === 'bad-value',
  );
});

test('low heartbeat bits are refused outside compact digests and positional bumps, and with padding bits set', () => {
  const refused = (bytes: Uint8Array): void =>
    assert.throws(
      () => decodeMessage(bytes),
      (e: unknown) => e instanceof DecodeError && e.reason === 'bad-value',
    );
  const compact = {
    mode: 'compact' as const,
    complete: true,
    offset: 0,
    count: 3,
    refs: null,
    heartbeats: [1, 2, 3],
    checks: [7],
    ages: [0, 0, 0],
    ageLimit: 0,
    maxVersions: [1, 1, 1],
    gcVersions: [0, 0, 0],
  };
  const syn = encodeMessage({ type: 'syn', clusterId: 'c', setHash: 1, setSize: 3, digest: compact, pull: true });
  assert.equal(decodeMessage(syn).type, 'syn');
  // Header: type, cluster id (2), set hash (6), set size: the digest flags follow.
  const flagsAt = 1 + 2 + 6 + 1;
  const fullWithLowBits = Uint8Array.from(syn);
  fullWithLowBits[flagsAt] = (fullWithLowBits[flagsAt] as number) & ~1;
  refused(fullWithLowBits);
  // Three entries take two bytes of low bits; the last byte's high half is padding.
  const padded = Uint8Array.from(syn);
  const lowAt = flagsAt + 4;
  assert.equal(padded[lowAt + 1], 3);
  padded[lowAt + 1] = 0x13;
  refused(padded);
  const bumps = { count: 1, positional: true, keys: [4], heartbeats: [9], checks: [1], ages: [0] };
  const ack = encodeMessage({ type: 'ack', clusterId: 'c', delta: { nodes: [], bumps } });
  assert.equal(decodeMessage(ack).type, 'ack');
  const byRefWithLowBits = Uint8Array.from(ack);
  // type, cluster id (2), node count: the bump flags follow.
  assert.equal(byRefWithLowBits[4], 3);
  byRefWithLowBits[4] = 2;
  refused(byRefWithLowBits);
});
