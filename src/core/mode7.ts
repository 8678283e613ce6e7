/**
 * Mode 7 of the coordinator (docs/design/liveness-7.md): liveness watched by neighbours and quiet exchanges by
 * hash, in place of protocol 6's heartbeat in every digest. ScuttlebuttCore builds this when its configuration
 * asks for protocol 7 (CoreConfig.liveness7) and hands it every round, every detector run and every protocol-7
 * message; it owns what mode 7 adds beside the membership:
 *
 *   State7      the state hash and protocol 7's per-member state, kept in step with the peer table (state7.ts)
 *   Deltas7     node deltas 7 packed and applied (delta7.ts)
 *   Exchange7   news as hot SYN7s, drill-down from a beat's hash, the three-way exchange 7 (exchange7.ts)
 *   Liveness7   beats, report sets, conviction by quorum, refutation and the census (liveness7.ts)
 *
 * and the glue between them: Liveness7 speaks refs, the membership slots and addresses; Liveness7's verdicts
 * become the membership's deaths and revivals; the membership's other changes (joins, leaves, removals) reach
 * Liveness7's view once per call; report sets travel in node deltas through `ReportSets`; a refutation raises
 * this node's incarnation in the peer table, so it spreads as news.
 *
 * Pure, as the rest of the core: the clock and randomness come in, messages to send go out.
 */
import { BEAT_DEAD_HERE, type LivenessMessage, type NodeDelta7, type ReportSet } from '../wire/liveness-messages.js';
import { Deltas7, type ReportSets } from './delta7.js';
import { Exchange7 } from './exchange7.js';
import type { Journal } from './journal.js';
import type { LeaveProofs } from './leave-proof.js';
import { Liveness7 } from './liveness7.js';
import { HealProbes } from './heal-probes.js';
import { deadHereProbe, type CensusStatus7 } from './liveness7-parts.js';
import { SELF, type Membership } from './membership.js';
import type { OwnValues } from './own-values.js';
import { DEAD, FREE, LIVE, type StateObserver } from './peer-table.js';
import { State7 } from './state7.js';
import type { FailureDetectorConfig, Liveness7Options, MemberWatch, Outbound, Random, Sender } from './types.js';

export interface Mode7Components {
  readonly membership: Membership;
  readonly journal: Journal;
  readonly own: OwnValues;
  readonly proofs: LeaveProofs;
  readonly rng: Random;
  /** Whether the member at a slot is ready by the gate (Gate.isReady); default: every member. */
  readonly isReady?: (slot: number) => boolean;
}

export interface Mode7Init {
  readonly clusterId: string;
  readonly payloadBudget: number;
  readonly gossipIntervalMs: number;
  readonly failureDetector: FailureDetectorConfig;
  readonly options: Liveness7Options;
}

/** Liveness7Options.partitionMemoryMs's default: ten minutes. */
export const PARTITION_MEMORY_MS = 600_000;

/** Past this many membership changes between two calls, Liveness7 is rebuilt from the membership at once. */
const BULK_CHANGES = 64;

/** How many rounds a non-member's SYN-ACK7 says it runs mode 7 (speaks7), and how many such addresses are kept. */
const ANSWERED7_ROUNDS = 3;
const ANSWERED7_MAX = 64;

/** Counts of what mode 7 refused or dropped, by reason (ScuttlebuttCore.livenessStatus). */
export type Mode7Drops = Readonly<Record<string, number>>;

export class Mode7 {
  readonly state: State7;
  private readonly deltas: Deltas7;
  private readonly exchange: Exchange7;
  private readonly liveness: Liveness7;
  private readonly membership: Membership;
  private readonly journal: Journal;
  private readonly rng: Random;
  private readonly proofs: LeaveProofs;
  private readonly partitionMemoryMs: number;
  /** Report sets held, by observer ref (this node's own included), for forwarding in node deltas. */
  private readonly sets = new Map<number, ReportSet>();
  /**
   * The membership's changes Liveness7 did not cause, by ref, in order: applied one by one at the next call (each
   * costs Liveness7 no pass over the view), or all at once by a rebuild past BULK_CHANGES or at the start.
   */
  private readonly changes: { readonly type: 'live' | 'dead' | 'removed'; readonly ref: number }[] = [];
  private rebuild = true;
  /** Slots whose incarnation rose since Liveness7 last heard (a delta carried a refutation). */
  private readonly raised = new Set<number>();
  /** The rounds of probes to members held dead after evidence of a heal (heal-probes.ts). */
  private readonly heal = new HealProbes();
  /** True while this object applies Liveness7's verdicts: those deaths and revivals are not news to it. */
  private applying = false;
  /** The clock of the call in progress (report sets accepted inside a delta's application read it). */
  private now: number;
  private readonly dropped = { 'stream-over-udp': 0, 'unknown-beat-sender': 0 };
  /** Non-members (seeds, to a node alone) that answered a SYN7 lately, and when: they run mode 7 (see speaks7). */
  private readonly answered7 = new Map<string, number>();
  private readonly gossipIntervalMs: number;

  constructor(components: Mode7Components, init: Mode7Init, now: number) {
    const { membership, journal, own, proofs, rng } = components;
    this.membership = membership;
    this.journal = journal;
    this.rng = rng;
    this.proofs = proofs;
    this.partitionMemoryMs = init.options.partitionMemoryMs ?? PARTITION_MEMORY_MS;
    this.gossipIntervalMs = init.gossipIntervalMs;
    this.now = now;
    const t = membership.table;
    // Incarnation 0 in a request means "send its identity": a member's first incarnation is 1. Members learned in
    // mode 6 carry none (protocol 6's deltas have no incarnation): they start at 1 here as they did at home, before
    // the hash is summed.
    for (let s = 0; s < t.used; s++) if (t.status[s] !== FREE && t.incarnation(s) < 1) t.setIncarnation(s, 1);
    this.state = new State7(membership, { ownPublicKey: init.options.signer.publicKey });
    this.followIncarnations();
    const reports: ReportSets = {
      setOf: (ref) => this.sets.get(ref),
      accept: (observer, incarnation, publicKey, set) => this.acceptSet(observer, incarnation, publicKey, set),
      claimedAboutSelf: () => {
        // A delta claiming a higher incarnation of ours: the beats' buddy flag and the report book drive the
        // refutation (Liveness7.shouldRefute); a bare claim in a delta is a forger's or a stale echo.
      },
    };
    this.deltas = new Deltas7({ state: this.state, journal, own, proofs, reports });
    this.exchange = new Exchange7(
      { membership, state: this.state, deltas: this.deltas, journal, rng, own },
      { clusterId: init.clusterId, payloadBudget: init.payloadBudget },
    );
    this.liveness = new Liveness7(
      {
        self: t.ref(SELF),
        clusterId: init.clusterId,
        incarnation: t.incarnation(SELF),
        gossipIntervalMs: init.gossipIntervalMs,
        failureDetector: init.failureDetector,
        signer: init.options.signer,
        isReady: (ref) => components.isReady?.(membership.slotOfRef(ref)) ?? true,
        ...(init.options.observers !== undefined ? { observers: init.options.observers } : {}),
        ...(init.options.assignmentPool ? { assignmentPool: init.options.assignmentPool } : {}),
      },
      now,
    );
    // Members held dead now were convicted by protocol 6's detector, here alone: no report names a live one, so it
    // would not learn it is held dead before Liveness7's occasional dead-here probe. It is probed in the first rounds
    // (HealProbes) and refutes; Liveness7 holds it dead (sync's rebuild), so the refutation revives it.
    if (membership.deadOthers > 0) this.heal.heal(0);
  }

  /** A member's report-signing key, as its state carries it (REPORT_KEY_KEY); the first one heard is kept. */
  notePublicKey(s: number, key: Uint8Array | undefined): void {
    if (key && !this.state.publicKey(s)) this.state.notePublicKey(s, key);
  }

  /** The membership renumbered its slots (slotOf[old] = new): what is kept by slot moves with them. */
  remap(slotOf: Int32Array): void {
    const raised = [...this.raised];
    this.raised.clear();
    for (const s of raised) if ((slotOf[s] ?? -1) >= 0) this.raised.add(slotOf[s] as number);
  }

  /** Mode 7 ends here (a fallback): the peer table's hook is released, and this object is dropped. */
  detach(): void {
    this.membership.table.stateObserver = null;
  }

  /** The journal's events, seen as they are emitted: joins, deaths and removals Liveness7 did not cause. */
  noteEvent(type: 'live' | 'dead' | 'update' | 'removed', slot: number): void {
    if (this.applying || type === 'update' || this.rebuild) return;
    if (this.changes.length >= BULK_CHANGES) {
      this.rebuild = true;
      this.changes.length = 0;
      return;
    }
    this.changes.push({ type, ref: this.refOf(slot) });
  }

  /**
   * Every quarter interval (the coordinator's detect): beats once a round, census pulls, verdicts applied,
   * refutation, the own report set published.
   */
  liven(now: number): Outbound[] {
    this.sync(now);
    const out = this.addressed(this.liveness.tick(now, this.state.hash, this.rng));
    this.settle(now);
    return out;
  }

  /** When liven() next has work (Liveness7.nextTickAt; changes not yet applied to it count as work). Pure. */
  nextLivenAt(now: number): number {
    return this.liveness.nextTickAt(now, this.rebuild || this.changes.length > 0 || this.raised.size > 0);
  }

  /**
   * The round: news goes out as hot SYN7s to `targets`, the hot members' window moves on, and after evidence of a
   * heal, probes to members held dead.
   */
  round(targets: readonly string[], now: number): Outbound[] {
    this.sync(now);
    const out = this.news(targets, now);
    this.state.startRound();
    for (const s of this.heal.take(() => this.deadSlots(), this.membership.liveOthers, this.rng))
      out.push(this.probe(s));
    return out;
  }

  /** Members held dead and not left, by slot. */
  private deadSlots(): number[] {
    const t = this.membership.table;
    const dead: number[] = [];
    for (let s = SELF + 1; s < t.used; s++) if (t.status[s] === DEAD && t.left[s] === 0) dead.push(s);
    return dead;
  }

  private probe(s: number): Outbound {
    return { to: this.membership.address(s), message: deadHereProbe(this.refOf(SELF), true, 0, this.state.hash) };
  }

  /**
   * An eager round between ticks: news only. While this node knows no other live member (it is joining, or was
   * left alone), a pull with its whole digest to each target (seeds among them) instead: the answer is the
   * cluster.
   */
  news(targets: readonly string[], now: number): Outbound[] {
    this.journal.news = false;
    if (this.membership.liveOthers === 0) return targets.map((to) => this.exchange.synAll(to));
    return this.exchange.news(targets, now, this.liveness.censusStatus().completedEpoch);
  }

  /**
   * A graceful leave: the leave secret becomes this node's state and its incarnation rises (digests carry no left
   * flag, the raised incarnation shows it), spread as news to `targets` as any change is.
   */
  leave(targets: readonly string[], now: number): Outbound[] {
    const t = this.membership.table;
    if (this.proofs.secret) this.state.noteLeaveSecret(SELF, this.proofs.secret);
    t.setLeft(SELF, 1);
    t.setIncarnation(SELF, t.incarnation(SELF) + 1);
    this.journal.news = true;
    return this.news(targets, now);
  }

  /** A protocol-7 message from `from`. */
  receive(from: string, message: LivenessMessage, now: number, sender: Sender): Outbound[] {
    this.sync(now);
    let out: Outbound[] = [];
    switch (message.type) {
      case 'beat': {
        const s = this.slotAt(from);
        const news = s > SELF ? this.liveness.onBeat(this.refOf(s), message, now) : null;
        if (!news) {
          this.dropped['unknown-beat-sender']++;
          break;
        }
        out = this.exchange.onBeatHash(s, news.stateHash, now);
        if ((message.flags & BEAT_DEAD_HERE) === 0) break;
        // A member that holds us dead reached us: a partition may have healed. Our refutation (settle, below)
        // goes to it at once in a hot digest, so that it revives us and spreads that on its side; if we hold it
        // dead too, a probe back makes it refute as well; and a few rounds of probes follow (HealProbes).
        this.settle(now);
        out.push(...this.exchange.news([from], now, this.liveness.censusStatus().completedEpoch));
        if (this.membership.table.status[s] === DEAD) out.push(this.probe(s));
        this.heal.heal(0);
        break;
      }
      case 'censusPull': {
        const s = this.slotAt(from);
        if (s > SELF) out = [{ to: from, message: this.liveness.onCensusPull(this.refOf(s), message, now) }];
        break;
      }
      case 'census': {
        const s = this.slotAt(from);
        if (s > SELF) this.liveness.onCensus(this.refOf(s), message, now);
        break;
      }
      case 'streamHello':
      case 'streamEnd':
        // TCP only: a stream's frames arriving over UDP are someone's replay or mistake.
        this.dropped['stream-over-udp']++;
        break;
      default:
        if (message.type === 'synAck7' && this.slotAt(from) <= SELF) this.noteAnswered7(from, now);
        out = this.exchange.receive(from, message, now, sender);
    }
    this.settle(now);
    return out;
  }

  private noteAnswered7(from: string, now: number): void {
    // Bounded: only a node alone contacts non-members by SYN7, and only its seeds answer it.
    if (this.answered7.size >= ANSWERED7_MAX && !this.answered7.has(from)) this.answered7.clear();
    this.answered7.set(from, now);
  }

  /**
   * Whether the non-member at `address` answered a SYN7 within the last ANSWERED7_ROUNDS rounds: it runs mode 7, so
   * a node alone needs no protocol-6 SYN to it beside its SYN7 (each is answered and acknowledged through the seed's
   * socket queue, which a mass join fills). A seed back in mode 6 answers no SYN7 and gets the SYN again.
   */
  speaks7(address: string, now: number): boolean {
    const at = this.answered7.get(address);
    return at !== undefined && now - at <= ANSWERED7_ROUNDS * this.gossipIntervalMs;
  }

  /** Removes dead members past their grace period, scanning only once one is due (no detector sweeps in mode 7). */
  removeDue(now: number): void {
    const m = this.membership;
    if (now < m.nextRemoval) return;
    const t = m.table;
    let next = Infinity;
    for (let s = SELF + 1; s < t.used; s++) if (t.status[s] === DEAD) next = Math.min(next, m.removeIfDue(s, now));
    m.nextRemoval = next;
  }

  /** Peers whose state differs by more than a packet: the harness opens a stream to each (see Exchange7). */
  takeStreamRequests(): string[] {
    return this.exchange.takeStreamRequests();
  }

  /** This node's whole state as node-delta batches, for a stream a peer opened. */
  streamOut(): Iterable<NodeDelta7[]> {
    return this.exchange.streamOut();
  }

  /** Node deltas a stream from `from` carried. */
  streamIn(nodes: readonly NodeDelta7[], now: number, from: string): void {
    this.sync(now);
    this.exchange.streamIn(nodes, now, from);
    this.settle(now);
  }

  /** Slot s as the neighbour detector shows it (NeighbourWatch.view): undefined for a member not watched here. */
  watched(s: number, now: number | undefined): MemberWatch | undefined {
    return this.liveness.watch.view(this.refOf(s), now);
  }

  /** When the newest beat of slot s arrived here (NeighbourWatch.lastBeatAt): undefined unless it is a neighbour. */
  lastBeatAt(s: number): number | undefined {
    return this.liveness.watch.lastBeatAt(this.refOf(s));
  }

  /** Whether this node hears none of its neighbours (its reports and convictions are held). */
  deaf(now: number): boolean {
    return this.liveness.deaf(now);
  }

  /** Refusals and drops of mode 7, by reason: report sets refused, parts of deltas dropped, stray messages. */
  drops(): Mode7Drops {
    return { ...this.liveness.rejections(), ...this.deltas.dropped(), ...this.dropped };
  }

  /** Whether a census runs here, and the newest epoch it completed. */
  censusStatus(): CensusStatus7 {
    return this.liveness.censusStatus();
  }

  private acceptSet(observer: number, incarnation: number, publicKey: Uint8Array | undefined, set: ReportSet): boolean {
    const ok = this.liveness.acceptReportSet(observer, incarnation, publicKey, set, this.now) === 'accepted';
    if (ok) this.sets.set(observer, set);
    return ok;
  }

  /** Brings Liveness7 up to date with the membership: incarnations raised by deltas, the live set, removals. */
  private sync(now: number): void {
    this.now = now;
    const m = this.membership;
    const t = m.table;
    for (const s of this.raised) {
      if (t.status[s] !== LIVE && t.status[s] !== DEAD) continue;
      // Admitted by a protocol-6 delta (a member still in mode 6 introduced it): no incarnation yet, so its first.
      if (t.incarnation(s) < 1) t.setIncarnation(s, 1);
      this.liveness.noteIncarnation(this.refOf(s), t.incarnation(s), now);
    }
    this.raised.clear();
    if (this.rebuild) {
      this.rebuild = false;
      const members: number[] = [];
      const live: number[] = [];
      const inherited: { ref: number; incarnation: number }[] = [];
      for (let s = 0; s < t.used; s++) {
        if (t.status[s] === LIVE || t.status[s] === DEAD) members.push(this.refOf(s));
        if (t.status[s] === LIVE) live.push(this.refOf(s));
        else if (t.status[s] === DEAD && t.left[s] === 0) {
          inherited.push({ ref: this.refOf(s), incarnation: t.incarnation(s) });
        }
      }
      this.liveness.setMembers(members, now);
      this.liveness.setView(live, now, inherited);
      // setView holds new members at incarnation 0: every node must hold the incarnation their state says, or
      // records about one member name different incarnations at different observers and never make a quorum.
      for (const ref of members) {
        const s = m.slotOfRef(ref);
        this.liveness.noteIncarnation(ref, t.incarnation(s), now);
      }
      for (const ref of [...this.sets.keys()]) if (m.slotOfRef(ref) < 0) this.sets.delete(ref);
      return;
    }
    // One change at a time, as it happened, but the view's arrays built once for all of them.
    this.liveness.batch(() => {
      for (const { type, ref } of this.changes) {
        const s = m.slotOfRef(ref);
        if (type === 'removed') {
          this.liveness.remove(ref, now);
          this.sets.delete(ref);
        } else if (type === 'dead') {
          this.liveness.leave(ref, now);
        } else if (s > SELF && t.status[s] === LIVE) {
          this.liveness.join(ref, t.incarnation(s), now);
        }
      }
    });
    this.changes.length = 0;
  }

  /** Applies Liveness7's verdicts to the membership, raises our incarnation if refuted, publishes our own set. */
  private settle(now: number): void {
    const m = this.membership;
    const t = m.table;
    const verdicts = this.liveness.takeVerdicts(now);
    this.applying = true;
    for (const c of verdicts.convictions) {
      const s = m.slotOfRef(c.ref);
      // Kept partitionMemoryMs whatever the reason: across a partition, observers on one side convict members of the
      // other by a quorum of silent reports too, as they would a crash.
      if (s > SELF && t.status[s] === LIVE) m.convict(s, 'suspected', now, this.partitionMemoryMs);
    }
    for (const ref of verdicts.revivals) {
      const s = m.slotOfRef(ref);
      if (s > SELF && t.status[s] === DEAD && t.left[s] === 0) {
        m.revive(s);
        // A member back from across a cut: others held dead may be back too (HealProbes).
        this.heal.heal(1);
      }
    }
    this.applying = false;
    const refuted = this.liveness.shouldRefute(now);
    if (refuted !== null && refuted > t.incarnation(SELF)) {
      t.setIncarnation(SELF, refuted);
      this.journal.news = true;
    }
    const own = this.liveness.ownReportSet();
    if (own) {
      this.sets.set(this.refOf(SELF), own);
      t.setReportVersion(SELF, own.version);
      this.journal.news = true;
    }
    this.raised.delete(SELF);
  }

  /** Liveness7's messages, addressed: to a member's gossip address. */
  private addressed(out7: readonly { readonly to: number; readonly message: LivenessMessage }[]): Outbound[] {
    const out: Outbound[] = [];
    for (const o of out7) {
      const s = this.membership.slotOfRef(o.to);
      if (s > SELF) out.push({ to: this.membership.address(s), message: o.message });
    }
    return out;
  }

  /** The member at `from`, live or dead (a census reaches across what this node holds dead), or -1. */
  private slotAt(from: string): number {
    return this.membership.memberSlotAt(from);
  }

  private refOf(s: number): number {
    return this.membership.table.ref(s);
  }

  /** Chains a watcher of incarnation changes after State7 on the table's one hook. */
  private followIncarnations(): void {
    const t = this.membership.table;
    const inner = t.stateObserver as StateObserver;
    let before = -1;
    t.stateObserver = {
      added: (s) => {
        inner.added(s);
        this.raised.add(s);
      },
      changing: (s) => {
        before = t.incarnation(s);
        inner.changing(s);
      },
      changed: (s) => {
        inner.changed(s);
        if (t.incarnation(s) > before) this.raised.add(s);
      },
      removing: (s) => {
        inner.removing(s);
        this.raised.delete(s);
      },
    };
  }
}
