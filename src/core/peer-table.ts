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
   * age it carried), when phi crosses the threshold, and the window's sums.
   */
  heartbeatBirth: Float64Array;
  deadline: Float64Array;
  /** Window sums in float32 (half the memory); recomputed from the ring each time it wraps, so rounding cannot drift. */
  fdSum: Float32Array;
  fdSumSq: Float32Array;
  fdCount: Uint16Array;
  fdPos: Uint16Array;
  /** window intervals per slot, slot-major. Float32 keeps sub-microsecond precision on ms intervals at half the memory. */
  fdRing: Float32Array;
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
    this.deadline = new Float64Array(initialCapacity);
    this.fdSum = new Float32Array(initialCapacity);
    this.fdSumSq = new Float32Array(initialCapacity);
    this.fdCount = new Uint16Array(initialCapacity);
    this.fdPos = new Uint16Array(initialCapacity);
    this.fdRing = new Float32Array(initialCapacity * window);
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
    this.deadline[slot] = Infinity;
    this.fdSum[slot] = 0;
    this.fdSumSq[slot] = 0;
    this.fdCount[slot] = 0;
    this.fdPos[slot] = 0;
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
    this.deadline = f64(this.deadline);
    this.fdSum = f32(this.fdSum);
    this.fdSumSq = f32(this.fdSumSq);
    this.fdCount = u16(this.fdCount);
    this.fdPos = u16(this.fdPos);
    const ring = new Float32Array(cap * this.window);
    ring.set(this.fdRing);
    this.fdRing = ring;
    this.lagMax = f32(this.lagMax);
    this.mark = u32(this.mark);
    this.capacity = cap;
  }

  /** Adds one inter-arrival interval to the slot's sliding window. */
  addInterval(slot: number, intervalMs: number): void {
    const w = this.window;
    const ring = this.fdRing;
    const stored = Math.fround(intervalMs);
    const pos = this.fdPos[slot] as number;
    const at = slot * w + pos;
    let sum = this.fdSum[slot] as number;
    let sumSq = this.fdSumSq[slot] as number;
    if (this.fdCount[slot] === w) {
      const old = ring[at] as number;
      sum -= old;
      sumSq -= old * old;
    } else {
      this.fdCount[slot] = (this.fdCount[slot] as number) + 1;
    }
    ring[at] = stored;
    sum += stored;
    sumSq += stored * stored;
    if (pos + 1 === w) {
      this.fdPos[slot] = 0;
      // Once per lap of the ring, recompute the sums exactly: float32 rounding never accumulates.
      sum = 0;
      sumSq = 0;
      const base = slot * w;
      const n = this.fdCount[slot] as number;
      for (let k = 0; k < n; k++) {
        const x = ring[base + k] as number;
        sum += x;
        sumSq += x * x;
      }
    } else {
      this.fdPos[slot] = pos + 1;
    }
    this.fdSum[slot] = sum;
    this.fdSumSq[slot] = sumSq;
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

  /** Mean of the slot's window (0 when empty). */
  intervalMean(slot: number): number {
    const n = this.fdCount[slot] as number;
    return n === 0 ? 0 : (this.fdSum[slot] as number) / n;
  }

  /** Standard deviation of the slot's window (0 when empty). */
  intervalStd(slot: number): number {
    const n = this.fdCount[slot] as number;
    if (n === 0) return 0;
    const mean = (this.fdSum[slot] as number) / n;
    return Math.sqrt(Math.max(0, (this.fdSumSq[slot] as number) / n - mean * mean));
  }
}
