/**
 * Exact encoded sizes of protocol 7's messages and of their parts (wire/liveness-codec.ts writes them), so that
 * the core can pack a packet to a byte budget before it builds it, and the encoder can allocate once. Every
 * function here equals the length the codec writes; test/wire/liveness-codec.test.ts checks each against it.
 */
import type {
  Digest7,
  LivenessMessage,
  NodeDelta7,
  ReportRecord,
  ReportSet,
  StreamHelloMessage,
} from './liveness-messages.js';
import { HASH_BYTES, REPORT_KEY_BYTES, REPORT_SIGNATURE_BYTES } from './liveness-messages.js';
import { identitySize, valueSize } from './message-sizes.js';
import { COMMITMENT_BYTES, LEAVE_SECRET_BYTES } from './messages.js';
import { REF_BYTES, stringSize, varintSize } from './varint.js';

/** A BEAT's whole body: type, flags, sender tag (u16), sequence (u16), echo (u16), state hash. */
export const BEAT_BYTES = 1 + 1 + 2 + 2 + 2 + HASH_BYTES;

/** Bucket sums per expanded level-1 bucket of a SUMS message (each HASH_BYTES). */
export const SUMS_PER_BUCKET = 16;
/** Leaf sums in a STREAM-HELLO (each HASH_BYTES): every leaf bucket, no count on the wire. */
export const STREAM_HELLO_SUMS = 256;
/** Most records a report set may carry on the wire (its count is one byte; 2K records with K up to 32). */
export const MAX_REPORT_RECORDS = 64;

/** The size of a BEAT body: always BEAT_BYTES, whatever its fields. */
export function beatBytes(): number {
  return BEAT_BYTES;
}

/** Bytes of a census bitmap over `memberCount` members: one bit each, the last byte padded with zero bits. */
export function censusBitmapBytes(memberCount: number): number {
  return Math.ceil(memberCount / 8);
}

/** A bitmap field as written: its length (varint), then its bytes (`length` is 0 or censusBitmapBytes). */
export function bitmapFieldBytes(length: number): number {
  return varintSize(length) + length;
}

/** A digest7's fixed part: flags (1) and entry count (varint). */
export function digest7HeaderBytes(count: number): number {
  return 1 + varintSize(count);
}

/** What one entry adds to a digest7, given its values: ref (6) and four varints. */
export function digest7EntryBytes(
  incarnation: number,
  maxVersion: number,
  gcVersion: number,
  reportVersion: number,
): number {
  return (
    REF_BYTES + varintSize(incarnation) + varintSize(maxVersion) + varintSize(gcVersion) + varintSize(reportVersion)
  );
}

export function digest7Bytes(d: Digest7): number {
  let n = digest7HeaderBytes(d.count);
  for (let i = 0; i < d.count; i++)
    n += digest7EntryBytes(
      d.incarnations[i] as number,
      d.maxVersions[i] as number,
      d.gcVersions[i] as number,
      d.reportVersions[i] as number,
    );
  return n;
}

/** One report record: subject ref (6), subject incarnation (varint), kind (1). */
export function reportRecordBytes(r: ReportRecord): number {
  return REF_BYTES + varintSize(r.incarnation) + 1;
}

/** A report set: version, census epoch (varints), record count (1), the records, the signature (64). */
export function reportSetBytes(s: ReportSet): number {
  let n = varintSize(s.version) + varintSize(s.censusEpoch) + 1 + REPORT_SIGNATURE_BYTES;
  for (const r of s.records) n += reportRecordBytes(r);
  return n;
}

/** A protocol-7 node delta, with whichever optional parts it carries. */
export function nodeDelta7Bytes(d: NodeDelta7): number {
  let n =
    REF_BYTES +
    1 +
    (d.identity ? identitySize(d.identity) : 0) +
    (d.commitment ? COMMITMENT_BYTES : 0) +
    (d.publicKey ? REPORT_KEY_BYTES : 0) +
    varintSize(d.incarnation) +
    varintSize(d.lastGcVersion) +
    varintSize(d.fromVersion) +
    varintSize(d.maxVersion) +
    varintSize(d.values.length) +
    (d.reports ? reportSetBytes(d.reports) : 0) +
    (d.left ? LEAVE_SECRET_BYTES : 0);
  for (const v of d.values) n += valueSize(v);
  return n;
}

/** A list of node deltas: count (varint), then each. */
export function nodeDeltas7Bytes(nodes: readonly NodeDelta7[]): number {
  let n = varintSize(nodes.length);
  for (const d of nodes) n += nodeDelta7Bytes(d);
  return n;
}

/** The fixed part of a SYN7 or SYN-ACK7 before its digest: type, cluster id, state hash, member count. */
export function exchange7HeaderBytes(clusterId: string, memberCount: number): number {
  return 1 + stringSize(clusterId) + HASH_BYTES + varintSize(memberCount);
}

/** Number of bits set in a 16-bit mask: the level-1 buckets whose sums a SUMS message carries. */
export function maskBuckets(mask: number): number {
  let n = 0;
  for (let m = mask & 0xffff; m !== 0; m &= m - 1) n++;
  return n;
}

/**
 * Sums a SUMS message carries: at level 1 the 16 level-1 sums (its mask is 0xffff), at level 2 the 16 leaf sums of
 * each level-1 bucket set in its mask.
 */
export function sumsCount(level: 1 | 2, mask: number): number {
  return level === 1 ? SUMS_PER_BUCKET : maskBuckets(mask) * SUMS_PER_BUCKET;
}

/** The exact length encodeLivenessMessage(m) produces. */
export function livenessMessageBytes(m: LivenessMessage): number {
  switch (m.type) {
    case 'beat':
      return BEAT_BYTES;
    case 'sums':
      return (
        1 +
        stringSize(m.clusterId) +
        1 +
        HASH_BYTES +
        varintSize(m.memberCount) +
        1 +
        2 +
        sumsCount(m.level, m.mask) * HASH_BYTES
      );
    case 'syn7':
      return exchange7HeaderBytes(m.clusterId, m.memberCount) + varintSize(m.censusEpoch) + digest7Bytes(m.digest);
    case 'synAck7':
      return exchange7HeaderBytes(m.clusterId, m.memberCount) + digest7Bytes(m.request) + nodeDeltas7Bytes(m.nodes);
    case 'ack7':
      return 1 + stringSize(m.clusterId) + nodeDeltas7Bytes(m.nodes);
    case 'censusPull':
      return censusHeaderBytes(m.clusterId, m.epoch, m.memberCount) + 1 + bitmapFieldBytes(m.present.length);
    case 'census':
      return (
        censusHeaderBytes(m.clusterId, m.epoch, m.memberCount) +
        1 +
        (m.differs ? 0 : bitmapFieldBytes(m.present.length) + bitmapFieldBytes(m.reported.length))
      );
    case 'streamHello':
      return streamHelloBytes(m);
    case 'streamEnd':
      return 1 + varintSize(m.frames) + HASH_BYTES;
  }
}

/** The part CENSUS-PULL and CENSUS share before their flags: type, cluster id, epoch, membership hash, count. */
export function censusHeaderBytes(clusterId: string, epoch: number, memberCount: number): number {
  return 1 + stringSize(clusterId) + varintSize(epoch) + HASH_BYTES + varintSize(memberCount);
}

function streamHelloBytes(m: StreamHelloMessage): number {
  return 1 + stringSize(m.clusterId) + REF_BYTES + HASH_BYTES + STREAM_HELLO_SUMS * HASH_BYTES;
}
