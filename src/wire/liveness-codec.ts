/**
 * The codec of protocol 7's messages (types 12 to 21, wire/liveness-messages.ts): encoder and bounds-checked
 * decoder. docs/protocol.md ("Protocol 7 message layouts") gives every layout byte by byte; the exact sizes are
 * in wire/liveness-sizes.ts. Not yet spoken: the envelope still carries protocol 6, and wire/any.ts does not
 * route these codes here until the coordinator speaks 7.
 *
 * The encoder refuses (InvalidArgumentError) what the decoder would refuse, so every message it writes reads
 * back equal: hashes and refs outside [0, 2^48), u16 fields outside [0, 2^16), flag bits it does not know,
 * fixed-size byte fields of another length, digest7 columns or sums of another length than their count, bitmaps of
 * the wrong length or with bits set past the member count.
 */
import { NODE_HAS_COMMITMENT, NODE_HAS_IDENTITY } from './codes.js';
import { readVarints, writeVarints } from './columns.js';
import { readIdentity, readValues } from './decode.js';
import { writeIdentity, writeValues } from './encode.js';
import { DecodeError } from './errors.js';
import {
  BEAT_DEAD_HERE,
  BEAT_ECHO,
  BEAT_LAST,
  BEAT_MODE_7,
  BEAT_SUSPECT_YOU,
  LIVENESS_TYPE_CODES as CODES,
  REPORT_KEY_BYTES,
  REPORT_SIGNATURE_BYTES,
  type Digest7,
  type LivenessMessage,
  type NodeDelta7,
  type ReportKind,
  type ReportRecord,
  type ReportSet,
} from './liveness-messages.js';
import {
  censusBitmapBytes,
  livenessMessageBytes,
  MAX_REPORT_RECORDS,
  STREAM_HELLO_SUMS,
  sumsCount,
} from './liveness-sizes.js';
import { COMMITMENT_BYTES, LEAVE_SECRET_BYTES, type Column } from './messages.js';
import { Reader } from './reader.js';
import { REF_BYTES } from './varint.js';
import { Writer } from './writer.js';
import { InternalError, InvalidArgumentError } from '../errors.js';

/** Every BEAT flag bit; any other set bit is refused. */
const BEAT_FLAGS = BEAT_ECHO | BEAT_SUSPECT_YOU | BEAT_MODE_7 | BEAT_LAST | BEAT_DEAD_HERE;
/** SUMS flags: a reply (to a SUMS); the differing leaves are too big for a packet, open a stream. */
export const SUMS_REPLY = 1;
export const SUMS_STREAM_WANTED = 2;
/** digest7 flags: every member the sender holds is listed; a hot digest (news). */
export const DIGEST7_COMPLETE = 1;
export const DIGEST7_HOT = 2;
/**
 * Protocol-7 node delta flags. Bits 0 (identity) and 1 (leave commitment, only with bit 0) are protocol 6's
 * NODE_HAS_IDENTITY and NODE_HAS_COMMITMENT; bit 2: the report-signing public key follows the commitment (only
 * with bit 0); bit 3: a report set follows the values; bit 4: the leave secret follows (last).
 */
export const NODE7_HAS_PUBLIC_KEY = 4;
export const NODE7_HAS_REPORTS = 8;
export const NODE7_LEFT = 16;
const NODE7_FLAGS = NODE_HAS_IDENTITY | NODE_HAS_COMMITMENT | NODE7_HAS_PUBLIC_KEY | NODE7_HAS_REPORTS | NODE7_LEFT;
/** CENSUS-PULL flags: a direct check of one absentee (no bitmap). */
export const CENSUS_PULL_VERIFICATION = 1;
/** CENSUS flags: the responder's membership differs from the pull's (no bitmaps follow). */
export const CENSUS_DIFFERS = 1;

const HASH_LIMIT = 2 ** 48;
/** Smallest encodings, to refuse a lying count before allocating: a digest7 entry is a ref and four varints. */
const MIN_DIGEST7_ENTRY = REF_BYTES + 4;
/** A node delta: ref, flags, five varints (incarnation, GC, from, max, value count). */
const MIN_NODE_DELTA7 = REF_BYTES + 6;
/** A report record: subject ref, incarnation varint, kind. */
const MIN_REPORT_RECORD = REF_BYTES + 2;

function checkHash(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v >= HASH_LIMIT) throw new InvalidArgumentError(`${what} ${v} is not 48 bits`);
}

function checkU16(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new InvalidArgumentError(`${what} ${v} is not a u16`);
}

function checkBytes(b: Uint8Array, length: number, what: string): void {
  if (b.length !== length) throw new InvalidArgumentError(`${what} is ${length} bytes (got ${b.length})`);
}

function writeHashes(w: Writer, column: Column, count: number, what: string): void {
  if (column.length !== count) throw new InvalidArgumentError(`${count} ${what} expected (got ${column.length})`);
  for (let i = 0; i < count; i++) {
    checkHash(column[i] as number, what);
    w.ref(column[i] as number);
  }
}

function readHashes(r: Reader, count: number, what: string): Float64Array {
  if (count * REF_BYTES > r.remaining)
    throw new DecodeError('truncated', `${what}: ${count} need ${count * REF_BYTES} bytes, have ${r.remaining}`);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = r.ref(what);
  return out;
}

/**
 * Bits past `memberCount` in a bitmap's last byte: zero, so that a bitmap has one encoding. `allowEmpty`: the
 * field may be left out (length 0) where the layout allows it.
 */
function bitmapProblem(b: Uint8Array, memberCount: number, allowEmpty: boolean): string | null {
  if (b.length === 0 && allowEmpty) return null;
  const expected = censusBitmapBytes(memberCount);
  if (b.length !== expected) return `a bitmap of ${b.length} bytes over ${memberCount} members (${expected})`;
  const spare = expected * 8 - memberCount;
  if (spare > 0 && (b[expected - 1] as number) >> (8 - spare) !== 0) return 'bits set past the member count';
  return null;
}

function writeBitmap(w: Writer, b: Uint8Array, memberCount: number, allowEmpty: boolean): void {
  const problem = bitmapProblem(b, memberCount, allowEmpty);
  if (problem) throw new InvalidArgumentError(problem);
  w.varint(b.length);
  w.raw(b);
}

function readBitmap(r: Reader, memberCount: number, allowEmpty: boolean, what: string): Uint8Array {
  const length = r.varint(`${what} length`);
  if (length > r.remaining)
    throw new DecodeError('truncated', `${what}: length ${length} exceeds the ${r.remaining} bytes left`);
  const b = r.raw(length, what);
  const problem = bitmapProblem(b, memberCount, allowEmpty);
  if (problem) throw new DecodeError('bad-value', `${what}: ${problem}`);
  return b;
}

function writeDigest7(w: Writer, d: Digest7): void {
  w.u8((d.complete ? DIGEST7_COMPLETE : 0) | (d.hot ? DIGEST7_HOT : 0));
  w.varint(d.count);
  // Column by column, as protocol 6's digests: each column's values look alike, which DEFLATE exploits.
  writeHashes(w, d.refs, d.count, 'digest7 ref');
  for (const column of [d.incarnations, d.maxVersions, d.gcVersions, d.reportVersions]) {
    if (column.length !== d.count)
      throw new InvalidArgumentError(`a digest7 column of ${column.length}, not ${d.count}`);
    writeVarints(w, column, d.count);
  }
}

function readDigest7(r: Reader): Digest7 {
  const flags = r.u8('digest7 flags');
  if (flags > (DIGEST7_COMPLETE | DIGEST7_HOT)) throw new DecodeError('bad-value', `digest7 flags ${flags}`);
  const count = r.count('digest7 entries', MIN_DIGEST7_ENTRY);
  return {
    complete: (flags & DIGEST7_COMPLETE) !== 0,
    hot: (flags & DIGEST7_HOT) !== 0,
    count,
    refs: readHashes(r, count, 'digest7 ref'),
    incarnations: readVarints(r, count, 'digest7 incarnation'),
    maxVersions: readVarints(r, count, 'digest7 max version'),
    gcVersions: readVarints(r, count, 'digest7 gc version'),
    reportVersions: readVarints(r, count, 'digest7 report version'),
  };
}

function writeReportSet(w: Writer, s: ReportSet): void {
  if (s.records.length > MAX_REPORT_RECORDS)
    throw new InvalidArgumentError(`a report set holds at most ${MAX_REPORT_RECORDS} records (${s.records.length})`);
  checkBytes(s.signature, REPORT_SIGNATURE_BYTES, 'a report signature');
  w.varint(s.version);
  w.varint(s.censusEpoch);
  w.u8(s.records.length);
  for (const rec of s.records) {
    checkHash(rec.subject, 'report subject');
    if (rec.kind !== 1 && rec.kind !== 2) throw new InvalidArgumentError(`report kind ${String(rec.kind)}`);
    w.ref(rec.subject);
    w.varint(rec.incarnation);
    w.u8(rec.kind);
  }
  w.raw(s.signature);
}

function readReportSet(r: Reader): ReportSet {
  const version = r.varint('report version');
  const censusEpoch = r.varint('report census epoch');
  const count = r.u8('report record count');
  if (count > MAX_REPORT_RECORDS) throw new DecodeError('bad-value', `${count} report records (${MAX_REPORT_RECORDS})`);
  if (count * MIN_REPORT_RECORD + REPORT_SIGNATURE_BYTES > r.remaining)
    throw new DecodeError('too-large', `${count} report records cannot fit in the ${r.remaining} bytes left`);
  const records: ReportRecord[] = [];
  for (let i = 0; i < count; i++) {
    const subject = r.ref('report subject');
    const incarnation = r.varint('report incarnation');
    const kind = r.u8('report kind');
    if (kind !== 1 && kind !== 2) throw new DecodeError('bad-value', `report kind ${kind}`);
    records.push({ subject, incarnation, kind: kind as ReportKind });
  }
  return { version, censusEpoch, records, signature: r.raw(REPORT_SIGNATURE_BYTES, 'report signature') };
}

function writeNodes(w: Writer, nodes: readonly NodeDelta7[]): void {
  w.varint(nodes.length);
  for (const n of nodes) {
    checkHash(n.ref, 'node ref');
    if ((n.commitment || n.publicKey) && !n.identity)
      throw new InvalidArgumentError('only an introduction (a delta with its identity) carries a commitment or key');
    if (n.commitment) checkBytes(n.commitment, COMMITMENT_BYTES, 'a leave commitment');
    if (n.publicKey) checkBytes(n.publicKey, REPORT_KEY_BYTES, 'a report key');
    if (n.left) checkBytes(n.left, LEAVE_SECRET_BYTES, 'a leave secret');
    w.ref(n.ref);
    w.u8(
      (n.identity ? NODE_HAS_IDENTITY : 0) |
        (n.commitment ? NODE_HAS_COMMITMENT : 0) |
        (n.publicKey ? NODE7_HAS_PUBLIC_KEY : 0) |
        (n.reports ? NODE7_HAS_REPORTS : 0) |
        (n.left ? NODE7_LEFT : 0),
    );
    if (n.identity) writeIdentity(w, n.identity);
    if (n.commitment) w.raw(n.commitment);
    if (n.publicKey) w.raw(n.publicKey);
    w.varint(n.incarnation);
    w.varint(n.lastGcVersion);
    w.varint(n.fromVersion);
    w.varint(n.maxVersion);
    writeValues(w, n.values);
    if (n.reports) writeReportSet(w, n.reports);
    if (n.left) w.raw(n.left);
  }
}

function readNodes(r: Reader): NodeDelta7[] {
  const count = r.count('node deltas', MIN_NODE_DELTA7);
  const nodes: NodeDelta7[] = [];
  for (let i = 0; i < count; i++) {
    const ref = r.ref('node ref');
    const flags = r.u8('node flags');
    if (flags > NODE7_FLAGS || (!(flags & NODE_HAS_IDENTITY) && flags & (NODE_HAS_COMMITMENT | NODE7_HAS_PUBLIC_KEY)))
      throw new DecodeError('bad-value', `node flags ${flags} (protocol 7)`);
    const identity = flags & NODE_HAS_IDENTITY ? readIdentity(r) : null;
    const commitment = flags & NODE_HAS_COMMITMENT ? r.raw(COMMITMENT_BYTES, 'leave commitment') : undefined;
    const publicKey = flags & NODE7_HAS_PUBLIC_KEY ? r.raw(REPORT_KEY_BYTES, 'report key') : undefined;
    const incarnation = r.varint('node incarnation');
    const lastGcVersion = r.varint('node gc version');
    const fromVersion = r.varint('node from version');
    const maxVersion = r.varint('node max version');
    const values = readValues(r);
    const reports = flags & NODE7_HAS_REPORTS ? readReportSet(r) : undefined;
    const left = flags & NODE7_LEFT ? r.raw(LEAVE_SECRET_BYTES, 'leave secret') : undefined;
    nodes.push({
      ref,
      identity,
      incarnation,
      lastGcVersion,
      fromVersion,
      maxVersion,
      values,
      ...(commitment ? { commitment } : {}),
      ...(publicKey ? { publicKey } : {}),
      ...(reports ? { reports } : {}),
      ...(left ? { left } : {}),
    });
  }
  return nodes;
}

/** Encodes a protocol-7 message body (no envelope header). Refuses what decodeLivenessMessage would refuse. */
export function encodeLivenessMessage(m: LivenessMessage): Uint8Array {
  const w = new Writer(livenessMessageBytes(m));
  switch (m.type) {
    case 'beat':
      if (!Number.isInteger(m.flags) || m.flags < 0 || m.flags > BEAT_FLAGS)
        throw new InvalidArgumentError(`beat flags ${m.flags}`);
      checkU16(m.senderTag, 'beat sender tag');
      checkU16(m.sequence, 'beat sequence');
      checkU16(m.echo, 'beat echo');
      checkHash(m.stateHash, 'state hash');
      w.u8(CODES.beat);
      w.u8(m.flags);
      w.u16(m.senderTag);
      w.u16(m.sequence);
      w.u16(m.echo);
      w.ref(m.stateHash);
      break;
    case 'sums':
      checkU16(m.mask, 'sums mask');
      if (m.level !== 1 && m.level !== 2) throw new InvalidArgumentError(`sums level ${String(m.level)}`);
      if (m.level === 1 && m.mask !== 0xffff) throw new InvalidArgumentError('level-1 sums carry every bucket');
      checkHash(m.stateHash, 'state hash');
      w.u8(CODES.sums);
      w.string(m.clusterId);
      w.u8((m.reply ? SUMS_REPLY : 0) | (m.streamWanted ? SUMS_STREAM_WANTED : 0));
      w.ref(m.stateHash);
      w.varint(m.memberCount);
      w.u8(m.level);
      w.u16(m.mask);
      writeHashes(w, m.sums, sumsCount(m.level, m.mask), 'bucket sum');
      break;
    case 'syn7':
    case 'synAck7':
      checkHash(m.stateHash, 'state hash');
      w.u8(m.type === 'synAck7' ? CODES.synAck7 : m.pull ? CODES.syn7 : CODES.pushSyn7);
      w.string(m.clusterId);
      w.ref(m.stateHash);
      w.varint(m.memberCount);
      if (m.type === 'syn7') {
        w.varint(m.censusEpoch);
        writeDigest7(w, m.digest);
      } else {
        writeDigest7(w, m.request);
        writeNodes(w, m.nodes);
      }
      break;
    case 'ack7':
      w.u8(CODES.ack7);
      w.string(m.clusterId);
      writeNodes(w, m.nodes);
      break;
    case 'censusPull':
    case 'census':
      checkHash(m.membershipHash, 'membership hash');
      w.u8(m.type === 'census' ? CODES.census : CODES.censusPull);
      w.string(m.clusterId);
      w.varint(m.epoch);
      w.ref(m.membershipHash);
      w.varint(m.memberCount);
      if (m.type === 'censusPull') {
        w.u8(m.verification ? CENSUS_PULL_VERIFICATION : 0);
        if (m.verification && m.present.length !== 0)
          throw new InvalidArgumentError('a verification pull carries no bitmap');
        writeBitmap(w, m.present, m.memberCount, true);
      } else {
        w.u8(m.differs ? CENSUS_DIFFERS : 0);
        if (m.differs) {
          if (m.present.length + m.reported.length !== 0)
            throw new InvalidArgumentError('a census reply whose membership differs carries no bitmaps');
        } else {
          writeBitmap(w, m.present, m.memberCount, false);
          writeBitmap(w, m.reported, m.memberCount, false);
        }
      }
      break;
    case 'streamHello':
      checkHash(m.sender, 'sender ref');
      checkHash(m.stateHash, 'state hash');
      w.u8(CODES.streamHello);
      w.string(m.clusterId);
      w.ref(m.sender);
      w.ref(m.stateHash);
      writeHashes(w, m.sums, STREAM_HELLO_SUMS, 'leaf sum');
      break;
    case 'streamEnd':
      checkHash(m.stateHash, 'state hash');
      w.u8(CODES.streamEnd);
      w.varint(m.frames);
      w.ref(m.stateHash);
      break;
  }
  if (w.offset !== w.bytes.length)
    throw new InternalError(`liveness codec size mismatch: wrote ${w.offset}, sized ${w.bytes.length}`);
  return w.bytes;
}

/** Decodes a protocol-7 message body; throws only DecodeError (bad-type for a code outside 12..21). */
export function decodeLivenessMessage(body: Uint8Array): LivenessMessage {
  const r = new Reader(body);
  const code = r.u8('message type');
  let m: LivenessMessage;
  switch (code) {
    case CODES.beat: {
      const flags = r.u8('beat flags');
      if (flags > BEAT_FLAGS) throw new DecodeError('bad-value', `beat flags ${flags}`);
      const senderTag = r.u16('beat sender tag');
      const sequence = r.u16('beat sequence');
      const echo = r.u16('beat echo');
      m = { type: 'beat', flags, senderTag, sequence, echo, stateHash: r.ref('state hash') };
      break;
    }
    case CODES.sums: {
      const clusterId = r.string('cluster id');
      const flags = r.u8('sums flags');
      if (flags > (SUMS_REPLY | SUMS_STREAM_WANTED)) throw new DecodeError('bad-value', `sums flags ${flags}`);
      const stateHash = r.ref('state hash');
      const memberCount = r.varint('member count');
      const level = r.u8('sums level');
      if (level !== 1 && level !== 2) throw new DecodeError('bad-value', `sums level ${level}`);
      const mask = r.u16('sums mask');
      if (level === 1 && mask !== 0xffff) throw new DecodeError('bad-value', `level-1 sums with mask ${mask}`);
      const sums = readHashes(r, sumsCount(level, mask), 'bucket sum');
      const reply = (flags & SUMS_REPLY) !== 0;
      const streamWanted = (flags & SUMS_STREAM_WANTED) !== 0;
      m = { type: 'sums', clusterId, reply, streamWanted, stateHash, memberCount, level, mask, sums };
      break;
    }
    case CODES.syn7:
    case CODES.pushSyn7:
    case CODES.synAck7: {
      const clusterId = r.string('cluster id');
      const stateHash = r.ref('state hash');
      const memberCount = r.varint('member count');
      if (code === CODES.synAck7) {
        const request = readDigest7(r);
        m = { type: 'synAck7', clusterId, stateHash, memberCount, request, nodes: readNodes(r) };
      } else {
        const censusEpoch = r.varint('census epoch');
        const digest = readDigest7(r);
        m = { type: 'syn7', clusterId, pull: code === CODES.syn7, stateHash, memberCount, censusEpoch, digest };
      }
      break;
    }
    case CODES.ack7:
      m = { type: 'ack7', clusterId: r.string('cluster id'), nodes: readNodes(r) };
      break;
    case CODES.censusPull:
    case CODES.census: {
      const clusterId = r.string('cluster id');
      const epoch = r.varint('census epoch');
      const membershipHash = r.ref('membership hash');
      const memberCount = r.varint('member count');
      const flags = r.u8('census flags');
      // Both messages have one flag bit, bit 0.
      if (flags > 1) throw new DecodeError('bad-value', `census flags ${flags}`);
      const head = { clusterId, epoch, membershipHash, memberCount };
      if (code === CODES.censusPull) {
        const verification = flags === CENSUS_PULL_VERIFICATION;
        const present = readBitmap(r, memberCount, true, 'present bitmap');
        if (verification && present.length !== 0)
          throw new DecodeError('bad-value', 'a verification pull with a bitmap');
        m = { type: 'censusPull', ...head, verification, present };
      } else if (flags === CENSUS_DIFFERS) {
        m = { type: 'census', ...head, differs: true, present: new Uint8Array(0), reported: new Uint8Array(0) };
      } else {
        const present = readBitmap(r, memberCount, false, 'present bitmap');
        const reported = readBitmap(r, memberCount, false, 'reported bitmap');
        m = { type: 'census', ...head, differs: false, present, reported };
      }
      break;
    }
    case CODES.streamHello: {
      const clusterId = r.string('cluster id');
      const sender = r.ref('sender ref');
      const stateHash = r.ref('state hash');
      m = { type: 'streamHello', clusterId, sender, stateHash, sums: readHashes(r, STREAM_HELLO_SUMS, 'leaf sum') };
      break;
    }
    case CODES.streamEnd: {
      const frames = r.varint('stream frames');
      m = { type: 'streamEnd', frames, stateHash: r.ref('state hash') };
      break;
    }
    default:
      throw new DecodeError('bad-type', `unknown protocol-7 message type ${code}`);
  }
  if (r.remaining !== 0) throw new DecodeError('trailing-bytes', `${r.remaining} bytes after the message`);
  return m;
}
