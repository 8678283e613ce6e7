/**
 * Whether this node itself is the reason peers went quiet. Two local causes make every peer look
 * silent at once, and convicting them for it would be wrong:
 *
 * - a stall: a long gap between our own clock readings (GC, SIGSTOP, an overloaded host), during
 *   which nothing was heard because nothing ran;
 * - deafness (Lifeguard's insight, applied to phi): a node with several live peers that hears from
 *   none of them is likelier to have a bad link or a burst of loss of its own. For a bounded while
 *   it convicts nobody; if the peers really did all die, they are convicted late, not never. With
 *   fewer than three live peers silence is informative, and there is no hold.
 *
 * Both return the silence to excuse; the detector shifts deadlines by it.
 */
export class LocalHealth {
  private lastClock: number;
  /** When a message last arrived from anyone. */
  private lastHeard: number;
  private readonly stallThresholdMs: number;
  private readonly deafAfterMs: number;
  /** Lifeguard's bound too (memberlist: awareness multiplier at most 8). */
  private readonly maxDeafHoldMs: number;
  /** Times this node noticed that it had itself been stalled. */
  stalls = 0;
  /** Times this node heard nobody for over two rounds with live peers around. */
  deafSpells = 0;

  constructor(intervalMs: number, acceptablePauseMs: number, now: number) {
    this.lastClock = now;
    this.lastHeard = now;
    this.stallThresholdMs = Math.max(2 * intervalMs, intervalMs + 2000);
    this.deafAfterMs = 2 * intervalMs;
    this.maxDeafHoldMs = 8 * (intervalMs + acceptablePauseMs);
  }

  /** A clock reading; returns the stall to excuse (0 when there was none). */
  observeClock(now: number): number {
    const gap = now - this.lastClock;
    if (now > this.lastClock) this.lastClock = now;
    if (gap <= this.stallThresholdMs) return 0;
    this.stalls++;
    return gap;
  }

  /** A message arrived; returns the spell of deafness it ends, to excuse (0 when there was none). */
  heard(now: number, liveOthers: number): number {
    const silence = this.isDeaf(now, liveOthers) ? now - this.lastHeard : 0;
    if (silence > 0) this.deafSpells++;
    this.lastHeard = now;
    return silence;
  }

  /** Heard nobody for a bounded while with three or more live peers: convict nobody now. */
  isDeaf(now: number, liveOthers: number): boolean {
    const silence = now - this.lastHeard;
    return liveOthers >= 3 && silence > this.deafAfterMs && silence < this.maxDeafHoldMs;
  }

  /** Heard nobody for two rounds, whatever the peers: what we know of their memberships may be stale. */
  unheard(now: number): boolean {
    return now - this.lastHeard > this.deafAfterMs;
  }
}
