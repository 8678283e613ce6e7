/**
 * Bitmaps over a census's membership (docs/design/liveness-7.md, "Message layouts": bit i of byte i >> 3, from the
 * low bit, is member i of the membership sorted by ref). Plain Uint8Arrays, so a census holds a few N/8-byte
 * arrays and no per-member objects, and a bitmap goes on the wire as it is.
 */
import { addToSetHash, removeFromSetHash } from './identity.js';

/** Bytes of a bitmap over `n` members. */
export function bitmapBytes(n: number): number {
  return (n + 7) >>> 3;
}

export function hasBit(bits: Uint8Array, i: number): boolean {
  return (((bits[i >>> 3] ?? 0) >>> (i & 7)) & 1) === 1;
}

export function setBit(bits: Uint8Array, i: number): void {
  bits[i >>> 3] = (bits[i >>> 3] as number) | (1 << (i & 7));
}

export function clearBit(bits: Uint8Array, i: number): void {
  bits[i >>> 3] = (bits[i >>> 3] as number) & ~(1 << (i & 7));
}

const POPCOUNT = Uint8Array.from({ length: 256 }, (_, b) => {
  let c = 0;
  for (let v = b; v !== 0; v &= v - 1) c++;
  return c;
});

/** Set bits in `bits`. */
export function countBits(bits: Uint8Array): number {
  let c = 0;
  for (const b of bits) c += POPCOUNT[b] as number;
  return c;
}

/**
 * ORs `from` into `into` (same length) and calls `added` with the index of each bit that was not set before.
 * Returns how many bits were added.
 */
export function orBits(into: Uint8Array, from: Uint8Array, added?: (i: number) => void): number {
  let n = 0;
  for (let k = 0; k < into.length; k++) {
    const before = into[k] as number;
    const fresh = (from[k] as number) & ~before;
    if (fresh === 0) continue;
    into[k] = before | fresh;
    n += POPCOUNT[fresh] as number;
    if (added) for (let b = 0; b < 8; b++) if ((fresh >>> b) & 1) added((k << 3) | b);
  }
  return n;
}

/** Index of `ref` in ascending `refs`, or -1 (binary search: no index map per census). */
export function indexOfRef(refs: ArrayLike<number>, ref: number): number {
  let lo = 0;
  let hi = refs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = refs[mid] as number;
    if (v === ref) return mid;
    if (v < ref) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Samples tried before counting: a dense bitmap yields a member at once. */
const SAMPLES = 16;

/**
 * A member chosen uniformly among those whose bit is set in `bits` and not in `notIn` (when given), other than
 * `exclude`, or -1 when there is none. A few random samples first; when they all miss (a small side in a big
 * membership), a count and a second pass over the N/8 bytes, so a sparse bitmap still yields a member every time
 * and every member is as likely (a scan from a random start would favour members after long gaps).
 */
export function pickBit(
  bits: Uint8Array,
  notIn: Uint8Array | null,
  exclude: number,
  random: { next(): number },
): number {
  const avail = (k: number): number => {
    let v = (bits[k] as number) & ~(notIn ? (notIn[k] as number) : 0);
    if (exclude >>> 3 === k) v &= ~(1 << (exclude & 7));
    return v;
  };
  const size = bits.length * 8;
  for (let s = 0; s < SAMPLES; s++) {
    const z = Math.floor(random.next() * size);
    if ((avail(z >>> 3) >>> (z & 7)) & 1) return z;
  }
  let count = 0;
  for (let k = 0; k < bits.length; k++) count += POPCOUNT[avail(k)] as number;
  if (count === 0) return -1;
  let target = Math.floor(random.next() * count);
  for (let k = 0; k < bits.length; k++) {
    const v = avail(k);
    const c = POPCOUNT[v] as number;
    if (target >= c) {
      target -= c;
      continue;
    }
    for (let b = 0; b < 8; b++) if ((v >>> b) & 1 && target-- === 0) return (k << 3) | b;
  }
  return -1;
}

/**
 * A membership as a census indexes it: refs ascending (member i is bit i) and their set hash (identity.ts: the
 * sum of refs mod 2^48), changed one member at a time. Copy-on-write: `insert` and `remove` put a new array in
 * `refs` (a binary search and two block copies, some microseconds at 10,000 members) and leave the old one as it
 * was, since a running census keeps indexing the membership it joined with.
 */
export class SortedRefs {
  private constructor(
    private array: Float64Array,
    private sum: number,
  ) {}

  /** The set of `refs` (distinct), sorted once. */
  static of(refs: Iterable<number>): SortedRefs {
    const sorted = Float64Array.from(refs).sort();
    let hash = 0;
    for (const ref of sorted) hash = addToSetHash(hash, ref);
    return new SortedRefs(sorted, hash);
  }

  /** The members, ascending. Read-only: a change puts a new array here. */
  get refs(): Float64Array {
    return this.array;
  }

  /** Puts `equal`, an array with the same refs, in place of `refs` (one array shared among nodes: AssignmentPool). */
  adopt(equal: Float64Array): void {
    this.array = equal;
  }

  /** The membership hash of `refs`. */
  get hash(): number {
    return this.sum;
  }

  has(ref: number): boolean {
    return this.array[lowerBound(this.array, ref)] === ref;
  }

  /** Adds `ref`; false when it is a member already. */
  insert(ref: number): boolean {
    const a = this.array;
    const p = lowerBound(a, ref);
    if (a[p] === ref) return false;
    const out = new Float64Array(a.length + 1);
    out.set(a.subarray(0, p));
    out[p] = ref;
    out.set(a.subarray(p), p + 1);
    this.array = out;
    this.sum = addToSetHash(this.sum, ref);
    return true;
  }

  /**
   * Adds the refs of `insert` and removes those of `cut` (each given once, in neither list twice): one new array
   * for all of them (none when nothing changes), the same as inserting and removing one at a time.
   */
  update(insert: readonly number[], cut: readonly number[]): void {
    const adds = insert.filter((ref) => !this.has(ref)).sort((a, b) => a - b);
    const gone = new Set(cut.filter((ref) => this.has(ref)));
    if (adds.length + gone.size <= 1) {
      for (const ref of adds) this.insert(ref);
      for (const ref of gone) this.remove(ref);
      return;
    }
    const a = this.array;
    const out = new Float64Array(a.length + adds.length - gone.size);
    let o = 0;
    let j = 0;
    for (let i = 0; i <= a.length; i++) {
      const ref = i < a.length ? (a[i] as number) : Infinity;
      while (j < adds.length && (adds[j] as number) < ref) out[o++] = adds[j++] as number;
      if (i < a.length && !gone.has(ref)) out[o++] = ref;
    }
    for (const ref of adds) this.sum = addToSetHash(this.sum, ref);
    for (const ref of gone) this.sum = removeFromSetHash(this.sum, ref);
    this.array = out;
  }

  /** Removes `ref`; false when it is not a member. */
  remove(ref: number): boolean {
    const a = this.array;
    const p = lowerBound(a, ref);
    if (a[p] !== ref) return false;
    const out = new Float64Array(a.length - 1);
    out.set(a.subarray(0, p));
    out.set(a.subarray(p + 1), p);
    this.array = out;
    this.sum = removeFromSetHash(this.sum, ref);
    return true;
  }
}

/** The first index of ascending `refs` whose ref is not below `ref`. */
function lowerBound(refs: Float64Array, ref: number): number {
  let lo = 0;
  let hi = refs.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((refs[mid] as number) < ref) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** How many of `members` (refs) are present: their bits, at their indices in `refs`, set in `present`. */
export function countPresent(refs: ArrayLike<number>, present: Uint8Array, members: ArrayLike<number>): number {
  let n = 0;
  for (let k = 0; k < members.length; k++) {
    const y = indexOfRef(refs, members[k] as number);
    if (y >= 0 && hasBit(present, y)) n++;
  }
  return n;
}
