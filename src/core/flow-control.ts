/**
 * Flow control for a node's own key-values (van Renesse et al. 2008, section 4, adapted): writes
 * above the allowed rate wait in a coalescing backlog and are released at that rate; the rate
 * adapts by AIMD to whether this node's outgoing deltas overflow their byte budget, and two peers
 * that both throttle split the sum of their allowed rates by their desired rates (protocol 5).
 * Pure: the caller passes the clock. See docs/protocol.md, "Flow control".
 */
import type { RateState } from '../wire/messages.js';
import { InvalidArgumentError } from '../errors.js';

export interface FlowControlConfig {
  /** Off: every write is published at once (the behaviour before flow control). */
  readonly enabled: boolean;
  /** Allowed rate at start, versions per second. */
  readonly initialRate: number;
  /** The rate never falls below this (a writer always makes progress) ... */
  readonly minRate: number;
  /** ... nor rises above this. */
  readonly maxRate: number;
  /** Exchange rates with peers that speak protocol 5 (off: local AIMD only, as with older peers). Default on. */
  readonly shareRates?: boolean;
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
  /** Exchanges in which this node took its share of a peer's and its own allowed rates (protocol 5). */
  readonly shares: number;
}

/**
 * Consecutive overflowing deltas before the rate is cut. A node packs about 2 x fanout deltas a
 * round (its replies to SYNs and its answers to requests), so 4 is most of one round's worth: one
 * full packet is a burst, four in a row is a queue.
 */
export const OVERFLOW_STREAK = 4;
/** Consecutive deltas with room to spare before the rate grows: about one round's worth (see above). */
export const UNDERFLOW_STREAK = 6;
/**
 * Multiplicative decrease. Gentler than TCP's 1/2: the signal lags by the time gossip takes to drain, so cuts come in
 * runs.
 */
export const DECREASE_FACTOR = 0.75;
/** Additive increase per underflow streak, as a fraction of the rate the node was last cut from (see increaseStep). */
export const INCREASE_FRACTION = 0.05;
/**
 * After a cut, more overflow is not new news until what was queued before the cut has drained:
 * about the dissemination time, a few rounds. In gossip intervals.
 */
export const HOLD_ROUNDS = 3;

/**
 * A node shares rates for this many intervals after it last held a write back. Its allowed rate is
 * a share of the cluster's capacity only while it is being held to it (an idle node's rate is its
 * untouched start value, not a share, and lending it would flood). Ten is long enough for a writer
 * gone idle to meet another sharer and hand on its share (with 16 writers among 128 nodes it meets
 * one about every other round), short enough that an idle node soon stops sending the field.
 */
export const SHARE_ROUNDS = 10;
/**
 * Weight of each interval's offered write rate in the desired rate (moving average): a writer that stops is at a
 * quarter after two rounds.
 */
export const DESIRE_WEIGHT = 0.5;
/**
 * A cut starts from at most this multiple of the rate the node actually published (same moving
 * average as the desire), not from an allowance it never used: a writer that idled at the start
 * rate and then floods would otherwise need a cut per hold period for each factor of 4/3 between
 * that rate and its share, and the network's queue builds meanwhile. Twice leaves room for the
 * average's lag and for bursts the token bucket lets through.
 */
export const USE_HEADROOM = 2;
/**
 * ... but never from below this fraction of the start rate: a node that writes now and then is not
 * what overflows, and keeps room for a burst (a cut from use lands at 3/16 of the start rate at
 * the lowest; further cuts go from there at the usual pace).
 */
export const USE_FLOOR = 0.25;
/**
 * A peer's claimed allowed rate counts at most this multiple of ours: enough for a new writer
 * starting at the initial rate to lend it on, and a peer that lies can raise us by at most this
 * factor per exchange (AIMD cuts it back when the network overflows).
 */
export const TRUST_FACTOR = 4;

export const DEFAULT_FLOW_CONTROL: FlowControlConfig = {
  enabled: true,
  initialRate: 100,
  minRate: 0.5,
  maxRate: 10_000,
  shareRates: true,
};

/**
 * This node's share when it and a peer split the sum of their allowed rates: max-min fair by desire
 * (each desire at least `minRate`). When both together want no more than the sum, each gets what it
 * wants and half the rest; otherwise one that wants less than half gets what it wants and the other
 * the remainder, and two that both want more than half get half each. The peer computes its share
 * from the same two states, so the pair's sum is kept and AIMD alone moves the cluster's total.
 */
export function fairShare(mine: RateState, theirs: RateState, minRate: number): number {
  const total = mine.allowed + theirs.allowed;
  const a = Math.max(minRate, mine.desired);
  const b = Math.max(minRate, theirs.desired);
  if (a + b <= total) return a + (total - a - b) / 2;
  const half = total / 2;
  if (a <= half) return a;
  if (b <= half) return total - b;
  return half;
}

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
  /** The rate the last cut started from: additive steps are a fraction of it, so they scale with the capacity found. */
  private lastPeak: number;
  /** The backlog was non-empty since the last increase: growth is earned only by a node the rate held back. */
  private limited = false;
  private counts = { overflows: 0, underflows: 0, decreases: 0, increases: 0, shares: 0 };
  /** When a write was last held back (the rate is a share of capacity while this is recent). */
  private limitedAt = -Infinity;
  /** The application's offered write rate, versions/s (moving average over intervals). */
  private desire = 0;
  private writesInWindow = 0;
  /** Versions this node published, versions/s (moving average over intervals, as the desire). */
  private used = 0;
  private publishedInWindow = 0;
  private windowStart: number;

  constructor(
    private readonly config: FlowControlConfig,
    private readonly intervalMs: number,
    now: number,
  ) {
    const { minRate, maxRate, initialRate } = config;
    if (!(minRate > 0) || !(maxRate >= minRate) || !Number.isFinite(maxRate))
      throw new InvalidArgumentError(
        `flow control needs 0 < minRate <= maxRate < Infinity (got ${minRate}, ${maxRate})`,
      );
    this.allowed = Math.min(maxRate, Math.max(minRate, initialRate));
    this.lastPeak = this.allowed;
    this.tokens = this.burst();
    this.refilledAt = now;
    this.windowStart = now;
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
    this.writesInWindow++;
    this.measureDesire(now);
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
      this.publishedInWindow++;
      return true;
    }
    // A caller without a clock (core.set without `now`) is dated by the last clock this unit saw.
    this.held.set(key, { ...write, since: Number.isFinite(now) ? now : this.refilledAt });
    this.limited = true;
    this.limitedAt = Math.max(this.limitedAt, this.refilledAt);
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
    this.publishedInWindow += out.length;
    this.measureDesire(now);
    if (this.held.size > 0) this.limitedAt = now;
    return out;
  }

  /**
   * What this node tells its peers (protocol 5), or null when it does not share: sharing is off, or
   * no write was held back in the last SHARE_ROUNDS intervals.
   */
  advertised(now: number): RateState | null {
    if (this.config.shareRates === false || now - this.limitedAt > SHARE_ROUNDS * this.intervalMs) return null;
    this.measureDesire(now);
    // A writer that stopped still wants what drains its backlog within a round before it lends its share.
    return {
      allowed: this.allowed,
      desired: Math.min(this.config.maxRate, Math.max(this.desire, (this.held.size * 1000) / this.intervalMs)),
    };
  }

  /** A peer's rates arrived in an exchange this node shares in: take this node's fair share of the pair's sum. */
  share(peer: RateState, now: number): void {
    const mine = this.advertised(now);
    if (!mine) return;
    const theirs = { allowed: Math.min(peer.allowed, TRUST_FACTOR * mine.allowed), desired: peer.desired };
    this.setRate(fairShare(mine, theirs, this.config.minRate));
    this.counts.shares++;
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
      this.measureDesire(now);
      this.lastPeak = Math.min(this.allowed, Math.max(USE_HEADROOM * this.used, USE_FLOOR * this.config.initialRate));
      this.setRate(this.lastPeak * DECREASE_FACTOR);
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

  /** Folds the writes and releases of each full interval since the last reading into the desired and used rates. */
  private measureDesire(now: number): void {
    const dt = now - this.windowStart;
    if (!(dt >= this.intervalMs)) return;
    this.desire += ((this.writesInWindow * 1000) / dt - this.desire) * DESIRE_WEIGHT;
    this.used += ((this.publishedInWindow * 1000) / dt - this.used) * DESIRE_WEIGHT;
    // Every write and release closes a window that has run a full interval, so a longer one ended in
    // silence: each further quiet interval weighs in as a rate of zero (an hour-old write weighs nothing).
    const quiet = (1 - DESIRE_WEIGHT) ** (Math.floor(dt / this.intervalMs) - 1);
    this.desire *= quiet;
    this.used *= quiet;
    this.writesInWindow = 0;
    this.publishedInWindow = 0;
    this.windowStart = now;
  }

  /**
   * Additive step: a fraction of the last peak, at least the floor, so recovery takes ~1/INCREASE_FRACTION streaks at
   * any scale.
   */
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
