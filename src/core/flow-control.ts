/**
 * Flow control for a node's own key-values (van Renesse et al. 2008, section 4, adapted): writes
 * above the allowed rate wait in a coalescing backlog and are released at that rate; the rate
 * adapts by AIMD to whether this node's outgoing deltas overflow their byte budget.
 * Pure: the caller passes the clock. See docs/protocol.md, "Flow control".
 */

export interface FlowControlConfig {
  /** Off: every write is published at once (the behaviour before flow control). */
  readonly enabled: boolean;
  /** Allowed rate at start, versions per second. */
  readonly initialRate: number;
  /** The rate never falls below this (a writer always makes progress) ... */
  readonly minRate: number;
  /** ... nor rises above this. */
  readonly maxRate: number;
}

/** What the owner will publish for a key once released: the latest write only. */
export interface HeldWrite {
  value: string;
  tombstone: boolean;
  expiresAt: number;
  /** When the oldest write this entry coalesces was made (its wait is measured from here). */
  since: number;
}

export interface FlowControlStats {
  /** Allowed rate, versions per second. */
  readonly rate: number;
  /** Keys waiting to be published. */
  readonly backlog: number;
  /** How long the longest-waiting key has waited, ms (0 when none waits). */
  readonly oldestWaitMs: number;
  /** Outgoing deltas that did / did not fill their byte budget with state left over. */
  readonly overflows: number;
  readonly underflows: number;
  readonly decreases: number;
  readonly increases: number;
}

/**
 * Consecutive overflowing deltas before the rate is cut. A node packs about 2 x fanout deltas a
 * round (its replies to SYNs and its answers to requests), so 4 is most of one round's worth: one
 * full packet is a burst, four in a row is a queue.
 */
export const OVERFLOW_STREAK = 4;
/** Consecutive deltas with room to spare before the rate grows: about one round's worth (see above). */
export const UNDERFLOW_STREAK = 6;
/** Multiplicative decrease. Gentler than TCP's 1/2: the signal lags by the time gossip takes to drain, so cuts come in runs. */
export const DECREASE_FACTOR = 0.75;
/** Additive increase per underflow streak, as a fraction of the rate the node was last cut from (see increaseStep). */
export const INCREASE_FRACTION = 0.05;
/**
 * After a cut, more overflow is not new news until what was queued before the cut has drained:
 * about the dissemination time, a few rounds. In gossip intervals.
 */
export const HOLD_ROUNDS = 3;

export const DEFAULT_FLOW_CONTROL: FlowControlConfig = { enabled: true, initialRate: 100, minRate: 0.5, maxRate: 10_000 };

export class FlowControl {
  private allowed: number;
  /** Token bucket, in versions; holds at most one gossip interval's worth (burst). */
  private tokens: number;
  private refilledAt: number;
  /** Latest write per key, in the order the keys first started waiting (Map order). */
  private readonly held = new Map<string, HeldWrite>();
  private overflowRun = 0;
  private underflowRun = 0;
  private holdUntil = -Infinity;
  /** The rate before the last cut: additive steps are a fraction of it, so they scale with the capacity found. */
  private lastPeak: number;
  /** The backlog was non-empty since the last increase: growth is earned only by a node the rate held back. */
  private limited = false;
  private counts = { overflows: 0, underflows: 0, decreases: 0, increases: 0 };

  constructor(
    private readonly config: FlowControlConfig,
    private readonly intervalMs: number,
    now: number,
  ) {
    const { minRate, maxRate, initialRate } = config;
    if (!(minRate > 0) || !(maxRate >= minRate) || !Number.isFinite(maxRate)) throw new RangeError(`flow control needs 0 < minRate <= maxRate < Infinity (got ${minRate}, ${maxRate})`);
    this.allowed = Math.min(maxRate, Math.max(minRate, initialRate));
    this.lastPeak = this.allowed;
    this.tokens = this.burst();
    this.refilledAt = now;
  }

  get rate(): number {
    return this.allowed;
  }

  get backlog(): number {
    return this.held.size;
  }

  /** The held write of a key, if one waits (the local view shows it at once). */
  pending(key: string): HeldWrite | undefined {
    return this.held.get(key);
  }

  pendingEntries(): IterableIterator<[string, HeldWrite]> {
    return this.held.entries();
  }

  /**
   * A new write of `key`: true when it may be published now (a token was taken), false when it
   * was held (coalesced onto the key's waiting write, if any, which keeps its place and age).
   * O(1), never throws, never waits.
   */
  admit(key: string, write: Omit<HeldWrite, 'since'>, now: number): boolean {
    const waiting = this.held.get(key);
    if (waiting) {
      waiting.value = write.value;
      waiting.tombstone = write.tombstone;
      waiting.expiresAt = write.expiresAt;
      return false;
    }
    this.refill(now);
    if (this.held.size === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    // A caller without a clock (core.set without `now`) is dated by the last clock this unit saw.
    this.held.set(key, { ...write, since: Number.isFinite(now) ? now : this.refilledAt });
    this.limited = true;
    return false;
  }

  /** Forgets a held write (a delete of a key that was never published: nothing to tell anyone). */
  drop(key: string): void {
    this.held.delete(key);
  }

  /** The held writes the allowed rate lets out now, oldest first; each takes a token. */
  release(now: number): [string, HeldWrite][] {
    this.refill(now);
    const out: [string, HeldWrite][] = [];
    if (this.held.size === 0) return out;
    for (const entry of this.held) {
      if (this.tokens < 1) break;
      this.tokens -= 1;
      out.push(entry);
    }
    for (const [key] of out) this.held.delete(key);
    return out;
  }

  /** Held keys whose TTL has passed (the caller deletes them). */
  expired(now: number): string[] {
    const out: string[] = [];
    for (const [key, w] of this.held) if (!w.tombstone && w.expiresAt <= now) out.push(key);
    return out;
  }

  /**
   * One outgoing delta was packed: `overflowed` when state was left out for lack of room. Drives
   * AIMD: a run of overflows cuts the rate (at most once per hold period), a run of underflows
   * while writes were held back raises it.
   */
  noteDelta(overflowed: boolean, now: number): void {
    if (overflowed) {
      this.counts.overflows++;
      this.underflowRun = 0;
      if (++this.overflowRun < OVERFLOW_STREAK || now < this.holdUntil) return;
      this.overflowRun = 0;
      this.holdUntil = now + HOLD_ROUNDS * this.intervalMs;
      this.lastPeak = this.allowed;
      this.setRate(this.allowed * DECREASE_FACTOR);
      this.counts.decreases++;
      return;
    }
    this.counts.underflows++;
    this.overflowRun = 0;
    if (++this.underflowRun < UNDERFLOW_STREAK) return;
    this.underflowRun = 0;
    if (!this.limited && this.held.size === 0) return;
    this.limited = this.held.size > 0;
    this.setRate(this.allowed + this.increaseStep());
    this.counts.increases++;
  }

  stats(now: number): FlowControlStats {
    let oldest = 0;
    for (const w of this.held.values()) {
      oldest = now - w.since;
      break; // Map order: the first key has waited longest
    }
    return { rate: this.allowed, backlog: this.held.size, oldestWaitMs: Math.max(0, oldest), ...this.counts };
  }

  /** Additive step: a fraction of the last peak, at least the floor, so recovery takes ~1/INCREASE_FRACTION streaks at any scale. */
  private increaseStep(): number {
    return Math.max(this.config.minRate, INCREASE_FRACTION * this.lastPeak);
  }

  private setRate(r: number): void {
    this.allowed = Math.min(this.config.maxRate, Math.max(this.config.minRate, r));
    this.tokens = Math.min(this.tokens, this.burst());
  }

  private burst(): number {
    return Math.max(1, (this.allowed * this.intervalMs) / 1000);
  }

  private refill(now: number): void {
    const dt = now - this.refilledAt;
    if (dt > 0) this.tokens = Math.min(this.burst(), this.tokens + (this.allowed * dt) / 1000);
    this.refilledAt = Math.max(this.refilledAt, now);
  }
}
