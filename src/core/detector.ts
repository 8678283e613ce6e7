/**
 * The phi accrual failure detector (Hayashibara et al.), as gossip needs it. Silence is counted from
 * a heartbeat's birth at its owner, so every observer anchors on the same instant; a member is
 * convicted when phi of that silence passes the threshold. Each member's deadline is precomputed
 * (one comparison per member per check) from three parts, each a guard with a reason:
 *
 * - the owner's rhythm: mean and spread of its heartbeat period, birth to birth (phi proper);
 * - the lag allowance: how late gossip has lately brought this member's heartbeats here, learned
 *   per member (PeerTable.noteLag);
 * - the typical-allowance floor: no deadline earlier than the typical member's allowance allows
 *   (lagShortfall), because gossip carries every heartbeat along the same random paths, and an
 *   allowance far below the others' is a stale lesson rather than a faster member;
 *
 * and one cluster-wide extension, the late-news slack (lateSlack): when heartbeats of everyone start
 * arriving later than learned, deadlines move before any one allowance has caught up. Local causes
 * of silence (this process stalled, this node deaf) are judged by LocalHealth and excused here by
 * shiftDeadlines; conviction waits while the node is deaf.
 *
 * Protocol 7's mode 7 convicts by other means: while it runs, the detector is stopped (stop, restart). It then keeps
 * only what digests and deltas to members still in mode 6 carry (each member's heartbeat and its birth, for the age)
 * and what membership needs (a heartbeat's advance proves a member); the peer table drops the columns only the
 * detector reads (PeerTable.dropMode6Columns), and a restart watches every live member as a new one.
 */
import { HEARTBEAT_AGE_UNIT_MS } from '../wire/messages.js';
import type { Journal } from './journal.js';
import type { Membership } from './membership.js';
import { DEAD, LIVE, MAX_HEARTBEAT_LEAP } from './peer-table.js';
import { lnNormalUpperTail, roundToTenth, thresholdSigma, viewPhi } from './phi.js';
import type { DetectorView, FailureDetectorConfig, SilenceView } from './types.js';

/**
 * How many times a round a harness runs the detector (ScuttlebuttCore.detect): conviction then
 * comes at most a quarter round after a deadline instead of up to a round late.
 */
export const DETECTS_PER_ROUND = 4;

/** The time between two runs of the detector, in ms. */
export function detectorPeriodMs(gossipIntervalMs: number): number {
  return gossipIntervalMs / DETECTS_PER_ROUND;
}

export class FailureDetector {
  /** Standard deviations past the expected silence at which phi reaches the threshold. */
  private readonly thresholdSigmas: number;
  private readonly minStdMs: number;
  private readonly pauseMs: number;
  private readonly firstEstimateMs: number;
  /** A lower bound on every live member's deadline (updateDeadline lowers it, sweep() recomputes it). */
  private earliestDeadline = Infinity;
  /**
   * How much later than their members' lag allowances heartbeats have lately arrived, over all
   * members: a moving average of the positive part, about one interval of arrivals long. When
   * gossip slows for everyone at once, this rises before any one member's allowance has learned it
   * (allowances learn only from heartbeats that arrive, and the member about to be convicted sent
   * none). A crash slows nobody else's heartbeats, so it leaves this at rest and detection on time.
   */
  private lateness = 0;
  /**
   * What members' lag allowances typically are: a moving average over heartbeat arrivals, about one interval of
   * arrivals long.
   */
  private typicalLag = 0;
  /** Stopped (mode 7 runs): nothing is convicted, nothing learned of rhythms or lags (see stop). */
  private stopped = false;

  private readonly membership: Membership;
  private readonly journal: Journal;
  private readonly intervalMs: number;

  constructor(
    components: { readonly membership: Membership; readonly journal: Journal },
    init: FailureDetectorConfig & { readonly gossipIntervalMs: number },
  ) {
    this.membership = components.membership;
    this.journal = components.journal;
    this.intervalMs = init.gossipIntervalMs;
    this.thresholdSigmas = thresholdSigma(init.phiThreshold);
    this.minStdMs = init.minStdDeviationMs;
    this.pauseMs = init.acceptableHeartbeatPauseMs;
    this.firstEstimateMs = init.firstHeartbeatEstimateMs;
  }

  /**
   * The earliest conviction deadline (Infinity when none). It may be early (a deadline that was
   * earliest has moved later since); late only by how far the typical lag allowance has fallen
   * since a member was held back by it (see lagShortfall), which is slow.
   */
  get nextDeadline(): number {
    return this.earliestDeadline + this.lateSlack();
  }

  /**
   * Convicts live members past their deadline (unless `deaf`: then they are looked at again next
   * time) and removes dead ones past the grace period. Skips the scan when nothing is due.
   */
  sweep(now: number, deaf: boolean): void {
    const m = this.membership;
    const t = m.table;
    const slack = this.lateSlack();
    if (now <= this.earliestDeadline + slack && now < m.nextRemoval) return;
    let next = Infinity;
    let nextRemoval = Infinity;
    for (let s = 1; s < t.used; s++) {
      if (t.status[s] === LIVE) {
        let deadline = t.deadline(s);
        // Rarely due: the shortfall is worked out only for members past their own deadline.
        if (now > deadline + slack) deadline += this.lagShortfall(s);
        if (now > deadline + slack) {
          if (!deaf) m.convict(s, 'suspected', now);
          else next = now;
        } else if (deadline < next) {
          next = deadline;
        }
      }
      if (t.status[s] === DEAD) {
        const due = m.removeIfDue(s, now);
        if (due < nextRemoval) nextRemoval = due;
      }
    }
    this.earliestDeadline = next;
    m.nextRemoval = nextRemoval;
  }

  /**
   * Stops the detector while protocol 7's mode 7 runs: the peer table drops the columns only the detector reads (the
   * period's statistics, the lag allowance, the sampling anchor, the deadline: 33 B a member), and until restart()
   * heartbeats only move each member's heartbeat and birth (the age digests and deltas carry). The caller convicts
   * nobody by sweep() meanwhile.
   */
  stop(): void {
    this.stopped = true;
    this.membership.table.dropMode6Columns();
  }

  /**
   * Runs the detector again (a fallback to mode 6): every live member is watched as one just admitted at its
   * current heartbeat, born now. Mode 7 carried no heartbeats between its nodes, so what was learned before it (and
   * the births it left) would convict members for a silence that was mode 7's; a new member's seed window and lag
   * allowance give each one the first estimate's time to be heard again, as at its admission.
   */
  restart(now: number): void {
    this.stopped = false;
    const t = this.membership.table;
    for (let s = 1; s < t.used; s++) if (t.status[s] === LIVE) this.watch(s, 0, now);
  }

  /** Starts watching a member just admitted at its current heartbeat, born `age` units ago. */
  watch(s: number, age: number, now: number): void {
    const t = this.membership.table;
    t.setBirth(s, birthOf(age, now));
    if (this.stopped) return;
    this.seed(s, now);
    t.sampleBirth(s, t.heartbeat(s), t.birth(s), 'measured');
    this.updateDeadline(s);
  }

  /** A new member's window and lag allowance, its birth set. */
  private seed(s: number, now: number): void {
    const t = this.membership.table;
    // Seed the window as Akka does: the first estimate, with a spread of a quarter of it.
    const first = this.firstEstimateMs;
    t.addInterval(s, first - first / 4);
    t.addInterval(s, first + first / 4);
    // Until lags are observed, allow one interval's worth, as for the first heartbeat itself.
    t.setLagAllowance(s, Math.max(first, now - t.birth(s)));
  }

  /**
   * Heartbeat evidence for slot s, born `age` units ago: recorded if newer, and a dead member with
   * fresh enough heartbeats comes back.
   *
   * `ageIsBound`: the sender only said "at least `age` old" (a digest's age limit). The owner's
   * rhythm then places the birth (previous birth + beats × mean period): exact for a steady owner.
   * After a pause the rhythm guesses too early, so the guess is held within one period of what
   * the lag allowance reaches back: the allowance grows by a period at most, not by the pause.
   * Such a birth is no interval sample, nor the start of one (the rhythm would be measuring itself):
   * intervals run between measured births, over however many beats lie between them. Stopped, there is no rhythm
   * (the peer table reads a new member's: no period, no allowance) and the bound is taken as the birth: the ages
   * passed on err young, which convicts nobody early.
   */
  observe(s: number, heartbeat: number, age: number, now: number, ageIsBound = false): void {
    const m = this.membership;
    const t = m.table;
    if (heartbeat <= t.heartbeat(s)) return;
    const beats = heartbeat - t.heartbeat(s);
    if (beats > MAX_HEARTBEAT_LEAP) return this.journal.reject('implausible-heartbeat');
    t.setHeartbeat(s, heartbeat);
    const prevBirth = t.birth(s);
    let claimed = birthOf(age, now);
    if (ageIsBound) {
      const period = t.intervalMean(s);
      claimed = Math.min(claimed, Math.max(prevBirth + beats * period, now - t.lagAllowance(s) - period));
    }
    // A newer heartbeat cannot be older than the previous one, nor born in our future.
    const birth = Math.min(now, Math.max(prevBirth, claimed));
    if (t.status[s] === LIVE) {
      m.noteAdvance(s);
      if (this.stopped) return t.setBirth(s, birth);
      // Phi models the owner's own rhythm: birth to birth, shared among heartbeats we never heard.
      // How late gossip brings a heartbeat is a separate, bounded quantity: the lag allowance.
      t.sampleBirth(s, heartbeat, birth, ageIsBound ? 'placed' : 'measured');
      const allowance = t.lagAllowance(s);
      // A member's first arrival has no allowance to be late against yet.
      const weight = 1 / Math.max(16, m.liveOthers);
      if (allowance > 0) this.lateness += (Math.max(0, now - birth - allowance) - this.lateness) * weight;
      t.noteLag(s, now - birth);
      this.typicalLag += (t.lagAllowance(s) - this.typicalLag) * weight;
      t.setBirth(s, birth);
      this.updateDeadline(s);
      return;
    }
    if (!m.mayRevive(s, heartbeat)) return;
    // Back from the dead: the silence is not a sample of its normal rhythm, so it is not added.
    t.setBirth(s, birth);
    t.restartSampling(s);
    // A member never watched here (admitted, or its columns dropped, while mode 7 ran) has no window yet.
    if (t.intervalCount(s) === 0) this.seed(s, now);
    t.sampleBirth(s, heartbeat, birth, ageIsBound ? 'placed' : 'measured');
    this.updateDeadline(s);
    m.revive(s);
  }

  /** Moves every live member's deadline and heartbeat births by a silence this node was not listening through. */
  shiftDeadlines(silenceMs: number): void {
    const shift = silenceMs - this.intervalMs;
    if (shift <= 0) return;
    const t = this.membership.table;
    for (let s = 1; s < t.used; s++) {
      if (t.status[s] === LIVE) t.shiftTimes(s, shift);
    }
  }

  /** Current phi of slot s (for diagnostics; conviction uses the precomputed deadline). */
  phiOf(s: number, now: number): number {
    return (
      -lnNormalUpperTail(
        (now - this.silenceExpectedUntil(s) - this.lagShortfall(s) - this.lateSlack()) / this.periodStd(s),
      ) / Math.LN10
    );
  }

  /**
   * How close live slot s is to conviction: the silence since its newest heartbeat's birth, and the
   * silence at which it would be convicted now (lag allowance, period, pause, spread, shortfall, slack).
   */
  silence(s: number, now: number): { silentForMs: number; convictAfterMs: number } {
    const t = this.membership.table;
    const birth = t.birth(s);
    return {
      silentForMs: now - birth,
      convictAfterMs: t.deadline(s) + this.lagShortfall(s) + this.lateSlack() - birth,
    };
  }

  /** silence() and phiOf() as views show them: whole milliseconds, phi to a hundredth (an unbounded one as 1e9). */
  silenceView(s: number, now: number): SilenceView {
    const { silentForMs, convictAfterMs } = this.silence(s, now);
    const phi = this.phiOf(s, now);
    return {
      silentForMs: Math.round(silentForMs),
      convictAfterMs: Math.round(convictAfterMs),
      phi: viewPhi(phi),
    };
  }

  /** What was learned of slot s's rhythm and lag, rounded to a tenth of a millisecond. */
  view(s: number): DetectorView {
    const t = this.membership.table;
    return {
      meanIntervalMs: roundToTenth(t.intervalMean(s)),
      stdIntervalMs: roundToTenth(t.intervalStd(s)),
      lagAllowanceMs: roundToTenth(t.lagAllowance(s)),
      samples: t.intervalCount(s),
    };
  }

  /** Precomputes when phi will cross the threshold, so a sweep checks each member with one comparison. */
  private updateDeadline(s: number): void {
    const deadline = this.silenceExpectedUntil(s) + this.periodStd(s) * this.thresholdSigmas;
    this.membership.table.setDeadline(s, deadline);
    if (deadline < this.earliestDeadline) this.earliestDeadline = deadline;
  }

  /** What every deadline is extended by now: lateness beyond a quarter interval (see lateness). */
  private lateSlack(): number {
    return Math.max(0, this.lateness - this.intervalMs / 4);
  }

  /** How far a member's lag allowance is below the typical one (see typicalLag): its deadline is extended by this. */
  private lagShortfall(s: number): number {
    return Math.max(0, this.typicalLag - this.membership.table.lagAllowance(s));
  }

  /**
   * Where phi's normal is centred: the last heartbeat's birth, plus the lag allowance, the mean period and the
   * acceptable pause.
   */
  private silenceExpectedUntil(s: number): number {
    const t = this.membership.table;
    return t.birth(s) + t.lagAllowance(s) + t.intervalMean(s) + this.pauseMs;
  }

  /** The period's standard deviation, floored at the configured minimum. */
  private periodStd(s: number): number {
    return Math.max(this.membership.table.intervalStd(s), this.minStdMs);
  }
}

/** A heartbeat's birth on our clock, from the age it carried. */
function birthOf(age: number, now: number): number {
  return now - age * HEARTBEAT_AGE_UNIT_MS;
}
