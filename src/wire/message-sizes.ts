/**
 * The exact encoded size of a message and of each of its parts, for the core to budget packets by and
 * for the encoder to allocate once.
 */
import type { Delta, Digest, HeartbeatBumps, Message, NodeDelta, NodeIdentity, VersionedValue } from './messages.js';
import { COMMITMENT_BYTES } from './messages.js';
import { lowHeartbeatBytes } from './low-heartbeats.js';
import { carriesLeaveProofs, PROTOCOL_VERSION, type ProtocolVersion } from './protocol.js';
import { ratesSize } from './rates.js';
import { REF_BYTES, stringSize, varintSize } from './varint.js';

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
