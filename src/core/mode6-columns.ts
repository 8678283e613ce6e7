/**
 * The per-member columns only protocol 6's failure detector reads: the sampling anchor, the period's statistics, the
 * lag allowance and the deadline (33 B a member). Heartbeats and their births are not here: digests and deltas carry
 * them (as heartbeats and ages) in either mode, so PeerTable holds them always. A node in mode 7 reads none of these
 * (FailureDetector.stop), and a 10,000-node simulation holds 10^8 (node, member) pairs: the PeerTable keeps them in
 * this one group, allocated on first write and dropped on the switch to mode 7 (PeerTable.dropMode6Columns), so that
 * a node in mode 7 does not pay for them. A group allocated late holds, for every slot, what PeerTable.allocate gives
 * a new member; reads while none is allocated return the same values (see the PeerTable accessors).
 */
import { fits, widened } from './zero-column.js';

/**
 * A lag below the allowance lowers it by 1/LAG_DECAY of the difference: a spike fades to 37 % in about this many
 * heartbeats.
 */
const LAG_DECAY = 32;

/** The value of an empty (or never written) sampling anchor: no measured birth yet. */
export const NO_SAMPLE = -1;

/** In a Uint32 sampledHeartbeats column: NO_SAMPLE (-1 stored in 32 unsigned bits). */
const NARROW_NO_SAMPLE = 0xffffffff;

export class Mode6Columns {
  /**
   * The newest heartbeat whose birth was measured, and that birth (NO_SAMPLE: none yet); see sampleBirth. The
   * heartbeat is held as PeerTable holds heartbeats: a Uint32 column until a value that does not fit is written
   * (NO_SAMPLE as 0xffffffff while narrow), then a Float64 one; the interval count likewise in a Uint8 column up to
   * 255, then a Float32 one. Either way a read returns what was written.
   */
  sampledHeartbeats: Uint32Array | Float64Array;
  sampledBirths: Float64Array;
  /** When phi crosses the threshold (Infinity: never computed). */
  deadlines: Float64Array;
  /** The period's mean and variance (see addInterval), and how many intervals they hold. */
  fdMean: Float32Array;
  fdVar: Float32Array;
  fdCount: Uint8Array | Float32Array;
  /** The gossip lag allowance (see noteLag). */
  lagMax: Float32Array;

  constructor(capacity: number) {
    this.sampledHeartbeats = new Uint32Array(capacity).fill(NO_SAMPLE);
    this.sampledBirths = new Float64Array(capacity);
    this.deadlines = new Float64Array(capacity).fill(Infinity);
    this.fdMean = new Float32Array(capacity);
    this.fdVar = new Float32Array(capacity);
    this.fdCount = new Uint8Array(capacity);
    this.lagMax = new Float32Array(capacity);
  }

  /** The sampling anchor's heartbeat (NO_SAMPLE: none). */
  sampledHeartbeat(s: number): number {
    const a = this.sampledHeartbeats;
    const v = a[s] as number;
    return v === NARROW_NO_SAMPLE && a instanceof Uint32Array ? NO_SAMPLE : v;
  }

  private setSampledHeartbeat(s: number, heartbeat: number): void {
    const a = this.sampledHeartbeats;
    if (a instanceof Uint32Array && heartbeat !== NO_SAMPLE && !fits(heartbeat, NARROW_NO_SAMPLE - 1))
      this.sampledHeartbeats = widened(a, NARROW_NO_SAMPLE);
    this.sampledHeartbeats[s] = heartbeat;
  }

  private setCount(s: number, n: number): void {
    const a = this.fdCount;
    if (a instanceof Uint8Array && !fits(n, 0xff)) this.fdCount = Float32Array.from(a);
    this.fdCount[s] = n;
  }

  /** Slot s as a new member has it. */
  reset(s: number): void {
    this.sampledHeartbeats[s] = NO_SAMPLE;
    this.sampledBirths[s] = 0;
    this.deadlines[s] = Infinity;
    this.fdMean[s] = 0;
    this.fdVar[s] = 0;
    this.fdCount[s] = 0;
    this.lagMax[s] = 0;
  }

  /**
   * Replaces every column by f(column, the value of an empty slot): PeerTable's growth and renumbering. Four element
   * types at most across the table's columns (see PeerTable's TableColumn).
   */
  map(f: <A extends Float64Array | Float32Array | Uint32Array | Uint8Array>(a: A, fill: number) => A): void {
    this.sampledHeartbeats = f(this.sampledHeartbeats, NO_SAMPLE);
    this.sampledBirths = f(this.sampledBirths, 0);
    this.deadlines = f(this.deadlines, Infinity);
    this.fdMean = f(this.fdMean, 0);
    this.fdVar = f(this.fdVar, 0);
    this.fdCount = f(this.fdCount, 0);
    this.lagMax = f(this.lagMax, 0);
  }

  /** Moves the member's clock readings here (sampling anchor, deadline) later by `ms`. */
  shiftTimes(s: number, ms: number): void {
    this.sampledBirths[s] = (this.sampledBirths[s] as number) + ms;
    this.deadlines[s] = (this.deadlines[s] as number) + ms;
  }

  /** See PeerTable.sampleBirth. */
  sampleBirth(s: number, heartbeat: number, birth: number, window: number): void {
    const from = this.sampledHeartbeat(s);
    if (from >= 0 && heartbeat > from)
      this.addInterval(s, (birth - (this.sampledBirths[s] as number)) / (heartbeat - from), window);
    this.setSampledHeartbeat(s, heartbeat);
    this.sampledBirths[s] = birth;
  }

  /**
   * Adds one interval to the period's mean and variance, kept over an exponential window: ten
   * bytes per member whatever the window, where a ring of samples costs four bytes per sample per
   * member (at 10,000 nodes and the default window of 200, 80 GB). Float32 keeps sub-microsecond
   * precision on millisecond periods. The first `window` intervals are weighed equally (an exact
   * running mean and variance: the two seed intervals fade as real ones arrive, as in a sliding
   * window); after that each new interval weighs 1/window, so the window has the same horizon.
   */
  addInterval(s: number, intervalMs: number, window: number): void {
    const n = Math.min((this.fdCount[s] as number) + 1, window);
    this.setCount(s, n);
    const weight = 1 / n;
    const mean = this.fdMean[s] as number;
    const d = intervalMs - mean;
    this.fdMean[s] = mean + weight * d;
    // West's weighted update of the population variance: exact for weight 1/n.
    this.fdVar[s] = (1 - weight) * ((this.fdVar[s] as number) + weight * d * d);
  }

  /**
   * One heartbeat's gossip lag. A larger lag raises the allowance at once (being late to convict
   * is cheap, a false conviction is not); a smaller one lowers it by 1/LAG_DECAY of the difference,
   * so a spike fades over a few dozen heartbeats rather than being held for a whole window.
   */
  noteLag(s: number, lagMs: number): void {
    const held = this.lagMax[s] as number;
    this.lagMax[s] = lagMs >= held ? lagMs : held + (lagMs - held) / LAG_DECAY;
  }
}
