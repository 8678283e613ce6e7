/**
 * `node dist/bench/liveness-codec.js [--json]`: protocol 7's encoded sizes (wire/liveness-codec.ts) for the messages
 * docs/design/liveness-7.md budgets by (BEAT, level-1 SUMS, a digest7 entry, an introduction, census bitmaps at
 * 200 and 10,000 members, raw and after raw DEFLATE as the envelope compresses), and the codec's throughput:
 * BEAT and a 100-entry SYN7, encoded and decoded, messages per second over about a second each. Pure CPU, no
 * sockets; run it under `nice` on a shared machine.
 */
import { deflateRawSync } from 'node:zlib';
import { parseArgs } from 'node:util';
import { decodeLivenessMessage, encodeLivenessMessage } from '../src/wire/liveness-codec.js';
import type { LivenessMessage, NodeDelta7 } from '../src/wire/liveness-messages.js';
import { censusBitmapBytes, digest7EntryBytes, nodeDelta7Bytes } from '../src/wire/liveness-sizes.js';

/** A deterministic stream of 32-bit values (the sizes must not vary between runs). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0);
}

const next = lcg(7);
const hash = (): number => (next() * 65_536 + (next() >>> 16)) % 2 ** 48;

const beat: LivenessMessage = {
  type: 'beat',
  flags: 5,
  senderTag: 0x1234,
  sequence: 812,
  echo: 811,
  stateHash: hash(),
};

/** A joiner's introduction: identity, commitment, report key, the two reserved keys, two application keys. */
const introduction: NodeDelta7 = {
  ref: hash(),
  identity: { id: 'node-0042', generation: 1_764_000_000_123, address: '10.0.1.42:7946' },
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
  commitment: new Uint8Array(16).fill(1),
  publicKey: new Uint8Array(32).fill(2),
};

/** A SYN7 of `n` entries with quiet-cluster values: incarnation 1, tens of versions, no reports. */
function syn7(n: number): LivenessMessage {
  const col = (f: () => number): number[] => Array.from({ length: n }, f);
  return {
    type: 'syn7',
    clusterId: 'default',
    pull: true,
    stateHash: hash(),
    memberCount: 1_000,
    censusEpoch: 0,
    digest: {
      complete: false,
      hot: false,
      count: n,
      refs: col(hash),
      incarnations: col(() => 1 + ((next() >>> 8) % 3)),
      maxVersions: col(() => (next() >>> 8) % 60),
      gcVersions: col(() => 0),
      reportVersions: col(() => ((next() >>> 8) % 10 === 0 ? 1 : 0)),
    },
  };
}

/**
 * A census reply at N members, `reported` of them reported: every member present (a census that ended whole,
 * which DEFLATE shrinks to almost nothing) or each present with probability 1/2 (mid-census, incompressible).
 */
function census(n: number, reported: number, whole: boolean): LivenessMessage {
  const present = new Uint8Array(censusBitmapBytes(n));
  for (let i = 0; i < n; i++) if (whole || (next() >>> 16) & 1) present[i >> 3]! |= 1 << (i & 7);
  const rep = new Uint8Array(present.length);
  for (let k = 0; k < reported; k++) {
    const i = (next() >>> 8) % n;
    rep[i >> 3]! |= 1 << (i & 7);
  }
  return {
    type: 'census',
    clusterId: 'default',
    epoch: 3,
    membershipHash: hash(),
    memberCount: n,
    differs: false,
    present,
    reported: rep,
  };
}

const sums = (memberCount: number): LivenessMessage => ({
  type: 'sums',
  clusterId: 'default',
  reply: false,
  streamWanted: false,
  stateHash: hash(),
  memberCount,
  level: 1,
  mask: 0xffff,
  sums: Array.from({ length: 16 }, hash),
});

/** Calls per second of `f`, over at least `ms` of wall time after a warm-up. */
function rate(f: () => void, ms = 1_000): number {
  for (let i = 0; i < 20_000; i++) f();
  let calls = 0;
  const start = process.hrtime.bigint();
  let elapsed = 0;
  while (elapsed < ms) {
    for (let i = 0; i < 1_000; i++) f();
    calls += 1_000;
    elapsed = Number(process.hrtime.bigint() - start) / 1e6;
  }
  return (calls / elapsed) * 1_000;
}

const { values } = parseArgs({ options: { json: { type: 'boolean', default: false } } });
const encoded = (m: LivenessMessage): number => encodeLivenessMessage(m).length;
const deflated = (m: LivenessMessage): number => deflateRawSync(encodeLivenessMessage(m)).length;
const census200 = census(200, 3, true);
const census10k = census(10_000, 40, true);
const census10kHalf = census(10_000, 40, false);
const syn100 = syn7(100);
const syn100Bytes = encodeLivenessMessage(syn100);
const beatBody = encodeLivenessMessage(beat);
let sink = 0;

const result = {
  sizes: {
    beat: encoded(beat),
    sumsLevel1Default200: encoded(sums(200)),
    sumsLevel1Default100: encoded(sums(100)),
    digest7EntryQuiet: digest7EntryBytes(1, 20, 0, 0),
    digest7EntryBusy: digest7EntryBytes(300, 70_000, 12, 3),
    syn7With100Entries: syn100Bytes.length,
    introductionTwoAppKeys: nodeDelta7Bytes(introduction),
    census200: { raw: encoded(census200), deflated: deflated(census200) },
    census10000: { raw: encoded(census10k), deflated: deflated(census10k) },
    census10000HalfPresent: { raw: encoded(census10kHalf), deflated: deflated(census10kHalf) },
  },
  perSecond: {
    beatEncode: rate(() => (sink += encodeLivenessMessage(beat).length)),
    beatDecode: rate(() => (sink += decodeLivenessMessage(beatBody).type.length)),
    syn7With100Encode: rate(() => (sink += encodeLivenessMessage(syn100).length)),
    syn7With100Decode: rate(() => (sink += decodeLivenessMessage(syn100Bytes).type.length)),
  },
};
if (sink === 0) throw new Error('unreachable: keeps the measured calls alive');
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
else {
  for (const [k, v] of Object.entries(result.sizes))
    process.stdout.write(
      `${k.padEnd(26)} ${typeof v === 'number' ? `${v} B` : `${v.raw} B (${v.deflated} B deflated)`}\n`,
    );
  for (const [k, v] of Object.entries(result.perSecond))
    process.stdout.write(`${k.padEnd(26)} ${Math.round(v).toLocaleString('en')} /s\n`);
}
