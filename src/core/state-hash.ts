/**
 * Protocol 7's state hash (docs/design/liveness-7.md, "Quiet exchanges: a hash, then drill-down"): what a node
 * holds about every member, summed into one 48-bit number that every BEAT carries, with the bucket sums a
 * drill-down compares to find the members two nodes disagree about (core/drill-down.ts).
 *
 * A sum, not a digest of a sorted list, so that a change to one member costs O(1): subtract its old entry hash,
 * add the new one, as identity.ts keeps the membership hash. Sums stay exact in doubles: every value is below
 * 2^48 and a sum of two is below 2^49, far inside the 2^53 doubles hold exactly.
 */
import { bucketOf } from '../wire/messages.js';
import { maskBuckets } from '../wire/liveness-sizes.js';
import { mix32 } from './identity.js';

/** Hashes and sums are taken modulo this (48 bits: 6 bytes on the wire, HASH_BYTES). */
export const HASH_SPACE = 2 ** 48;
/** Leaf buckets: the top 8 bits of a ref (bucketOf with 256). */
export const LEAF_BUCKETS = 256;
/** Level-1 buckets: the top 4 bits of a ref, so level-1 bucket i holds leaves 16i to 16i + 15. */
export const LEVEL1_BUCKETS = 16;
/** Leaves under one level-1 bucket (what a SUMS reply carries per expanded bucket). */
export const LEAVES_PER_LEVEL1 = LEAF_BUCKETS / LEVEL1_BUCKETS;

const TWO_32 = 2 ** 32;

/**
 * What a node holds about one member, reduced to the fields every node replicates. Counters are non-negative
 * integers below 2^53 (as decoded from varints); `ref` is the member's 48-bit identityRef.
 */
export interface StateEntry {
  readonly ref: number;
  readonly incarnation: number;
  readonly maxVersion: number;
  readonly gcVersion: number;
  readonly reportVersion: number;
  readonly left: boolean;
}

/**
 * The leaf bucket of a ref: its top 8 bits. The same bits as bucketOf(ref, 256) (protocol 6's digest buckets),
 * independent of the low bits the sums mix.
 */
export function leafOf(ref: number): number {
  return bucketOf(ref, LEAF_BUCKETS);
}

/**
 * The level-1 bucket of a leaf: its top 4 bits, i.e. the ref's top 4 bits. Not bucketOf(ref, 16), which takes
 * bits 40 to 43 and would scatter one level-1 bucket's leaves over all sixteen.
 */
export function level1Of(leaf: number): number {
  return leaf >>> 4;
}

/** One step of a lane: a bijection of (lane ^ word) for any fixed lane, and of the lane for any fixed word. */
function absorb(lane: number, word: number, multiplier: number): number {
  const x = Math.imul(lane ^ word, multiplier);
  return x ^ (x >>> 15);
}

/**
 * A member's entry hash: a well-mixed 48-bit number of the fields every node replicates, and of nothing local.
 *
 * - `ref`: which member (two members with equal state must not cancel or coincide);
 * - `incarnation`: raised by the member to refute a report, or by a restart; a node that missed the refutation
 *   still holds the member under suspicion;
 * - `maxVersion`: the owner's newest key-value version (application keys and the gate's reserved keys): by the
 *   prefix invariant, equal max versions mean equal maps;
 * - `gcVersion`: the owner's last tombstone GC, which drops tombstones without raising maxVersion;
 * - `reportVersion`: the member's report set as an observer (a new report, or records dropped, re-publish it);
 * - `left`: the leave proof, which is state in protocol 7 and travels as news.
 *
 * Local verdicts (live, dead, suspected) are left out: two nodes holding the same state agree on the hash whatever
 * they concluded from it, so a disagreement about liveness alone never starts a drill-down.
 *
 * Two 32-bit lanes absorb every field as two 32-bit words (low, high); each step is a bijection in the word for a
 * fixed lane and in the lane for a fixed word, and the final mix is a bijection, so the first lane (the top 32 bits
 * of the result) differs whenever exactly one field differs: a change to one field always changes the hash.
 */
export function entryHash(e: StateEntry): number {
  const refHigh = Math.floor(e.ref / TWO_32);
  const incHigh = Math.floor(e.incarnation / TWO_32);
  const maxHigh = Math.floor(e.maxVersion / TWO_32);
  const gcHigh = Math.floor(e.gcVersion / TWO_32);
  const repHigh = Math.floor(e.reportVersion / TWO_32);
  const left = e.left ? 1 : 0;
  // `x >>> 0` is x mod 2^32 for an integer below 2^53: the low word.
  let a = 0x9e3779b9;
  a = absorb(a, e.ref >>> 0, 0xcc9e2d51);
  a = absorb(a, refHigh, 0xcc9e2d51);
  a = absorb(a, e.incarnation >>> 0, 0xcc9e2d51);
  a = absorb(a, incHigh, 0xcc9e2d51);
  a = absorb(a, e.maxVersion >>> 0, 0xcc9e2d51);
  a = absorb(a, maxHigh, 0xcc9e2d51);
  a = absorb(a, e.gcVersion >>> 0, 0xcc9e2d51);
  a = absorb(a, gcHigh, 0xcc9e2d51);
  a = absorb(a, e.reportVersion >>> 0, 0xcc9e2d51);
  a = absorb(a, repHigh, 0xcc9e2d51);
  a = absorb(a, left, 0xcc9e2d51);
  // The second lane: other seed and multiplier, words in another order, and the first lane folded in, so its
  // 16 bits are not a function of the first lane's 32.
  let b = 0x7f4a7c15;
  b = absorb(b, left, 0x1b873593);
  b = absorb(b, e.reportVersion >>> 0, 0x1b873593);
  b = absorb(b, e.gcVersion >>> 0, 0x1b873593);
  b = absorb(b, e.maxVersion >>> 0, 0x1b873593);
  b = absorb(b, e.incarnation >>> 0, 0x1b873593);
  b = absorb(b, e.ref >>> 0, 0x1b873593);
  b = absorb(b, refHigh ^ Math.imul(incHigh ^ Math.imul(maxHigh ^ Math.imul(gcHigh, 31), 31), 31), 0x1b873593);
  b = absorb(b, repHigh ^ a, 0x1b873593);
  return mix32(a) * 0x10000 + (mix32(b) >>> 16);
}

/** (x + y) mod 2^48 for x, y in [0, 2^48): exact, the sum is below 2^49. */
function add48(x: number, y: number): number {
  const s = x + y;
  return s >= HASH_SPACE ? s - HASH_SPACE : s;
}

/** (x - y) mod 2^48 for x, y in [0, 2^48). */
function sub48(x: number, y: number): number {
  const d = x - y;
  return d < 0 ? d + HASH_SPACE : d;
}

/**
 * H, the 16 level-1 sums and the 256 leaf sums of a set of entries, each the sum of its entries' hashes mod 2^48,
 * and the member count of each leaf (for a drill-down's byte budget). 2.2 KB of sums and 1 KB of counts a node;
 * nothing per member: a replace is told the old entry by the caller, which holds it in its columns.
 */
export class StateHash {
  /** [H, level-1 sums (16), leaf sums (256)] in one buffer. */
  private readonly sums = new Float64Array(1 + LEVEL1_BUCKETS + LEAF_BUCKETS);
  private readonly counts = new Uint32Array(LEAF_BUCKETS);
  private members = 0;

  /** A StateHash over these entries (refs distinct). */
  static of(entries: Iterable<StateEntry>): StateHash {
    const h = new StateHash();
    for (const e of entries) h.add(e);
    return h;
  }

  /** H: the sum of every entry hash, mod 2^48 (what a BEAT carries). */
  get hash(): number {
    return this.sums[0] as number;
  }

  /** Entries summed (the member count a SUMS or SYN7 carries). */
  get size(): number {
    return this.members;
  }

  /** Level-1 bucket i's sum (0 <= i < 16). */
  level1Sum(i: number): number {
    return this.sums[1 + i] as number;
  }

  /** Leaf i's sum (0 <= i < 256). */
  leafSum(i: number): number {
    return this.sums[1 + LEVEL1_BUCKETS + i] as number;
  }

  /** Entries in leaf i. */
  leafCount(i: number): number {
    return this.counts[i] as number;
  }

  /** The 16 level-1 sums, copied (a SUMS message at level 1). */
  level1Sums(): Float64Array {
    return this.sums.slice(1, 1 + LEVEL1_BUCKETS);
  }

  /** For each level-1 bucket set in `mask` (u16), in ascending order, its 16 leaf sums, copied. */
  leafSumsOf(mask: number): Float64Array {
    const out = new Float64Array(maskBuckets(mask) * LEAVES_PER_LEVEL1);
    let k = 0;
    for (let i = 0; i < LEVEL1_BUCKETS; i++) {
      if ((mask & (1 << i)) === 0) continue;
      const from = 1 + LEVEL1_BUCKETS + i * LEAVES_PER_LEVEL1;
      out.set(this.sums.subarray(from, from + LEAVES_PER_LEVEL1), k);
      k += LEAVES_PER_LEVEL1;
    }
    return out;
  }

  /** Adds a member's entry (a member this hash does not yet hold). */
  add(e: StateEntry): void {
    const leaf = leafOf(e.ref);
    this.put(leaf, entryHash(e));
    this.counts[leaf] = (this.counts[leaf] as number) + 1;
    this.members++;
  }

  /** Removes a member's entry: `e` must be the entry it was last added or replaced with. */
  remove(e: StateEntry): void {
    const leaf = leafOf(e.ref);
    this.take(leaf, entryHash(e));
    this.counts[leaf] = (this.counts[leaf] as number) - 1;
    this.members--;
  }

  /** A member's state changed from `before` (as last added or replaced) to `after`; the same ref. */
  replace(before: StateEntry, after: StateEntry): void {
    if (before.ref !== after.ref) {
      this.remove(before);
      this.add(after);
      return;
    }
    // Adding (new - old) mod 2^48 is subtracting old and adding new, in half the sum updates.
    this.put(leafOf(after.ref), sub48(entryHash(after), entryHash(before)));
  }

  /** Forgets every entry. */
  clear(): void {
    this.sums.fill(0);
    this.counts.fill(0);
    this.members = 0;
  }

  private put(leaf: number, h: number): void {
    const s = this.sums;
    const l1 = 1 + level1Of(leaf);
    const lf = 1 + LEVEL1_BUCKETS + leaf;
    s[0] = add48(s[0] as number, h);
    s[l1] = add48(s[l1] as number, h);
    s[lf] = add48(s[lf] as number, h);
  }

  private take(leaf: number, h: number): void {
    const s = this.sums;
    const l1 = 1 + level1Of(leaf);
    const lf = 1 + LEVEL1_BUCKETS + leaf;
    s[0] = sub48(s[0] as number, h);
    s[l1] = sub48(s[l1] as number, h);
    s[lf] = sub48(s[lf] as number, h);
  }
}
