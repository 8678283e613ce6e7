/**
 * Protocol 7's neighbour detector (docs/design/liveness-7.md, "Beats: what a neighbour sends and measures"):
 * each node beats directly to its K or so neighbours once a round, and judges each neighbour from what arrives.
 *
 * Per neighbour, two windows of protocol 6's phi accrual (same seed, same exponential window, threshold, pause
 * and minimum deviation; see FailureDetector), both on true arrival times here, so with no lag allowance:
 *
 * - beats: the instants its beats arrived. Silence past the deadline makes a *silent* report.
 * - echoes: the instants the echo its beats carry (the last sequence it received from us) advanced to a beat we
 *   sent. Past the deadline while its beats still arrive, our beats no longer reach it: an *outbound* report.
 *
 * A beat after k - 1 lost ones counts as k periods sharing the gap (as a heartbeat k + 3 after k does in
 * protocol 6), so losses leave the window's mean at the sender's period instead of stretching it. The same gaps
 * measure the link's loss p (LinkLoss), and the deadline is loss-aware: a report also waits until the run of
 * beats missed since the last arrival is one loss alone explains with odds below 10^-4 (p^m < LOSS_RUN_ODDS: no
 * later than phi on a clean link, m = 8 periods at 30 % loss). A window
 * starts at the neighbour's first beat, never at our view's say-so: a member that does not count us its
 * neighbour never beats us and is never reported by us. A neighbour our view dropped is beaten for the linger
 * time (its view may still count us for a round), the last of those beats flagged BEAT_LAST, which closes the
 * receiver's window without a report.
 *
 * Local causes of silence are judged by LocalHealth over the neighbours' beats: a stall of this process moves
 * every window's deadlines by the time it was not listening; hearing no neighbour for two rounds with three or
 * more of them is deafness, during which the reports are held as they stood (no new one is made), for at most
 * the deafness hold (8 × (interval + pause)).
 *
 * Pure: the clock is an argument, there are no timers; the coordinator calls beats() once a round,
 * onBeat() for each BEAT received, and verdicts() when it runs its detector.
 */
import { BEAT_DEAD_HERE, BEAT_ECHO, BEAT_LAST, BEAT_MODE_7, BEAT_SUSPECT_YOU } from '../wire/liveness-messages.js';
import type { BeatMessage, ReportKind } from '../wire/liveness-messages.js';
import { REPORT_OUTBOUND, REPORT_SILENT } from '../wire/liveness-messages.js';
import { BeatWindow, SEQUENCE_HORIZON, WindowSettings } from './beat-window.js';
import { LocalHealth } from './local-health.js';
import { convictionDelayMs } from './phi.js';
import type { FailureDetectorConfig, MemberWatch } from './types.js';

const U16 = 0x10000;
const U16_MASK = 0xffff;

export { SEQUENCE_HORIZON };

export interface NeighbourWatchConfig {
  /** This node's ref: the low 16 bits tag every beat it sends. */
  readonly self: number;
  /** The round's period, at which beats() is called. */
  readonly gossipIntervalMs: number;
  readonly failureDetector: FailureDetectorConfig;
  /** How long a dropped neighbour is still beaten; default one detection deadline (see defaultLingerMs). */
  readonly lingerMs?: number;
}

/** One beat to send this round. */
export interface OutgoingBeat {
  readonly to: number;
  readonly beat: BeatMessage;
}

/** What the coordinator passes to beats(): its own state and what it holds about each neighbour. */
export interface BeatInputs {
  /** This node runs in mode 7 (its gate is open): BEAT_MODE_7. */
  readonly mode7: boolean;
  /** This node holds a report about `ref` (its own or learned): the buddy flag, BEAT_SUSPECT_YOU. */
  readonly suspects: (ref: number) => boolean;
  /** This node holds `ref` dead: BEAT_DEAD_HERE, so that a live member convicted here refutes. */
  readonly deadHere: (ref: number) => boolean;
}

/** What a received beat tells the coordinator (onBeat). */
export interface BeatNews {
  /** The sender's state hash: unequal to ours on two beats in a row starts a drill-down. */
  readonly stateHash: number;
  /** The sender holds a report about us: refute (raise our incarnation). */
  readonly suspectsYou: boolean;
  /** The sender holds us dead: refute. */
  readonly deadHere: boolean;
  /** The sender runs in mode 7. */
  readonly mode7: boolean;
  /** The sender's last beat to us: it no longer counts us a neighbour. */
  readonly last: boolean;
  /** The sender is a neighbour here (current or lingering), so the beat was timed; false: only relayed. */
  readonly watched: boolean;
}

/** One current report of this node about a neighbour. */
export interface NeighbourReport {
  readonly subject: number;
  readonly kind: ReportKind;
}

/** What this node measures of a neighbour's link (linkLoss): the fraction lost and the run that loss explains. */
export interface NeighbourLoss {
  /** The fraction of its beats lost on the way here. */
  readonly beatsLost: number;
  /** Missed beats (its periods since the last arrival) a silent report waits for besides the phi deadline. */
  readonly silentRun: number;
  /** The fraction of our beats its echoes skip (our beats lost on the way there, or its beats carrying them). */
  readonly echoesLost: number;
  /** Missed echoes an outbound report waits for besides the phi deadline. */
  readonly echoRun: number;
}

/** What this node keeps per neighbour: a few numbers and two windows (per node, not per member: K is 4 to 8). */
interface Neighbour {
  readonly ref: number;
  /** NaN while our view counts it a neighbour; once dropped, the instant its linger ends. */
  lingerUntil: number;
  /** Our beat count (beats() calls) at our first beat to it, 1-based; 0 before any. */
  firstSent: number;
  /** Its newest sequence received (-1: none), echoed in our beats. */
  received: number;
  /** Its beats are being timed: its first beat arrived and no BEAT_LAST since. */
  open: boolean;
  readonly beats: BeatWindow;
  /** Our beat count at the newest beat of ours it echoed (0: none since the window opened). */
  echoed: number;
  readonly echoes: BeatWindow;
}

/** One detection deadline after the last beat: how long a dropped neighbour is still beaten by default. */
export function defaultLingerMs(gossipIntervalMs: number, fd: FailureDetectorConfig): number {
  return convictionDelayMs(gossipIntervalMs, fd.minStdDeviationMs, fd.acceptableHeartbeatPauseMs, fd.phiThreshold);
}

export class NeighbourWatch {
  private readonly self: number;
  private readonly selfTag: number;
  private readonly intervalMs: number;
  private readonly settings: WindowSettings;
  private readonly lingerMs: number;
  private readonly health: LocalHealth;
  private readonly neighbours = new Map<number, Neighbour>();
  /** Beats() calls so far: every neighbour gets the same sequence in a round (see beats()). */
  private sent = 0;
  /** The reports as last published, held while deaf. */
  private published: readonly NeighbourReport[] = [];
  /**
   * judge()'s last result and the clock readings over which it stands: from the reading it was made at to the
   * earliest deadline not yet passed then (-Infinity: to be made again). Between the two no comparison of a
   * deadline with the clock can change, so a beat costs an update of its own window, not a pass over all of them.
   */
  private judgedReports: NeighbourReport[] = [];
  private judgedFrom = Infinity;
  private judgedUntil = -Infinity;
  /** Neighbours judged (judgedCount), -1 when to be counted again. */
  private judgedTally = -1;

  constructor(config: NeighbourWatchConfig, now: number) {
    const fd = config.failureDetector;
    this.self = config.self;
    this.selfTag = config.self & U16_MASK;
    this.intervalMs = config.gossipIntervalMs;
    this.settings = new WindowSettings(fd);
    this.lingerMs = config.lingerMs ?? defaultLingerMs(config.gossipIntervalMs, fd);
    this.health = new LocalHealth(config.gossipIntervalMs, fd.acceptableHeartbeatPauseMs, now, false);
  }

  /** Times this node noticed it had been stalled (its clock leapt between calls). */
  get stalls(): number {
    return this.health.stalls;
  }

  /** When a neighbour's beat last arrived (the construction instant before the first). */
  get heardAt(): number {
    return this.health.heardAt;
  }

  /** The longest a spell of deafness is held (core/local-health.ts). */
  get deafHoldMs(): number {
    return this.health.deafHoldMs;
  }

  /** Times this node heard none of its neighbours for over two rounds. */
  get deafSpells(): number {
    return this.health.deafSpells;
  }

  /**
   * The view's assignment changed: `refs` are this node's neighbours now (self ignored). A new one is beaten
   * from the next round, and judged from its first beat. One no longer listed lingers: still beaten for the
   * linger time, its last beat flagged BEAT_LAST, and no longer judged (our view dropped it: a death already
   * convicted, or a join that moved it away). A lingering one listed again is simply kept.
   */
  setNeighbours(refs: Iterable<number>, now: number): void {
    this.observeClock(now);
    const listed = new Set<number>();
    for (const ref of refs) {
      if (ref === this.self) continue;
      listed.add(ref);
      const n = this.neighbours.get(ref);
      if (n === undefined) this.neighbours.set(ref, newNeighbour(ref, this.settings));
      else n.lingerUntil = Number.NaN;
    }
    for (const n of this.neighbours.values()) {
      if (!listed.has(n.ref) && Number.isNaN(n.lingerUntil)) n.lingerUntil = now + this.lingerMs;
    }
    this.judgedUntil = -Infinity;
    this.judgedTally = -1;
  }

  /**
   * This round's beats, one per neighbour (lingering ones included), in the order they were added. All carry
   * the same 16-bit sequence, this node's round count: each neighbour sees it count up by one a beat, and one
   * dropped and taken back later sees it continue forward rather than start again. `echo` is the newest sequence
   * received from that neighbour (BEAT_ECHO once there is one). A neighbour whose linger ended gets its final
   * beat, BEAT_LAST, and is forgotten.
   */
  beats(now: number, stateHash: number, inputs: BeatInputs): OutgoingBeat[] {
    this.observeClock(now);
    this.sent++;
    const sequence = (this.sent - 1) & U16_MASK;
    const out: OutgoingBeat[] = [];
    for (const n of this.neighbours.values()) {
      if (n.firstSent === 0) n.firstSent = this.sent;
      let flags = inputs.mode7 ? BEAT_MODE_7 : 0;
      if (n.received >= 0) flags |= BEAT_ECHO;
      if (inputs.suspects(n.ref)) flags |= BEAT_SUSPECT_YOU;
      if (inputs.deadHere(n.ref)) flags |= BEAT_DEAD_HERE;
      if (now >= n.lingerUntil) {
        flags |= BEAT_LAST;
        this.neighbours.delete(n.ref);
        this.judgedTally = -1;
      }
      const beat: BeatMessage = {
        type: 'beat',
        flags,
        senderTag: this.selfTag,
        sequence,
        echo: n.received >= 0 ? n.received : 0,
        stateHash,
      };
      out.push({ to: n.ref, beat });
    }
    return out;
  }

  /**
   * A BEAT from member `from` (the coordinator resolved the source address to it). Returns null when the beat's
   * tag is not `from`'s (a stray or misdirected packet: drop it), else what it says.
   *
   * From a neighbour (current or lingering) the arrival is timed: the first opens its window; a later one k
   * sequences on adds one period sample of gap / k; a duplicate or late one is not timed. An echo that moves to a
   * newer beat of ours advances the echo window the same way. BEAT_LAST closes its window with no report (the
   * next beat, if its view takes us back, opens a new one). From anyone else the beat is only read.
   */
  onBeat(from: number, beat: BeatMessage, now: number): BeatNews | null {
    if ((from & U16_MASK) !== beat.senderTag) return null;
    this.observeClock(now);
    const n = this.neighbours.get(from);
    const last = (beat.flags & BEAT_LAST) !== 0;
    const news: BeatNews = {
      stateHash: beat.stateHash,
      suspectsYou: (beat.flags & BEAT_SUSPECT_YOU) !== 0,
      deadHere: (beat.flags & BEAT_DEAD_HERE) !== 0,
      mode7: (beat.flags & BEAT_MODE_7) !== 0,
      last,
      watched: n !== undefined,
    };
    if (n === undefined) return news;
    // Hearing a neighbour after a spell of hearing none: that silence was ours, excused like a stall.
    const deafness = this.health.heard(now, this.judgedCount(), false);
    if (deafness > 0) this.shift(deafness);
    const ahead = n.received < 0 ? 1 : (beat.sequence - n.received) & U16_MASK;
    if (ahead === 0 || U16 - ahead <= SEQUENCE_HORIZON) return news;
    n.received = beat.sequence;
    if (last) {
      if (n.open) this.judgedTally = -1;
      n.open = false;
      this.moved(n);
      return news;
    }
    if (!n.open) {
      n.open = true;
      this.judgedTally = -1;
      n.beats.seed(now);
      n.echoes.seed(now);
      n.echoed = 0;
    } else {
      n.beats.sample(now, ahead);
    }
    if ((beat.flags & BEAT_ECHO) !== 0) this.echo(n, beat.echo, now);
    this.moved(n);
    return news;
  }

  /**
   * Neighbour `n`'s windows moved at an arrival (or closed): judge()'s last result still stands if it held no
   * report about `n`, since an arrival anchors the window it moves at the clock's reading, past which its deadline
   * lies, and a window it did not move kept its deadline, one judge() had already found ahead; only the span
   * shrinks to `n`'s new deadlines. A report about `n` may be withdrawn: judged again.
   */
  private moved(n: Neighbour): void {
    if (this.judgedUntil === -Infinity) return;
    for (const r of this.judgedReports) {
      if (r.subject === n.ref) {
        this.judgedUntil = -Infinity;
        return;
      }
    }
    if (this.judged(n)) {
      this.judgedUntil = Math.min(this.judgedUntil, n.beats.deadline(), n.echoes.deadline());
    }
  }

  /**
   * The reports this node makes now, by subject: *silent* for a neighbour whose beats passed their deadline,
   * else *outbound* for one whose echo of our beats passed it (its beats arrive, ours do not reach it). A
   * report is withdrawn (absent from the next call) as soon as the beats, resp. the echoes, resume. Only
   * neighbours of the current view with an open window are judged. While this node is deaf (see deaf()) the
   * last published set is returned unchanged, unless `throughDeafness`: the caller knows it is cut from its
   * neighbours rather than deaf (its census got replies) and takes the reports as they stand, unpublished.
   */
  verdicts(now: number, { throughDeafness = false } = {}): readonly NeighbourReport[] {
    if (throughDeafness) return this.judge(now);
    this.observeClock(now);
    if (this.deaf(now)) return this.published;
    this.published = this.judge(now);
    return this.published;
  }

  /**
   * Each judged neighbour past its silent deadline, else past its echo deadline, by subject. The result is kept
   * with the earliest deadline still ahead (see judgedUntil): until the clock passes it, or a window moves in a
   * way moved() cannot follow, the same array is returned. Clock readings never go back (a reading before the
   * kept one is judged afresh).
   */
  private judge(now: number): NeighbourReport[] {
    if (now >= this.judgedFrom && now <= this.judgedUntil) return this.judgedReports;
    const reports: NeighbourReport[] = [];
    let until = Infinity;
    for (const n of this.neighbours.values()) {
      if (!this.judged(n)) continue;
      const silent = n.beats.deadline();
      const outbound = n.echoes.deadline();
      if (now > silent) reports.push({ subject: n.ref, kind: REPORT_SILENT });
      else if (now > outbound) reports.push({ subject: n.ref, kind: REPORT_OUTBOUND });
      if (silent >= now && silent < until) until = silent;
      if (outbound >= now && outbound < until) until = outbound;
    }
    reports.sort((a, b) => a.subject - b.subject);
    this.judgedReports = reports;
    this.judgedFrom = now;
    this.judgedUntil = until;
    return reports;
  }

  /**
   * Whether this node hears none of its neighbours (no beat for two rounds, with three or more neighbours
   * whose windows are open), for at most the deafness hold: its own link is likelier at fault than all of
   * theirs, so it makes no report meanwhile. With fewer neighbours, silence is informative and never held.
   */
  deaf(now: number): boolean {
    return this.health.isDeaf(now, this.judgedCount());
  }

  /**
   * When neighbour `ref`'s beats pass their deadline (a silent report after it), on the caller's clock: the
   * later of phi's and the end of the run of missed beats its loss explains (linkLoss); NaN when it is not
   * judged (no window open, or not a current neighbour).
   */
  silentDeadline(ref: number): number {
    const n = this.neighbours.get(ref);
    return n !== undefined && this.judged(n) ? n.beats.deadline() : Number.NaN;
  }

  /**
   * The loss measured on neighbour `ref`'s link and the runs of missed beats its reports wait for (already
   * part of silentDeadline and echoDeadline); undefined when it is not judged.
   */
  linkLoss(ref: number): NeighbourLoss | undefined {
    const n = this.neighbours.get(ref);
    if (n === undefined || !this.judged(n)) return undefined;
    const { beats, echoes } = n;
    return {
      beatsLost: beats.loss.rate,
      silentRun: beats.loss.run,
      echoesLost: echoes.loss.rate,
      echoRun: echoes.loss.run,
    };
  }

  /**
   * Neighbour `ref`'s beats as member views show them (BeatWindow.view); undefined when it is not judged (no window
   * open, or not a current neighbour): this node reports only the neighbours it judges.
   */
  view(ref: number, now: number | undefined): MemberWatch | undefined {
    const n = this.neighbours.get(ref);
    return n !== undefined && this.judged(n) ? n.beats.view(now) : undefined;
  }

  /** When the newest beat of `ref` arrived, while it is a neighbour or lingers as one; undefined before any. */
  lastBeatAt(ref: number): number | undefined {
    const n = this.neighbours.get(ref);
    return n !== undefined && n.received >= 0 ? n.beats.last : undefined;
  }

  /** When neighbour `ref`'s echo of our beats passes its deadline (see silentDeadline). */
  echoDeadline(ref: number): number {
    const n = this.neighbours.get(ref);
    return n !== undefined && this.judged(n) ? n.echoes.deadline() : Number.NaN;
  }

  /**
   * The earliest deadline at or after `since` (Infinity when none): past it, a verdict may change. A harness passes
   * the reading of its last verdicts() to learn whether one passed since (the result is then at or before now).
   */
  nextDeadline(since: number): number {
    let next = Infinity;
    for (const n of this.neighbours.values()) {
      if (!this.judged(n)) continue;
      const silent = n.beats.deadline();
      const outbound = n.echoes.deadline();
      if (silent >= since && silent < next) next = silent;
      if (outbound >= since && outbound < next) next = outbound;
    }
    return next;
  }

  /** The refs beaten each round (current and lingering neighbours). */
  beaten(): number[] {
    return [...this.neighbours.keys()];
  }

  /** An echo of beat `echo` of ours: counted when it names a beat we sent it, newer than the last echoed. */
  private echo(n: Neighbour, echo: number, now: number): void {
    if (n.firstSent === 0) return;
    // The beat count at which we sent `echo`: the newest count <= this.sent with that sequence.
    const at = this.sent - ((this.sent - 1 - echo) & U16_MASK);
    if (at < n.firstSent || at <= n.echoed) return;
    // The first echo after the window opened anchors it: the beats it covers go back before the window.
    if (n.echoed > 0) n.echoes.sample(now, at - n.echoed);
    else n.echoes.last = now;
    n.echoed = at;
  }

  private judged(n: Neighbour): boolean {
    return n.open && Number.isNaN(n.lingerUntil);
  }

  private judgedCount(): number {
    if (this.judgedTally >= 0) return this.judgedTally;
    let count = 0;
    for (const n of this.neighbours.values()) if (this.judged(n)) count++;
    this.judgedTally = count;
    return count;
  }

  /** A clock reading: a stall of this process moves every window as detector.shiftDeadlines does. */
  private observeClock(now: number): void {
    const stall = this.health.observeClock(now);
    if (stall > 0) this.shift(stall);
  }

  /** Moves every window's anchor by a silence this node was not listening through, less the round it expects. */
  private shift(silenceMs: number): void {
    const by = silenceMs - this.intervalMs;
    if (by <= 0) return;
    this.judgedUntil = -Infinity;
    for (const n of this.neighbours.values()) {
      n.beats.last += by;
      n.echoes.last += by;
    }
  }
}

function newNeighbour(ref: number, settings: WindowSettings): Neighbour {
  return {
    ref,
    lingerUntil: Number.NaN,
    firstSent: 0,
    received: -1,
    open: false,
    beats: new BeatWindow(settings),
    echoed: 0,
    echoes: new BeatWindow(settings),
  };
}
