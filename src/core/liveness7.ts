/**
 * Protocol 7's liveness for one node: the neighbour detector, the report sets, the conviction rule, refutation and
 * the census, composed (docs/design/liveness-7.md, "Beats", "Reports", "Conviction and refutation", "The partition
 * rule: the census"). The contract the coordinator (core.ts) calls; pure: the clock, randomness and the report
 * signer come in as arguments, and `tick` and the `on*` handlers return the messages to send.
 *
 * What it owns: the live view and each member's incarnation, as the coordinator tells it (`setView`,
 * `noteIncarnation`), its own verdicts applied to that view at once; an ObserverAssignment over the live view and a
 * NeighbourWatch fed with this node's neighbours in it; OwnReports (its verdicts as a signed set), a ReportBook (every
 * set received, its own included) and a Refuter; a Census over the membership (live and dead members held), also
 * started for a neighbour never heard (UnheardNeighbours: absent from it and silent to direct checks, such a
 * neighbour is reported).
 *
 * What it leaves to the coordinator (not here): the state hash and drill-down (`stateHash` is an input of `tick`, a
 * beat's hash an output of `onBeat`), the gate (`mode7` is an input), the stream, and moving state between nodes: the
 * coordinator carries `ownReportSet()` and the own incarnation in its node deltas, and hands what deltas carry to
 * `acceptReportSet` and `noteIncarnation`. Removal of dead members after their grace period or `partitionMemoryMs`
 * is the coordinator's too (`remove`, or `setMembers` without them).
 */
import type { BeatMessage, CensusMessage, CensusPullMessage, ReportSet } from '../wire/liveness-messages.js';
import { Census, type CensusMembership } from './census.js';
import { CensusHold } from './census-hold.js';
import {
  deadHereProbe,
  JudgedSubjects,
  nextOwnRecords,
  pickProbe,
  reachableNeighbours,
  type BeatNews7,
  type CensusStatus7,
  type Conviction7,
  type ConvictionReason,
  type Liveness7Config,
  type Outbound7,
  type Verdicts7,
} from './liveness7-parts.js';
import { MemberView7 } from './liveness7-view.js';
import { defaultLingerMs, NeighbourWatch } from './neighbours.js';
import { DEFAULT_OBSERVERS } from './observers.js';
import { OwnReports, ReportBook, Refuter, type ReportAcceptResult } from './reports.js';
import type { Random } from './types.js';
import { ReturnHold } from './returns.js';
import { ScanMarks } from './scan-marks.js';
import { UNHEARD_DELAYS, UnheardNeighbours } from './unheard.js';

/**
 * The mode-7 liveness sub-coordinator of one node (see the module comment). Call order per node: `setView` at
 * start; then, whenever the coordinator's live set changes other than by this object's verdicts, `join`, `leave`
 * or `remove` per member (`setView`/`setMembers` for a change of many); `tick` every quarter interval (or at
 * `nextTickAt`); the `on*` handlers for each protocol-7 message received; `takeVerdicts` and `shouldRefute` after
 * each tick and handler (or once a tick); `ownReportSet` when building deltas.
 */
export class Liveness7 {
  readonly self: number;
  private readonly k: number;
  private readonly intervalMs: number;
  /** The neighbour detector (member views read it: NeighbourWatch.view). */
  readonly watch: NeighbourWatch;
  private readonly own: OwnReports;
  private readonly book: ReportBook;
  private readonly refuter: Refuter;
  private readonly census: Census;
  private readonly mode7: boolean;
  private incarnation: number;
  /** The members held, the assignment, the sorted membership; `incarnations` and `dead` are its maps. */
  private readonly view: MemberView7;
  private readonly incarnations: MemberView7['incarnations'];
  private readonly dead: Map<number, ConvictionReason>;
  private membership: CensusMembership;
  private nextBeatAt = -Infinity;
  /** The last tick's clock reading, and whether the view changed since (see nextTickAt). */
  private lastTickAt = -Infinity;
  private viewChanged = true;
  private lastNow: number;
  private ownChanged = false;
  /** The highest incarnation a beat's buddy or dead-here flag claimed for us (-1: none since the last refute). */
  private beatClaim = -1;
  private convictions: Conviction7[] = [];
  private revivals: number[] = [];
  /** Census convictions, held while deaf, and those of a census nobody answered for the deafness hold. */
  private readonly heldCensus = new CensusHold();
  private readonly judged = new JudgedSubjects();
  /** Neighbours never heard (core/unheard.ts), the neighbours it reads, and who can be one (made once, not a tick). */
  private readonly unheard: UnheardNeighbours;
  private neighbourRefs: readonly number[] = [];
  private readonly eligible = (ref: number): boolean => this.view.isLive(ref) && (this.config.isReady?.(ref) ?? true);
  /** What the quorum scan and the census start rule must look at again (core/scan-marks.ts). */
  private readonly marks = new ScanMarks();
  /** Members revived or cleared of a record within a detection delay: records by and about them wait (returns.ts). */
  private readonly returns: ReturnHold;
  /** Censuses this node started, and members its censuses convicted, since construction. */
  private censusesStarted = 0;
  private censusConvicted = 0;

  constructor(
    private readonly config: Liveness7Config,
    now: number,
  ) {
    this.self = config.self;
    this.k = config.observers ?? DEFAULT_OBSERVERS;
    this.intervalMs = config.gossipIntervalMs;
    this.incarnation = config.incarnation;
    this.mode7 = config.mode7 ?? true;
    this.lastNow = now;
    this.watch = new NeighbourWatch(
      { self: config.self, gossipIntervalMs: config.gossipIntervalMs, failureDetector: config.failureDetector },
      now,
    );
    this.own = new OwnReports(config.clusterId, config.self, config.incarnation, config.signer, this.k);
    this.book = new ReportBook(config.clusterId, config.signer, this.k);
    this.refuter = new Refuter(config.gossipIntervalMs);
    this.census = new Census(config.self, { clusterId: config.clusterId, intervalMs: config.gossipIntervalMs });
    const detectionMs = defaultLingerMs(this.intervalMs, config.failureDetector);
    this.unheard = new UnheardNeighbours(UNHEARD_DELAYS * detectionMs);
    this.returns = new ReturnHold(detectionMs);
    this.view = new MemberView7(this.self, this.k, this.incarnation, config.assignmentPool ?? null);
    this.incarnations = this.view.incarnations;
    this.dead = this.view.dead;
    this.census.setMembership((this.membership = this.buildMembership()));
  }

  /** This node's incarnation (raised by refutations: see shouldRefute). */
  get ownIncarnation(): number {
    return this.incarnation;
  }

  /**
   * The coordinator's live members (self included or not), once it applied this object's verdicts: a member
   * listed that is dead here is live again (the coordinator revived it), so never pass a live set older than the
   * last takeVerdicts. New refs are members at incarnation 0 unless noteIncarnation said otherwise; a live member
   * missing and not dead here leaves the membership; members dead here stay (the census runs over live and dead)
   * until setMembers drops them. O(N): one change at a time costs less through `join`, `leave` and `remove`.
   * `inherited`: members the coordinator holds dead by verdicts not this object's (protocol 6's detector, before
   * the switch), held dead here too (MemberView7.inherit): a refutation revives them, the dead-here probes reach them.
   */
  setView(live: Iterable<number>, now: number, inherited: Iterable<{ ref: number; incarnation: number }> = []): void {
    this.lastNow = now;
    for (const ref of this.view.setLive(live)) this.returns.note(ref, now);
    this.view.inherit(inherited);
    this.refresh(now);
  }

  /**
   * One member joined the coordinator's live view, or is live there again: the same as `setView` over the live
   * view plus `ref` followed by `noteIncarnation(ref, incarnation)`, at a cost that does not grow with the
   * membership. A new member is held at `incarnation`; a member held dead here is live again (the coordinator
   * revived it); a live member only takes a higher incarnation.
   */
  join(ref: number, incarnation: number, now: number): void {
    this.lastNow = now;
    if (this.dead.has(ref)) this.returns.note(ref, now);
    this.view.join(ref);
    this.refresh(now);
    this.noteIncarnation(ref, incarnation, now);
  }

  /**
   * One member left the coordinator's live view other than by this object's verdicts (it left, or the coordinator's own
   * detector judged it dead): the same as `setView` over the live view less `ref`, at a cost that does not grow with
   * the membership. A member dead here stays held (`remove` drops it); this node itself stays in its view.
   */
  leave(ref: number, now: number): void {
    this.lastNow = now;
    this.view.leave(ref);
    this.refresh(now);
  }

  /** The `join`, `leave` and `remove` calls `apply` makes, the view built once at the end (MemberView7.batch). */
  batch(apply: () => void): void {
    if (this.view.batch(apply)) this.census.setMembership((this.membership = this.buildMembership()));
  }

  /** Keeps only `members` (live and dead) in the membership: the coordinator removed the rest. */
  setMembers(members: Iterable<number>, now: number): void {
    this.view.keepOnly(members, (ref) => this.forget(ref));
    this.refresh(now);
  }

  /**
   * One member removed from the membership, live or dead (the coordinator dropped it after its grace period or
   * `partitionMemoryMs`): the same as `setMembers` with every member held but `ref`, at a cost that does not
   * grow with the membership. This node itself stays.
   */
  remove(ref: number, now: number): void {
    if (this.view.remove(ref)) this.forget(ref);
    this.refresh(now);
  }

  /**
   * A member's incarnation as a delta carried it. Higher than held: taken; a member dead here is revived by it
   * (a refutation: it is alive at a newer incarnation), and records about the older one stop counting.
   */
  noteIncarnation(ref: number, incarnation: number, now: number): void {
    if (ref === this.self) return;
    const held = this.incarnations.get(ref);
    if (held === undefined || incarnation <= held) return;
    // Cleared of a record here, or refuted one with records of its own, written before it heard of the record.
    if (this.book.claimAbout(ref, held) >= 0 || this.book.holdsRecords(ref)) this.returns.note(ref, now);
    this.incarnations.set(ref, incarnation);
    this.marks.touch([ref]);
    if (this.view.revive(ref)) {
      this.returns.note(ref, now);
      this.revivals.push(ref);
      this.refresh(now);
    }
  }

  /**
   * Called every quarter interval: this round's beats (once per interval; plus, with probability dead / (live +
   * 1), one BEAT_DEAD_HERE probe to a member held dead, the contact that heals a partition), and the census's
   * pulls while one runs. Also runs the detector and the conviction rule; their results come out of
   * takeVerdicts, ownReportSet and shouldRefute.
   */
  tick(now: number, stateHash: number, random: Random): Outbound7[] {
    this.lastNow = this.lastTickAt = now;
    this.viewChanged = false;
    const out: Outbound7[] = [];
    if (now >= this.nextBeatAt) {
      this.nextBeatAt = now + this.intervalMs;
      const beats = this.watch.beats(now, stateHash, {
        mode7: this.mode7,
        suspects: (ref) => this.own.holds(ref, this.incarnations.get(ref) ?? -1),
        deadHere: (ref) => this.dead.has(ref),
      });
      for (const b of beats) out.push({ to: b.to, message: b.beat });
      // With probability dead / (live + 1) (protocol 6's rule), a BEAT_DEAD_HERE to a random member held dead.
      const to = pickProbe([...this.dead.keys()], this.incarnations.size - this.dead.size, random);
      const sequence = beats[0]?.beat.sequence ?? 0;
      if (to !== undefined) out.push({ to, message: deadHereProbe(this.self, this.mode7, sequence, stateHash) });
    }
    this.unheard.update(now, this.neighbourRefs, this.watch, this.eligible);
    if (this.returns.expire(now)) this.marks.touchAll();
    this.judge(now);
    this.censusRound(now, random, out);
    return out;
  }

  /**
   * When tick() next has work, on the caller's clock (at or before `now`: due now); asking changes nothing. A
   * quarter interval after the last tick while something runs in ticks or waits on no deadline: a census, records
   * about live members or due never-heard neighbours (the census start rule), held census convictions, deafness, a
   * claim to refute, a view changed since the last tick, `pending` (the coordinator's changes not yet applied); a
   * round after it else. And no later than the beats, a neighbour's deadline (a verdict changes just after it), a
   * never-heard wait's end, or the end of a returned member's or an accuser's hold (ReturnHold.nextEnd).
   */
  nextTickAt(now: number, pending: boolean): number {
    const last = this.lastTickAt;
    const held = pending || this.viewChanged || this.heldCensus.holding || this.beatClaim >= 0;
    // Stale marks count as work: the list is computed by a tick, whose clock stamps the accusations (ReturnHold).
    const records = this.marks.stale || this.unresolved().length > 0;
    const census = this.census.running || records || this.unheard.due(last).length > 0;
    const busy = held || census || this.book.aboutMe(this.self, this.incarnation) || this.watch.deaf(now);
    const next = Math.min(this.nextBeatAt, this.watch.nextDeadline(last), this.unheard.nextDue(last));
    return Math.min(next, this.returns.nextEnd(), last + (busy ? this.intervalMs / 4 : this.intervalMs));
  }

  /**
   * A BEAT from member `from`. Null for a beat whose tag is not `from`'s (drop it). A buddy or dead-here flag
   * makes shouldRefute raise the incarnation: that is how a partition heals here (a dead-here probe reaches a
   * member held dead on the other side, it refutes, its new incarnation revives it wherever it arrives; no
   * census starts on a beat, which is one-way evidence: docs/design/liveness-7.md, "Heal").
   */
  onBeat(from: number, beat: BeatMessage, now: number): BeatNews7 | null {
    this.lastNow = now;
    const news = this.watch.onBeat(from, beat, now);
    if (!news) return null;
    if (news.suspectsYou || news.deadHere) this.beatClaim = Math.max(this.beatClaim, this.incarnation);
    return { stateHash: news.stateHash, mode7: news.mode7 };
  }

  /** A CENSUS-PULL from `from`: the CENSUS to answer it with (always answered, so that presence is two-way). */
  onCensusPull(from: number, msg: CensusPullMessage, now: number): CensusMessage {
    this.lastNow = now;
    const reply = this.census.onPull(from, msg, now);
    this.drainCensus();
    return reply;
  }

  /** A CENSUS answering one of our pulls. */
  onCensus(from: number, msg: CensusMessage, now: number): void {
    this.lastNow = now;
    this.census.onReply(from, msg, now);
    this.drainCensus();
  }

  /** This node's signed report set (already in its own book) if it changed since the last call: news; else null. */
  ownReportSet(): ReportSet | null {
    if (!this.ownChanged) return null;
    this.ownChanged = false;
    return this.own.current;
  }

  /**
   * A report set a delta carried: `observer` at `observerIncarnation`, checked against `publicKey` (the first
   * heard for that incarnation). Also takes the observer's incarnation and the set's census epoch. Returns the
   * book's verdict ('forged-report' and 'unsigned-report' are counted there: see rejections()).
   */
  acceptReportSet(
    observer: number,
    observerIncarnation: number,
    publicKey: Uint8Array | undefined,
    set: ReportSet,
    now: number,
  ): ReportAcceptResult {
    // The set first: the one that comes with a refutation still holds what was written before it (noteIncarnation).
    const { result, subjects } = this.book.acceptChanges(observer, observerIncarnation, publicKey, set);
    this.noteIncarnation(observer, observerIncarnation, now);
    if (result === 'accepted') {
      this.census.noteEpoch(set.censusEpoch);
      this.marks.touch(subjects);
    }
    return result;
  }

  /**
   * Convictions (already applied here: the member is dead in this view) and revivals since the last call. While
   * this node is deaf (no neighbour heard for two rounds, three or more neighbours) nothing is convicted and its
   * own reports are held, for at most the deafness hold; a census's convictions wait with them. Exception: a
   * census that got replies proves two-way contact with its side, so while it runs (and for a round after) the
   * node reports and convicts as if it heard: it is cut from its neighbours, not deaf.
   */
  takeVerdicts(now: number): Verdicts7 {
    this.lastNow = now;
    this.judge(now);
    const out = { convictions: this.convictions, revivals: this.revivals };
    this.convictions = [];
    this.revivals = [];
    return out;
  }

  /**
   * The incarnation to raise to now, or null: a held record names our current incarnation, or a beat's buddy or
   * dead-here flag said one exists; at most once a round. The new incarnation is taken here (the own report set
   * is re-signed under it); the coordinator spreads it as the own node delta's liveness counter.
   */
  shouldRefute(now: number): number | null {
    const claimed = Math.max(this.book.claimAbout(this.self, this.incarnation), this.beatClaim);
    const next = this.refuter.refute(now, this.incarnation, claimed);
    if (next === null) return null;
    this.beatClaim = -1;
    this.incarnation = next;
    this.incarnations.set(this.self, next);
    if (this.own.setIncarnation(next, now)) this.publishOwn();
    return next;
  }

  /** Whether `ref` is held dead here, and why (undefined: live or unknown). */
  deadReason(ref: number): ConvictionReason | undefined {
    return this.dead.get(ref);
  }

  /** Whether this node hears none of its neighbours (its reports and convictions are held). */
  deaf(now: number): boolean {
    return this.watch.deaf(now);
  }

  /** Report sets refused, by reason ('ineligible-report' counts records). */
  rejections(): Readonly<Record<string, number>> {
    return this.book.rejections();
  }

  /** Whether a census runs here, the newest epoch it completed, and its counts since construction. */
  censusStatus(): CensusStatus7 {
    return {
      running: this.census.running,
      completedEpoch: this.census.completedEpoch,
      started: this.censusesStarted,
      convicted: this.censusConvicted,
      neverHeard: this.unheard.censuses,
      neverHeardReported: this.unheard.reported,
    };
  }

  /** The detector's reports into the own set, then the crash path's convictions and held census ones. */
  private judge(now: number): void {
    // Deaf (no neighbour heard for two rounds): its own link is likelier at fault than every neighbour's, so it
    // reports and convicts nobody. Unless a census it runs (or ended within the round) got replies: that is
    // two-way contact with its side, so it is not deaf but cut from its neighbours, and its silence about them
    // is the census's only witness (a present neighbour vouches for its subjects in everyone's verdict).
    const deaf = this.watch.deaf(now);
    const contact = this.census.presentMembers > 1 && now - this.census.completedAt < this.intervalMs;
    if (deaf && !contact) return;
    const reports = this.watch.verdicts(now, { throughDeafness: deaf });
    const held = this.own.current?.records ?? [];
    const records = nextOwnRecords(held, reports, this.unheard, this.view, 2 * this.k, now);
    if (records && this.own.set(records, now, this.census.completedEpoch)) this.publishOwn();
    this.convictByQuorum(now);
  }

  /**
   * The crash path: a quorum of eligible live observers' silent records; then the held census convictions. Not
   * counted (core/returns.ts): members revived or cleared within a detection delay, as observers, subjects or a
   * census's absentees, and observers a counted record names or named within one (accusers accused: a cut).
   */
  private convictByQuorum(now: number): void {
    let accused: Set<number> | null = null;
    const live = (ref: number): boolean =>
      this.view.isLive(ref) && !this.returns.silenced(ref, now) && !(accused ??= new Set(this.unresolved())).has(ref);
    let changed = false;
    const touched = this.marks.take();
    const subjects = touched === null ? this.unresolved() : [...touched].filter((s) => this.view.isLive(s));
    for (const s of subjects) {
      if (s === this.self || this.returns.holds(s, now)) continue;
      if (this.book.convicts(s, this.incarnations.get(s) as number, this.view.assignment, live)) {
        changed = this.convict(s, 'failed') || changed;
      }
    }
    for (const s of this.heldCensus.take(this.watch.heardAt, this.watch.deafHoldMs, now)) {
      if (this.returns.holds(s, now) || !this.convict(s, 'unreachable')) continue;
      this.censusConvicted++;
      changed = true;
    }
    if (changed) this.refresh(now);
  }

  /** What is held about a member the membership dropped. */
  private forget(ref: number): void {
    this.book.forget(ref);
    this.unheard.forget(ref);
    this.returns.forget(ref);
  }

  private convict(ref: number, reason: ConvictionReason): boolean {
    if (ref === this.self || !this.view.isLive(ref)) return false;
    this.view.kill(ref, reason);
    this.convictions.push({ ref, reason });
    return true;
  }

  private publishOwn(): void {
    const set = this.own.current;
    if (!set) return;
    this.ownChanged = true;
    this.marks.touch(this.book.acceptChanges(this.self, this.incarnation, this.config.signer.publicKey, set).subjects);
  }

  /** ReportBook.unresolved over this view, recomputed only after a change (ScanMarks). */
  private unresolved(): number[] {
    const live = (ref: number): boolean => this.view.isLive(ref);
    const list = () => this.book.unresolved(this.view.assignment, live, (r) => this.incarnations.get(r));
    return this.marks.unresolved(() => this.returns.accused(list(), this.lastNow));
  }

  /** The census's start rule on unresolved subjects not judged by the last census, then its round. */
  private censusRound(now: number, random: Random, out: Outbound7[]): void {
    const unresolved = this.unresolved();
    // A neighbour never heard for its wait counts as a subject too (core/unheard.ts): a census looks for it.
    const due = this.unheard.due(now).filter((ref) => !unresolved.includes(ref));
    let fresh = this.judged.fresh(unresolved, this.self) + due.length;
    // A deaf node publishes none of its reports, so no record of its own starts a census; but a node cut from its
    // neighbours looks deaf too (the small side of a 10/90 split: most of its neighbours are across). Its held
    // reports start one: replies prove it is cut, not deaf, and it then reports and convicts (takeVerdicts).
    if (fresh === 0 && this.watch.deaf(now)) fresh = this.watch.verdicts(now, { throughDeafness: true }).length;
    if (!this.census.running && this.census.shouldStart(fresh, now)) {
      this.census.start(this.census.nextEpoch, this.membership.hash, now);
      this.censusesStarted++;
    }
    const pulls = this.census.pulls(now, random);
    for (const p of pulls) out.push({ to: p.to, message: p.message });
    this.judged.afterRound(this.census.epoch, this.census.running, pulls, unresolved);
    this.unheard.afterRound(this.census, pulls, now, this.incarnations);
    this.drainCensus();
  }

  private drainCensus(): void {
    let revived = false;
    for (const v of this.census.takeVerdicts()) {
      if (v.kind === 'unreachable') {
        this.heldCensus.hold(v.ref, this.census.answered, this.incarnations.size - this.dead.size - 1, this.lastNow);
      } else if (this.dead.get(v.ref) === 'unreachable') {
        this.view.revive(v.ref);
        this.returns.note(v.ref, this.lastNow);
        this.revivals.push(v.ref);
        revived = true;
      }
    }
    if (revived) this.refresh(this.lastNow);
  }

  /** The view brought up to its changes, then this node's neighbours and the census's membership from it. */
  private refresh(now: number): void {
    this.viewChanged = true;
    if (this.view.refresh()) this.census.setMembership((this.membership = this.buildMembership()));
    // Eligibility and quorums follow the view: every subject is looked at again.
    this.marks.touchAll();
    this.neighbourRefs = this.view.observersOf(this.self).filter((ref) => ref !== this.self);
    this.watch.setNeighbours(this.neighbourRefs, now);
  }

  /** The census's view of the membership (MemberView7.censusMembership). */
  private buildMembership(): CensusMembership {
    return this.view.censusMembership(
      () => reachableNeighbours(this.watch, this.lastNow),
      () => this.unresolved(),
      (ref) => this.unheard.unwitnessed(ref, this.lastNow),
      (ref) => this.book.stands(ref, this.incarnations.get(ref)),
    );
  }
}
