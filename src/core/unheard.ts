/**
 * Protocol 7's rule for a neighbour never heard (docs/design/liveness-7.md, "A neighbour never heard"). A window
 * opens at a neighbour's first beat, so that a member whose view does not count us a neighbour is never reported
 * by us; but then a member that dies before its first beat reaches its watchers would never be judged. So a
 * neighbour of this node's view, live and ready here, whose beats have not come for `firstWaitMs` (a few
 * detection delays) starts a census instead of a report: the census looks for it over two-way paths only, and
 * checks it directly when absent. Only a neighbour absent from that census and silent to its direct checks is
 * reported (a silent record), so that the rest of the cluster, whose present neighbours of it would otherwise
 * vouch for it, convicts it by the crash path's quorum or by the next census. A live member whose view merely
 * disagrees is present, or answers a check, and nothing is reported.
 *
 * The bound: each census that finds a member present (or an answer to its check, or its refutation of our
 * record) doubles the wait before the next one about it, up to 2^UNHEARD_MAX_DOUBLINGS times `firstWaitMs`, for
 * as long as it stays a member here (hearing it does not reset the count). A member that is live but never
 * watches us starts at most 6 censuses here in its first 63 waits, then one per 32 waits.
 *
 * Pure: the clock comes in; the caller (core/liveness7.ts) calls `update` every tick with its neighbours,
 * `unwitnessed` from the census's verdict, `afterRound` after each census round, and adds `records` to its own
 * report set.
 */
import { REPORT_SILENT, type ReportRecord } from '../wire/liveness-messages.js';
import type { CensusPull } from './census.js';
import type { IncarnationsOf } from './ref-incarnations.js';

/** Detection delays a live, ready neighbour may stay unheard before a census looks for it. */
export const UNHEARD_DELAYS = 3;
/** Doublings of that wait, one per census that found the member present: at most 32 times the first wait. */
export const UNHEARD_MAX_DOUBLINGS = 5;

interface Entry {
  /** The member's ref (the sweep in update walks the entries' values: iterating [ref, entry] pairs allocates). */
  readonly ref: number;
  /** Since when it has been an unheard neighbour (NaN: it is not: heard, not a neighbour, not live or not ready). */
  since: number;
  /** Censuses that found it alive (present, answering a check, or refuting our record): doublings of its wait. */
  tries: number;
  /** The last update (its count, UnheardNeighbours.updates) that found it an unheard neighbour. */
  seen: number;
}

/** What update reads of the NeighbourWatch: a neighbour whose window is open has a silent deadline, else NaN. */
export interface WatchedWindows {
  silentDeadline(ref: number): number;
}

/** What afterRound reads of the census held (a Census). */
export interface CensusHeld {
  readonly epoch: number;
  readonly running: boolean;
  isPresent(ref: number): boolean;
}

export class UnheardNeighbours {
  private readonly entries = new Map<number, Entry>();
  /** Members a census found absent, unanswering, with the incarnation held then: reported as silent. */
  private readonly absent = new Map<number, number>();
  /** Due members the census judging now found absent and unreported: checked directly (see unwitnessed). */
  private readonly asked = new Set<number>();
  private judgingEpoch = -1;
  private judging: number[] = [];
  private wasRunning = false;
  /** Three or more neighbours and none heard: this node's own inbound link is the likelier fault (see records). */
  private hearsNone = false;
  private censusCount = 0;
  private reportedCount = 0;
  /**
   * Calls to update so far: each marks the entries it finds unheard with its count, so that the sweep after it
   * tells them apart with no set built per call (update runs on every detect tick, an idle node's busiest timer).
   */
  private updates = 0;

  /** `firstWaitMs`: how long a neighbour stays unheard before its first census (UNHEARD_DELAYS detection delays). */
  constructor(private readonly firstWaitMs: number) {}

  /** Censuses that judged at least one due member here, since construction. */
  get censuses(): number {
    return this.censusCount;
  }

  /** Members this rule reported (found absent and unanswering), since construction. */
  get reported(): number {
    return this.reportedCount;
  }

  /**
   * Once a tick, over this node's current neighbours: one whose window is open (heard: `watch` judges it) is not
   * unheard, and
   * loses any record of this rule; one that is live and ready here (`eligible`) and not heard is unheard, its
   * clock started at its first such tick. A member that is neither (no longer a neighbour, dead or not ready
   * here) stops its clock.
   */
  update(now: number, neighbours: readonly number[], watch: WatchedWindows, eligible: (ref: number) => boolean): void {
    const tick = ++this.updates;
    let heard = 0;
    for (const ref of neighbours) {
      if (!Number.isNaN(watch.silentDeadline(ref))) {
        heard++;
        this.absent.delete(ref);
        continue;
      }
      if (!eligible(ref)) continue;
      const e = this.entries.get(ref);
      if (!e) {
        this.entries.set(ref, { ref, since: now, tries: 0, seen: tick });
        continue;
      }
      if (Number.isNaN(e.since)) e.since = now;
      e.seen = tick;
    }
    this.hearsNone = neighbours.length >= 3 && heard === 0;
    for (const e of this.entries.values()) {
      if (e.seen === tick) continue;
      e.since = Number.NaN;
      if (e.tries === 0 && !this.absent.has(e.ref)) this.entries.delete(e.ref);
    }
  }

  /** Members whose wait has passed and that are not already reported by this rule: each counts for a census. */
  due(now: number): number[] {
    const out: number[] = [];
    for (const [ref, e] of this.entries) if (this.isDue(ref, e, now)) out.push(ref);
    return out;
  }

  /**
   * When the next member's wait passes, among those not due at `since` (Infinity: none waits). Its clock starts at
   * the first update that finds it unheard, so a member that became one since the last update is not counted.
   */
  nextDue(since: number): number {
    let next = Infinity;
    for (const [ref, e] of this.entries) {
      if (Number.isNaN(e.since) || this.absent.has(ref)) continue;
      const at = e.since + this.firstWaitMs * 2 ** Math.min(e.tries, UNHEARD_MAX_DOUBLINGS);
      if (at > since && at < next) next = at;
    }
    return next;
  }

  /**
   * The census's verdict asks whether a present neighbour vouches for absent, unreported `ref`: not when it is
   * due here (we are its neighbour and never heard it, so our presence proves nothing about it). Such a member is
   * then checked directly (CENSUS-PULLs), and noted for afterRound.
   */
  unwitnessed(ref: number, now: number): boolean {
    const e = this.entries.get(ref);
    if (!e || !this.isDue(ref, e, now)) return false;
    this.asked.add(ref);
    return true;
  }

  /**
   * After a census round: the census held, the pulls it sent, the incarnation held for each member. The round
   * that ends its pulling takes the due members as the ones it judged; when it completes, each of those is
   * reported if it was checked directly and stayed absent, else (present) waits twice as long for its next one.
   */
  afterRound(census: CensusHeld, pulls: readonly CensusPull[], now: number, incarnations: IncarnationsOf): void {
    const { epoch, running } = census;
    const judgedNow = pulls.some((p) => p.message.verification) || !running;
    if (epoch !== this.judgingEpoch && judgedNow) {
      this.judgingEpoch = epoch;
      this.judging = this.due(now);
      if (this.judging.length > 0 && this.wasRunning) this.censusCount++;
    }
    if (this.wasRunning && !running) {
      for (const ref of this.judging) {
        const e = this.entries.get(ref);
        const inc = incarnations.get(ref);
        if (!e || inc === undefined) continue;
        if (this.asked.has(ref) && !census.isPresent(ref)) {
          this.absent.set(ref, inc);
          this.reportedCount++;
        } else if (census.isPresent(ref)) {
          this.alive(e, now);
        }
      }
      this.judging = [];
      this.asked.clear();
    }
    this.wasRunning = running;
  }

  /**
   * The silent records this rule adds to the own report set: members found absent, while the incarnation held
   * for them is the one they were found absent at. A record whose member has since refuted it (a higher
   * incarnation) is dropped, and counts as the member found alive. None while this node hears none of three or
   * more neighbours (kept for when it does): as the detector's deafness guard, its own link is likelier at fault.
   */
  records(now: number, incarnations: IncarnationsOf): ReportRecord[] {
    const out: ReportRecord[] = [];
    if (this.hearsNone) return out;
    for (const [ref, inc] of this.absent) {
      if (incarnations.get(ref) === inc) {
        out.push({ subject: ref, incarnation: inc, kind: REPORT_SILENT });
        continue;
      }
      this.absent.delete(ref);
      const e = this.entries.get(ref);
      if (e) this.alive(e, now);
    }
    return out;
  }

  /** Whether `ref` is reported by this rule (its record is in the own set). */
  reports(ref: number): boolean {
    return this.absent.has(ref);
  }

  /** `ref` is no longer a member here: nothing is kept about it. */
  forget(ref: number): void {
    this.entries.delete(ref);
    this.absent.delete(ref);
  }

  private isDue(ref: number, e: Entry, now: number): boolean {
    if (Number.isNaN(e.since) || this.absent.has(ref)) return false;
    return now >= e.since + this.firstWaitMs * 2 ** Math.min(e.tries, UNHEARD_MAX_DOUBLINGS);
  }

  /** Evidence the member is alive: its next census waits twice as long, counted from now. */
  private alive(e: Entry, now: number): void {
    e.tries++;
    if (!Number.isNaN(e.since)) e.since = now;
  }
}
