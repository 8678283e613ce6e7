/**
 * How much of a link's beats are lost, from sequence gaps, and how long a run of missed beats loss alone
 * explains (docs/design/liveness-7.md, "Gray failures and disagreeing views": the loss-aware deadline).
 *
 * Beats are numbered, so an arrival `steps` sequences after the previous one says exactly that `steps - 1` beats
 * of the link were lost and one arrived. The estimate is an exponentially weighted count over the last
 * LOSS_WINDOW_BEATS or so beats' worth of sequence numbers, started from a prior (LOSS_PRIOR_LOST lost out of
 * LOSS_PRIOR_BEATS) that decays like measured beats do. A silence on a link losing a fraction p of its beats is
 * then read as a crash only once its run of missed beats m has p^m < LOSS_RUN_ODDS (lossRun).
 *
 * Losses are counted when the next beat arrives, so a link that turns lossy meets its first runs at the clean
 * estimate: the false reports left are mostly in the first minute or two of a new loss, whatever the window.
 */

/**
 * The chance, below which a run of missed beats is no longer put down to loss: p^m < 10^-4. A false silent
 * report then needs m losses in a row after an arrival, about 0.7 × 0.3^8 = 4.6e-5 a beat at 30 % loss, so a
 * conviction (3 of 4 neighbours reporting within the second it takes to refute) about once in 10^4 years per
 * gray node; and a crash on that link is reported m periods (plus phi's allowance for a late beat) after the
 * last arrival: 8.6 s at 30 % instead of 4.6 s.
 */
export const LOSS_RUN_ODDS = 1e-4;

/**
 * The window, in beats, over which the loss is measured (the weight of older beats falls by 1/e each this many):
 * long enough that at 30 % loss the estimate's spread (about 0.02) keeps the run within a beat of 8, short
 * enough to follow a link that turns lossy within a few minutes at one beat a second.
 */
export const LOSS_WINDOW_BEATS = 128;

/**
 * The prior a new window starts from: 1 lost in 16, i.e. 6.25 %. Not 0 %, which would make a new window on a lossy
 * link report at every run of 4 losses until it has measured; not high, since under 10 % the run needed (4) is
 * no more than the phi deadline already waits, so a new window on a clean link keeps its deadline exactly. The
 * weight of 16 beats lets measurement outweigh it after 16 beats.
 */
export const LOSS_PRIOR_LOST = 1;
export const LOSS_PRIOR_BEATS = 16;

/**
 * The longest run ever required: loss above 56 % (0.56^16 = 1e-4) is itself a failing link whose reports are
 * earned, and no crash waits more than 16 periods for its report whatever the loss measured.
 */
export const MAX_LOSS_RUN = 16;

const KEEP = 1 - 1 / LOSS_WINDOW_BEATS;

/** One link's loss: decayed counts of lost beats and of beats due (sequence numbers covered). Per window. */
export class LinkLoss {
  private lost = LOSS_PRIOR_LOST;
  private due = LOSS_PRIOR_BEATS;

  /** Starts again from the prior (a window opened anew: its sender may be a different process). */
  reset(): void {
    this.lost = LOSS_PRIOR_LOST;
    this.due = LOSS_PRIOR_BEATS;
  }

  /**
   * An arrival `steps` (>= 1) sequences after the previous one: `steps - 1` beats lost, then one received,
   * each beat ageing the counts by one.
   */
  arrival(steps: number): void {
    const aged = KEEP ** steps;
    // Lost beats at ages 1 .. steps - 1 (the received one is the newest, age 0): sum of KEEP^j.
    const lostWeight = (KEEP - aged) / (1 - KEEP);
    this.lost = this.lost * aged + lostWeight;
    this.due = this.due * aged + (1 - aged) / (1 - KEEP);
  }

  /** The estimated fraction of the link's beats lost, in (0, 1). */
  get rate(): number {
    return this.lost / this.due;
  }

  /** The run of missed beats loss alone explains with less than LOSS_RUN_ODDS at the current rate (lossRun). */
  get run(): number {
    return lossRun(this.rate);
  }
}

/**
 * The fewest missed beats m >= 1 with p^m < LOSS_RUN_ODDS, at most MAX_LOSS_RUN: 4 or fewer under 10 %, 5 at
 * 10 %, 8 at 30 %.
 */
export function lossRun(p: number): number {
  let m = 1;
  for (let odds = p; odds >= LOSS_RUN_ODDS && m < MAX_LOSS_RUN; m++) odds *= p;
  return m;
}
