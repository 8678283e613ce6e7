/**
 * The protocol core: one node's view of the cluster and the Scuttlebutt handshake, as a coordinator
 * of modules that each own their state:
 *
 *   Membership     who is in the cluster, their status, the membership hash and order (membership.ts)
 *   FailureDetector phi accrual with the lag allowance, its floor and the late-news slack (detector.ts)
 *   LocalHealth    whether a silence was this node's own: a stall, or deafness (local-health.ts)
 *   OwnValues      this node's key-values, TTLs and tombstone GC (own-values.ts)
 *   PeerSelection  whom each round talks to (peer-selection.ts)
 *   Digests        digests and requests within the byte budget, low-bit heartbeats read back (digest.ts)
 *   Deltas         packing what a peer lacks, applying what a peer sent (delta.ts)
 *   Exchange       SYN, SYN-ACK, ACK, leave, announcements (exchange.ts)
 *   Journal        events, rejection counts, news (journal.ts)
 *   LivenessSwitch protocol 7's gate, and mode 7 (mode7.ts) once every live member is ready (liveness-switch.ts)
 *
 * Pure: no sockets, timers, Date.now() or Math.random(). The harness passes clock readings and
 * decoded messages in, and takes out messages to send and events to publish. docs/architecture.md
 * follows one packet through these modules.
 */
import { isLivenessMessage, type NodeDelta7 } from '../wire/liveness-messages.js';
import { Deltas } from './delta.js';
import { FailureDetector } from './detector.js';
import { MemberViews } from './member-views.js';
import { Digests } from './digest.js';
import { Exchange, KNOWN_SENDER } from './exchange.js';
import { FlowControl, type FlowControlStats } from './flow-control.js';
import { identityRef } from './identity.js';
import { Journal } from './journal.js';
import { LeaveProofs } from './leave-proof.js';
import { LocalHealth } from './local-health.js';
import { LivenessSwitch, reservedInitialValues, type LivenessStatus } from './liveness-switch.js';
import type { Mode7 } from './mode7.js';
import { Membership, SELF } from './membership.js';
import { OwnValues } from './own-values.js';
import { assertApplicationKey, withoutReservedKeys } from './reserved-keys.js';
import { DEAD, LIVE, FREE } from './peer-table.js';
import { PeerSelection } from './peer-selection.js';
import type {
  ClusterSnapshot,
  CoreConfig,
  CoreEvent,
  CoreMessage,
  NodeIdentity,
  NodeView,
  Outbound,
  Random,
  RejectReason,
  Sender,
} from './types.js';

export class ScuttlebuttCore {
  readonly self: NodeIdentity;
  private readonly journal: Journal;
  private readonly membership: Membership;
  private readonly detector: FailureDetector;
  private readonly views: MemberViews;
  private readonly health: LocalHealth;
  private readonly own: OwnValues;
  private readonly peers: PeerSelection;
  private readonly exchange: Exchange;
  private readonly flow: FlowControl | null;
  /** Protocol 7's gate and mode 7 (CoreConfig.liveness7); null: protocol 6 only. */
  private readonly liveness: LivenessSwitch | null;

  /**
   * Builds the modules in the order they need each other (docs/architecture.md): each gets what it
   * talks to and its settings at construction, and nothing is attached afterwards.
   */
  constructor(config: CoreConfig, rng: Random, now: number, initialValues: Readonly<Record<string, string>> = {}) {
    const { self, clusterId, payloadBudget, gossipIntervalMs } = config;
    for (const key of Object.keys(initialValues)) assertApplicationKey(key);
    this.self = self;
    const fd = config.failureDetector;
    // Events carry views of modules built below; nothing emits before they all are. Whether heartbeats revive a
    // dead member is the liveness switch's, also built below (LivenessSwitch.revivesOnHeartbeat; mode 6's until then).
    const journal = (this.journal = new Journal({ viewOf: config.eventViews ? (s) => this.views.node(s) : null }));
    const limits = {
      maxMembers: config.maxMembers ?? Infinity,
      maxNewPerSender: config.maxNewMembersPerSender ?? Infinity,
      intervalMs: gossipIntervalMs,
    };
    const membership = (this.membership = new Membership(
      { journal, revivesOnHeartbeat: () => this.liveness?.revivesOnHeartbeat() ?? true },
      {
        self,
        graceMs: fd.deadNodeGracePeriodMs,
        window: Math.max(2, fd.samplingWindowSize),
        expected: Math.max(16, config.expectedMembers ?? 16),
        limits,
      },
    ));
    const detector = (this.detector = new FailureDetector({ membership, journal }, { ...fd, gossipIntervalMs }));
    this.health = new LocalHealth(gossipIntervalMs, fd.acceptableHeartbeatPauseMs, now);
    membership.table.setHeartbeat(SELF, config.firstHeartbeat ?? 1);
    membership.table.setBirth(SELF, now);
    const flow = (this.flow = config.flowControl?.enabled
      ? new FlowControl(config.flowControl, gossipIntervalMs, now)
      : null);
    const own = (this.own = new OwnValues(
      { table: membership.table, journal, flow, onPublish: config.onPublish },
      {
        self,
        clusterId,
        payloadBudget,
        tombstoneGracePeriodMs: config.tombstoneGracePeriodMs,
        // A protocol-7 node's reserved keys come first (versions 1 to 3): the delta introducing it carries them.
        initialValues: config.liveness7
          ? { ...reservedInitialValues(config.liveness7), ...initialValues }
          : initialValues,
      },
    ));
    this.views = new MemberViews({ membership, own, detector, mode7: () => this.mode7 });
    const digests = new Digests({ membership }, { clusterId, payloadBudget, gossipIntervalMs });
    const deltas = new Deltas({ membership, detector, digests, journal, rng, own, congestion: flow });
    const proofs = new LeaveProofs(config.leaveSecret ?? null, config.hash ?? null);
    membership.noteCommitment(SELF, proofs.commitment);
    this.exchange = new Exchange(
      { membership, detector, digests, deltas, journal, rng, own, proofs, flow },
      { clusterId, payloadBudget, lowBitsTo: config.lowBitsTo },
    );
    this.peers = new PeerSelection(membership, rng, config.fanout);
    this.liveness = config.liveness7
      ? new LivenessSwitch(
          { membership, journal, own, proofs, rng, detector },
          { clusterId, payloadBudget, gossipIntervalMs, failureDetector: fd, options: config.liveness7 },
          now,
        )
      : null;
    const liveness = this.liveness;
    if (liveness) {
      journal.listener = (type, slot) => liveness.noteEvent(type, slot);
      // The gate's first verdict now, not at the first round: a node alone with no hold starts in mode 7.
      liveness.update(now);
    }
  }

  // ------------------------------------------------------------------ local writes

  /**
   * Sets a key of this node's map; a no-op when the value is unchanged. `now` paces flow control
   * (without it, a held write waits for the next round's clock).
   */
  set(key: string, value: string, now?: number): void {
    assertApplicationKey(key);
    this.own.set(key, value, now ?? -Infinity);
  }

  /** Sets a key that this node deletes (tombstones) after ttlMs; peers learn the deletion by gossip. */
  setWithTtl(key: string, value: string, ttlMs: number, now: number): void {
    assertApplicationKey(key);
    this.own.setWithTtl(key, value, ttlMs, now);
  }

  /** Deletes a key of this node's map (a tombstone peers learn by gossip). */
  delete(key: string, now: number): void {
    assertApplicationKey(key);
    this.own.delete(key, now);
  }

  get(key: string): string | undefined {
    return this.own.get(key);
  }

  /** Flow control's state: allowed rate, backlog, oldest wait, overflow counts (null when off). */
  flowStats(now: number): FlowControlStats | null {
    return this.flow ? this.flow.stats(now) : null;
  }

  /**
   * The newest version of `nodeId`'s state this node holds (0 when it knows none). O(1), for harnesses measuring
   * staleness.
   */
  maxVersionOf(nodeId: string): number {
    const s = this.membership.slotOfId(nodeId);
    return s >= 0 ? this.membership.table.maxVersion(s) : 0;
  }

  /**
   * The version at which this node holds `key` of `nodeId`'s map (0 when it holds none). A max
   * version of m does not mean every write up to m is held: a key overwritten before a delta cut
   * at m carried it stays at its older version until the newer one arrives. O(1).
   */
  versionOf(nodeId: string, key: string): number {
    const s = this.membership.slotOfId(nodeId);
    return s >= 0 ? (this.membership.table.values.get(s)?.get(key)?.version ?? 0) : 0;
  }

  setSeeds(addresses: readonly string[]): void {
    this.peers.setSeeds(addresses);
  }

  // ------------------------------------------------------------------ what happened

  takeEvents(): CoreEvent[] {
    return withoutReservedKeys(this.journal.take());
  }

  rejections(): Readonly<Record<RejectReason, number>> {
    return this.journal.rejections();
  }

  /** Times this node noticed that it had itself been stalled (and spared its peers). */
  get localStalls(): number {
    return this.health.stalls;
  }

  /** Times this node heard nobody for over two rounds with live peers around (and held its convictions). */
  get localDeafSpells(): number {
    return this.health.deafSpells;
  }

  /**
   * Whether `address` is a member's gossip address (live or dead) or a seed: an address this node
   * gossips with anyway, so a reply to it amplifies nothing. Anything else is a stranger.
   */
  isKnownAddress(address: string): boolean {
    return this.membership.knowsAddress(address) || this.peers.seeds.includes(address);
  }

  get liveCount(): number {
    return this.membership.liveOthers + 1;
  }

  get memberCount(): number {
    return this.membership.size;
  }

  /** True when this node learned something since its last round, so an early round would spread it. */
  get hasNews(): boolean {
    return this.journal.news;
  }

  /**
   * The earliest conviction deadline, on the caller's clock (Infinity when none): a harness that
   * runs detect() at this instant convicts on time rather than at its next periodic check (see
   * FailureDetector.nextDeadline for how early or late it can be).
   */
  get nextDeadline(): number {
    return this.detector.nextDeadline;
  }

  /**
   * In mode 7, when detect() next has work, on the caller's clock (at or before `now`: due now): a beat, a
   * neighbour's deadline, a removal, a census round, ... (Mode7.nextLivenAt); a round after the last detect() at
   * the latest. Pure: a harness sets one timer for it, and looks again after each call that changed the state. NaN
   * in mode 6, whose detect() runs at the harness's pace (every quarter interval, or at nextDeadline).
   */
  nextDetectAt(now: number): number {
    return this.mode7 ? Math.min(this.mode7.nextLivenAt(now), this.membership.nextRemoval) : Number.NaN;
  }

  /**
   * Whether detect() at `now` holds convictions back because this node hears no peer (see LocalHealth): a due
   * deadline then stays due, and a harness that wakes at nextDeadline should look again later, not at once.
   */
  isDeaf(now: number): boolean {
    if (this.mode7) return this.mode7.deaf(now);
    return this.health.isDeaf(now, this.membership.liveOthers);
  }

  /**
   * The liveness this node runs: 7 once its gate is open and every live member is ready (CoreConfig.liveness7;
   * detect() then sends beats), else 6.
   */
  get livenessMode(): 6 | 7 {
    return this.mode7 ? 7 : 6;
  }

  /** Protocol 7's mode, gate and refusals (CoreConfig.liveness7); null without it. */
  livenessStatus(now: number): LivenessStatus | null {
    return this.liveness ? this.liveness.status(now) : null;
  }

  // ------------------------------------------------------------------ the round

  /** One gossip round: bump own heartbeat, expire and collect own keys, run the failure detector, open exchanges. */
  tick(now: number): Outbound[] {
    const t = this.membership.table;
    t.setHeartbeat(SELF, t.heartbeat(SELF) + 1);
    t.setBirth(SELF, now);
    this.membership.keepSlotsInRefOrder();
    this.own.expire(now);
    this.own.release(now);
    this.liveness?.update(now);
    const mode7 = this.mode7;
    if (mode7) {
      const out = this.detect(now);
      const targets = this.peers.select();
      out.push(...mode7.round(targets, now));
      // Members still in mode 6 (a joiner not yet ready, or during the switch) get heartbeats as before.
      const sw = this.liveness as LivenessSwitch;
      const heartbeats = targets.filter((to) => sw.sendsHeartbeatsTo(to, now));
      if (heartbeats.length > 0) out.push(...this.exchange.open(heartbeats, now, { unheard: false }));
      return out;
    }
    this.detect(now);
    return this.openExchanges(now);
  }

  /** Mode 7's sub-coordinator while this node runs it (the gate is open and every live member ready); else null. */
  private get mode7(): Mode7 | null {
    return this.liveness?.active ?? null;
  }

  /**
   * An extra round between ticks, to spread news now rather than at the next tick: the same
   * exchanges, but no heartbeat (the detectors downstream keep their rhythm). Harnesses call it
   * when hasNews, rate-limited (the runtime: at most four per interval).
   */
  gossip(now: number): Outbound[] {
    this.observeClock(now);
    this.own.release(now);
    if (this.mode7) return this.mode7.news(this.peers.select(), now);
    return this.openExchanges(now);
  }

  /**
   * Opens an exchange with each given address now, outside peer selection: a seed that just appeared
   * (a new pod in DNS) is met at once rather than when chance picks it. Sent as to peers we have not
   * heard from: a full digest, our own entry first, since a compact one means nothing to a node
   * whose membership differs, as a stranger's does. Pending news stays for the next round.
   */
  contact(addresses: readonly string[], now: number): Outbound[] {
    this.observeClock(now);
    return this.exchange.open(
      [...new Set(addresses)].filter((a) => a !== this.self.address),
      now,
      { unheard: true },
    );
  }

  /** Graceful leave: a message for every live peer, which marks this node dead at once. */
  leave(now: number): Outbound[] {
    this.observeClock(now);
    if (this.mode7) return this.mode7.leave(this.peers.select(), now);
    return this.exchange.leave();
  }

  /**
   * An operator's force-leave (serf's): a dead member is removed now rather than a grace period
   * after its conviction, and stale gossip cannot bring it back. Returns leave messages on its
   * behalf for every live peer, which remove it there too. A member that made a leave commitment
   * (protocol 5) comes back if it was in fact alive and heartbeats on, as in serf; a receiver that
   * still sees it live refuses the leave (it carries no proof: 'forged-leave'). A member that made
   * none (an older release) is marked left, for good, as before: a receiver that sees it live
   * convicts it, reason "left". Null, and nothing changed, when `id` is unknown, self or live.
   */
  forceLeave(id: string, now: number): Outbound[] | null {
    this.observeClock(now);
    const m = this.membership;
    const s = m.slotOfId(id);
    if (s <= SELF || m.table.status[s] !== DEAD) return null;
    const out = this.exchange.leave(s);
    m.forceLeave(s, now, { final: m.commitment(s) === null });
    return out;
  }

  /**
   * The failure detector alone: convicts members whose phi passed the threshold and removes those
   * dead past the grace period. tick() runs it; a harness may also run it between rounds so that
   * conviction is not quantized to the gossip interval (the simulator does, four times a round; the runtime at
   * nextDeadline). In mode 7 it must run every quarter interval, or at nextDetectAt: it sends the beats and the
   * census's pulls, which it returns (in mode 6, nothing).
   */
  detect(now: number): Outbound[] {
    this.observeClock(now);
    if (this.mode7) {
      this.mode7.removeDue(now);
      this.membership.forgetExpired(now);
      return this.mode7.liven(now);
    }
    this.detector.sweep(now, this.health.isDeaf(now, this.membership.liveOthers));
    this.membership.forgetExpired(now);
    return [];
  }

  /**
   * Handles one decoded message from `from` ("host:port"); returns the replies to send. `sender`
   * says whether the harness knows `from` (see isKnownAddress) and how many bytes of encoded
   * message the replies to it may take (default: a known sender, the payload budget): a harness
   * limits what a sender it does not know can make this node send.
   */
  receive(from: string, message: CoreMessage, now: number, sender: Sender = KNOWN_SENDER): Outbound[] {
    this.observeClock(now);
    // Protocol 7's messages go to the liveness switch (a node configured for protocol 6 drops them).
    if (isLivenessMessage(message)) return this.liveness?.receive(from, message, now, sender) ?? [];
    // Traffic again after a spell of hearing nobody: the silence was ours, excused like a stall.
    const answer = message.type === 'synAck' || message.type === 'ack';
    const deafness = this.health.heard(now, this.membership.liveOthers, answer);
    if (deafness > 0) this.detector.shiftDeadlines(deafness);
    return this.exchange.receive(from, message, now, sender);
  }

  /**
   * Peers this node wants a stream from (mode 7: its state differs from theirs by more than a packet): the harness
   * opens one to each, reads that peer's streamOut() and hands it to streamIn(). Empty in mode 6.
   */
  takeStreamRequests(): string[] {
    return this.mode7 ? this.mode7.takeStreamRequests() : [];
  }

  /** This node's whole state as batches of node deltas, for a stream a peer opened (mode 7; empty in mode 6). */
  streamOut(): Iterable<NodeDelta7[]> {
    return this.mode7 ? this.mode7.streamOut() : [];
  }

  /** Node deltas a stream from `from` carried (mode 7; ignored in mode 6). */
  streamIn(nodes: readonly NodeDelta7[], from: string, now: number): void {
    this.observeClock(now);
    this.mode7?.streamIn(nodes, now, from);
  }

  private openExchanges(now: number): Outbound[] {
    this.journal.news = false;
    const targets = this.peers.select();
    if (targets.length > 0) this.health.asked(now);
    return this.exchange.open(targets, now, { unheard: this.health.unheard(now) });
  }

  private observeClock(now: number): void {
    if (this.liveness) this.liveness.now = now;
    const stall = this.health.observeClock(now);
    if (stall > 0) this.detector.shiftDeadlines(stall);
  }

  // ------------------------------------------------------------------ views

  /** Current phi of a member (for diagnostics; conviction uses precomputed deadlines). */
  phiOf(nodeId: string, now: number): number | undefined {
    const s = this.membership.slotOfId(nodeId);
    return s <= SELF ? undefined : this.views.phi(s, now);
  }

  /**
   * How close a live member is to conviction: the silence since its newest heartbeat's birth and the silence at
   * which it would be convicted now (mode 7: since its last beat, and when this node reports it: core/member-views.ts).
   * Undefined for self, a dead member, an unknown id, and in mode 7 a member not watched here. For dashboards.
   */
  silenceOf(nodeId: string, now: number): { silentForMs: number; convictAfterMs: number } | undefined {
    const s = this.membership.slotOfId(nodeId);
    if (s <= SELF || this.membership.table.status[s] !== LIVE) return undefined;
    return this.views.silence(s, now);
  }

  /** Every member's view; taken with a time `now`, live members carry their silence (for dashboards). */
  snapshot(now?: number): ClusterSnapshot {
    const t = this.membership.table;
    const live: NodeView[] = [];
    const dead: NodeView[] = [];
    for (let s = 0; s < t.used; s++) {
      const st = t.status[s];
      if (st === FREE) continue;
      (st === LIVE ? live : dead).push(this.views.node(s, st === LIVE ? now : undefined));
    }
    return { self: this.self, live, dead, seeds: [...this.peers.seeds] };
  }

  /**
   * The identity of the live member with this id (this node included), or undefined. O(1): the runtime
   * checks every query packet's sender against it (runtime/queries.ts).
   */
  liveIdentity(id: string): NodeIdentity | undefined {
    const s = this.membership.slotOfId(id);
    return s >= 0 && this.membership.table.status[s] === LIVE ? this.membership.identity(s) : undefined;
  }

  /** A member's view by identity, or by id (the one generation held); undefined once removed. O(its keys). */
  member(who: NodeIdentity | string): NodeView | undefined {
    const s = typeof who === 'string' ? this.membership.slotOfId(who) : this.membership.slotOfRef(identityRef(who));
    return s >= 0 ? this.views.node(s) : undefined;
  }

  /**
   * When the newest heartbeat this node holds of a member was born, on the caller's clock (the instant silence is
   * counted from; shifted forward over local stalls like every deadline); in mode 7, when its newest beat arrived
   * (a neighbour's only). Undefined for self, once the member has been removed, and in mode 7 for a member not
   * watched here. For diagnostics: the runtime reports conviction time minus this as the silence that convicted it.
   */
  heartbeatBornAt(identity: NodeIdentity): number | undefined {
    const s = this.membership.slotOfRef(identityRef(identity));
    return s > SELF ? this.views.lastHeardAt(s) : undefined;
  }
}
