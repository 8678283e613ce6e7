/**
 * The node's two one-shot timers beside its gossip interval: an extra gossip round when there is
 * news, and a detect at the earliest conviction deadline. Both only schedule; what a round or a
 * detect does stays with the node.
 */
import { monotonicNow } from './clock.js';

/** Extra (news-triggered) rounds that may go out back to back. */
const EAGER_BURST = 2;

/**
 * News spreads in an extra round now, not at the next tick. Extra rounds draw on a small credit
 * (EAGER_BURST rounds, one more per `refillMs`): a join or an update goes out within the same
 * event-loop turn, hop after hop, while a cluster full of news still sends at most about one extra
 * round per `refillMs`.
 */
export class EagerRounds {
  private credit = EAGER_BURST;
  private creditAt = 0;
  private timer: NodeJS.Timeout | null = null;

  private readonly refillMs: number;
  private readonly wanted: () => boolean;
  private readonly run: (now: number) => void;

  /**
   * `run` sends the round; it is called only while `wanted()` (there is news, the node is open) still holds when the
   * timer fires.
   */
  constructor(
    components: { readonly wanted: () => boolean; readonly run: (now: number) => void },
    init: { readonly refillMs: number },
  ) {
    this.wanted = components.wanted;
    this.run = components.run;
    this.refillMs = init.refillMs;
  }

  /** An extra round soon, if there is news and none is pending. */
  request(): void {
    if (this.timer || !this.wanted()) return;
    const credit = this.refill(monotonicNow());
    // A zero timeout still waits for this turn's other packets, so their news shares one round.
    const wait = credit >= 1 ? 0 : (1 - credit) * this.refillMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.wanted()) return;
      const now = monotonicNow();
      this.credit = this.refill(now) - 1;
      this.run(now);
    }, wait);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private refill(now: number): number {
    this.credit = Math.min(EAGER_BURST, this.credit + (now - this.creditAt) / this.refillMs);
    this.creditAt = now;
    return this.credit;
  }
}

/** setTimeout's longest delay; a deadline further out is looked at early, and the timer re-armed. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Conviction on time, and the only detector timer between rounds: one timeout at the earliest
 * conviction deadline, instead of a periodic detect that would wake an idle process several times a
 * round to find nothing due (each round runs the detector anyway). Deadlines only move later as
 * heartbeats arrive, so a timer that fires early just re-arms. A deaf node (it hears no peer) leaves
 * due deadlines due and convicts nobody: it looks again a detector period later, not at once.
 */
export class DeadlineTimer {
  private timer: NodeJS.Timeout | null = null;
  /** When the armed timer fires (monotonic ms). */
  private at = Infinity;

  private readonly periodMs: number;
  private readonly detect: () => void;
  private readonly deaf: (now: number) => boolean;

  /**
   * `detect` runs the detector; `deaf(now)` says whether it would hold convictions back now; `periodMs` is how long
   * a deaf node waits before it looks again.
   */
  constructor(
    components: { readonly detect: () => void; readonly deaf: (now: number) => boolean },
    init: { readonly periodMs: number },
  ) {
    this.detect = components.detect;
    this.deaf = components.deaf;
    this.periodMs = init.periodMs;
  }

  /** A detect at `deadline` (Infinity: none), unless one is armed sooner. */
  arm(deadline: number): void {
    if (deadline >= this.at) return;
    const now = monotonicNow();
    const when = this.deaf(now) ? Math.max(deadline, now + this.periodMs) : deadline;
    if (when >= this.at) return;
    if (this.timer) clearTimeout(this.timer);
    this.at = when;
    // +1 ms: conviction needs now > deadline, and timers may fire a little early on a coarse clock.
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.at = Infinity;
        this.detect();
      },
      Math.min(MAX_TIMEOUT_MS, Math.max(0, when - now) + 1),
    );
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.at = Infinity;
  }
}
