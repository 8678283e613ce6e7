/**
 * Per-member state, stored column-wise in typed arrays indexed by a slot number.
 * A 10,000-node simulation holds 10^8 (observer, member) pairs: one JS object per pair would
 * not fit in memory, typed-array columns cost a few dozen bytes per pair.
 */
import type { NodeIdentity } from '../wire/messages.js';

export const LIVE = 0;
export const DEAD = 1;
export const FREE = 2;
/** A lag below the allowance lowers it by 1/LAG_DECAY of the difference: a spike fades to 37 % in about this many heartbeats. */
const LAG_DECAY = 32;

/** One key's value as this node holds it. expiresAt and deletedAt matter only on the owner. */
export interface StoredValue {
  value: string;
  version: number;
  tombstone: boolean;
  /** Owner only: when a TTL key turns into a tombstone (Infinity when none). */
  expiresAt: number;
  /** Owner only: when the key was deleted (for tombstone GC). */
  deletedAt: number;
}

export class PeerTable {
  capacity: number;
  /** Slots handed out so far (some may be FREE again). */
  used = 0;
  private readonly freeSlots: number[] = [];
  readonly window: number;

  identities: (NodeIdentity | null)[] = [];
  values: (Map<string, StoredValue> | null)[] = [];
  refs: Float64Array;
  heartbeat: Float64Array;
  /** Versions are 32-bit: the core refuses larger ones (4 billion writes per node incarnation). */
  maxVersion: Uint32Array;
  gcVersion: Uint32Array;
  status: Uint8Array;
  left: Uint8Array;
  /**
   * Failure detector: when the newest known heartbeat was born (on our clock: arrival time less the
   * age it carried), when phi crosses the threshold, and the period's running mean and variance.
   */
  heartbeatBirth: Float64Array;
  /**
   * The newest heartbeat whose birth was measured (its sender gave an exact age), and that birth;
   * -1 when there is none to measure from. Intervals are sampled between measured births only: a
   * birth placed by the owner's rhythm (the sender gave only an age bound) would feed the rhythm's
   * own error back into it.
   */
  sampledHeartbeat: Float64Array;
  sampledBirth: Float64Array;
  deadline: Float64Array;
  /**
   * The period's mean and variance over an exponential window (see addInterval): ten bytes per
   * member whatever the window, where a ring of samples costs four bytes per sample per member
   * (at 10,000 nodes and the default window of 200, 80 GB). Float32 keeps sub-microsecond
   * precision on millisecond periods.
   */
  fdMean: Float32Array;
  fdVar: Float32Array;
  /** Intervals seen, up to the window size. */
  fdCount: Uint16Array;
  /**
   * Gossip lag allowance: the largest recent delay between a heartbeat's birth and its arrival here.
   * It jumps up to any larger lag at once and decays toward smaller ones (see noteLag).
   */
  lagMax: Float32Array;
  /** Scratch mark used by the digest comparison (epoch number, not a boolean, so it never needs clearing). */
  mark: Uint32Array;

  constructor(window: number, initialCapacity = 16) {
    this.window = window;
    this.capacity = initialCapacity;
    this.refs = new Float64Array(initialCapacity);
    this.heartbeat = new Float64Array(initialCapacity);
    this.maxVersion = new Uint32Array(initialCapacity);
    this.gcVersion = new Uint32Array(initialCapacity);
    this.status = new Uint8Array(initialCapacity).fill(FREE);
    this.left = new Uint8Array(initialCapacity);
    this.heartbeatBirth = new Float64Array(initialCapacity);
    this.sampledHeartbeat = new Float64Array(initialCapacity);
    this.sampledBirth = new Float64Array(initialCapacity);
    this.deadline = new Float64Array(initialCapacity);
    this.fdMean = new Float32Array(initialCapacity);
    this.fdVar = new Float32Array(initialCapacity);
    this.fdCount = new Uint16Array(initialCapacity);
    this.lagMax = new Float32Array(initialCapacity);
    this.mark = new Uint32Array(initialCapacity);
  }

  allocate(identity: NodeIdentity, ref: number): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.used === this.capacity) this.grow();
      slot = this.used++;
    }
    this.identities[slot] = identity;
    this.values[slot] = null;
    this.refs[slot] = ref;
    this.heartbeat[slot] = 0;
    this.maxVersion[slot] = 0;
    this.gcVersion[slot] = 0;
    this.status[slot] = LIVE;
    this.left[slot] = 0;
    this.heartbeatBirth[slot] = 0;
    this.sampledHeartbeat[slot] = -1;
    this.sampledBirth[slot] = 0;
    this.deadline[slot] = Infinity;
    this.fdMean[slot] = 0;
    this.fdVar[slot] = 0;
    this.fdCount[slot] = 0;
    this.lagMax[slot] = 0;
    this.mark[slot] = 0;
    return slot;
  }

  release(slot: number): void {
    this.identities[slot] = null;
    this.values[slot] = null;
    this.status[slot] = FREE;
    this.freeSlots.push(slot);
  }

  private grow(): void {
    // 1.5x: a large cluster wastes less than with doubling, and growth stays amortized O(1).
    const cap = Math.ceil(this.capacity * 1.5);
    const f64 = (a: Float64Array): Float64Array => { const b = new Float64Array(cap); b.set(a); return b; };
    const u32 = (a: Uint32Array): Uint32Array => { const b = new Uint32Array(cap); b.set(a); return b; };
    const f32 = (a: Float32Array): Float32Array => { const b = new Float32Array(cap); b.set(a); return b; };
    const u16 = (a: Uint16Array): Uint16Array => { const b = new Uint16Array(cap); b.set(a); return b; };
    const u8 = (a: Uint8Array, fill: number): Uint8Array => { const b = new Uint8Array(cap).fill(fill); b.set(a); return b; };
    this.refs = f64(this.refs);
    this.heartbeat = f64(this.heartbeat);
    this.maxVersion = u32(this.maxVersion);
    this.gcVersion = u32(this.gcVersion);
    this.status = u8(this.status, FREE);
    this.left = u8(this.left, 0);
    this.heartbeatBirth = f64(this.heartbeatBirth);
    this.sampledHeartbeat = f64(this.sampledHeartbeat);
    this.sampledBirth = f64(this.sampledBirth);
    this.deadline = f64(this.deadline);
    this.fdMean = f32(this.fdMean);
    this.fdVar = f32(this.fdVar);
    this.fdCount = u16(this.fdCount);
    this.lagMax = f32(this.lagMax);
    this.mark = u32(this.mark);
    this.capacity = cap;
  }

  /**
   * A heartbeat born at `birth`. When measured (`exact`), the interval since the previous measured
   * birth, per beat, is a sample of the owner's period; a placed birth is no sample and no anchor.
   */
  sampleBirth(slot: number, heartbeat: number, birth: number, exact: boolean): void {
    if (!exact) return;
    const from = this.sampledHeartbeat[slot] as number;
    if (from >= 0 && heartbeat > from) this.addInterval(slot, (birth - (this.sampledBirth[slot] as number)) / (heartbeat - from));
    this.sampledHeartbeat[slot] = heartbeat;
    this.sampledBirth[slot] = birth;
  }

  /**
   * Adds one interval. The first `window` intervals are weighed equally (an exact running mean and
   * variance: the two seed intervals fade as real ones arrive, as in a sliding window); after that
   * each new interval weighs 1/window, so the window is exponential, with the same horizon.
   */
  addInterval(slot: number, intervalMs: number): void {
    const n = Math.min((this.fdCount[slot] as number) + 1, this.window);
    this.fdCount[slot] = n;
    const weight = 1 / n;
    const mean = this.fdMean[slot] as number;
    const d = intervalMs - mean;
    this.fdMean[slot] = mean + weight * d;
    // West's weighted update of the population variance: exact for weight 1/n.
    this.fdVar[slot] = (1 - weight) * ((this.fdVar[slot] as number) + weight * d * d);
  }

  /**
   * One heartbeat's gossip lag. A larger lag raises the allowance at once (being late to convict
   * is cheap, a false conviction is not); a smaller one lowers it by 1/LAG_DECAY of the difference,
   * so a spike fades over a few dozen heartbeats rather than being held for a whole window.
   */
  noteLag(slot: number, lagMs: number): void {
    const held = this.lagMax[slot] as number;
    this.lagMax[slot] = lagMs >= held ? lagMs : held + (lagMs - held) / LAG_DECAY;
  }

  /** Mean period (0 when no interval was seen). */
  intervalMean(slot: number): number {
    return this.fdMean[slot] as number;
  }

  /** Standard deviation of the period (0 when fewer than two intervals were seen). */
  intervalStd(slot: number): number {
    return Math.sqrt(this.fdVar[slot] as number);
  }
}
