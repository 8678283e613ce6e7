/**
 * Whether this node itself is the reason peers went quiet. Two local causes make every peer look
 * silent at once, and convicting them for it would be wrong:
 *
 * - a stall: a long gap between our own clock readings (GC, SIGSTOP, an overloaded host), during
 *   which nothing was heard because nothing ran: over two rounds, and over a round plus the
 *   acceptable pause (at most 2 s), so that no gap long enough to convict goes unexcused. Shorter
 *   gaps past a round and a quarter (our own round timer was late) are excused too, by the same
 *   measure, but not counted: a starved host stops a process again and again, each time for less
 *   than a stall, and those stops add up to a conviction that no single gap shows;
 * - deafness (Lifeguard's insight, applied to phi): a node with several live peers that hears from
 *   none of them is likelier to have a bad link or a burst of loss of its own. For a bounded while
 *   it convicts nobody; if the peers really did all die, they are convicted late, not never. With
 *   fewer than three live peers silence is informative, and there is no hold.
 *
 * Deafness has two signs. Hearing no packet at all for two rounds; and, Lifeguard's own measure,
 * no answer for two rounds to the exchanges this node opened (a pull is always answered), whatever
 * else arrives. The second is needed because a burst on our inbound link is not airtight: a packet
 * that slips through now and then ends every silence, while it is most likely a SYN from a peer as
 * cut off as we are, carrying none of the news we missed. Answers come every round to a node that
 * hears, so their absence is the sign stray packets cannot hide.
 *
 * A stall and a spell of hearing nobody return the silence to excuse; the detector shifts deadlines
 * by it. A spell without answers only holds convictions: the stray packets may have brought news of
 * some members, and the first answer (its bumps bring every member the peer is ahead on) ends the
 * hold, so a member that really died meanwhile is convicted then rather than a whole spell later.
 */
export class LocalHealth {
  private lastClock: number;
  /** When a message last arrived from anyone. */
  private lastHeard: number;
  /** When this node first opened an exchange that is still unanswered (NaN: every exchange was answered). */
  private unansweredSince = Number.NaN;
  private readonly stallThresholdMs: number;
  /** A gap over this is excused (our round timer, due every interval, was late); over stallThresholdMs, counted. */
  private readonly lateAfterMs: number;
  private readonly deafAfterMs: number;
  /** Lifeguard's bound too (memberlist: awareness multiplier at most 8). */
  private readonly maxDeafHoldMs: number;
  /** Times this node noticed that it had itself been stalled. */
  stalls = 0;
  /** Times this node heard nobody, or no answer, for over two rounds with live peers around. */
  deafSpells = 0;

  /**
   * `excuseLate`: whether gaps past 1.25 rounds but under a stall are excused too. Protocol 7's neighbour watch
   * passes false: its windows are anchored at the last beat, and moving them at each late reading turned 0 false
   * deaths into 8 in the simulator's standing row at 10 % loss in bursts of 10 (members up 0-24 h).
   */
  constructor(intervalMs: number, acceptablePauseMs: number, now: number, excuseLate = true) {
    this.lastClock = now;
    this.lastHeard = now;
    // A gap of a round plus the acceptable pause is one the detector could convict on (its deadlines
    // lie about that far past each heartbeat), so it is always a stall: with a short pause (fast
    // configurations) a 2 s floor would leave a gap between conviction and excuse, where one
    // hiccup of the host convicts every member on every node of the process.
    this.stallThresholdMs = Math.max(2 * intervalMs, intervalMs + Math.min(2000, acceptablePauseMs));
    // The detector's own period of slack: timers fire a little late on any host, and each excuse is a
    // pass over the members.
    this.lateAfterMs = excuseLate ? intervalMs + intervalMs / 4 : this.stallThresholdMs;
    this.deafAfterMs = 2 * intervalMs;
    this.maxDeafHoldMs = deafnessHoldMs(intervalMs, acceptablePauseMs);
  }

  /** When a message last arrived. */
  get heardAt(): number {
    return this.lastHeard;
  }

  /** The longest a spell of deafness is held. */
  get deafHoldMs(): number {
    return this.maxDeafHoldMs;
  }

  /** A clock reading; returns the gap to excuse (0 when there was none). */
  observeClock(now: number): number {
    const gap = now - this.lastClock;
    if (now > this.lastClock) this.lastClock = now;
    if (gap <= this.lateAfterMs) return 0;
    if (gap > this.stallThresholdMs) this.stalls++;
    return gap;
  }

  /** This node opened exchanges with peers: from now on, their answers are due. */
  asked(now: number): void {
    if (Number.isNaN(this.unansweredSince)) this.unansweredSince = now;
  }

  /**
   * A message arrived (`answer`: a reply to an exchange this node opened, or to its reply, which ends
   * a spell without answers); returns the spell of hearing nobody it ends, to excuse (0 when there was none).
   */
  heard(now: number, liveOthers: number, answer: boolean): number {
    const silence = this.hearsNobody(now, liveOthers) ? now - this.lastHeard : 0;
    if (answer) {
      if (silence === 0 && this.unanswered(now, liveOthers)) this.deafSpells++;
      this.unansweredSince = Number.NaN;
    }
    if (silence > 0) this.deafSpells++;
    this.lastHeard = now;
    return silence;
  }

  /** Heard nobody, or no answer, for a bounded while with three or more live peers: convict nobody now. */
  isDeaf(now: number, liveOthers: number): boolean {
    return this.hearsNobody(now, liveOthers) || this.unanswered(now, liveOthers);
  }

  /** Heard nobody for two rounds, whatever the peers: what we know of their memberships may be stale. */
  unheard(now: number): boolean {
    return now - this.lastHeard > this.deafAfterMs;
  }

  private hearsNobody(now: number, liveOthers: number): boolean {
    return this.held(now - this.lastHeard, liveOthers);
  }

  /** No answer to the exchanges we opened for two rounds (NaN compares false: nothing unanswered). */
  private unanswered(now: number, liveOthers: number): boolean {
    return this.held(now - this.unansweredSince, liveOthers);
  }

  private held(silence: number, liveOthers: number): boolean {
    return liveOthers >= 3 && silence > this.deafAfterMs && silence < this.maxDeafHoldMs;
  }
}

/** The longest a deaf node holds convictions back: 8 × (interval + acceptable pause). */
export function deafnessHoldMs(intervalMs: number, acceptablePauseMs: number): number {
  return 8 * (intervalMs + acceptablePauseMs);
}
