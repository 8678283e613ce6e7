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
 *
 * Pure: no sockets, timers, Date.now() or Math.random(). The harness passes clock readings and
 * decoded messages in, and takes out messages to send and events to publish. docs/architecture.md
 * follows one packet through these modules.
 */
import type { Message } from '../wire/messages.js';
import { Deltas } from './delta.js';
import { FailureDetector } from './detector.js';
import { Digests } from './digest.js';
import { Exchange } from './exchange.js';
import { identityRef } from './identity.js';
import { Journal } from './journal.js';
import { LocalHealth } from './local-health.js';
import { Membership, SELF } from './membership.js';
import { OwnValues } from './own-values.js';
import { LIVE, FREE } from './peer-table.js';
import { PeerSelection } from './peer-selection.js';
import type { ClusterSnapshot, CoreConfig, CoreEvent, NodeIdentity, NodeView, Outbound, Random, RejectReason } from './types.js';

export class ScuttlebuttCore {
  readonly self: NodeIdentity;
  private readonly journal = new Journal();
  private readonly membership: Membership;
  private readonly detector: FailureDetector;
  private readonly health: LocalHealth;
  private readonly own: OwnValues;
  private readonly peers: PeerSelection;
  private readonly exchange: Exchange;

  constructor(config: CoreConfig, rng: Random, now: number, initialValues: Readonly<Record<string, string>> = {}) {
    this.self = config.self;
    const fd = config.failureDetector;
    const expected = Math.max(16, config.expectedMembers ?? 16);
    const membership = new Membership(config.self, fd.deadNodeGracePeriodMs, this.journal, Math.max(2, fd.samplingWindowSize), expected);
    this.membership = membership;
    this.detector = new FailureDetector(fd, config.gossipIntervalMs, membership);
    this.health = new LocalHealth(config.gossipIntervalMs, fd.acceptableHeartbeatPauseMs, now);
    const digests = new Digests(membership, config.clusterId, config.payloadBudget, config.gossipIntervalMs);
    const deltas = new Deltas(membership, this.detector, digests, this.journal, rng);
    this.exchange = new Exchange(config.clusterId, config.payloadBudget, membership, this.detector, digests, deltas, this.journal, rng, config.lowBitsTo);
    this.peers = new PeerSelection(membership, rng, config.fanout);
    membership.table.setHeartbeat(SELF, config.firstHeartbeat ?? 1);
    membership.table.setBirth(SELF, now);
    this.own = new OwnValues(membership.table, config.self, this.journal, config.clusterId, config.payloadBudget, config.tombstoneGracePeriodMs);
    for (const [key, value] of Object.entries(initialValues)) this.own.set(key, value);
    this.journal.take();
  }

  // ------------------------------------------------------------------ local writes

  /** Sets a key of this node's map; a no-op when the value is unchanged. `now` is not needed (a plain set never expires). */
  set(key: string, value: string, now?: number): void {
    void now;
    this.own.set(key, value);
  }

  /** Sets a key that this node deletes (tombstones) after ttlMs; peers learn the deletion by gossip. */
  setWithTtl(key: string, value: string, ttlMs: number, now: number): void {
    this.own.setWithTtl(key, value, ttlMs, now);
  }

  delete(key: string, now: number): void {
    this.own.delete(key, now);
  }

  get(key: string): string | undefined {
    return this.own.get(key);
  }

  setSeeds(addresses: readonly string[]): void {
    this.peers.setSeeds(addresses);
  }

  // ------------------------------------------------------------------ what happened

  takeEvents(): CoreEvent[] {
    return this.journal.take();
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

  // ------------------------------------------------------------------ the round

  /** One gossip round: bump own heartbeat, expire and collect own keys, run the failure detector, open exchanges. */
  tick(now: number): Outbound[] {
    const t = this.membership.table;
    t.setHeartbeat(SELF, t.heartbeat(SELF) + 1);
    t.setBirth(SELF, now);
    this.membership.keepSlotsInRefOrder();
    this.own.expire(now);
    this.detect(now);
    return this.openExchanges(now);
  }

  /**
   * An extra round between ticks, to spread news now rather than at the next tick: the same
   * exchanges, but no heartbeat (the detectors downstream keep their rhythm). Harnesses call it
   * when hasNews, rate-limited (the runtime: at most four per interval).
   */
  gossip(now: number): Outbound[] {
    this.observeClock(now);
    return this.openExchanges(now);
  }

  /** Graceful leave: a message for every live peer, which marks this node dead at once. */
  leave(now: number): Outbound[] {
    this.observeClock(now);
    return this.exchange.leave();
  }

  /**
   * The failure detector alone: convicts members whose phi passed the threshold and removes those
   * dead past the grace period. tick() runs it; a harness may also run it between rounds so that
   * conviction is not quantized to the gossip interval (the runtime does, four times a round).
   */
  detect(now: number): void {
    this.observeClock(now);
    this.detector.sweep(now, this.health.isDeaf(now, this.membership.liveOthers));
    this.membership.forgetExpired(now);
  }

  /** Handles one decoded message from `from` ("host:port"); returns the replies to send. */
  receive(from: string, message: Message, now: number): Outbound[] {
    this.observeClock(now);
    // Traffic again after a spell of hearing nobody: the silence was ours, excused like a stall.
    const deafness = this.health.heard(now, this.membership.liveOthers);
    if (deafness > 0) this.detector.shiftDeadlines(deafness);
    return this.exchange.receive(from, message, now);
  }

  private openExchanges(now: number): Outbound[] {
    this.journal.news = false;
    const targets = this.peers.select();
    return this.exchange.open(targets, now, this.health.unheard(now));
  }

  private observeClock(now: number): void {
    const stall = this.health.observeClock(now);
    if (stall > 0) this.detector.shiftDeadlines(stall);
  }

  // ------------------------------------------------------------------ views

  /** Current phi of a member (for diagnostics; conviction uses precomputed deadlines). */
  phiOf(nodeId: string, now: number): number | undefined {
    const s = this.membership.slotOfId(nodeId);
    return s <= SELF ? undefined : this.detector.phiOf(s, now);
  }

  snapshot(): ClusterSnapshot {
    const t = this.membership.table;
    const live: NodeView[] = [];
    const dead: NodeView[] = [];
    for (let s = 0; s < t.used; s++) {
      const st = t.status[s];
      if (st === FREE) continue;
      (st === LIVE ? live : dead).push(this.viewOf(s));
    }
    return { self: this.self, live, dead, seeds: [...this.peers.seeds] };
  }

  /** One member's current view, or undefined once it has been removed. O(its keys), for event payloads. */
  member(identity: NodeIdentity): NodeView | undefined {
    const s = this.membership.slotOfRef(identityRef(identity));
    return s >= 0 ? this.viewOf(s) : undefined;
  }

  private viewOf(s: number): NodeView {
    const t = this.membership.table;
    const values: Record<string, string> = {};
    const map = t.values[s];
    if (map) for (const [key, v] of map) if (!v.tombstone) values[key] = v.value;
    return {
      node: this.membership.identity(s),
      status: t.status[s] === LIVE ? 'live' : 'dead',
      heartbeat: t.heartbeat(s),
      maxVersion: t.maxVersion(s),
      values,
      ...(s === SELF ? {} : { detector: this.detector.view(s) }),
    };
  }
}
