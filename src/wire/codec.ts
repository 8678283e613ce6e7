/**
 * The binary encoding of message bodies. docs/protocol.md describes it byte by byte.
 * A body is what travels after the 4-byte envelope header (magic, protocol version, flags)
 * that transport/envelope.ts writes; compression and encryption apply to the body only.
 */
import { DecodeError } from './errors.js';
import type {
  Column,
  Delta,
  Digest,
  HeartbeatBumps,
  Message,
  NodeDelta,
  NodeIdentity,
  RateState,
  VersionedValue,
} from './messages.js';
import { COMMITMENT_BYTES, LEAVE_SECRET_BYTES, MAX_BUCKETS } from './messages.js';
import { readHeartbeats, readVarints, writeHeartbeats, writeVarints } from './columns.js';
import { lowHeartbeatBytes } from './low-heartbeats.js';
import { DIGEST_RATES, ratesSize, readRates, writeRates } from './rates.js';
import { Reader } from './reader.js';
import { REF_BYTES, stringSize, varintSize } from './varint.js';
import { Writer } from './writer.js';
import { InternalError, InvalidArgumentError } from '../errors.js';

export { DecodeError } from './errors.js';
export type { DecodeErrorReason } from './errors.js';

export const MAGIC_0 = 0x53; // 'S'
export const MAGIC_1 = 0x42; // 'B'
/** The newest protocol version this code speaks (and writes by default). */
export const PROTOCOL_VERSION = 5;
/**
 * The oldest version this code still speaks. Every version from here to PROTOCOL_VERSION is read and
 * written (docs/compatibility.md says how long one is kept); a drop of the oldest is a major release.
 */
export const MIN_PROTOCOL_VERSION = 3;
/**
 * What each version adds, for the encoder and decoder to refuse what a version cannot carry.
 * 3: columnar digests and bumps, compact digests, the push SYN code, bucket summaries, capped ages.
 * 4: heartbeats as their low bits plus checks, in compact digests and positional bumps (flag 8 of a
 *    digest, flag 2 of bumps), and the own entry of such a digest.
 * 5: advisory fields, each left out when a message is written in an older version (a reader of that
 *    version behaves as it always did): see docs/compatibility.md for the list. Among them the leave
 *    commitment of an introduced member (flag 2 of a node delta) and the leave's proof.
 */
export type ProtocolVersion = 3 | 4 | 5;

export function isSupportedVersion(v: number): v is ProtocolVersion {
  return Number.isInteger(v) && v >= MIN_PROTOCOL_VERSION && v <= PROTOCOL_VERSION;
}

/** Whether heartbeats may travel as low bits (compact digests, positional bumps) in `version`. */
export function carriesLowHeartbeats(version: ProtocolVersion): boolean {
  return version >= 4;
}
/** Whether introductions carry leave commitments and leaves their proofs (protocol 5 on). */
export function carriesLeaveProofs(version: ProtocolVersion): boolean {
  return version >= 5;
}
/** magic (2) + protocol version (1) + flags (1), written by transport/envelope.ts before the body. */
export const ENVELOPE_HEADER_BYTES = 4;

const TYPE_CODES = { syn: 1, synAck: 2, ack: 3, wrongCluster: 4, leave: 5 } as const;
/** A SYN that does not pull (SynMessage.pull false) has its own type code: no byte added for the flag. */
const PUSH_SYN_CODE = 6;
const DIGEST_COMPACT = 1;
const DIGEST_COMPLETE = 2;
const DIGEST_BUCKETS = 4;
const DIGEST_LOW_HEARTBEATS = 8;
const NODE_HAS_IDENTITY = 1;
const NODE_HAS_COMMITMENT = 2;
const VALUE_TOMBSTONE = 1;
const BUMPS_POSITIONAL = 1;
const BUMPS_LOW_HEARTBEATS = 2;
/** Membership positions are array indices. */
const MAX_POSITION = 2 ** 31 - 1;

// Smallest encodings, used to refuse impossible counts before allocating.
const MIN_FULL_ENTRY = REF_BYTES + 4;
/** Half a byte of heartbeat, one each of age and versions; checks come on top. Version 3: a byte of heartbeat. */
const MIN_COMPACT_ENTRY = 3;
const MIN_COMPACT_ENTRY_V3 = 4;
const MIN_NODE_DELTA = REF_BYTES + 7;
const MIN_BUMP = REF_BYTES + 2;
/** A gap, half a byte of heartbeat and an age; checks come on top. Version 3: a byte of heartbeat. */
const MIN_POSITIONAL_BUMP = 2;
const MIN_POSITIONAL_BUMP_V3 = 3;
const MIN_VALUE = 3;

// ---------------------------------------------------------------- sizes

export function identitySize(identity: NodeIdentity): number {
  return stringSize(identity.id) + varintSize(identity.generation) + stringSize(identity.address);
}

/** Fixed part of a digest: flags, offset, count, age limit. */
export function digestHeaderSize(offset: number, count: number, ageLimit: number): number {
  return 1 + varintSize(offset) + varintSize(count) + varintSize(ageLimit);
}

export function fullEntrySize(heartbeat: number, age: number, maxVersion: number, gcVersion: number): number {
  return REF_BYTES + varintSize(heartbeat) + varintSize(age) + varintSize(maxVersion) + varintSize(gcVersion);
}

/**
 * What entry i adds to a compact digest: its heartbeat (`low`: its low bits, and a check at a group's start), age and
 * versions.
 */
export function compactEntrySize(
  low: boolean,
  i: number,
  heartbeat: number,
  age: number,
  maxVersion: number,
  gcVersion: number,
): number {
  return heartbeatSize(low, i, heartbeat) + varintSize(age) + varintSize(maxVersion) + varintSize(gcVersion);
}

/** Bytes heartbeat i of a column adds: as low bits (see wire/low-heartbeats.ts) or as a varint. */
export function heartbeatSize(low: boolean, i: number, heartbeat: number): number {
  return low ? lowHeartbeatBytes(i) : varintSize(heartbeat);
}

/** Bytes of a low-bits digest's own entry field: its index + 1 (0: none), then its heartbeat. */
export function ownEntrySize(own: Digest['own']): number {
  return own ? varintSize(own.index + 1) + varintSize(own.heartbeat) : 1;
}

/** Bytes of a bucket summary of `count` buckets. */
export function bucketsSize(count: number): number {
  return varintSize(count) + count * REF_BYTES;
}

export function digestSize(d: Digest): number {
  let n =
    digestHeaderSize(d.offset, d.count, d.ageLimit) +
    (d.buckets ? bucketsSize(d.buckets.length) : 0) +
    (d.checks ? ownEntrySize(d.own) : 0);
  const compact = d.mode === 'compact';
  for (let i = 0; i < d.count; i++) {
    const age = d.ages[i] as number;
    const max = d.maxVersions[i] as number;
    const gc = d.gcVersions[i] as number;
    const hb = d.heartbeats[i] as number;
    n += compact ? compactEntrySize(d.checks !== null, i, hb, age, max, gc) : fullEntrySize(hb, age, max, gc);
  }
  return n;
}

export function valueSize(v: VersionedValue): number {
  return stringSize(v.key) + varintSize(v.version) + 1 + (v.tombstone ? 0 : stringSize(v.value));
}

/** A node delta without its values (the value count is sized for `valueCount`). */
export function nodeDeltaHeaderSize(
  identity: NodeIdentity | null,
  heartbeat: number,
  heartbeatAge: number,
  lastGcVersion: number,
  fromVersion: number,
  maxVersion: number,
  valueCount: number,
): number {
  return (
    REF_BYTES +
    1 +
    (identity ? identitySize(identity) : 0) +
    varintSize(heartbeat) +
    varintSize(heartbeatAge) +
    varintSize(lastGcVersion) +
    varintSize(fromVersion) +
    varintSize(maxVersion) +
    varintSize(valueCount)
  );
}

/** Bytes a leave commitment adds to an introduction (protocol 5 on; flagged in the node's flags byte). */
export function commitmentSize(
  commitment: Uint8Array | null | undefined,
  version: ProtocolVersion = PROTOCOL_VERSION,
): number {
  return commitment && carriesLeaveProofs(version) ? COMMITMENT_BYTES : 0;
}

export function nodeDeltaSize(d: NodeDelta, version: ProtocolVersion = PROTOCOL_VERSION): number {
  let n =
    nodeDeltaHeaderSize(
      d.identity,
      d.heartbeat,
      d.heartbeatAge,
      d.lastGcVersion,
      d.fromVersion,
      d.maxVersion,
      d.values.length,
    ) + commitmentSize(d.commitment, version);
  for (const v of d.values) n += valueSize(v);
  return n;
}

/** A bump by ref; a positional bump costs varintSize(gap to the previous position) instead of REF_BYTES. */
export function bumpSize(heartbeat: number, age: number): number {
  return REF_BYTES + varintSize(heartbeat) + varintSize(age);
}

export function bumpsSize(b: HeartbeatBumps): number {
  let n = 1 + varintSize(b.count);
  let prev = -1;
  for (let i = 0; i < b.count; i++) {
    const key = b.keys[i] as number;
    n +=
      (b.positional ? varintSize(key - prev - 1) : REF_BYTES) +
      heartbeatSize(b.checks !== null, i, b.heartbeats[i] as number) +
      varintSize(b.ages[i] as number);
    prev = key;
  }
  return n;
}

export function deltaSize(d: Delta, version: ProtocolVersion = PROTOCOL_VERSION): number {
  let n = varintSize(d.nodes.length) + bumpsSize(d.bumps);
  for (const node of d.nodes) n += nodeDeltaSize(node, version);
  return n;
}

/** Fixed part of a SYN or SYN-ACK before its digest: type, cluster id, set hash, set size. */
export function exchangeHeaderSize(clusterId: string, setSize: number): number {
  return 1 + stringSize(clusterId) + REF_BYTES + varintSize(setSize);
}

/** The exact length encodeMessage(m, version) would produce. */
export function messageSize(m: Message, version: ProtocolVersion = PROTOCOL_VERSION): number {
  switch (m.type) {
    case 'syn':
      return (
        exchangeHeaderSize(m.clusterId, m.setSize) +
        digestSize(m.digest) +
        (m.rates && version >= 5 ? ratesSize(m.rates) : 0)
      );
    case 'synAck':
      return (
        exchangeHeaderSize(m.clusterId, m.setSize) +
        digestSize(m.request) +
        deltaSize(m.delta, version) +
        (m.rates && version >= 5 ? ratesSize(m.rates) : 0)
      );
    case 'ack':
      return 1 + stringSize(m.clusterId) + deltaSize(m.delta, version);
    case 'wrongCluster':
      return 1 + stringSize(m.clusterId);
    case 'leave':
      // Protocol 5: the proof's length byte (0: none), then the proof.
      return (
        1 +
        stringSize(m.clusterId) +
        identitySize(m.identity) +
        varintSize(m.heartbeat) +
        (carriesLeaveProofs(version) ? 1 + (m.proof?.length ?? 0) : 0)
      );
  }
}

// ---------------------------------------------------------------- encode

function writeIdentity(w: Writer, identity: NodeIdentity): void {
  w.string(identity.id);
  w.varint(identity.generation);
  w.string(identity.address);
}

function writeDigest(w: Writer, d: Digest, version: ProtocolVersion, rates?: RateState): void {
  const compact = d.mode === 'compact';
  if (d.checks && !compact) throw new InvalidArgumentError('only a compact digest carries low heartbeat bits');
  if (d.checks && !carriesLowHeartbeats(version))
    throw new InvalidArgumentError(`protocol ${version} has no low-bit heartbeats: the digest must carry them exact`);
  w.u8(
    (compact ? DIGEST_COMPACT : 0) |
      (d.complete ? DIGEST_COMPLETE : 0) |
      (d.buckets ? DIGEST_BUCKETS : 0) |
      (d.checks ? DIGEST_LOW_HEARTBEATS : 0) |
      (rates ? DIGEST_RATES : 0),
  );
  if (rates) writeRates(w, rates);
  w.varint(d.offset);
  w.varint(d.count);
  w.varint(d.ageLimit);
  // Column by column, not entry by entry: each column's values look alike (versions mostly equal,
  // heartbeats close), which DEFLATE exploits far better than interleaved entries. Sizes are the
  // same either way.
  if (!compact) for (let i = 0; i < d.count; i++) w.ref((d.refs as Column)[i] as number);
  writeHeartbeats(w, d.heartbeats, d.checks, d.count);
  if (d.checks) {
    w.varint(d.own ? d.own.index + 1 : 0);
    if (d.own) w.varint(d.own.heartbeat);
  } else if (d.own) {
    throw new InvalidArgumentError('only a digest with low heartbeat bits names its own entry');
  }
  for (const column of [d.ages, d.maxVersions, d.gcVersions]) writeVarints(w, column, d.count);
  if (d.buckets) {
    w.varint(d.buckets.length);
    for (let b = 0; b < d.buckets.length; b++) w.ref(d.buckets[b] as number);
  }
}

function writeDelta(w: Writer, d: Delta, version: ProtocolVersion): void {
  w.varint(d.nodes.length);
  for (const node of d.nodes) {
    w.ref(node.ref);
    if (node.commitment && (!node.identity || node.commitment.length !== COMMITMENT_BYTES))
      throw new InvalidArgumentError(`a commitment is ${COMMITMENT_BYTES} bytes, and only an introduction carries one`);
    const commitment = carriesLeaveProofs(version) ? node.commitment : undefined;
    w.u8((node.identity ? NODE_HAS_IDENTITY : 0) | (commitment ? NODE_HAS_COMMITMENT : 0));
    if (node.identity) writeIdentity(w, node.identity);
    if (commitment) w.raw(commitment);
    w.varint(node.heartbeat);
    w.varint(node.heartbeatAge);
    w.varint(node.lastGcVersion);
    w.varint(node.fromVersion);
    w.varint(node.maxVersion);
    w.varint(node.values.length);
    for (const v of node.values) {
      w.string(v.key);
      w.varint(v.version);
      w.u8(v.tombstone ? VALUE_TOMBSTONE : 0);
      if (!v.tombstone) w.string(v.value);
    }
  }
  const b = d.bumps;
  if (b.checks && !b.positional) throw new InvalidArgumentError('only positional bumps carry low heartbeat bits');
  if (b.checks && !carriesLowHeartbeats(version))
    throw new InvalidArgumentError(`protocol ${version} has no low-bit heartbeats: the bumps must carry them exact`);
  w.u8((b.positional ? BUMPS_POSITIONAL : 0) | (b.checks ? BUMPS_LOW_HEARTBEATS : 0));
  w.varint(b.count);
  let prev = -1;
  for (let i = 0; i < b.count; i++) {
    const key = b.keys[i] as number;
    // Positions ascend, so the gap to the previous one is a small varint, usually one byte.
    if (b.positional) w.varint(key - prev - 1);
    else w.ref(key);
    prev = key;
  }
  // Columns, as in digests.
  writeHeartbeats(w, b.heartbeats, b.checks, b.count);
  writeVarints(w, b.ages, b.count);
}

/**
 * Encodes a message body (no envelope header) in `version`. A message that uses what the version
 * cannot carry (low-bit heartbeats in version 3) is refused with an Error, never silently changed:
 * the core builds each message for its destination's version.
 */
export function encodeMessage(m: Message, version: ProtocolVersion = PROTOCOL_VERSION): Uint8Array {
  if (!isSupportedVersion(version))
    throw new InvalidArgumentError(
      `protocol version ${String(version)} is not spoken here (${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION})`,
    );
  // Protocol-5 fields are left out for older versions: their readers see the message they always did.
  if (version < 5 && (m.type === 'syn' || m.type === 'synAck') && m.rates) m = { ...m, rates: undefined };
  const w = new Writer(messageSize(m, version));
  w.u8(m.type === 'syn' && !m.pull ? PUSH_SYN_CODE : TYPE_CODES[m.type]);
  switch (m.type) {
    case 'syn':
      w.string(m.clusterId);
      w.ref(m.setHash);
      w.varint(m.setSize);
      writeDigest(w, m.digest, version, m.rates);
      break;
    case 'synAck':
      w.string(m.clusterId);
      w.ref(m.setHash);
      w.varint(m.setSize);
      writeDigest(w, m.request, version, m.rates);
      writeDelta(w, m.delta, version);
      break;
    case 'ack':
      w.string(m.clusterId);
      writeDelta(w, m.delta, version);
      break;
    case 'wrongCluster':
      w.string(m.clusterId);
      break;
    case 'leave':
      w.string(m.clusterId);
      writeIdentity(w, m.identity);
      w.varint(m.heartbeat);
      if (m.proof && m.proof.length !== LEAVE_SECRET_BYTES)
        throw new InvalidArgumentError(`a leave proof is ${LEAVE_SECRET_BYTES} bytes`);
      if (!carriesLeaveProofs(version)) break;
      w.u8(m.proof ? m.proof.length : 0);
      if (m.proof) w.raw(m.proof);
      break;
  }
  if (w.offset !== w.bytes.length)
    throw new InternalError(`codec size mismatch: wrote ${w.offset}, sized ${w.bytes.length}`);
  return w.bytes;
}

// ---------------------------------------------------------------- decode

function readIdentity(r: Reader): NodeIdentity {
  const id = r.string('identity id');
  const generation = r.varint('identity generation');
  const address = r.string('identity address');
  return { id, generation, address };
}

/** A digest; the sender's rates, when its flags say they follow them (protocol 5), go to `extra`. */
function readDigest(r: Reader, version: ProtocolVersion, extra: { rates?: RateState } = {}): Digest {
  const flags = r.u8('digest flags');
  const low = carriesLowHeartbeats(version);
  if (
    flags >
    (DIGEST_COMPACT |
      DIGEST_COMPLETE |
      DIGEST_BUCKETS |
      (low ? DIGEST_LOW_HEARTBEATS : 0) |
      (version >= 5 ? DIGEST_RATES : 0))
  )
    throw new DecodeError('bad-value', `digest flags ${flags} (protocol ${version})`);
  // Low heartbeat bits are restored against the receiver's own members: only positions can name them.
  if (flags & DIGEST_LOW_HEARTBEATS && !(flags & DIGEST_COMPACT))
    throw new DecodeError('bad-value', `digest flags ${flags}`);
  // Buckets summarize what an incomplete full digest leaves out; anywhere else they are malformed.
  if (flags & DIGEST_BUCKETS && flags & (DIGEST_COMPACT | DIGEST_COMPLETE))
    throw new DecodeError('bad-value', `digest flags ${flags}`);
  if (flags & DIGEST_RATES) extra.rates = readRates(r);
  const compact = (flags & DIGEST_COMPACT) !== 0;
  const offset = r.varint('digest offset');
  if (!compact && offset !== 0) throw new DecodeError('bad-value', 'full digest with a non-zero offset');
  const count = r.count('digest entries', compact ? (low ? MIN_COMPACT_ENTRY : MIN_COMPACT_ENTRY_V3) : MIN_FULL_ENTRY);
  const ageLimit = r.varint('digest age limit');
  const refs = compact ? null : new Float64Array(count);
  if (refs) for (let i = 0; i < count; i++) refs[i] = r.ref('digest ref');
  const { heartbeats, checks } = readHeartbeats(r, count, (flags & DIGEST_LOW_HEARTBEATS) !== 0, 'digest heartbeat');
  let own: Digest['own'];
  if (checks) {
    const index = r.varint('digest own entry') - 1;
    if (index >= count) throw new DecodeError('bad-value', `own entry ${index} of ${count}`);
    if (index >= 0) own = { index, heartbeat: r.varint('digest own heartbeat') };
  }
  const ages = readVarints(r, count, 'digest heartbeat age');
  if (ageLimit > 0 && ages.some((a) => a > ageLimit))
    throw new DecodeError('bad-value', `a digest age above its limit ${ageLimit}`);
  const maxVersions = readVarints(r, count, 'digest max version');
  const gcVersions = readVarints(r, count, 'digest gc version');
  const digest = {
    mode: compact ? 'compact' : 'full',
    complete: (flags & DIGEST_COMPLETE) !== 0,
    offset,
    count,
    refs,
    heartbeats,
    checks,
    ...(own ? { own } : {}),
    ages,
    ageLimit,
    maxVersions,
    gcVersions,
  } as const;
  if (!(flags & DIGEST_BUCKETS)) return digest;
  const n = r.count('digest buckets', REF_BYTES);
  if (n === 0 || n > MAX_BUCKETS || (n & (n - 1)) !== 0)
    throw new DecodeError('bad-value', `${n} digest buckets (a power of two up to ${MAX_BUCKETS})`);
  const buckets = new Float64Array(n);
  for (let i = 0; i < n; i++) buckets[i] = r.ref('digest bucket');
  return { ...digest, buckets };
}

function readDelta(r: Reader, version: ProtocolVersion): Delta {
  const low = carriesLowHeartbeats(version);
  const nodeCount = r.count('delta nodes', MIN_NODE_DELTA);
  const nodes: NodeDelta[] = [];
  for (let i = 0; i < nodeCount; i++) {
    const ref = r.ref('node ref');
    const flags = r.u8('node flags');
    // A commitment comes only with the identity it belongs to, and only from protocol 5 on.
    const most = NODE_HAS_IDENTITY | (carriesLeaveProofs(version) ? NODE_HAS_COMMITMENT : 0);
    if (flags > most || flags === NODE_HAS_COMMITMENT)
      throw new DecodeError('bad-value', `node flags ${flags} (protocol ${version})`);
    const identity = flags & NODE_HAS_IDENTITY ? readIdentity(r) : null;
    const commitment = flags & NODE_HAS_COMMITMENT ? r.raw(COMMITMENT_BYTES, 'leave commitment') : null;
    const heartbeat = r.varint('node heartbeat');
    const heartbeatAge = r.varint('node heartbeat age');
    const lastGcVersion = r.varint('node gc version');
    const fromVersion = r.varint('node from version');
    const maxVersion = r.varint('node max version');
    const valueCount = r.count('node values', MIN_VALUE);
    const values: VersionedValue[] = [];
    for (let j = 0; j < valueCount; j++) {
      const key = r.string('key');
      const version = r.varint('value version');
      const vflags = r.u8('value flags');
      if (vflags > VALUE_TOMBSTONE) throw new DecodeError('bad-value', `value flags ${vflags}`);
      const tombstone = vflags === VALUE_TOMBSTONE;
      const value = tombstone ? '' : r.string('value');
      values.push({ key, value, version, tombstone });
    }
    nodes.push({
      ref,
      identity,
      heartbeat,
      heartbeatAge,
      lastGcVersion,
      fromVersion,
      maxVersion,
      values,
      ...(commitment ? { commitment } : {}),
    });
  }
  const bumpFlags = r.u8('bump flags');
  if (bumpFlags > (BUMPS_POSITIONAL | (low ? BUMPS_LOW_HEARTBEATS : 0)) || bumpFlags === BUMPS_LOW_HEARTBEATS)
    throw new DecodeError('bad-value', `bump flags ${bumpFlags} (protocol ${version})`);
  const positional = (bumpFlags & BUMPS_POSITIONAL) !== 0;
  const bumpCount = r.count(
    'heartbeat bumps',
    positional ? (low ? MIN_POSITIONAL_BUMP : MIN_POSITIONAL_BUMP_V3) : MIN_BUMP,
  );
  const keys = new Float64Array(bumpCount);
  let prev = -1;
  for (let i = 0; i < bumpCount; i++) {
    if (positional) {
      const key = prev + 1 + r.varint('bump position gap');
      if (key > MAX_POSITION) throw new DecodeError('bad-value', `bump position ${key}`);
      keys[i] = key;
      prev = key;
    } else {
      keys[i] = r.ref('bump ref');
    }
  }
  const { heartbeats, checks } = readHeartbeats(
    r,
    bumpCount,
    (bumpFlags & BUMPS_LOW_HEARTBEATS) !== 0,
    'bump heartbeat',
  );
  const ages = readVarints(r, bumpCount, 'bump heartbeat age');
  return { nodes, bumps: { count: bumpCount, positional, keys, heartbeats, checks, ages } };
}

/** Decodes a message body of protocol `version` (the envelope's); throws only DecodeError. */
export function decodeMessage(body: Uint8Array, version: ProtocolVersion = PROTOCOL_VERSION): Message {
  if (!isSupportedVersion(version))
    throw new DecodeError(
      'bad-value',
      `protocol version ${String(version)} is not spoken here (${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION})`,
    );
  const r = new Reader(body);
  const code = r.u8('message type');
  let m: Message;
  switch (code) {
    case TYPE_CODES.syn:
    case PUSH_SYN_CODE: {
      const clusterId = r.string('cluster id');
      const setHash = r.ref('set hash');
      const setSize = r.varint('set size');
      const extra = {};
      m = {
        type: 'syn',
        clusterId,
        setHash,
        setSize,
        digest: readDigest(r, version, extra),
        pull: code === TYPE_CODES.syn,
        ...extra,
      };
      break;
    }
    case TYPE_CODES.synAck: {
      const clusterId = r.string('cluster id');
      const setHash = r.ref('set hash');
      const setSize = r.varint('set size');
      const extra = {};
      const request = readDigest(r, version, extra);
      if (request.mode !== 'full') throw new DecodeError('bad-value', 'a SYN-ACK request digest must be full mode');
      m = { type: 'synAck', clusterId, setHash, setSize, request, delta: readDelta(r, version), ...extra };
      break;
    }
    case TYPE_CODES.ack: {
      const clusterId = r.string('cluster id');
      m = { type: 'ack', clusterId, delta: readDelta(r, version) };
      break;
    }
    case TYPE_CODES.wrongCluster:
      m = { type: 'wrongCluster', clusterId: r.string('cluster id') };
      break;
    case TYPE_CODES.leave: {
      const clusterId = r.string('cluster id');
      const identity = readIdentity(r);
      m = { type: 'leave', clusterId, identity, heartbeat: r.varint('heartbeat') };
      if (!carriesLeaveProofs(version)) break;
      const length = r.u8('leave proof length');
      if (length !== 0 && length !== LEAVE_SECRET_BYTES)
        throw new DecodeError('bad-value', `a leave proof of ${length} bytes (${LEAVE_SECRET_BYTES} or none)`);
      if (length > 0) m = { ...m, proof: r.raw(length, 'leave proof') };
      break;
    }
    default:
      throw new DecodeError('bad-type', `unknown message type ${code}`);
  }
  if (r.remaining !== 0) throw new DecodeError('trailing-bytes', `${r.remaining} bytes after the message`);
  return m;
}

/** Empty heartbeat bumps, shared. */
export const NO_BUMPS: HeartbeatBumps = {
  count: 0,
  positional: false,
  keys: new Float64Array(0),
  heartbeats: new Float64Array(0),
  checks: null,
  ages: new Float64Array(0),
};
