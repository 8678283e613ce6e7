import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { decodeLivenessMessage, encodeLivenessMessage } from '../../src/wire/liveness-codec.js';
import type {
  Digest7,
  LivenessMessage,
  NodeDelta7,
  ReportRecord,
  ReportSet,
} from '../../src/wire/liveness-messages.js';
import { LIVENESS_TYPE_CODES } from '../../src/wire/liveness-messages.js';
import {
  BEAT_BYTES,
  beatBytes,
  bitmapFieldBytes,
  censusBitmapBytes,
  censusHeaderBytes,
  digest7EntryBytes,
  digest7HeaderBytes,
  exchange7HeaderBytes,
  livenessMessageBytes,
  MAX_REPORT_RECORDS,
  nodeDelta7Bytes,
} from '../../src/wire/liveness-sizes.js';
import { DecodeError } from '../../src/wire/errors.js';
import { stringSize, varintSize } from '../../src/wire/varint.js';
import { identity } from './arbitraries.js';
import { formatLivenessFixture, LIVENESS_FIXTURE, livenessCases } from './liveness-golden.js';
import { readFixture } from './golden.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// ---- generators of valid protocol-7 messages ----

const varint = fc.oneof(fc.nat(300), fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));
const hash = fc.integer({ min: 0, max: 2 ** 48 - 1 });
const u16 = fc.nat(0xffff);
const text = fc.string({ unit: 'grapheme', maxLength: 12 });
const fixedBytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const hashColumn = (n: number) => fc.array(hash, { minLength: n, maxLength: n }).map((a) => Float64Array.from(a));
const varintColumn = (n: number) => fc.array(varint, { minLength: n, maxLength: n }).map((a) => Float64Array.from(a));
/** Drops the keys whose value is undefined: the decoder leaves absent parts out, it never sets them undefined. */
const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const digest7: fc.Arbitrary<Digest7> = fc
  .record({ complete: fc.boolean(), hot: fc.boolean(), count: fc.nat(40) })
  .chain(({ complete, hot, count }) =>
    fc.record({
      complete: fc.constant(complete),
      hot: fc.constant(hot),
      count: fc.constant(count),
      refs: hashColumn(count),
      incarnations: varintColumn(count),
      maxVersions: varintColumn(count),
      gcVersions: varintColumn(count),
      reportVersions: varintColumn(count),
    }),
  );

const record: fc.Arbitrary<ReportRecord> = fc.record({
  subject: hash,
  incarnation: varint,
  kind: fc.constantFrom(1 as const, 2 as const),
});
const reportSet: fc.Arbitrary<ReportSet> = fc.record({
  version: varint,
  censusEpoch: varint,
  records: fc.array(record, { maxLength: MAX_REPORT_RECORDS }),
  signature: fixedBytes(64),
});
const optional = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

export const nodeDelta7: fc.Arbitrary<NodeDelta7> = fc
  .record({
    ref: hash,
    identity: fc.option(identity, { nil: null }),
    incarnation: varint,
    lastGcVersion: varint,
    fromVersion: varint,
    maxVersion: varint,
    values: fc.array(
      fc
        .record({ key: text, tombstone: fc.boolean(), value: text, version: varint })
        .map((v) => ({ ...v, value: v.tombstone ? '' : v.value })),
      { maxLength: 4 },
    ),
    commitment: optional(fixedBytes(16)),
    publicKey: optional(fixedBytes(32)),
    reports: optional(reportSet),
    left: optional(fixedBytes(16)),
  })
  // A commitment and a key travel only in an introduction.
  .map((d) => defined(d.identity ? d : { ...d, commitment: undefined, publicKey: undefined }));

/** A bitmap over `count` members, its spare bits zero. */
const bitmap = (count: number) =>
  fixedBytes(censusBitmapBytes(count)).map((b) => {
    const spare = b.length * 8 - count;
    if (spare > 0) b[b.length - 1] = (b[b.length - 1] as number) & (0xff >> spare);
    return b;
  });
const head = { clusterId: text, epoch: varint, membershipHash: hash };

export const livenessMessage: fc.Arbitrary<LivenessMessage> = fc.oneof(
  fc.record({
    type: fc.constant('beat' as const),
    flags: fc.nat(31),
    senderTag: u16,
    sequence: u16,
    echo: u16,
    stateHash: hash,
  }),
  fc
    .oneof(fc.constant({ level: 1 as const, mask: 0xffff }), fc.record({ level: fc.constant(2 as const), mask: u16 }))
    .chain(({ level, mask }) =>
      fc.record({
        type: fc.constant('sums' as const),
        clusterId: text,
        reply: fc.boolean(),
        streamWanted: fc.boolean(),
        stateHash: hash,
        memberCount: varint,
        level: fc.constant(level),
        mask: fc.constant(mask),
        sums: hashColumn(level === 1 ? 16 : 16 * [...mask.toString(2)].filter((c) => c === '1').length),
      }),
    ),
  fc.record({
    type: fc.constant('syn7' as const),
    clusterId: text,
    pull: fc.boolean(),
    stateHash: hash,
    memberCount: varint,
    censusEpoch: varint,
    digest: digest7,
  }),
  fc.record({
    type: fc.constant('synAck7' as const),
    clusterId: text,
    stateHash: hash,
    memberCount: varint,
    request: digest7,
    nodes: fc.array(nodeDelta7, { maxLength: 4 }),
  }),
  fc.record({ type: fc.constant('ack7' as const), clusterId: text, nodes: fc.array(nodeDelta7, { maxLength: 4 }) }),
  fc
    .record({ count: fc.nat(300), verification: fc.boolean(), empty: fc.boolean() })
    .chain(({ count, verification, empty }) =>
      fc.record({
        type: fc.constant('censusPull' as const),
        ...head,
        memberCount: fc.constant(count),
        verification: fc.constant(verification),
        present: verification || empty ? fc.constant(new Uint8Array(0)) : bitmap(count),
      }),
    ),
  fc.record({ count: fc.nat(300), differs: fc.boolean() }).chain(({ count, differs }) =>
    fc.record({
      type: fc.constant('census' as const),
      ...head,
      memberCount: fc.constant(count),
      differs: fc.constant(differs),
      present: differs ? fc.constant(new Uint8Array(0)) : bitmap(count),
      reported: differs ? fc.constant(new Uint8Array(0)) : bitmap(count),
    }),
  ),
  fc.record({
    type: fc.constant('streamHello' as const),
    clusterId: text,
    sender: hash,
    stateHash: hash,
    sums: hashColumn(256),
  }),
  fc.record({ type: fc.constant('streamEnd' as const), frames: varint, stateHash: hash }),
);

const isDecodeError = (e: unknown): boolean => e instanceof DecodeError;

// ---- round trips and sizes ----

test('protocol 7: every message decodes to what was encoded, at the length its size function gives', () => {
  fc.assert(
    fc.property(livenessMessage, (m) => {
      const bytes = encodeLivenessMessage(m);
      assert.equal(bytes.length, livenessMessageBytes(m));
      assert.deepStrictEqual(decodeLivenessMessage(bytes), structuredClone(m));
    }),
    { numRuns: 2_000 },
  );
});

test('protocol 7: each part size (beat, digest7 entry, node delta, census bitmap) adds up to the encoded length', () => {
  fc.assert(
    fc.property(livenessMessage, (m) => {
      const n = encodeLivenessMessage(m).length;
      switch (m.type) {
        case 'beat':
          assert.equal(n, beatBytes());
          assert.equal(n, 14);
          break;
        case 'syn7': {
          let expected = exchange7HeaderBytes(m.clusterId, m.memberCount) + varintSize(m.censusEpoch);
          expected += digest7HeaderBytes(m.digest.count);
          const d = m.digest;
          for (let i = 0; i < d.count; i++)
            expected += digest7EntryBytes(
              d.incarnations[i] as number,
              d.maxVersions[i] as number,
              d.gcVersions[i] as number,
              d.reportVersions[i] as number,
            );
          assert.equal(n, expected);
          break;
        }
        case 'ack7': {
          let expected = 1 + stringSize(m.clusterId) + varintSize(m.nodes.length);
          for (const d of m.nodes) expected += nodeDelta7Bytes(d);
          assert.equal(n, expected);
          break;
        }
        case 'census':
          if (m.differs) break;
          assert.equal(
            n,
            censusHeaderBytes(m.clusterId, m.epoch, m.memberCount) +
              1 +
              2 * bitmapFieldBytes(censusBitmapBytes(m.memberCount)),
          );
          break;
        default:
          break;
      }
    }),
    { numRuns: 2_000 },
  );
});

// ---- the golden fixture ----

test('protocol 7: the golden fixture v7-liveness.hex decodes, re-encodes to the same bytes, and the codec still writes them', () => {
  assert.ok(existsSync(LIVENESS_FIXTURE), 'no fixture: node dist/test/wire/write-liveness-fixture.js');
  const stored = readFixture(7, 'liveness');
  const cases = new Map(livenessCases());
  assert.deepEqual([...stored.keys()], [...cases.keys()], "the fixture's cases, in order");
  const types = new Set<string>();
  for (const [name, bytes] of stored) {
    const m = decodeLivenessMessage(bytes);
    types.add(bytes[0] === LIVENESS_TYPE_CODES.pushSyn7 ? 'pushSyn7' : m.type);
    assert.equal(livenessMessageBytes(m), bytes.length, `${name}: sized as stored`);
    assert.equal(hex(encodeLivenessMessage(m)), hex(bytes), `${name}: decoded and re-encoded, the same bytes`);
    assert.equal(hex(encodeLivenessMessage(cases.get(name)!)), hex(bytes), `${name}: written as fixed`);
    for (let cut = 0; cut < bytes.length; cut++)
      assert.throws(() => decodeLivenessMessage(bytes.subarray(0, cut)), DecodeError, `${name} cut to ${cut} bytes`);
  }
  assert.deepEqual([...types].sort(), Object.keys(LIVENESS_TYPE_CODES).sort(), 'one case at least of every type');
  assert.equal(readFileSync(LIVENESS_FIXTURE, 'utf8'), formatLivenessFixture(), 'the whole file, as written once');
});

test('protocol 7: measured sizes the design budgets by', () => {
  const stored = readFixture(7, 'liveness');
  assert.equal(BEAT_BYTES, 14);
  assert.equal(stored.get('beat')!.length, 14);
  // Level-1 SUMS with cluster id "default" and 200 members (a two-byte count): the design's 117 bytes.
  assert.equal(stored.get('sums-level-1')!.length, 117);
});

// ---- malformed input: only DecodeError, with the right reason ----

test('protocol 7: every cut of a random message is refused with a DecodeError, a byte after it as trailing bytes', () => {
  fc.assert(
    fc.property(livenessMessage, fc.nat(255), (m, extra) => {
      const bytes = encodeLivenessMessage(m);
      for (let cut = 0; cut < bytes.length; cut++)
        assert.throws(() => decodeLivenessMessage(bytes.subarray(0, cut)), isDecodeError);
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      longer[bytes.length] = extra;
      assert.throws(() => decodeLivenessMessage(longer), { reason: 'trailing-bytes' });
    }),
    { numRuns: 300 },
  );
});

test('protocol 7: corrupted bytes throw nothing but DecodeError, and what still decodes encodes back', () => {
  const corrupt = fc.record({
    m: livenessMessage,
    edits: fc.array(fc.record({ at: fc.nat(), value: fc.nat(255), op: fc.nat(2) }), { minLength: 1, maxLength: 4 }),
  });
  fc.assert(
    fc.property(corrupt, ({ m, edits }) => {
      const bytes = [...encodeLivenessMessage(m)];
      for (const { at, value, op } of edits) {
        const i = at % (bytes.length + 1);
        if (op === 0) bytes[i % bytes.length] = value;
        else if (op === 1) bytes.splice(i, 0, value);
        else bytes.splice(i % bytes.length, 1);
      }
      let decoded: LivenessMessage;
      try {
        decoded = decodeLivenessMessage(Uint8Array.from(bytes));
      } catch (e) {
        assert.ok(e instanceof DecodeError, `not a DecodeError: ${String(e)}`);
        return;
      }
      assert.deepStrictEqual(decodeLivenessMessage(encodeLivenessMessage(decoded)), decoded);
    }),
    { numRuns: 5_000 },
  );
});

test('protocol 7: random bodies of any type code throw nothing but DecodeError', () => {
  fc.assert(
    fc.property(fc.nat(255), fc.uint8Array({ maxLength: 120 }), (code, rest) => {
      const body = Uint8Array.of(code, ...rest);
      try {
        decodeLivenessMessage(body);
      } catch (e) {
        assert.ok(e instanceof DecodeError, `not a DecodeError: ${String(e)}`);
        if (code < 12 || code > 21) assert.equal(e.reason, 'bad-type');
      }
    }),
    { numRuns: 20_000 },
  );
});

// ---- targeted refusals: flags, kinds, counts, bitmaps ----

/** Unsigned LEB128, for writing lying counts by hand. */
function leb(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
  out.push(n);
  return out;
}

const refuse = (bytes: number[] | Uint8Array, reason: string, what: string): void =>
  assert.throws(() => decodeLivenessMessage(Uint8Array.from(bytes)), { name: 'DecodeError', reason }, what);

const SIX = [1, 2, 3, 4, 5, 6];
const observer: NodeDelta7 = {
  ref: 9,
  identity: null,
  incarnation: 1,
  lastGcVersion: 0,
  fromVersion: 0,
  maxVersion: 0,
  values: [],
  reports: {
    version: 1,
    censusEpoch: 0,
    records: [{ subject: 5, incarnation: 1, kind: 1 }],
    signature: new Uint8Array(64),
  },
};
/** ACK7, empty cluster id, the observer alone: type, 0, count 1, ref (6), flags at 9, five varints, then the set. */
const observerAck = encodeLivenessMessage({ type: 'ack7', clusterId: '', nodes: [observer] });
const NODE_FLAGS_AT = 9;
/** SUMS at level 2 with nothing expanded: type, empty cluster id, flags at 2, hash, count, level at 10, mask. */
const bareSums: LivenessMessage = {
  type: 'sums',
  clusterId: '',
  reply: false,
  streamWanted: false,
  stateHash: 0,
  memberCount: 0,
  level: 2,
  mask: 0,
  sums: [],
};
/** The record's kind: after flags, five one-byte varints, version, epoch, count, subject ref (6), incarnation. */
const KIND_AT = NODE_FLAGS_AT + 1 + 5 + 3 + 6 + 1;

test('protocol 7: flag bits no layout defines are refused as bad-value', () => {
  const patch = (bytes: Uint8Array, at: number, v: number): Uint8Array => {
    const out = Uint8Array.from(bytes);
    out[at] = v;
    return out;
  };
  const beat = encodeLivenessMessage({ type: 'beat', flags: 0, senderTag: 1, sequence: 2, echo: 3, stateHash: 4 });
  for (let bit = 5; bit < 8; bit++) refuse(patch(beat, 1, 1 << bit), 'bad-value', `beat flag bit ${bit}`);
  // SUMS: type, empty cluster id, flags.
  const sums = encodeLivenessMessage(bareSums);
  for (let bit = 2; bit < 8; bit++) refuse(patch(sums, 2, 1 << bit), 'bad-value', `sums flag bit ${bit}`);
  refuse(patch(sums, 10, 1), 'bad-value', 'a level-1 SUMS whose mask is not every bucket');
  refuse(patch(sums, 10, 3), 'bad-value', 'sums level 3');
  // SYN7: type, empty cluster id, state hash, member count, epoch, then the digest's flags at 10.
  const syn = [LIVENESS_TYPE_CODES.syn7, 0, ...SIX, 0, 0];
  for (let bit = 2; bit < 8; bit++) refuse([...syn, 1 << bit, 0], 'bad-value', `digest7 flag bit ${bit}`);
  for (let bit = 5; bit < 8; bit++)
    refuse(patch(observerAck, NODE_FLAGS_AT, (1 << bit) | 8), 'bad-value', `node flag bit ${bit}`);
  // A commitment (bit 1) or a key (bit 2) without the identity (bit 0) they belong to.
  refuse(patch(observerAck, NODE_FLAGS_AT, 2 | 8), 'bad-value', 'a commitment without identity');
  refuse(patch(observerAck, NODE_FLAGS_AT, 4 | 8), 'bad-value', 'a key without identity');
  // CENSUS-PULL and CENSUS: type, empty cluster id, epoch, membership hash, member count 0, flags.
  for (const code of [LIVENESS_TYPE_CODES.censusPull, LIVENESS_TYPE_CODES.census])
    for (let bit = 1; bit < 8; bit++) refuse([code, 0, 0, ...SIX, 0, 1 << bit, 0, 0], 'bad-value', `census bit ${bit}`);
});

test('protocol 7: a report record of a kind other than silent (1) or outbound (2) is refused', () => {
  assert.equal(observerAck[KIND_AT], 1, 'the kind byte is where the layout puts it');
  for (const kind of [0, 3, 255]) {
    const bytes = Uint8Array.from(observerAck);
    bytes[KIND_AT] = kind;
    refuse(bytes, 'bad-value', `kind ${kind}`);
  }
});

test('protocol 7: lying counts are refused before anything is allocated', () => {
  const huge = leb(2 ** 50);
  refuse([LIVENESS_TYPE_CODES.ack7, 0, ...huge], 'too-large', 'node count');
  refuse([LIVENESS_TYPE_CODES.synAck7, 0, ...SIX, 0, 0, ...huge], 'too-large', 'digest7 entry count');
  // 11 entries need at least 110 bytes; 100 are there.
  refuse([LIVENESS_TYPE_CODES.syn7, 0, ...SIX, 0, 0, 0, 11, ...new Array<number>(100).fill(0)], 'too-large', '11');
  // A node's value count.
  refuse([LIVENESS_TYPE_CODES.ack7, 0, 1, ...SIX, 0, 0, 0, 0, 0, ...huge], 'too-large', 'value count');
  // Report records: a count above 64, and 64 records announced with room for far fewer.
  const reportAt = NODE_FLAGS_AT + 1 + 5 + 2;
  const bytes = Uint8Array.from(observerAck);
  bytes[reportAt] = MAX_REPORT_RECORDS + 1;
  refuse(bytes, 'bad-value', 'record count 65');
  bytes[reportAt] = MAX_REPORT_RECORDS;
  refuse(bytes, 'too-large', 'record count 64 in a short body');
  // Bitmap lengths: beyond the body, and other than ceil(count / 8).
  const pull = [LIVENESS_TYPE_CODES.censusPull, 0, 0, ...SIX, 13, 0];
  refuse([...pull, ...huge], 'truncated', 'bitmap length beyond the body');
  refuse([...pull, 1, 0xff], 'bad-value', 'a one-byte bitmap over 13 members');
  refuse([...pull, 3, 0xff, 0x1f, 0], 'bad-value', 'a three-byte bitmap over 13 members');
  refuse([...pull, 2, 0xff, 0x20], 'bad-value', 'a bit past the 13th member');
  decodeLivenessMessage(Uint8Array.from([...pull, 2, 0xff, 0x1f]));
  refuse([LIVENESS_TYPE_CODES.censusPull, 0, 0, ...SIX, 13, 1, 2, 0xff, 0x1f], 'bad-value', 'verification bitmap');
  refuse([LIVENESS_TYPE_CODES.census, 0, 0, ...SIX, 13, 0, 0, 0], 'bad-value', 'an empty bitmap in a reply');
  refuse([LIVENESS_TYPE_CODES.census, 0, 0, ...SIX, 13, 1, 0, 0], 'trailing-bytes', 'bitmaps after differs');
  // SUMS at level 2: 16 sums per mask bit, which the body must hold.
  refuse([LIVENESS_TYPE_CODES.sums, 0, 0, ...SIX, 0, 2, 0xff, 0xff], 'truncated', 'a full mask and no sums');
  // Every other code is not protocol 7's.
  for (const code of [0, 1, 6, 11, 22, 255]) refuse([code], 'bad-type', `code ${code}`);
});

test('protocol 7: the encoder refuses what the decoder would refuse', () => {
  const beat = { type: 'beat', flags: 0, senderTag: 0, sequence: 0, echo: 0, stateHash: 0 } as const;
  const bad: [string, LivenessMessage][] = [
    ['hash 2^48', { ...beat, stateHash: 2 ** 48 }],
    ['hash -1', { ...beat, stateHash: -1 }],
    ['hash 1.5', { ...beat, stateHash: 1.5 }],
    ['sequence 2^16', { ...beat, sequence: 65_536 }],
    ['flag bit 5', { ...beat, flags: 32 }],
    ['ref 2^48', { type: 'ack7', clusterId: '', nodes: [{ ...observer, ref: 2 ** 48 }] }],
    ['kind 3', { type: 'ack7', clusterId: '', nodes: [withRecords([{ subject: 1, incarnation: 1, kind: 3 as 1 }])] }],
    [
      '65 records',
      { type: 'ack7', clusterId: '', nodes: [withRecords(new Array(65).fill(observer.reports!.records[0]))] },
    ],
    [
      'short signature',
      {
        type: 'ack7',
        clusterId: '',
        nodes: [{ ...observer, reports: { ...observer.reports!, signature: new Uint8Array(63) } }],
      },
    ],
    [
      'commitment without identity',
      { type: 'ack7', clusterId: '', nodes: [{ ...observer, commitment: new Uint8Array(16) }] },
    ],
    [
      'key of 31 bytes',
      {
        type: 'ack7',
        clusterId: '',
        nodes: [{ ...observer, identity: { id: 'a', generation: 1, address: 'b' }, publicKey: new Uint8Array(31) }],
      },
    ],
    ['level-1 mask', { ...bareSums, level: 1, mask: 1, sums: new Array<number>(16).fill(0) }],
    ['sums count', { ...bareSums, mask: 1 }],
    [
      'bitmap length',
      {
        type: 'census',
        clusterId: '',
        epoch: 0,
        membershipHash: 0,
        memberCount: 13,
        differs: false,
        present: new Uint8Array(1),
        reported: new Uint8Array(2),
      },
    ],
    [
      'bitmap padding',
      {
        type: 'censusPull',
        clusterId: '',
        epoch: 0,
        membershipHash: 0,
        memberCount: 13,
        verification: false,
        present: Uint8Array.of(0, 0x80),
      },
    ],
    [
      'verification bitmap',
      {
        type: 'censusPull',
        clusterId: '',
        epoch: 0,
        membershipHash: 0,
        memberCount: 8,
        verification: true,
        present: Uint8Array.of(1),
      },
    ],
    [
      'hello of 255 sums',
      { type: 'streamHello', clusterId: '', sender: 0, stateHash: 0, sums: new Array<number>(255).fill(0) },
    ],
  ];
  for (const [what, m] of bad) assert.throws(() => encodeLivenessMessage(m), { code: 'SB_ERR_INVALID_ARG' }, what);
});

function withRecords(records: ReportRecord[]): NodeDelta7 {
  return { ...observer, reports: { ...observer.reports!, records } };
}
