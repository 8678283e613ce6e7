/** Messages from message bodies: the decoder for each protocol version spoken, bounds-checked. */
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
import { readHeartbeats, readVarints } from './columns.js';
import { DecodeError } from './errors.js';
import type { Delta, Digest, Message, NodeDelta, NodeIdentity, RateState, VersionedValue } from './messages.js';
import { COMMITMENT_BYTES, LEAVE_SECRET_BYTES, MAX_BUCKETS } from './messages.js';
import {
  carriesLeaveProofs,
  carriesLowHeartbeats,
  isSupportedVersion,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  type ProtocolVersion,
} from './protocol.js';
import { DIGEST_RATES, readRates } from './rates.js';
import { Reader } from './reader.js';
import { REF_BYTES } from './varint.js';

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

export function readIdentity(r: Reader): NodeIdentity {
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

/** A node's values, as writeValues writes them; the count is checked against the bytes left first. */
export function readValues(r: Reader): VersionedValue[] {
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
  return values;
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
    const values = readValues(r);
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
