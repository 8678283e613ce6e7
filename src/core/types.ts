/**
 * The public contract of the pure protocol core. Every harness (the UDP runtime, the
 * simulator, the tests) drives the same `ScuttlebuttCore` through this surface: it hands in
 * clock readings and messages, and takes out messages to send and events to publish.
 */
import type { ReportSigner } from './report-set.js';
import type { Message, NodeIdentity } from '../wire/messages.js';
import type { LivenessMessage } from '../wire/liveness-messages.js';
import type { AssignmentPool } from './assignment-pool.js';
import type { FlowControlConfig } from './flow-control.js';

export type { FlowControlConfig, FlowControlStats } from './flow-control.js';

export type { NodeIdentity } from '../wire/messages.js';

/** A source of uniform numbers in [0, 1). Injected so runs replay exactly from a seed. */
export interface Random {
  next(): number;
}

/**
 * What the harness knows of a message's sender. The core cannot tell a stranger from a member by
 * its address alone (seeds count as known, and the runtime decides before decoding what a reply
 * may cost), so the harness says so.
 */
export interface Sender {
  /**
   * No member or seed has this address (ScuttlebuttCore.isKnownAddress): a SYN from it is answered
   * with this node alone, and what it sends is no proof that it is reachable.
   */
  readonly stranger: boolean;
  /**
   * Bytes of encoded message the replies to it may take (the harness's anti-amplification limit);
   * at most, and by default, the payload budget.
   */
  readonly replyBudget?: number;
}

export interface FailureDetectorConfig {
  /** phi above which a node is convicted dead. */
  readonly phiThreshold: number;
  /** How many heartbeat inter-arrival intervals are kept per monitored node. */
  readonly samplingWindowSize: number;
  /** Floor on the standard deviation used in phi, in ms. */
  readonly minStdDeviationMs: number;
  /** Extra silence tolerated before suspicion grows (GC, lost packets), in ms. */
  readonly acceptableHeartbeatPauseMs: number;
  /** The interval assumed before any has been observed, in ms. */
  readonly firstHeartbeatEstimateMs: number;
  /** A dead node is removed from the membership this long after it was convicted, in ms. */
  readonly deadNodeGracePeriodMs: number;
}

/**
 * The detector for one-second rounds on a LAN (the runtime's LAN preset); the WAN preset, the
 * simulator and the tests take it and change what their setting needs.
 */
export const DEFAULT_FAILURE_DETECTOR: Readonly<FailureDetectorConfig> = Object.freeze({
  phiThreshold: 8,
  samplingWindowSize: 200,
  minStdDeviationMs: 100,
  acceptableHeartbeatPauseMs: 3000,
  firstHeartbeatEstimateMs: 1000,
  deadNodeGracePeriodMs: 60_000,
});

export interface CoreConfig {
  readonly clusterId: string;
  readonly self: NodeIdentity;
  /** Live peers gossiped with per round. */
  readonly fanout: number;
  /** Interval between rounds, in ms (the harness calls tick() at this pace). */
  readonly gossipIntervalMs: number;
  readonly failureDetector: FailureDetectorConfig;
  /** Bytes one encoded message may take (packet size less envelope, compression and encryption overhead). */
  readonly payloadBudget: number;
  /** The owner drops its tombstones this long after the delete, in ms. */
  readonly tombstoneGracePeriodMs: number;
  /**
   * Most members (live and dead, self included) this node holds; a newcomer past it is refused and
   * counted ('member-limit'), and no member is ever evicted to make room. Default: no limit.
   */
  readonly maxMembers?: number;
  /**
   * Most new members one sender address may introduce per gossip interval; the rest are refused
   * and counted ('introduction-limit'), and arrive later through other members. Default: no limit.
   */
  readonly maxNewMembersPerSender?: number;
  /** Optional sizing hint: members expected, so tables are allocated once instead of grown. */
  readonly expectedMembers?: number;
  /**
   * The heartbeat this incarnation starts from (default 1). Only the simulator sets it, to model a
   * cluster whose members have been up for different times: their heartbeats then differ by
   * thousands, as in production, and digests are as large and compress as poorly as there.
   */
  readonly firstHeartbeat?: number;
  /**
   * Events carry their member's view as of the event (CoreEvent.view), at O(its keys) each: a
   * listener then sees the member as it was when the event happened, not when it was delivered.
   * The runtime sets it; the simulator, which publishes millions of events, does not.
   */
  readonly eventViews?: boolean;
  /** Rate control of this node's own key-values (absent or disabled: every write gossips at once). */
  readonly flowControl?: FlowControlConfig;
  /**
   * Harness hook: called as each own write is published with its version (the simulator measures staleness from it).
   */
  readonly onPublish?: (key: string, version: number) => void;
  /**
   * Whether the peer at this address reads heartbeats as low bits (protocol 4 on): the harness asks
   * its per-peer version table. Consulted for compact digests and positional bumps only, once per
   * destination; absent: every peer does. A peer that speaks an older version gets exact heartbeats.
   */
  readonly lowBitsTo?: (peer: string) => boolean;
  /**
   * This incarnation's leave secret (LEAVE_SECRET_BYTES, drawn afresh at every start): its
   * commitment travels with its identity, and its own leave reveals it, so no one else can make
   * this node leave (docs/security.md). Absent: no commitment, and a leave about this node is
   * taken from anyone, as before protocol 5.
   */
  readonly leaveSecret?: Uint8Array;
  /**
   * SHA-256, for leave commitments and their proofs (the core imports no built-in). Absent: no commitment is made or
   * checked.
   */
  readonly hash?: (data: Uint8Array) => Uint8Array;
  /**
   * Protocol 7's liveness (docs/design/liveness-7.md): members beat to K neighbours, convict by their signed
   * reports, and exchange state by hash instead of heartbeats in every digest. Every member of the cluster must
   * run it (the gate that switches a mixed cluster is not wired yet); absent: protocol 6.
   */
  readonly liveness7?: Liveness7Options;
}

/**
 * CoreConfig.tombstoneGracePeriodMs for one-second rounds (the runtime's LAN preset; the simulator
 * takes it too): sixty rounds for the delete to reach every member before its tombstone goes.
 */
export const DEFAULT_TOMBSTONE_GRACE_PERIOD_MS = 60_000;

/**
 * What the core sends and receives: protocol 6's membership messages and protocol 7's liveness messages. The core
 * sends a liveness message only to a member that advertises speaking 7; the harness writes it in 7, never to an
 * address heard only in older versions (runtime/packets.ts).
 */
export type CoreMessage = Message | LivenessMessage;

/** A message for the harness to send. */
export interface Outbound {
  readonly to: string;
  readonly message: CoreMessage;
}

/** CoreConfig.liveness7: run protocol 7's liveness (every member of the cluster must). */
export interface Liveness7Options {
  /** Signs this incarnation's report sets; its public key travels with this node's introduction. */
  readonly signer: ReportSigner;
  /** K: neighbours each member beats to and is watched by (2 to 32, even; default 4). The same cluster-wide. */
  readonly observers?: number;
  /**
   * @internal The simulator's: observer assignments shared among its nodes (see AssignmentPool); a runtime passes
   * none.
   */
  readonly assignmentPool?: AssignmentPool;
  /**
   * How long a convicted member is kept, dead, before it is removed; default 10 minutes. Both sides of a partition
   * then still hold each other when it heals, and the refutations that heal it revive members rather than
   * introduce them anew (a removed member is refused for a while, as stale gossip). A crash cannot be told from a
   * partition when it is convicted, so this applies to every conviction; a member that left goes after
   * FailureDetectorConfig.deadNodeGracePeriodMs, as in protocol 6.
   */
  readonly partitionMemoryMs?: number;
  /**
   * How long every live member must have advertised protocol 7, continuously, before this node says it is ready
   * for mode 7 (the gate, docs/design/liveness-7.md); default 30 s. Until every live member is ready, the cluster
   * runs protocol 6's heartbeats, which older releases understand.
   */
  readonly gateHoldMs?: number;
}

/** Why a member was marked dead: the detector convicted it, it left, or a newer incarnation of it appeared. */
export const DEATH_REASONS = ['suspected', 'left', 'superseded'] as const;
export type DeathReason = (typeof DEATH_REASONS)[number];

/** A membership event about a member described as N (the core: its identity; the runtime: its full info). */
export type MembershipEventOf<N> =
  | { readonly type: 'live'; readonly node: N }
  | { readonly type: 'dead'; readonly node: N; readonly reason: DeathReason }
  | { readonly type: 'update'; readonly node: N; readonly keys: readonly string[] }
  | { readonly type: 'removed'; readonly node: N };

/** A core event: about a member named by identity, with its view as of the event when CoreConfig.eventViews is set. */
export type CoreEvent = MembershipEventOf<NodeIdentity> & { readonly view?: NodeView };

export type NodeStatus = 'live' | 'dead';

export interface NodeView {
  readonly node: NodeIdentity;
  readonly status: NodeStatus;
  readonly heartbeat: number;
  readonly maxVersion: number;
  /** Live key-values (tombstones and expired keys left out). */
  readonly values: Readonly<Record<string, string>>;
  /** What the failure detector learned of this member; absent for self. */
  readonly detector?: DetectorView;
  /** How close this live member is to conviction: only in a snapshot taken with a time; never for self or the dead. */
  readonly silence?: SilenceView;
}

export interface SilenceView {
  /** Time since the birth of the newest heartbeat of this member that reached us, ms. */
  readonly silentForMs: number;
  /** The silence at which it would be convicted now, ms (lag allowance, period, pause and spread included). */
  readonly convictAfterMs: number;
  /** Its current phi (suspicion level; compare with failureDetector.phiThreshold). */
  readonly phi: number;
}

/**
 * What this node's detector shows of a member (NodeView's `detector` and `silence`): protocol 6's failure
 * detector's, or in mode 7 the neighbour detector's, only for the members this node watches (its neighbours).
 */
export interface MemberWatch {
  readonly detector?: DetectorView;
  readonly silence?: SilenceView;
}

export interface DetectorView {
  /**
   * Mean and standard deviation of the owner's heartbeat period (birth to birth), over the sampling window (exponential
   * past its size).
   */
  readonly meanIntervalMs: number;
  readonly stdIntervalMs: number;
  /** The gossip-lag allowance: how late heartbeats of this member have recently reached this node. */
  readonly lagAllowanceMs: number;
  readonly samples: number;
}

/** Who is alive and who is dead, as one node sees it (self is among the live). */
export interface MembershipOf<Self, Member> {
  readonly self: Self;
  readonly live: readonly Member[];
  readonly dead: readonly Member[];
  readonly seeds: readonly string[];
}

export type ClusterSnapshot = MembershipOf<NodeIdentity, NodeView>;

/**
 * Why an incoming delta (or part of it) was refused; counted, never thrown. The order is the order
 * of ScuttlebuttCore.rejections() and of the runtime's stats().rejected.
 */
export const REJECT_REASONS = [
  'about-self',
  'gap',
  'not-ascending',
  'behind-gc',
  'unknown-node',
  'superseded-generation',
  'removed-node',
  'ref-mismatch',
  'wrong-cluster',
  'out-of-range',
  'member-limit',
  'introduction-limit',
  'shadow-refused',
  'implausible-heartbeat',
  'implausible-version',
  'refuted-heartbeat',
  'refuted-version',
  'forged-leave',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
