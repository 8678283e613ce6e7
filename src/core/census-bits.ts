/**
 * Bitmaps over a census's membership (docs/design/liveness-7.md, "Message layouts": bit i of byte i >> 3, from the
 * low bit, is member i of the membership sorted by ref). Plain Uint8Arrays, so a census holds a few N/8-byte
 * arrays and no per-member objects, and a bitmap goes on the wire as it is.
 */

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

/**
 * A member whose bit is set in `bits` and not in `notIn` (when given), other than `exclude`: the first one from
 * bit `start` on, wrapping round, or -1. A random start spreads the choice; the scan is N/8 bytes at worst, so a
 * sparse bitmap (a small side in a big membership) still yields a member every time.
 */
export function findBit(bits: Uint8Array, notIn: Uint8Array | null, exclude: number, start: number): number {
  const len = bits.length;
  if (len === 0) return -1;
  const first = (start >>> 3) % len;
  for (let s = 0; s <= len; s++) {
    const k = (first + s) % len;
    let v = (bits[k] as number) & ~(notIn ? (notIn[k] as number) : 0);
    if (exclude >>> 3 === k) v &= ~(1 << (exclude & 7));
    // The start byte is read twice: from the start bit up first, its lower bits last.
    if (s === 0) v &= 0xff << (start & 7);
    else if (s === len) v &= ~(0xff << (start & 7));
    if (v === 0) continue;
    for (let b = 0; b < 8; b++) if ((v >>> b) & 1) return (k << 3) | b;
  }
  return -1;
}
