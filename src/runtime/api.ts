/**
 * The public surface of the UDP runtime (the contract between src/runtime and src/cli).
 * Translated from the Go API of cnanakos/go-scuttlebutt into idiomatic TypeScript: async start, typed events,
 * an async iterator, AbortSignal, `await using`.
 */
import type {
  DeathReason,
  FailureDetectorConfig,
  FlowControlConfig,
  FlowControlStats,
  DetectorView,
  MembershipEventOf,
  MembershipOf,
  NodeIdentity,
  SilenceView,
} from '../core/types.js';
import { ScuttlebuttError } from '../errors.js';
import type { CensusCounts } from '../core/liveness7-parts.js';

/**
 * stats().liveness.census: what protocol 7's censuses did at this node (docs/design/liveness-7.md, "The partition
 * rule: the census" and "A neighbour never heard"). The core's counts under the name the root package exports.
 */
export type LivenessCensusStats = CensusCounts;

export type { FailureDetectorConfig, FlowControlConfig, FlowControlStats, NodeIdentity } from '../core/types.js';

/** pino-compatible subset: pino, console-like adapters and test spies all fit. */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The callback object of cnanakos/go-scuttlebutt (its NotifyEvent). Every method optional. */
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
  /** Live peers gossiped with per round (GossipNodes in cnanakos/go-scuttlebutt). */
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
  /** Seed host names and SRV names are resolved again at this interval; new addresses are contacted. */
  seedResolveIntervalMs: number;
  /**
   * DNS servers for seed names ("10.0.0.2", "127.0.0.1:8600", "[fd00::2]:53"), instead of the
   * system's (/etc/resolv.conf, /etc/hosts). For a server on another port, which resolv.conf cannot name.
   */
  dnsServers?: readonly string[];
  /**
   * Rate control of this node's own key-values (docs/protocol.md, "Flow control"): writes above the
   * allowed rate are coalesced (latest value per key) and gossiped as the rate allows; set() never
   * blocks and the local view changes at once. On by default; `enabled: false` gossips every write at once.
   */
  flowControl: FlowControlConfig;
  /**
   * Most members held (live and dead, this node included). Past it a newcomer is refused and counted
   * in stats().rejected['member-limit']; no member is evicted to make room. Bounds the memory a flood
   * of fake members can take (about 2.6 KB each).
   */
  maxMembers: number;
  /**
   * Most new members one sender address may introduce per gossip interval (the rest are counted in
   * stats().rejected['introduction-limit'] and arrive later through other members).
   */
  maxNewMembersPerSender: number;
  /**
   * Lamport clocks to start from, no lower (a restarted agent's snapshot): events broadcast after a
   * restart then come after the ones before it in every member's order.
   */
  lamportClocks?: { readonly event?: number; readonly query?: number };
  /** Limits of user events (see UserEventLimits); absent fields take the defaults. */
  userEvents?: UserEventLimits;
  /** Limits of queries, asked and answered (docs/building-on-membership.md, "Queries"); defaults when absent. */
  queries?: QueriesConfig;
  /**
   * Which failure detection runs (docs/tuning.md, "Liveness"): absent or `{ protocol: 6 }`, every digest carries
   * heartbeats and each node convicts by its own phi detector; `{ protocol: 7 }`, each member beats to a few
   * neighbours and is convicted by their signed reports (docs/design/liveness-7.md). Every member of a cluster
   * must make the same choice: a cluster that mixes the two is not supported yet.
   */
  liveness?: LivenessConfig;
}

/** ScuttlebuttConfig.liveness. */
export interface LivenessConfig {
  /** 6: heartbeats in every digest (the default); 7: beats to neighbours and signed reports. */
  readonly protocol: 6 | 7;
  /**
   * Protocol 7 only: K, the neighbours each member beats to and is watched by, an even number from 2 to 32
   * (default 4). The same on every member.
   */
  readonly observers?: number;
  /**
   * Protocol 7 only: how long every live member must have advertised protocol 7 before this node says it is
   * ready for mode 7, ms (default 30,000). The cluster runs protocol 6's heartbeats until every live member is
   * ready, and falls back at once when a member that does not speak 7 appears. 0 suits a cluster started fresh
   * on this release: it starts in mode 7.
   */
  readonly gateHoldMs?: number;
}

/**
 * Limits of user events (docs/building-on-membership.md, "User events"). Members of one cluster
 * should share them: a receiver refuses a payload above its own maximum, and takes from one origin
 * at most twice its own rate and burst.
 */
export interface UserEventLimits {
  /** Largest payload, bytes (default 512, serf's). */
  readonly maxPayloadBytes?: number;
  /** Broadcasts per second this node may make, on average (default 10)... */
  readonly ratePerSecond?: number;
  /** ...and at once (default 100). */
  readonly burst?: number;
  /** How long after a broadcast members still repair a member that missed it, ms (default 60,000). */
  readonly horizonMs?: number;
  /** Coalescing: how long a coalescing event waits for a newer one of its name, ms (default 200). */
  readonly coalesceQuietMs?: number;
}

/** What broadcast() returns: the event's name and the Lamport time it was stamped with. */
export interface UserEventSent {
  readonly name: string;
  readonly ltime: number;
}

/** A user event as listeners of `on('user')` receive it. */
export interface UserEvent {
  readonly name: string;
  readonly payload: Uint8Array;
  /** Its Lamport time: events are delivered in this order within one batch, and it orders events cluster-wide. */
  readonly ltime: number;
  /** The member id that broadcast it. */
  readonly origin: string;
  readonly coalesce: boolean;
}

/** stats().userEvents. */
export interface UserEventStats {
  /** Broadcast by this node. */
  readonly sent: number;
  /** Delivered to this node's listeners (its own events included). */
  readonly delivered: number;
  /** Received again, and dropped. */
  readonly duplicates: number;
  /** Dropped by coalescing: a newer event of the same name came within the wait. */
  readonly coalesced: number;
  /** Refused: broadcasts over a limit, and received events over a limit or malformed. */
  readonly refused: number;
  /** Received after the horizon (an old event a member still held): not delivered. */
  readonly expired: number;
  /** User event packets from an address that is no live member's: dropped unread. */
  readonly strangers: number;
}

/**
 * `SB_ERR_USER_EVENT`: broadcast() refused an event; `reason` says why: its name (empty or over 128
 * bytes), its payload (over userEvents.maxPayloadBytes), the rate limit, or a node shut down.
 */
export class UserEventError extends ScuttlebuttError {
  readonly code = 'SB_ERR_USER_EVENT';
  override readonly name = 'UserEventError';

  constructor(
    readonly reason: 'bad-name' | 'too-large' | 'rate-limited' | 'closed',
    message: string,
  ) {
    super(message);
  }
}

/** Limits of queries. Give every node the same: a responder holds each member to twice this node's rate. */
export interface QueriesConfig {
  /** Largest query payload, bytes (default 1024, serf's QuerySizeLimit). */
  readonly maxPayloadBytes?: number;
  /** Largest response payload, bytes (default 1024, serf's QueryResponseSizeLimit): a larger one is an error answer. */
  readonly maxResponseBytes?: number;
  /** Queries this node may start per second, on average (default 10) ... */
  readonly ratePerSecond?: number;
  /** ... and at once (default 20). Past them query() throws QueryError 'rate-limited'. */
  readonly burst?: number;
}

export interface MemberInfo extends NodeIdentity {
  readonly status: 'live' | 'dead';
  readonly heartbeat: number;
  readonly metadata: Readonly<Record<string, string>>;
  /**
   * What the failure detector learned of this member (period, lag allowance); absent for self. In protocol 7's
   * mode, the neighbour detector's, for this node's neighbours only (their beats' period, no lag allowance).
   */
  readonly detector?: DetectorView;
  /**
   * How close this live member is to conviction, when the view was taken: absent for self and for
   * dead members. Conviction comes when silentForMs passes convictAfterMs (phi then passes the threshold). In
   * protocol 7's mode, for this node's neighbours only: the silence since its last beat, and the silence at which
   * this node reports it (a quorum of its neighbours' reports convicts it).
   */
  readonly silence?: SilenceView;
}

/** A filter for Scuttlebutt.members(): every condition must hold. */
export interface MemberFilter {
  readonly status?: 'live' | 'dead';
  /** Metadata that must match exactly, key by key. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** Liveness and readiness, for probes (the agent's /health and /ready). */
export interface Health {
  /** The process is up and ticking: a gossip round ran recently and the node is not shut down. */
  readonly alive: boolean;
  /**
   * Joined: knows at least one other live member (or is alone by configuration: it was given no
   * seeds, or its seeds resolve to itself alone), hears from its peers, and did not come out of a local stall within
   * the last
   * two intervals (at least a second).
   */
  readonly ready: boolean;
  /** Why not ready (or not alive); absent when both hold. */
  readonly reason?: string;
  readonly msSinceLastRound: number;
  /** Since the last packet from anyone; null before the first. */
  readonly msSinceLastPacket: number | null;
  readonly liveMembers: number;
  /** Local stalls noticed since start (GC, SIGSTOP, an overloaded host): peers' silence during one is excused. */
  readonly localStalls: number;
  readonly seeds: readonly string[];
}

/**
 * `SB_ERR_FORCE_LEAVE`: force-leave was refused; `reason` says why: no such member, the member is live, or it is this
 * node.
 */
export class ForceLeaveError extends ScuttlebuttError {
  readonly code = 'SB_ERR_FORCE_LEAVE';
  override readonly name = 'ForceLeaveError';

  constructor(
    readonly reason: 'not-found' | 'live' | 'self',
    message: string,
  ) {
    super(message);
  }
}

/** The membership as this node sees it; `seeds` are the addresses given to join(). */
export type ClusterState = MembershipOf<MemberInfo, MemberInfo>;

export type MembershipEvent = MembershipEventOf<MemberInfo>;

/** A user event as an events() iterator yields it when asked to (`include: ['user']`); see UserEvent. */
export interface UserEventRecord {
  readonly type: 'user';
  readonly event: UserEvent;
}

/** A query this node accepted, as an events() iterator yields it when asked to (`include: ['query']`). */
export interface QueryRecord {
  readonly type: 'query';
  readonly query: QueryRequest;
}

/** What events() yields besides membership events, by the name `include` gives it. */
export interface IncludableEvents {
  readonly user: UserEventRecord;
  readonly query: QueryRecord;
}

/** A name events() accepts in `include`. */
export type IncludableEvent = keyof IncludableEvents;

/** Options of Scuttlebutt.events(); `I`, the names in `include`, decides what the iterator yields. */
export interface EventsOptions<I extends IncludableEvent = never> {
  /** Ends the iteration. */
  readonly signal?: AbortSignal;
  /** Events held for a slow reader (default 10,000); past it the oldest are lost (stats().eventsOverflowed). */
  readonly buffer?: number;
  /**
   * Other events to interleave with the membership events, in the order listeners hear them:
   * `'user'` (as `on('user')`) and `'query'` (as `on('query')`). Membership events always come.
   */
  readonly include?: readonly I[];
}

export interface Stats {
  readonly packetsIn: number;
  readonly packetsOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly gossipRounds: number;
  /**
   * Packets dropped whole, by reason: incoming ones refused before the core saw them (`decode:…`,
   * `envelope:…`, `amplification-limit`, `stream-frame-over-udp`) and outgoing ones that could not be sent
   * (`send-failed`, `encode-failed`, `bad-peer-address`, `message-too-new`). Packets only: errors and lost events
   * are counted below.
   */
  readonly dropped: Readonly<Record<string, number>>;
  /**
   * Errors the node caught and lived through: `listener`, an event listener that threw (logged at
   * warn); `internal`, an exception while handling a packet (logged at error: a bug, report it).
   */
  readonly errors: { readonly listener: number; readonly internal: number };
  /** Events an events() reader lost because it fell more than its `buffer` behind (the oldest go first). */
  readonly eventsOverflowed: number;
  /** Refused incoming state by reason (from the core). */
  readonly rejected: Readonly<Record<string, number>>;
  /** Packets received, by protocol version ("3", "4"); packets of a version not spoken are in `dropped`. */
  readonly packetsInByVersion: Readonly<Record<string, number>>;
  /** Packets sent, by protocol version. */
  readonly packetsOutByVersion: Readonly<Record<string, number>>;
  readonly liveMembers: number;
  readonly deadMembers: number;
  /** Allowed rate (versions/s), keys waiting and the oldest wait, overflow/underflow counts; null when off. */
  readonly flowControl: FlowControlStats | null;
  /**
   * Keyring replay protection (protocol 5 on): senders' streams whose windows are held, and the
   * furthest behind its stream's newest packet that an accepted packet arrived, in packets of its
   * sender. Past the window (transport/replay.ts WINDOW) a packet is dropped as `envelope:below-window`.
   */
  readonly replayWindows: { readonly streams: number; readonly deepestReorder: number };
  /** User events: broadcast, delivered, and dropped by reason. */
  readonly userEvents: UserEventStats;
  /** Queries asked and answered (see QueryStats). */
  readonly queries: QueryStats;
  /** Which liveness protocol runs, and why not 7 yet (see LivenessStats). */
  readonly liveness: LivenessStats;
}

/**
 * stats().liveness. With `liveness: { protocol: 7 }` a node runs protocol 7's liveness only while every live member
 * speaks 7 and is ready (the gate); the counts say which members hold the cluster in 6.
 */
export interface LivenessStats {
  /** The protocol configured (ScuttlebuttConfig.liveness.protocol, 6 by default). */
  readonly protocol: 6 | 7;
  /** The one running now. */
  readonly mode: 6 | 7;
  /** Live members other than this node that do not speak protocol 7 (0 in protocol 6: not asked). */
  readonly notSpeaking: number;
  /** Live members that speak 7 but have not opened their gate yet (a joiner's first rounds). */
  readonly notReady: number;
  /** Times this node switched to mode 7, and fell back to 6 (an older member appeared). */
  readonly switches: number;
  readonly fallbacks: number;
  /**
   * Mode 7's refusals, by reason: report sets refused ('forged-report', 'unsigned-report', 'ineligible-report'),
   * parts of node deltas dropped, stray messages. Counts only grow.
   */
  readonly refused: Readonly<Record<string, number>>;
  /** What protocol 7's censuses did at this node (all 0 in protocol 6). Counts only grow. */
  readonly census: LivenessCensusStats;
}

/** Which members a query asks; every condition must hold. Without one, every live member. */
export interface QueryFilter {
  /** Metadata that must match exactly, key by key. */
  readonly tags?: Readonly<Record<string, string>>;
  /** Member ids, one of which the member must have. */
  readonly ids?: readonly string[];
}

export interface QueryOptions {
  readonly filter?: QueryFilter;
  /**
   * How long answers are collected, ms. Default: gossipIntervalMs x 5 x ceil(log10(live members + 1)), serf's
   * formula (its multiplier is 16 of a 200 ms interval: ours is of a 1 s one). At most 600,000.
   */
  readonly timeoutMs?: number;
  /** Whether asked members ack on receipt (default true); acks are what retransmission goes by. */
  readonly ack?: boolean;
  /** Members each responder also sends its answers through, for lossy paths (default 0, as serf; at most 8). */
  readonly relayFactor?: number;
  /** Ends the query early: the iteration ends and the summary resolves. */
  readonly signal?: AbortSignal;
}

/** One answer to a query; `latencyMs` is from the query's start to the answer's arrival. */
export type QueryAnswer =
  | { readonly kind: 'ack'; readonly from: string; readonly latencyMs: number }
  | { readonly kind: 'response'; readonly from: string; readonly payload: Uint8Array; readonly latencyMs: number }
  | { readonly kind: 'error'; readonly from: string; readonly message: string; readonly latencyMs: number };

export interface QuerySummary {
  /** Members the query was sent to (this node included when it matches). */
  readonly asked: number;
  /** Matching live members that speak only an older protocol than 6, so were not asked. */
  readonly notAsked: number;
  readonly acks: number;
  readonly responses: number;
  readonly errors: number;
  /** From the start to the end of the iteration, ms. */
  readonly elapsedMs: number;
}

/**
 * The answers of one query, as they arrive, until its timeout or abort (or a `break` out of the loop,
 * or the node's shutdown). Iterate it once.
 */
export interface QueryResponses extends AsyncIterable<QueryAnswer> {
  /** Resolves when the iteration ends, whether or not anything iterates it. */
  readonly summary: Promise<QuerySummary>;
}

/** A query this node received and accepted (what `on('query')` and an onQuery handler get). */
export interface QueryRequest {
  readonly name: string;
  readonly payload: Uint8Array;
  /** The querier's member id, and its query Lamport time. */
  readonly origin: string;
  readonly ltime: number;
  /** Unique per query: origin, generation and ltime. */
  readonly id: string;
}

/** What answers a query: a response payload, or nothing (an ack alone). A throw is an 'error' answer. */
export type QueryHandler = (q: QueryRequest) => Promise<string | Uint8Array | void> | string | Uint8Array | void;

/** What query() refused. */
export type QueryErrorReason = 'bad-name' | 'too-large' | 'rate-limited' | 'closed';

/** `SB_ERR_QUERY`: query() refused to start a query; `reason` says why. */
export class QueryError extends ScuttlebuttError {
  readonly code = 'SB_ERR_QUERY';
  override readonly name = 'QueryError';

  constructor(
    readonly reason: QueryErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** Query counters (stats().queries). */
export interface QueryStats {
  /** Queries this node started. */
  readonly sent: number;
  /** Distinct queries this node accepted from members (its own included). */
  readonly received: number;
  /** Responses and error answers this node sent (its handler ran and had something to say). */
  readonly answered: number;
  /**
   * Queries not accepted: from a stranger or an address not the querier's, a replay or a copy of one already
   * accepted, over the querier's rate, for another cluster, or with tags this node does not carry.
   */
  readonly refused: number;
  /** Answers this node forwarded to a querier as a relay. */
  readonly relayed: number;
  /** Acks and responses dropped on arrival: no such query running here, not asked, or a second copy. */
  readonly stray: number;
}

/** The events a node emits (Scuttlebutt is an EventEmitter of these). */
export interface ScuttlebuttEvents {
  live: [member: MemberInfo];
  dead: [member: MemberInfo, reason: DeathReason];
  update: [member: MemberInfo, keys: readonly string[]];
  removed: [member: MemberInfo];
  /** Own writes are being held back by flow control (the first write that had to wait). */
  throttled: [info: { rate: number; backlog: number }];
  /** Every held write has gone out (checked each round). */
  unthrottled: [info: { rate: number }];
  /** A user event (broadcast() here or on another member), once per event; see UserEvent. */
  user: [event: UserEvent];
  /** A query this node accepted (from a member, or its own when it matches its filter); see onQuery(). */
  query: [query: QueryRequest];
}
