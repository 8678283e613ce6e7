/**
 * The messages of the protocol, as plain data. The core produces and consumes these;
 * `wire/codec.ts` turns them into bytes and back. Digests and bumps are columnar
 * (typed arrays) because at 10,000 nodes a digest is 10,000 entries and one object
 * per entry would dominate both the simulator's memory and the codec's time.
 */

/** A member's identity. A restarted process has a new generation and is a new member. */
export interface NodeIdentity {
  /** Unique name of the node in the cluster. */
  readonly id: string;
  /** Incarnation number: strictly greater for every restart of the same id (the runtime uses a ms timestamp). */
  readonly generation: number;
  /** Public gossip address, "host:port" (IPv6 as "[::1]:port"). */
  readonly address: string;
}

/**
 * The digest: for each node the sender knows, (heartbeat, max version, last GC version).
 * - mode 'full': every entry names its node by `refs[i]` (a 48-bit hash of the identity).
 * - mode 'compact': no refs; entry i is the node at position `offset + i` of the sender's
 *   membership sorted by ref, and heartbeats may be sent as their low bits. Only valid when the
 *   receiver's membership hash equals `setHash` and its size equals `setSize`; the sender uses
 *   it only when the peer told it so.
 * `complete` is false when the digest was cut to fit the byte budget: a node absent from an
 * incomplete digest is "not listed", not "unknown to the sender".
 */
/**
 * A column of numbers in a message. Decoded messages hold Float64Arrays; the core builds plain arrays,
 * which live on the JS heap: typed arrays are allocated off-heap, and at hundreds of kilobytes a
 * message that rate of off-heap allocation keeps starting full garbage collections.
 */
export type Column = ArrayLike<number>;

export interface Digest {
  readonly mode: 'full' | 'compact';
  readonly complete: boolean;
  /** compact mode: position in the sorted membership of the first entry. 0 in full mode. */
  readonly offset: number;
  /** Length of every column below. */
  readonly count: number;
  /** full mode: node refs; compact mode: null. */
  readonly refs: Column | null;
  /**
   * The heartbeats; or, when `checks` is set (compact mode only), their low bits only (0-15), restored
   * by the receiver from its own heartbeats and checked by `checks` (see wire/low-heartbeats.ts).
   */
  readonly heartbeats: Column;
  /**
   * Low bits only: one check per CHECK_GROUP entries, over the full heartbeats (groupChecks). null when
   * the heartbeats are exact: always in full mode, and in compact mode when the sender's heartbeats are
   * close together (lowBitsPay).
   */
  readonly checks: Column | null;
  /**
   * With low bits (`checks`), the entry that is the sender itself, when the digest holds it, and its
   * heartbeat in full. The sender's own heartbeat is the news a digest must always carry: a node that
   * was deaf for seconds holds everyone else's heartbeats 8 or more beats behind, so its groups fail
   * their checks everywhere, and its own liveness would otherwise travel only in replies it cannot hear.
   */
  readonly own?: { readonly index: number; readonly heartbeat: number };
  /**
   * How long ago each heartbeat was produced by its owner, in HEARTBEAT_AGE_UNIT_MS units (see HEARTBEAT_AGE_UNIT_MS).
   */
  readonly ages: Column;
  /**
   * 0: every age is exact. Otherwise no age exceeds it, and an age equal to it means "this old or
   * older". A heartbeat a gossip interval old is rarely news to anyone, and its exact age is
   * half the bytes of a compressed digest (ages are the one column that looks random); a receiver
   * that does find it new places its birth by the owner's rhythm instead (see core).
   */
  readonly ageLimit: number;
  readonly maxVersions: Column;
  readonly gcVersions: Column;
  /**
   * Only on an incomplete full digest: the sender's membership in `buckets.length` (a power of two)
   * buckets by ref, each the sum of its refs modulo 2^48 (see bucketOf). A receiver whose bucket
   * differs introduces its members of that bucket, so a node whose digest no longer fits one
   * packet still learns the members it lacks.
   */
  readonly buckets?: Column;
}

/** Most buckets a digest may carry (6 bytes each). */
export const MAX_BUCKETS = 256;

/** The bucket of a ref among `count` (a power of two): its top bits, independent of the low bits that sums mix. */
export function bucketOf(ref: number, count: number): number {
  return Math.floor(ref / 2 ** 40) & (count - 1);
}

/**
 * Heartbeat ages travel in units of 50 ms (one varint byte up to 6.35 s). An age lets every observer place a
 * heartbeat's birth on
 * its own clock (now − age) whatever path it took, so all observers anchor their failure detector
 * on the same instant instead of on when gossip happened to deliver it.
 */
export const HEARTBEAT_AGE_UNIT_MS = 50;

/** One versioned key-value of a node's map. A tombstone has value "" and `tombstone` true. */
export interface VersionedValue {
  readonly key: string;
  readonly value: string;
  readonly version: number;
  readonly tombstone: boolean;
}

/**
 * The part of one node's state the receiver lacks: the key-values with version > fromVersion,
 * in ascending version order, and always a prefix of what the receiver lacks (never a gap).
 * `identity` is sent when the receiver may not know the node yet (it is never repeated otherwise).
 * fromVersion 0 with lastGcVersion above the receiver's is a reset: the receiver drops what it
 * had for that node first (it had fallen behind tombstone GC).
 */
export interface NodeDelta {
  readonly ref: number;
  readonly identity: NodeIdentity | null;
  readonly heartbeat: number;
  /** Age of that heartbeat, in HEARTBEAT_AGE_UNIT_MS units. */
  readonly heartbeatAge: number;
  readonly lastGcVersion: number;
  readonly fromVersion: number;
  /**
   * The receiver's max version for this node once the delta is applied: the sender's max version when
   * every value above fromVersion is included, else the version of the last value included. It can be
   * above the last value's version (overwritten or collected versions leave no value behind).
   */
  readonly maxVersion: number;
  readonly values: readonly VersionedValue[];
  /**
   * Protocol 5, only with `identity`: the member's leave commitment, the first COMMITMENT_BYTES of
   * SHA-256 of the secret its own leave message will reveal (docs/security.md). Absent when the
   * member made none (an older release) or the message is written in protocol 4 or 3.
   */
  readonly commitment?: Uint8Array;
}

/** Bytes of a leave commitment on the wire: SHA-256 truncated to 128 bits. */
export const COMMITMENT_BYTES = 16;
/** Bytes of the secret a leave message reveals to open its sender's commitment. */
export const LEAVE_SECRET_BYTES = 16;

/**
 * Heartbeat news without key-values: the receiver's heartbeat for node keys[i] is below heartbeats[i].
 * keys are refs, or, when `positional`, ascending positions in the sender's membership sorted by ref
 * (valid only when the message's membership hash equals the receiver's, as for compact digests).
 */
export interface HeartbeatBumps {
  readonly count: number;
  readonly positional: boolean;
  readonly keys: Column;
  /** The heartbeats; or, when `checks` is set (positional only), their low bits, as in compact digests. */
  readonly heartbeats: Column;
  /** Low bits only: one check per CHECK_GROUP bumps (groupChecks of the full heartbeats). Otherwise null. */
  readonly checks: Column | null;
  /** Age of each heartbeat, in HEARTBEAT_AGE_UNIT_MS units. */
  readonly ages: Column;
}

export interface Delta {
  readonly nodes: readonly NodeDelta[];
  readonly bumps: HeartbeatBumps;
}

/**
 * A node's flow-control rates, versions per second (docs/protocol.md, "Flow control"): what it may
 * publish now and what its application offers. Two peers that both send theirs split the sum of
 * their allowed rates between them, so a writer that needs less lends to one that needs more.
 */
export interface RateState {
  readonly allowed: number;
  readonly desired: number;
}

/** Opens an exchange: "here is what I know". */
export interface SynMessage {
  readonly type: 'syn';
  readonly clusterId: string;
  /** Sender's membership hash and size, so the receiver can use compact digests back. */
  readonly setHash: number;
  readonly setSize: number;
  readonly digest: Digest;
  /**
   * true: answer with every heartbeat the sender lacks, even when that is all (push-pull).
   * false, a push: answer only when there is more to say than "these heartbeats are one beat
   * newer" (keys or members the sender lacks, a request, or a heartbeat it is two or more beats
   * behind on). Of a round's exchanges one pulls, the others push: see core.
   */
  readonly pull: boolean;
  /** Protocol 5: the sender's flow-control rates, when it shares them (see RateState). */
  readonly rates?: RateState;
}

/**
 * Answers a SYN: what the responder wants (a full-mode digest of its own, for those nodes only) and what the initiator
 * lacks.
 */
export interface SynAckMessage {
  readonly type: 'synAck';
  readonly clusterId: string;
  readonly setHash: number;
  readonly setSize: number;
  readonly request: Digest;
  readonly delta: Delta;
  /** Protocol 5: the responder's rates as they were before it took its share of this exchange. */
  readonly rates?: RateState;
}

/** Closes an exchange: what the responder asked for. */
export interface AckMessage {
  readonly type: 'ack';
  readonly clusterId: string;
  readonly delta: Delta;
}

/** Reply to a message carrying another cluster id; never answered. */
export interface WrongClusterMessage {
  readonly type: 'wrongCluster';
  /** The replier's cluster id, so the operator can see the mismatch in logs. */
  readonly clusterId: string;
}

/** A node leaving gracefully: receivers mark it dead at once. */
export interface LeaveMessage {
  readonly type: 'leave';
  readonly clusterId: string;
  readonly identity: NodeIdentity;
  readonly heartbeat: number;
  /**
   * Protocol 5: the leaver's secret (LEAVE_SECRET_BYTES), which opens the commitment it gossiped
   * with its identity, so only the leaver can say it. Absent on a leave sent on another member's
   * behalf (an operator's force-leave), from an older release, or written in protocol 4 or 3.
   */
  readonly proof?: Uint8Array;
}

export type Message = SynMessage | SynAckMessage | AckMessage | WrongClusterMessage | LeaveMessage;
export type MessageType = Message['type'];
