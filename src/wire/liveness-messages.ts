/**
 * Protocol 7's messages, as plain data (docs/design/liveness-7.md, "Message layouts"): liveness watched by
 * neighbours (BEAT), quiet exchanges by hash (SUMS, SYN7, SYN-ACK7, ACK7), the partition census (CENSUS-PULL,
 * CENSUS) and the TCP stream's frames (STREAM-HELLO, STREAM-END). Protocol 7 replaces the heartbeat of
 * protocol 6's digests and deltas by an incarnation: a counter the member raises only to refute a report about it.
 * Columns follow messages.ts: typed arrays when decoded, plain arrays when built by the core.
 */
import type { Column, NodeIdentity, VersionedValue } from './messages.js';

/** Type codes of protocol 7's messages (after protocol 6's 1-11). */
export const LIVENESS_TYPE_CODES = {
  beat: 12,
  sums: 13,
  syn7: 14,
  /** A SYN7 that does not pull, as PUSH_SYN_CODE is to SYN. */
  pushSyn7: 15,
  synAck7: 16,
  censusPull: 17,
  census: 18,
  streamHello: 19,
  streamEnd: 20,
  /** ACK7: closes a protocol-7 exchange with protocol-7 node deltas (ACK, code 3, keeps its protocol-6 layout). */
  ack7: 21,
} as const;

/** BEAT flag bits. */
export const BEAT_ECHO = 1;
/** "I hold a report about you": the subject refutes at once (Lifeguard's buddy system). */
export const BEAT_SUSPECT_YOU = 2;
/** The sender runs in mode 7 (its gate is open). */
export const BEAT_MODE_7 = 4;
/** The sender's view no longer counts the receiver a neighbour: this is its last beat, close the window unreported. */
export const BEAT_LAST = 8;
/** The sender holds the receiver dead: a beat from a member convicted here, so that it refutes. */
export const BEAT_DEAD_HERE = 16;

/** Bytes of a state hash, a membership hash or a bucket sum on the wire (48 bits). */
export const HASH_BYTES = 6;
/** Bytes of a report set's signature (Ed25519). */
export const REPORT_SIGNATURE_BYTES = 64;
/** Bytes of a member's report-signing public key (Ed25519). */
export const REPORT_KEY_BYTES = 32;

/**
 * Sent every round to each neighbour, directly. 14 bytes of body; no cluster id (the envelope's key and the tag
 * tie it to a member the receiver already holds: a beat from an unknown sender is dropped, never answered).
 */
export interface BeatMessage {
  readonly type: 'beat';
  /** BEAT_* bits. */
  readonly flags: number;
  /** The low 16 bits of the sender's ref, checked against the member at the source address. */
  readonly senderTag: number;
  /** u16, counts up by one a beat (wraps). */
  readonly sequence: number;
  /** u16: the last sequence received from the receiver (meaningful only with BEAT_ECHO). */
  readonly echo: number;
  /** The sender's state hash (48 bits). */
  readonly stateHash: number;
}

/**
 * Drill-down by bucket sums: level 1 carries the 16 level-1 sums (mask 0xffff), a reply at level 2 carries, for
 * each level-1 bucket set in `mask`, its 16 leaf sums (in ascending bucket order).
 */
export interface SumsMessage {
  readonly type: 'sums';
  readonly clusterId: string;
  readonly reply: boolean;
  /** The differing leaves hold more than a packet's worth of entries: open a stream instead. */
  readonly streamWanted: boolean;
  readonly stateHash: number;
  readonly memberCount: number;
  readonly level: 1 | 2;
  /** u16: the level-1 buckets whose sums follow (level 1: all, 0xffff). */
  readonly mask: number;
  /** 16 sums per bit set in `mask`, 48 bits each. */
  readonly sums: Column;
}

/**
 * A protocol-7 digest: for each listed member (incarnation, max version, last GC version, report version). Always
 * by ref (no compact mode: quiet exchanges never carry the whole membership). Incarnation 0 in a request: "send
 * its identity".
 */
export interface Digest7 {
  /** Every member the sender holds is listed (else: the listed ones only say nothing of the rest). */
  readonly complete: boolean;
  /** A hot digest: the members that changed in the sender's last rounds (news), not a drill-down's leaves. */
  readonly hot: boolean;
  readonly count: number;
  readonly refs: Column;
  readonly incarnations: Column;
  readonly maxVersions: Column;
  readonly gcVersions: Column;
  readonly reportVersions: Column;
}

/** One report record: the observer saw `subject` at `incarnation` fail in the given way. */
export interface ReportRecord {
  readonly subject: number;
  readonly incarnation: number;
  /** 1: silent (its beats stopped); 2: outbound (our beats stopped reaching it while its beats reach us). */
  readonly kind: ReportKind;
}

export type ReportKind = 1 | 2;
export const REPORT_SILENT: ReportKind = 1;
export const REPORT_OUTBOUND: ReportKind = 2;

/**
 * An observer's whole report set, replaced (never merged) by a higher version. Signed by the observer's
 * incarnation key over (cluster id, observer ref, incarnation, version, census epoch, records); see
 * core/reports.ts for the signed bytes.
 */
export interface ReportSet {
  readonly version: number;
  /** The newest census epoch the observer had completed when it wrote the set. */
  readonly censusEpoch: number;
  /** At most 2K records (K = liveness.observers). */
  readonly records: readonly ReportRecord[];
  readonly signature: Uint8Array;
}

/**
 * One member's state in protocol 7: as NodeDelta, with an incarnation in place of the heartbeat and its age,
 * and three optional parts: the member's report-signing key (with its introduction), its report set, and its
 * leave proof (a leave is state, spread as news).
 */
export interface NodeDelta7 {
  readonly ref: number;
  readonly identity: NodeIdentity | null;
  readonly incarnation: number;
  readonly lastGcVersion: number;
  readonly fromVersion: number;
  readonly maxVersion: number;
  readonly values: readonly VersionedValue[];
  /** Only with `identity`: the leave commitment (COMMITMENT_BYTES). */
  readonly commitment?: Uint8Array;
  /** Only with `identity`: the public key its report sets are signed with (REPORT_KEY_BYTES). */
  readonly publicKey?: Uint8Array;
  readonly reports?: ReportSet;
  /** The member left: its leave secret (LEAVE_SECRET_BYTES), which opens its commitment. */
  readonly left?: Uint8Array;
}

/** Opens a protocol-7 exchange (news with a hot digest, or a drill-down's leaves). */
export interface Syn7Message {
  readonly type: 'syn7';
  readonly clusterId: string;
  /** As SynMessage.pull: true asks for everything the sender lacks. */
  readonly pull: boolean;
  readonly stateHash: number;
  readonly memberCount: number;
  /** The newest census epoch the sender has seen (a receiver behind it learns that one ran). */
  readonly censusEpoch: number;
  readonly digest: Digest7;
}

export interface SynAck7Message {
  readonly type: 'synAck7';
  readonly clusterId: string;
  readonly stateHash: number;
  readonly memberCount: number;
  /** What the responder wants (entries with the responder's values, as SynAckMessage.request). */
  readonly request: Digest7;
  readonly nodes: readonly NodeDelta7[];
}

export interface Ack7Message {
  readonly type: 'ack7';
  readonly clusterId: string;
  readonly nodes: readonly NodeDelta7[];
}

/**
 * A census roll call's request. Its bitmap names candidates (members the requester holds present) and is
 * used only to choose whom to pull next, never as presence.
 */
export interface CensusPullMessage {
  readonly type: 'censusPull';
  readonly clusterId: string;
  readonly epoch: number;
  /** The membership hash the census runs over (its bitmaps index that membership sorted by ref). */
  readonly membershipHash: number;
  readonly memberCount: number;
  /** A direct check of one member the census found absent: answered, no bitmap carried. */
  readonly verification: boolean;
  /** ceil(memberCount / 8) bytes, bit i = member i by ref; empty on a verification pull. */
  readonly present: Uint8Array;
}

/** A census reply: presence travels only here, so only over paths that went both ways. */
export interface CensusMessage {
  readonly type: 'census';
  readonly clusterId: string;
  readonly epoch: number;
  readonly membershipHash: number;
  readonly memberCount: number;
  /** The responder's membership differs from the pull's: no bitmaps follow (empty arrays). */
  readonly differs: boolean;
  readonly present: Uint8Array;
  /** Members some participant holds a report about. */
  readonly reported: Uint8Array;
}

/** First frame of a TCP stream (docs/design/liveness-7.md, "The stream"). */
export interface StreamHelloMessage {
  readonly type: 'streamHello';
  readonly clusterId: string;
  readonly sender: number;
  readonly stateHash: number;
  /** The 256 leaf sums (48 bits each), so the other side sends only the buckets that differ. */
  readonly sums: Column;
}

/** Last frame of a stream from each side. */
export interface StreamEndMessage {
  readonly type: 'streamEnd';
  /** Frames this side sent before this one. */
  readonly frames: number;
  /** This side's state hash once it applied what it received. */
  readonly stateHash: number;
}

export type LivenessMessage =
  | BeatMessage
  | SumsMessage
  | Syn7Message
  | SynAck7Message
  | Ack7Message
  | CensusPullMessage
  | CensusMessage
  | StreamHelloMessage
  | StreamEndMessage;

/** Every LivenessMessage type, so that a type added to the union must be added here (the record's keys). */
const LIVENESS_TYPES: Readonly<Record<LivenessMessage['type'], true>> = {
  beat: true,
  sums: true,
  syn7: true,
  synAck7: true,
  ack7: true,
  censusPull: true,
  census: true,
  streamHello: true,
  streamEnd: true,
};

/** Whether `m` is one of protocol 7's messages (the harnesses route and gate them by version). */
export function isLivenessMessage<M extends { readonly type: string }>(m: M | LivenessMessage): m is LivenessMessage {
  return Object.hasOwn(LIVENESS_TYPES, m.type);
}

/** Reserved keys a protocol-7 node writes in its own state (gate, docs/design/liveness-7.md). */
export const SPEAKS_KEY = '\u0000speaks';
export const READY_KEY = '\u0000ready';
/**
 * The member's report-signing public key, base64 (44 characters): members learned in mode 6 carry it in their
 * state, so their report sets can be checked once the cluster switches to mode 7.
 */
export const REPORT_KEY_KEY = '\u0000key';
/** Applications may not write keys starting with this character: the protocol's own keys do. */
export const RESERVED_KEY_PREFIX = '\u0000';
