/**
 * The golden wire fixtures: a fixed set of messages and packets, and their bytes in every protocol
 * version this code speaks, kept in test/wire/fixtures/v<N>.hex (one `name hex` line each). The
 * bytes of a released version never change: golden.test.ts fails when the codec writes other bytes
 * for any case, or cannot read the stored ones. write-fixtures.ts writes the file of a new version,
 * and refuses to touch an existing one.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  encodeMessage,
  MIN_PROTOCOL_VERSION,
  NO_BUMPS,
  PROTOCOL_VERSION,
  type ProtocolVersion,
} from '../../src/wire/codec.js';
import { carriesLeaveProofs, carriesLowHeartbeats } from '../../src/wire/codec.js';
import { groupChecks, lowHeartbeat } from '../../src/wire/low-heartbeats.js';
import type { Delta, Digest, HeartbeatBumps, Message, NodeDelta, NodeIdentity } from '../../src/wire/messages.js';
import { REPLAY_WINDOW_VERSION, seal, type EnvelopeOptions } from '../../src/transport/envelope.js';
import { NonceSequence, STREAM_BYTES } from '../../src/transport/replay.js';
import { MAX_UDP_PAYLOAD } from '../../src/wire/envelope-sizes.js';
import { encodeAny, type WireMessage } from '../../src/wire/any.js';
import { carriesQueries, carriesUserEvents } from '../../src/wire/protocol.js';
import type { QueryWireMessage } from '../../src/wire/query-messages.js';
import type { UserEventMessage } from '../../src/wire/user-events.js';

export const FIXTURES_DIR = fileURLToPath(new URL('../../../test/wire/fixtures/', import.meta.url));
/** A version's fixture: `v<N>.hex`, and one `v<N>-<part>.hex` per part that added messages of its own. */
export const fixturePath = (version: number, part?: string): string =>
  `${FIXTURES_DIR}v${version}${part ? `-${part}` : ''}.hex`;

export function supportedVersions(): ProtocolVersion[] {
  const out: ProtocolVersion[] = [];
  for (let v = MIN_PROTOCOL_VERSION; v <= PROTOCOL_VERSION; v++) out.push(v as ProtocolVersion);
  return out;
}

/** A fixed 32-bit LCG (Numerical Recipes): the cases must not depend on any other code's randomness. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

export function column(n: number, seed: number, f: (r: number, i: number) => number): number[] {
  const next = lcg(seed);
  return Array.from({ length: n }, (_, i) => f(next(), i));
}

const REF_MOD = 2 ** 48;
export const refs = (n: number, seed: number): number[] =>
  column(n, seed, (r, i) => (r * 65_537 + i * 7_919) % REF_MOD);

const alice: NodeIdentity = { id: 'api-1', generation: 1_764_000_000_123, address: '10.1.2.3:9111' };
const bob: NodeIdentity = { id: 'db-ünïcødé-2', generation: 7, address: '[fd00::1]:65535' };

function fullDigest(n: number, complete: boolean, buckets?: number[]): Digest {
  return {
    mode: 'full',
    complete,
    offset: 0,
    count: n,
    refs: refs(n, 1),
    checks: null,
    heartbeats: column(n, 2, (r) => r % 100_000),
    ages: column(n, 3, (r) => r % 200),
    ageLimit: 0,
    maxVersions: column(n, 4, (r) => r % 50),
    gcVersions: column(n, 5, (r, i) => (i % 3 === 0 ? r % 10 : 0)),
    ...(buckets ? { buckets } : {}),
  };
}

function compactDigest(n: number, offset: number, complete: boolean, low: boolean, ownIndex?: number): Digest {
  const full = column(n, 6, (r) => 40_000 + (r % 13));
  const own = low && ownIndex !== undefined ? { own: { index: ownIndex, heartbeat: full[ownIndex] as number } } : {};
  return {
    mode: 'compact',
    complete,
    offset,
    count: n,
    refs: null,
    heartbeats: low ? full.map(lowHeartbeat) : full,
    checks: low ? groupChecks(full, n) : null,
    ...own,
    ages: column(n, 7, (r) => r % 21),
    ageLimit: 20,
    maxVersions: column(n, 8, (r) => r % 5),
    gcVersions: column(n, 9, () => 0),
  };
}

function bumps(kind: 'ref' | 'positional' | 'low', n: number): HeartbeatBumps {
  const keys = kind === 'ref' ? refs(n, 10) : column(n, 11, (r, i) => i * 3 + (r % 3));
  const full = column(n, 12, (r) => 123_456 + (r % 9));
  const low = kind === 'low';
  return {
    count: n,
    positional: kind !== 'ref',
    keys,
    heartbeats: low ? full.map(lowHeartbeat) : full,
    checks: low ? groupChecks(full, n) : null,
    ages: column(n, 13, (r) => r % 120),
  };
}

const nodes: NodeDelta[] = [
  // Introduces a member: identity, every value from version 0, one of them a tombstone.
  {
    ref: 0xabcdef123456,
    identity: bob,
    heartbeat: 42,
    heartbeatAge: 3,
    lastGcVersion: 0,
    fromVersion: 0,
    maxVersion: 4,
    values: [
      { key: 'role', value: 'db', version: 1, tombstone: false },
      { key: 'zone', value: '', version: 2, tombstone: true },
      { key: 'load', value: '0.75', version: 3, tombstone: false },
      { key: 'ünï', value: '値 ✓', version: 4, tombstone: false },
    ],
  },
  // A reset: fromVersion 0 with a GC watermark above the receiver's; a tombstone only.
  {
    ref: 1,
    identity: null,
    heartbeat: 2 ** 40 + 5,
    heartbeatAge: 0,
    lastGcVersion: 9,
    fromVersion: 0,
    maxVersion: 12,
    values: [{ key: 'gone', value: '', version: 12, tombstone: true }],
  },
  // A prefix of what the receiver lacks: maxVersion is the last value's version.
  {
    ref: REF_MOD - 1,
    identity: alice,
    heartbeat: 1,
    heartbeatAge: 127,
    lastGcVersion: 0,
    fromVersion: 5,
    maxVersion: 6,
    values: [{ key: 'k', value: 'v'.repeat(300), version: 6, tombstone: false }],
  },
  // Heartbeat and GC news only, no values.
  {
    ref: 77,
    identity: null,
    heartbeat: 99,
    heartbeatAge: 1,
    lastGcVersion: 3,
    fromVersion: 8,
    maxVersion: 8,
    values: [],
  },
];

const delta = (b: HeartbeatBumps, n = nodes): Delta => ({ nodes: n, bumps: b });
const C = 'prod-eu';
const requestDigest = fullDigest(3, true);

/** Every message type and every digest and bump mode; `low` cases exist only in versions that carry low bits. */
export function messageCases(version: ProtocolVersion): [string, Message][] {
  const cases: [string, Message][] = [
    [
      'syn-full-complete-pull',
      { type: 'syn', clusterId: C, setHash: 0x123456789abc, setSize: 5, digest: fullDigest(5, true), pull: true },
    ],
    [
      'syn-full-empty-push',
      { type: 'syn', clusterId: '', setHash: 0, setSize: 0, digest: fullDigest(0, true), pull: false },
    ],
    [
      'syn-full-run-buckets',
      { type: 'syn', clusterId: C, setHash: 42, setSize: 300, digest: fullDigest(20, false, refs(16, 14)), pull: true },
    ],
    [
      'syn-compact-exact-complete',
      { type: 'syn', clusterId: C, setHash: 9, setSize: 70, digest: compactDigest(70, 0, true, false), pull: true },
    ],
    [
      'syn-compact-exact-run',
      {
        type: 'syn',
        clusterId: C,
        setHash: 9,
        setSize: 200,
        digest: compactDigest(50, 130, false, false),
        pull: false,
      },
    ],
    [
      'synack-request-ref-bumps',
      { type: 'synAck', clusterId: C, setHash: 5, setSize: 3, request: requestDigest, delta: delta(bumps('ref', 4)) },
    ],
    [
      'synack-positional-bumps',
      {
        type: 'synAck',
        clusterId: C,
        setHash: 5,
        setSize: 3,
        request: fullDigest(0, true),
        delta: delta(bumps('positional', 9), []),
      },
    ],
    ['ack-deltas-tombstones-no-bumps', { type: 'ack', clusterId: C, delta: delta(NO_BUMPS) }],
    ['ack-ref-bumps-only', { type: 'ack', clusterId: C, delta: delta(bumps('ref', 2), []) }],
    ['wrong-cluster', { type: 'wrongCluster', clusterId: 'staging' }],
    ['leave', { type: 'leave', clusterId: C, identity: alice, heartbeat: 2 ** 50 + 3 }],
    ['leave-ipv6-unicode', { type: 'leave', clusterId: C, identity: bob, heartbeat: 0 }],
  ];
  if (carriesLowHeartbeats(version)) {
    cases.push(
      // 131 entries: three check groups, an odd count (padding in the last heartbeat byte), the own entry in the second
      // group.
      [
        'syn-compact-low-own',
        {
          type: 'syn',
          clusterId: C,
          setHash: 11,
          setSize: 131,
          digest: compactDigest(131, 0, true, true, 70),
          pull: true,
        },
      ],
      [
        'syn-compact-low-run-no-own',
        {
          type: 'syn',
          clusterId: C,
          setHash: 11,
          setSize: 300,
          digest: compactDigest(64, 100, false, true),
          pull: false,
        },
      ],
      [
        'synack-positional-low-bumps',
        {
          type: 'synAck',
          clusterId: C,
          setHash: 5,
          setSize: 3,
          request: requestDigest,
          delta: delta(bumps('low', 65), nodes.slice(0, 1)),
        },
      ],
    );
  }
  if (carriesLeaveProofs(version)) {
    const commitment = Uint8Array.from({ length: 16 }, (_, i) => 0xc0 + i);
    const [intro, reset] = nodes as [NodeDelta, NodeDelta];
    cases.push(
      // An introduction with its member's leave commitment (node flags 3), next to a delta without an identity.
      [
        'ack-introduction-with-commitment',
        { type: 'ack', clusterId: C, delta: delta(NO_BUMPS, [{ ...intro, commitment }, reset]) },
      ],
      // The leaver's own leave: its secret opens the commitment.
      [
        'leave-with-proof',
        {
          type: 'leave',
          clusterId: C,
          identity: alice,
          heartbeat: 77,
          proof: Uint8Array.from({ length: 16 }, (_, i) => 0x10 * (i % 16) + i),
        },
      ],
    );
  }
  if (version >= 5) {
    cases.push(
      // Protocol 5: the sender's flow-control rates after the digest's flags byte (flag 16).
      [
        'syn-full-rates',
        {
          type: 'syn',
          clusterId: C,
          setHash: 0x123456789abc,
          setSize: 5,
          digest: fullDigest(5, true),
          pull: true,
          rates: { allowed: 10.6, desired: 68 },
        },
      ],
      [
        'synack-request-rates',
        {
          type: 'synAck',
          clusterId: C,
          setHash: 5,
          setSize: 3,
          request: requestDigest,
          delta: delta(bumps('ref', 4)),
          rates: { allowed: 0.5, desired: 1_000_000 },
        },
      ],
    );
  }
  return cases;
}

const KEY_128 = Uint8Array.from({ length: 16 }, (_, i) => i);
const KEY_256 = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);
const NONCE = Uint8Array.from({ length: 12 }, (_, i) => 0xa0 + i);

export interface PacketCase {
  readonly name: string;
  readonly body: Uint8Array;
  readonly options: EnvelopeOptions;
  /**
   * Whether sealing again must give the same bytes. Not with compression: DEFLATE's output may
   * differ between zlib releases while any of them inflates it (the fixture is then only read).
   */
  readonly reproducible: boolean;
  /**
   * Protocol 5 on: sealed with a numbered nonce (transport/replay.ts), stream NUMBERED_STREAM from
   * counter NUMBERED_COUNTER, instead of the fixed NONCE, as a node seals every keyring packet.
   */
  readonly numbered?: boolean;
}

/** The stream and first counter of the numbered packet cases. */
export const NUMBERED_STREAM = Uint8Array.from({ length: STREAM_BYTES }, (_, i) => 0x50 + i);
export const NUMBERED_COUNTER = 0x01020304;

export function packetCases(version: ProtocolVersion): PacketCase[] {
  const msgs = new Map(messageCases(version));
  const small = encodeMessage(msgs.get('syn-full-complete-pull') as Message, version);
  const large = encodeMessage(msgs.get('ack-deltas-tombstones-no-bumps') as Message, version);
  const opts = (keys: Uint8Array[], compress: boolean): EnvelopeOptions => ({
    keys,
    compress,
    maxPacketBytes: MAX_UDP_PAYLOAD,
  });
  return [
    { name: 'packet-plaintext', body: small, options: opts([], false), reproducible: true },
    { name: 'packet-compressed', body: large, options: opts([], true), reproducible: false },
    { name: 'packet-encrypted-aes128', body: small, options: opts([KEY_128], false), reproducible: true },
    { name: 'packet-encrypted-aes256', body: small, options: opts([KEY_256, KEY_128], false), reproducible: true },
    { name: 'packet-compressed-encrypted', body: large, options: opts([KEY_128], true), reproducible: false },
    ...(version >= REPLAY_WINDOW_VERSION
      ? [
          {
            name: 'packet-numbered-aes128',
            body: small,
            options: opts([KEY_128], false),
            reproducible: true,
            numbered: true,
          },
          {
            name: 'packet-numbered-compressed-aes256',
            body: large,
            options: opts([KEY_256, KEY_128], true),
            reproducible: false,
            numbered: true,
          },
        ]
      : []),
  ];
}

export function sealCase(c: PacketCase, version: ProtocolVersion): Uint8Array {
  if (c.numbered)
    return seal(c.body, c.options, { version, sequence: new NonceSequence(() => NUMBERED_STREAM, NUMBERED_COUNTER) });
  return seal(c.body, c.options, { version, nonce: NONCE });
}

/** Every case's bytes in `version`, as the fixture file holds them. */
export function encodeAll(version: ProtocolVersion): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [name, m] of messageCases(version)) out.set(name, encodeMessage(m, version));
  for (const c of packetCases(version)) out.set(c.name, sealCase(c, version));
  return out;
}

export function formatFixture(version: ProtocolVersion, cases: Map<string, Uint8Array>, part?: string): string {
  const head = [
    `# Golden wire fixtures, protocol ${version}${part ? ` (${part})` : ''}: message bodies (no envelope) and whole packets (packet-*).`,
    '# Released bytes: never edit or regenerate this file; a new protocol version gets a new file (see docs/compatibility.md).',
  ];
  return `${[...head, ...[...cases].map(([name, bytes]) => `${name} ${Buffer.from(bytes).toString('hex')}`)].join('\n')}\n`;
}

export function readFixture(version: number, part?: string): Map<string, Uint8Array> {
  return readFile(fixturePath(version, part));
}

function readFile(path: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const [name, hex] = line.split(' ') as [string, string];
    out.set(name, Uint8Array.from(Buffer.from(hex, 'hex')));
  }
  return out;
}

/** The version that introduced each part's messages: its fixture file is that version's. */
const PART_SINCE: Readonly<Record<string, ProtocolVersion>> = { events: 6, queries: 6 };

/**
 * The parts a version added beyond its membership messages, each with its own fixture file (`v<N>-<part>.hex`):
 * protocol 6's user events (types 7 and 8) and queries (types 9, 10 and 11). A later version writes a part's
 * messages byte for byte as the version that added it (golden.test.ts holds it to that file), so it has no file of
 * its own for them. Protocol 7's liveness messages are pinned apart (liveness-golden.ts, v7-liveness.hex).
 */
export function fixtureParts(version: ProtocolVersion): string[] {
  return Object.keys(PART_SINCE).filter((part) => PART_SINCE[part] === version);
}

/** The parts a version speaks: those it added and those of earlier versions. */
export function spokenParts(version: ProtocolVersion): string[] {
  return Object.keys(PART_SINCE).filter((part) => (PART_SINCE[part] as number) <= version);
}

const payload = (n: number, seed: number): Uint8Array => Uint8Array.from(column(n, seed, (r) => r & 0xff));

function userEventCases(): [string, UserEventMessage][] {
  return [
    [
      'user-events-one-coalescing',
      {
        type: 'userEvents',
        clusterId: C,
        events: [
          {
            origin: alice.id,
            generation: alice.generation,
            ltime: 1,
            age: 0,
            name: 'deploy',
            payload: new TextEncoder().encode('v1.2.3'),
            coalesce: true,
          },
        ],
      },
    ],
    [
      'user-events-mixed',
      {
        type: 'userEvents',
        clusterId: C,
        events: [
          // Another origin, not coalescing, an empty payload, an age near the default horizon.
          {
            origin: bob.id,
            generation: bob.generation,
            ltime: 2 ** 40 + 9,
            age: 599,
            name: 'reload',
            payload: new Uint8Array(0),
            coalesce: false,
          },
          // 300 bytes of payload (a two-byte length), a name in UTF-8 beyond ASCII.
          {
            origin: alice.id,
            generation: 1,
            ltime: 300,
            age: 17,
            name: 'デプロイ',
            payload: payload(300, 15),
            coalesce: true,
          },
          {
            origin: alice.id,
            generation: 1,
            ltime: 301,
            age: 17,
            name: 'デプロイ',
            payload: payload(3, 16),
            coalesce: true,
          },
        ],
      },
    ],
    ['user-events-none', { type: 'userEvents', clusterId: '', events: [] }],
    [
      'event-digest-all-origins',
      {
        type: 'eventDigest',
        clusterId: C,
        reply: false,
        allOrigins: true,
        groups: [
          { origin: alice.id, generation: alice.generation, from: 0, ltimes: [1, 2, 3, 7, 200, 100_000] },
          { origin: bob.id, generation: bob.generation, from: 0, ltimes: [2 ** 40 + 9] },
        ],
      },
    ],
    [
      'event-digest-reply-cut',
      {
        type: 'eventDigest',
        clusterId: C,
        reply: true,
        allOrigins: false,
        groups: [{ origin: bob.id, generation: 7, from: 500, ltimes: [500, 501, 502, 510] }],
      },
    ],
    ['event-digest-empty', { type: 'eventDigest', clusterId: C, reply: false, allOrigins: true, groups: [] }],
  ];
}

/** Protocol 6's query messages: a query with and without a filter and payload, acks, responses, an error. */
export function queryCases(): [string, QueryWireMessage][] {
  const query = {
    type: 'query',
    clusterId: C,
    origin: alice.id,
    generation: alice.generation,
    ltime: 42,
    ack: true,
    timeoutMs: 5000,
    relayFactor: 0,
    tags: {},
    name: 'load',
    payload: new Uint8Array(0),
  } as const;
  const answer = { clusterId: C, origin: alice.id, ltime: 42, from: bob.id, relay: false } as const;
  return [
    // The smallest query: no filter, no payload, acks wanted.
    ['query-bare', query],
    // Tags in key order (written sorted whatever the object's order), a payload, no ack, relays, the longest timeout.
    [
      'query-tags-payload-relay',
      {
        ...query,
        ltime: 2 ** 40 + 3,
        ack: false,
        timeoutMs: 600_000,
        relayFactor: 8,
        tags: { zone: 'eu-1', role: 'db', ünï: '値' },
        name: 'deploy/ünïcødé',
        payload: payload(200, 17),
      },
    ],
    ['query-ack', { type: 'queryAck', ...answer, responds: false }],
    // A relayed ack that promises a response.
    ['query-ack-relay-responds', { type: 'queryAck', ...answer, relay: true, responds: true }],
    ['query-response-empty', { type: 'queryResponse', ...answer, error: false, payload: new Uint8Array(0) }],
    [
      'query-response-payload-relay',
      { type: 'queryResponse', ...answer, relay: true, error: false, payload: payload(300, 18) },
    ],
    [
      'query-response-error',
      { type: 'queryResponse', ...answer, error: true, payload: new TextEncoder().encode('handler failed: ✗') },
    ],
  ];
}

/** A part's message cases. */
export function partMessageCases(version: ProtocolVersion, part: string): [string, WireMessage][] {
  if (part === 'events' && carriesUserEvents(version)) return userEventCases();
  if (part === 'queries' && carriesQueries(version)) return queryCases();
  return [];
}

/** A part's packet cases: one of its messages sealed in plaintext, and with a numbered nonce under a key. */
export function partPacketCases(version: ProtocolVersion, part: string): PacketCase[] {
  const first = partMessageCases(version, part)[0];
  if (!first) return [];
  const body = encodeAny(first[1], version);
  const options = (keys: Uint8Array[]): EnvelopeOptions => ({ keys, compress: false, maxPacketBytes: MAX_UDP_PAYLOAD });
  return [
    { name: `packet-${part}-plaintext`, body, options: options([]), reproducible: true },
    { name: `packet-${part}-numbered-aes128`, body, options: options([KEY_128]), reproducible: true, numbered: true },
  ];
}

/** A part's bytes in `version`, as its fixture file holds them. */
export function encodePart(version: ProtocolVersion, part: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  for (const [name, m] of partMessageCases(version, part)) out.set(name, encodeAny(m, version));
  for (const c of partPacketCases(version, part)) out.set(c.name, sealCase(c, version));
  return out;
}

export function readPart(version: number, part: string): Map<string, Uint8Array> {
  return readFile(fixturePath(version, part));
}
