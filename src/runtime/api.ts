/**
 * The public surface of the UDP runtime (the contract between src/runtime and src/cli).
 * Translated from the seed's Go API into idiomatic TypeScript: async start, typed events,
 * an async iterator, AbortSignal, `await using`.
 */
import type { FailureDetectorConfig, DetectorView, MembershipEventOf, MembershipOf, NodeIdentity } from '../core/types.js';

export type { FailureDetectorConfig, NodeIdentity } from '../core/types.js';

/** pino-compatible subset: pino, console-like adapters and test spies all fit. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The seed's callback object (NotifyEvent). Every method optional. */
export interface NotifyEvents {
  notifyLive?(node: MemberInfo): void;
  notifyDead?(node: MemberInfo): void;
  notifyUpdate?(node: MemberInfo): void;
  notifyRemoved?(node: MemberInfo): void;
}

export interface ScuttlebuttConfig {
  /** Nodes only talk to nodes with the same cluster id. */
  clusterId: string;
  /** This node: unique id and the "host:port" peers should send to. */
  node: { id: string; gossipPublicAddress: string };
  /** "host:port" to bind, e.g. "0.0.0.0:9111" or "[::]:9111". */
  listenAddress: string;
  /** Live peers gossiped with per round (the seed's GossipNodes). */
  gossipNodes: number;
  gossipIntervalMs: number;
  failureDetector: FailureDetectorConfig;
  /** Silent when absent. */
  logger?: Logger;
  events?: NotifyEvents;
  enableCompression: boolean;
  /**
   * AES-GCM keyring: the first key encrypts, every key decrypts (rotation without downtime).
   * Each key 16, 24 or 32 bytes (AES-128/192/256). Empty or absent: no encryption.
   */
  secretKeys?: readonly Uint8Array[];
  /** Largest UDP payload sent, envelope included (65,507 is the IPv4 maximum). */
  maxPacketBytes: number;
  /** Tombstones of deleted keys are dropped this long after the delete. */
  tombstoneGracePeriodMs: number;
  /** Seed host names are resolved again at this interval. */
  seedResolveIntervalMs: number;
}

export interface MemberInfo extends NodeIdentity {
  readonly status: 'live' | 'dead';
  readonly heartbeat: number;
  readonly metadata: Readonly<Record<string, string>>;
  /** What the failure detector learned of this member (period, lag allowance); absent for self. */
  readonly detector?: DetectorView;
}

/** The membership as this node sees it; `seeds` are the addresses given to join(). */
export type ClusterState = MembershipOf<MemberInfo, MemberInfo>;

export type MembershipEvent = MembershipEventOf<MemberInfo>;

export interface Stats {
  readonly packetsIn: number;
  readonly packetsOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly gossipRounds: number;
  /** Dropped incoming packets by reason (decode and envelope errors, wrong cluster, ...). */
  readonly dropped: Readonly<Record<string, number>>;
  /** Refused incoming state by reason (from the core). */
  readonly rejected: Readonly<Record<string, number>>;
  /** Packets received, by protocol version ("3", "4"); packets of a version not spoken are in `dropped`. */
  readonly packetsInByVersion: Readonly<Record<string, number>>;
  /** Packets sent, by protocol version. */
  readonly packetsOutByVersion: Readonly<Record<string, number>>;
  readonly liveMembers: number;
  readonly deadMembers: number;
}
