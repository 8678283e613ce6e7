/** Message bodies from messages: the encoder for each protocol version spoken. */
import {
  BUMPS_LOW_HEARTBEATS,
  BUMPS_POSITIONAL,
  DIGEST_BUCKETS,
  DIGEST_COMPACT,
  DIGEST_COMPLETE,
  DIGEST_LOW_HEARTBEATS,
  NODE_HAS_COMMITMENT,
  NODE_HAS_IDENTITY,
  PUSH_SYN_CODE,
  TYPE_CODES,
  VALUE_TOMBSTONE,
} from './codes.js';
import { writeHeartbeats, writeVarints } from './columns.js';
import { messageSize } from './message-sizes.js';
import type { Column, Delta, Digest, Message, NodeIdentity, RateState, VersionedValue } from './messages.js';
import { COMMITMENT_BYTES, LEAVE_SECRET_BYTES } from './messages.js';
import {
  carriesLeaveProofs,
  carriesLowHeartbeats,
  isSupportedVersion,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  type ProtocolVersion,
} from './protocol.js';
import { DIGEST_RATES, writeRates } from './rates.js';
import { Writer } from './writer.js';
import { InternalError, InvalidArgumentError } from '../errors.js';

export function writeIdentity(w: Writer, identity: NodeIdentity): void {
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

/** A node's values: count (varint), then each key, version, flags and (unless a tombstone) value. */
export function writeValues(w: Writer, values: readonly VersionedValue[]): void {
  w.varint(values.length);
  for (const v of values) {
    w.string(v.key);
    w.varint(v.version);
    w.u8(v.tombstone ? VALUE_TOMBSTONE : 0);
    if (!v.tombstone) w.string(v.value);
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
    writeValues(w, node.values);
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
