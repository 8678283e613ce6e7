/**
 * One phi window of protocol 7's neighbour detector (core/neighbours.ts): the instants a neighbour's beats (or its
 * echoes of ours) arrived, as the last anchoring instant and the period's running mean and variance (as
 * PeerTable's), and the loss its sequence gaps show. Pure arithmetic on the caller's clock.
 */
import { LinkLoss } from './link-loss.js';
import { lnNormalUpperTail, roundToTenth, thresholdSigma, viewPhi } from './phi.js';
import type { FailureDetectorConfig, MemberWatch } from './types.js';

/**
 * How far, in beats, a sequence may move and still be read as the same count: a beat up to this many behind
 * the newest is a late duplicate (reordered; its timing is ignored), and one up to this many ahead shares the
 * gap. Anything further is a sender that started counting again: the window is re-anchored without a sample.
 */
export const SEQUENCE_HORIZON = 64;

/** What every window of one detector shares: the failure detector's settings, read once. */
export class WindowSettings {
  readonly pauseMs: number;
  readonly minStdMs: number;
  readonly firstEstimateMs: number;
  readonly window: number;
  readonly sigmas: number;

  constructor(fd: FailureDetectorConfig) {
    this.pauseMs = fd.acceptableHeartbeatPauseMs;
    this.minStdMs = fd.minStdDeviationMs;
    this.firstEstimateMs = fd.firstHeartbeatEstimateMs;
    this.window = fd.samplingWindowSize;
    this.sigmas = thresholdSigma(fd.phiThreshold);
  }
}

export class BeatWindow {
  last = 0;
  private mean = 0;
  private variance = 0;
  private count = 0;
  readonly loss = new LinkLoss();

  constructor(private readonly settings: WindowSettings) {}

  /** Opens the window at `now`, seeded as FailureDetector.watch does: the first estimate, spread a quarter of it. */
  seed(now: number): void {
    this.mean = 0;
    this.variance = 0;
    this.count = 0;
    this.loss.reset();
    const first = this.settings.firstEstimateMs;
    this.addInterval(first - first / 4);
    this.addInterval(first + first / 4);
    this.last = now;
  }

  /**
   * An arrival `steps` periods after the window's last: one sample of the shared gap and `steps - 1` losses,
   * unless implausibly far.
   */
  sample(now: number, steps: number): void {
    if (steps <= SEQUENCE_HORIZON) {
      this.addInterval((now - this.last) / steps);
      this.loss.arrival(steps);
    }
    this.last = now;
  }

  /**
   * The later of where phi crosses the threshold (last + mean + pause + allowance; lag 0, direct beats) and the
   * end of the run of missed beats the window's loss explains (last + run × mean + allowance). The allowance,
   * sigmas × max(std, min std), is phi's for a late beat: a run counts a beat missed only once it would have
   * arrived, so a late one is not taken for one lost. With the default pause of three periods the two agree at
   * a run of 4 (loss from 4.6 % to 10 %) and phi's is the later below it, so only a link losing 10 % or more
   * waits longer.
   */
  deadline(): number {
    return this.last + this.expected() + this.settings.sigmas * this.spread();
  }

  /** phi of the silence since the last arrival, at `now`, on deadline()'s model: the threshold at the deadline. */
  phi(now: number): number {
    return -lnNormalUpperTail((now - this.last - this.expected()) / this.spread()) / Math.LN10;
  }

  /**
   * The window as member views show it (core/member-views.ts): its period (direct beats: no lag allowance) and,
   * given `now`, the silence since the last arrival, with the silence at which the neighbour is reported.
   */
  view(now: number | undefined): MemberWatch {
    const detector = {
      meanIntervalMs: roundToTenth(this.mean),
      stdIntervalMs: roundToTenth(Math.sqrt(this.variance)),
      lagAllowanceMs: 0,
      samples: this.count,
    };
    if (now === undefined) return { detector };
    const convictAfterMs = Math.round(this.deadline() - this.last);
    return {
      detector,
      silence: { silentForMs: Math.round(now - this.last), convictAfterMs, phi: viewPhi(this.phi(now)) },
    };
  }

  /** Where phi's normal is centred past the last arrival: the mean and the pause, or the run its loss explains. */
  private expected(): number {
    return Math.max(this.mean + this.settings.pauseMs, this.loss.run * this.mean);
  }

  /** The period's standard deviation, floored at the configured minimum. */
  private spread(): number {
    return Math.max(Math.sqrt(this.variance), this.settings.minStdMs);
  }

  /** PeerTable.addInterval's running mean and variance: exact over the first `window` samples, then 1/window. */
  private addInterval(intervalMs: number): void {
    const n = Math.min(this.count + 1, this.settings.window);
    this.count = n;
    const weight = 1 / n;
    const d = intervalMs - this.mean;
    this.mean += weight * d;
    this.variance = (1 - weight) * (this.variance + weight * d * d);
  }
}
