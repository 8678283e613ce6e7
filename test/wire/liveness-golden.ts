/**
 * The golden cases of protocol 7's messages (wire/liveness-codec.ts): one or more of each type, fixed, and their
 * bytes kept in test/wire/fixtures/v7-liveness.hex (one `name hex` line each, as the other versions' fixtures). The pin test
 * in liveness-codec.test.ts fails when the codec writes other bytes for any case; write-liveness-fixture.ts writes
 * the file once and refuses to overwrite it.
 */
import { encodeLivenessMessage } from '../../src/wire/liveness-codec.js';
import {
  BEAT_DEAD_HERE,
  BEAT_ECHO,
  BEAT_MODE_7,
  BEAT_SUSPECT_YOU,
  type Digest7,
  type LivenessMessage,
  type NodeDelta7,
} from '../../src/wire/liveness-messages.js';
import type { NodeIdentity } from '../../src/wire/messages.js';
import { column, fixturePath, refs } from './golden.js';

export const LIVENESS_FIXTURE = fixturePath(7, 'liveness');

const C = 'prod-eu';
const HASH_MOD = 2 ** 48;
const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from(column(n, seed, (r) => r >>> 24));
const hashes = (n: number, seed: number): number[] => column(n, seed, (r, i) => (r * 92_821 + i) % HASH_MOD);

const alice: NodeIdentity = { id: 'api-1', generation: 1_764_000_000_123, address: '10.1.2.3:9111' };
const bob: NodeIdentity = { id: 'db-ünïcødé-2', generation: 7, address: '[fd00::1]:65535' };

function digest7(n: number, complete: boolean, hot: boolean, seed: number): Digest7 {
  return {
    complete,
    hot,
    count: n,
    refs: refs(n, seed),
    // Incarnation 0 in the first entry: "send its identity".
    incarnations: column(n, seed + 1, (r, i) => (i === 0 ? 0 : r % 300)),
    maxVersions: column(n, seed + 2, (r) => r % 70_000),
    gcVersions: column(n, seed + 3, (r, i) => (i % 2 === 0 ? r % 10 : 0)),
    reportVersions: column(n, seed + 4, (r, i) => (i % 3 === 0 ? r % 5 : 0)),
  };
}

/** A joiner's introduction: identity, leave commitment, report key, the two reserved keys and two of its own. */
const introduction: NodeDelta7 = {
  ref: 0x0000_1234_5678_9abc,
  identity: alice,
  incarnation: 1,
  lastGcVersion: 0,
  fromVersion: 0,
  maxVersion: 4,
  values: [
    { key: '\u0000speaks', value: '7', version: 1, tombstone: false },
    { key: '\u0000ready', value: '1', version: 2, tombstone: false },
    { key: 'role', value: 'api', version: 3, tombstone: false },
    { key: 'zone', value: 'eu-west-1a', version: 4, tombstone: false },
  ],
  commitment: bytes(16, 21),
  publicKey: bytes(32, 22),
};

/** An observer's report set, two records (one of each kind), with a tombstone among its values. */
const reporter: NodeDelta7 = {
  ref: 0xffff_ffff_fffe,
  identity: null,
  incarnation: 300,
  lastGcVersion: 2,
  fromVersion: 5,
  maxVersion: 6,
  values: [{ key: 'role', value: '', version: 6, tombstone: true }],
  reports: {
    version: 129,
    censusEpoch: 3,
    records: [
      { subject: 0x0000_1234_5678_9abc, incarnation: 1, kind: 1 },
      { subject: 2 ** 47 + 5, incarnation: 40_000, kind: 2 },
    ],
    signature: bytes(64, 23),
  },
};

/** A leave as state: the leave secret, and an empty report set (the observer withdrew its records). */
const leaver: NodeDelta7 = {
  ref: 7,
  identity: bob,
  incarnation: 2,
  lastGcVersion: 0,
  fromVersion: 9,
  maxVersion: 9,
  values: [],
  commitment: bytes(16, 24),
  reports: { version: 1, censusEpoch: 0, records: [], signature: bytes(64, 25) },
  left: bytes(16, 26),
};

/** A 13-member bitmap (two bytes, three spare bits zero), bit i = member i, least significant bit first. */
const bitmap13 = Uint8Array.from([0b1011_0111, 0b0001_0101]);

/** The cases, in the fixture's order. */
export function livenessCases(): [string, LivenessMessage][] {
  return [
    [
      'beat',
      {
        type: 'beat',
        flags: BEAT_ECHO | BEAT_MODE_7,
        senderTag: 0x9abc,
        sequence: 65_535,
        echo: 4,
        stateHash: 2 ** 48 - 1,
      },
    ],
    [
      'beat-first-suspect-dead',
      { type: 'beat', flags: BEAT_SUSPECT_YOU | BEAT_DEAD_HERE, senderTag: 0, sequence: 0, echo: 0, stateHash: 0 },
    ],
    [
      'sums-level-1',
      {
        type: 'sums',
        clusterId: 'default',
        reply: false,
        streamWanted: false,
        stateHash: 0x0102_0304_0506,
        memberCount: 200,
        level: 1,
        mask: 0xffff,
        sums: hashes(16, 31),
      },
    ],
    [
      'sums-level-2-reply-stream',
      {
        type: 'sums',
        clusterId: C,
        reply: true,
        streamWanted: true,
        stateHash: 99,
        memberCount: 10_000,
        level: 2,
        mask: 0b1000_0000_0000_0101,
        sums: hashes(48, 32),
      },
    ],
    [
      'syn7-pull-hot',
      {
        type: 'syn7',
        clusterId: C,
        pull: true,
        stateHash: 123_456_789,
        memberCount: 1_000,
        censusEpoch: 0,
        digest: digest7(3, false, true, 40),
      },
    ],
    [
      'syn7-push-complete',
      {
        type: 'syn7',
        clusterId: C,
        pull: false,
        stateHash: 2 ** 47,
        memberCount: 5,
        censusEpoch: 17,
        digest: digest7(5, true, false, 50),
      },
    ],
    [
      'synack7',
      {
        type: 'synAck7',
        clusterId: C,
        stateHash: 42,
        memberCount: 3,
        request: digest7(2, false, false, 60),
        nodes: [introduction, reporter],
      },
    ],
    ['ack7', { type: 'ack7', clusterId: C, nodes: [leaver, reporter] }],
    ['ack7-empty', { type: 'ack7', clusterId: C, nodes: [] }],
    [
      'census-pull',
      {
        type: 'censusPull',
        clusterId: C,
        epoch: 4,
        membershipHash: 0xabcd_ef01_2345,
        memberCount: 13,
        verification: false,
        present: bitmap13,
      },
    ],
    [
      'census-pull-verification',
      {
        type: 'censusPull',
        clusterId: C,
        epoch: 4,
        membershipHash: 0xabcd_ef01_2345,
        memberCount: 13,
        verification: true,
        present: new Uint8Array(0),
      },
    ],
    [
      'census',
      {
        type: 'census',
        clusterId: C,
        epoch: 300,
        membershipHash: 1,
        memberCount: 13,
        differs: false,
        present: bitmap13,
        reported: Uint8Array.from([0b0000_0100, 0]),
      },
    ],
    [
      'census-differs',
      {
        type: 'census',
        clusterId: C,
        epoch: 300,
        membershipHash: 2,
        memberCount: 14,
        differs: true,
        present: new Uint8Array(0),
        reported: new Uint8Array(0),
      },
    ],
    [
      'stream-hello',
      { type: 'streamHello', clusterId: C, sender: 0x0000_1234_5678_9abc, stateHash: 77, sums: hashes(256, 70) },
    ],
    ['stream-end', { type: 'streamEnd', frames: 130, stateHash: 0x7f7f_7f7f_7f7f }],
  ];
}

/** The fixture file's text: two comment lines, then `name hex` per case. */
export function formatLivenessFixture(): string {
  const head = [
    '# Golden wire fixtures, protocol 7 (not yet spoken): message bodies (no envelope) of types 12 to 21.',
    '# Fixed bytes: never edit or regenerate this file; a change to these layouts needs a new file and a reason.',
  ];
  const lines = livenessCases().map(([name, m]) => `${name} ${Buffer.from(encodeLivenessMessage(m)).toString('hex')}`);
  return `${[...head, ...lines].join('\n')}\n`;
}
