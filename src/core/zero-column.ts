/**
 * Narrow storage for per-member Uint32 values that are mostly small or 0 in a settled cluster, read back exactly as
 * a Uint32Array would hold them. A 10,000-node simulation holds 10^8 (node, member) pairs: each byte saved in a
 * column is 100 MB.
 */

/**
 * `v` written at `i` of a column that may not exist yet (null: every entry reads 0), for values that stay 0 for
 * most members (a member's GC version, its report version): a write that would store 0 (ToUint32, as the typed
 * array converts it) leaves it null, any other allocates it, `length` long.
 */
export function written32(c: Uint32Array | null, length: number, i: number, v: number): Uint32Array | null {
  if (c === null) {
    if (v >>> 0 === 0) return null;
    c = new Uint32Array(length);
  }
  c[i] = v;
  return c;
}

/**
 * `v` written at `i` of a column of Uint32 values held in bytes while all fit (incarnations: one more for each
 * refutation, so small), widened to Uint32 once one does not. Where ToUint32(v) fits a byte, ToUint8(v) is the same
 * number, so either column reads back what a Uint32Array would.
 */
export function written8or32(c: Uint8Array | Uint32Array, i: number, v: number): Uint8Array | Uint32Array {
  if (c instanceof Uint8Array && v >>> 0 > 0xff) c = Uint32Array.from(c);
  c[i] = v;
  return c;
}

/** Whether `v` is a whole number from 0 to `max` (not -0): what a narrow column holds exactly. */
export function fits(v: number, max: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= max && (v !== 0 || 1 / v > 0);
}

/**
 * `a`'s values in a Float64 column, for a narrow column about to be written a value that does not fit it: `none`
 * (a value the narrow column stores for -1, its "none yet" marker; null: it has none) is read back as -1.
 */
export function widened(a: Uint32Array, none: number | null): Float64Array {
  const b = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) b[i] = a[i] === none ? -1 : (a[i] as number);
  return b;
}
