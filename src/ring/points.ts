/**
 * The ring's points: every member's virtual nodes as 64-bit positions, sorted, in parallel typed arrays so
 * a lookup is a binary search over flat memory. `pos` holds the top 53 bits of each position as a double
 * (exact), so the search compares one number per step and looks at the low half only on a tie. Points are
 * ordered by position, then by member id (UTF-16 code units) for equal positions: the order, and so every
 * owner, depends only on the set of members, never on the order they were added in.
 *
 * A point at position p owns the keys from p up to the next point's position (exclusive, wrapping past
 * 2^64 to the first point): a key's owner is the last point at or before it, or the last point of the
 * ring for a key before the first.
 */
import { hashHi, hashLo, hashPoint } from './hash.js';

export interface Points {
  /** Member ids, sorted; `who` indexes into it. */
  readonly ids: readonly string[];
  /** hi * 2^21 + (lo >>> 11): the position's top 53 bits. */
  readonly pos: Float64Array;
  readonly hi: Uint32Array;
  readonly lo: Uint32Array;
  readonly who: Uint32Array;
}

export const EMPTY_POINTS: Points = {
  ids: [],
  pos: new Float64Array(0),
  hi: new Uint32Array(0),
  lo: new Uint32Array(0),
  who: new Uint32Array(0),
};

/** The top 53 bits of a 64-bit position, exact in a double and ordered as the position. */
export function prefix(hi: number, lo: number): number {
  return hi * 2097152 + (lo >>> 11);
}

/** Virtual node i of a member sits at the hash of the UTF-8 string `${id}#${i}`, for i in [0, replicas). */
function addMemberPoints(id: string, replicas: number, into: Points, from: number, index: number): void {
  const { pos, hi, lo, who } = into;
  for (let i = 0; i < replicas; i++) {
    hashPoint(id, i);
    hi[from + i] = hashHi;
    lo[from + i] = hashLo;
    pos[from + i] = prefix(hashHi, hashLo);
    who[from + i] = index;
  }
}

function allocate(ids: readonly string[], size: number): Points {
  return {
    ids,
    pos: new Float64Array(size),
    hi: new Uint32Array(size),
    lo: new Uint32Array(size),
    who: new Uint32Array(size),
  };
}

/**
 * The points of `old` whose member is in `wanted`, merged with the points of `added` (members not in it):
 * the new members' points are sorted and merged in, so a join costs one pass over the ring, not a sort of it.
 */
export function rebuild(old: Points, wanted: ReadonlySet<string>, added: readonly string[], replicas: number): Points {
  const ids = Object.freeze([...old.ids.filter((id) => wanted.has(id)), ...added].sort());
  const index = new Map(ids.map((id, i) => [id, i]));
  const remap = Int32Array.from(old.ids, (id) => index.get(id) ?? -1);

  const fresh = allocate(ids, added.length * replicas);
  added.forEach((id, k) => addMemberPoints(id, replicas, fresh, k * replicas, index.get(id) as number));
  const order = sortedOrder(fresh);
  let kept = 0;
  for (let i = 0; i < old.who.length; i++) if ((remap[old.who[i] as number] as number) >= 0) kept++;
  const out = allocate(ids, kept + order.length);
  let a = 0;
  let b = 0;
  const na = old.who.length;
  for (let k = 0; k < out.pos.length; k++) {
    while (a < na && (remap[old.who[a] as number] as number) < 0) a++;
    let takeOld: boolean;
    if (a >= na) takeOld = false;
    else if (b >= order.length) takeOld = true;
    else {
      const f = order[b] as number;
      const d = (old.pos[a] as number) - (fresh.pos[f] as number) || (old.lo[a] as number) - (fresh.lo[f] as number);
      takeOld =
        d < 0 ||
        (d === 0 && (ids[remap[old.who[a] as number] as number] as string) < (ids[fresh.who[f] as number] as string));
    }
    const src = takeOld ? old : fresh;
    const i = takeOld ? a++ : (order[b++] as number);
    out.pos[k] = src.pos[i] as number;
    out.hi[k] = src.hi[i] as number;
    out.lo[k] = src.lo[i] as number;
    out.who[k] = takeOld ? (remap[old.who[i] as number] as number) : (fresh.who[i] as number);
  }
  return out;
}

/**
 * The indices of `p`'s points in point order. The positions are sorted as plain doubles (natively, no
 * comparator) and each point finds its place by binary search; only when two share a 53-bit prefix, which
 * 64-bit hashes make rare, does it fall back to a comparator of position and id.
 */
export function sortedOrder(p: Points): Uint32Array {
  const n = p.pos.length;
  const sorted = Float64Array.from(p.pos).sort();
  const order = new Uint32Array(n);
  for (let k = 1; k < n; k++) if (sorted[k] === sorted[k - 1]) return comparatorOrder(p);
  for (let i = 0; i < n; i++) {
    const x = p.pos[i] as number;
    let low = 0;
    let high = n - 1;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if ((sorted[mid] as number) < x) low = mid + 1;
      else high = mid;
    }
    order[low] = i;
  }
  return order;
}

function comparatorOrder(p: Points): Uint32Array {
  return new Uint32Array(p.pos.length)
    .map((_, i) => i)
    .sort((a, b) => {
      const d = (p.pos[a] as number) - (p.pos[b] as number) || (p.lo[a] as number) - (p.lo[b] as number);
      if (d !== 0) return d;
      const x = p.ids[p.who[a] as number] as string;
      const y = p.ids[p.who[b] as number] as string;
      return x < y ? -1 : x > y ? 1 : 0;
    });
}

/** The index of the point owning position (h, l): the last point at or before it, wrapping; -1 on an empty ring. */
export function ownerIndex(p: Points, h: number, l: number): number {
  const { pos, lo } = p;
  const key = prefix(h, l);
  let low = 0;
  let high = pos.length; // the first point after the key lies in [low, high]
  while (low < high) {
    const mid = (low + high) >>> 1;
    const m = pos[mid] as number;
    if (m < key || (m === key && (lo[mid] as number) <= l)) low = mid + 1;
    else high = mid;
  }
  return low === 0 ? pos.length - 1 : low - 1;
}

/** Each member's fraction of the 2^64 positions: the sum of its points' arcs. */
export function sharesOf(p: Points): Map<string, number> {
  const shares = new Map<string, number>(p.ids.map((id) => [id, 0]));
  const n = p.pos.length;
  if (n === 0) return shares;
  const sums = new Float64Array(p.ids.length);
  for (let i = 0; i < n; i++) {
    const j = i + 1 === n ? 0 : i + 1;
    const w = p.who[i] as number;
    const length = arc(p.hi[i] as number, p.lo[i] as number, p.hi[j] as number, p.lo[j] as number, j === 0);
    sums[w] = (sums[w] as number) + length;
  }
  // The arcs add up to 2^64 but for rounding: dividing by their sum makes one member's share exactly 1.
  const total = sums.reduce((x, y) => x + y, 0);
  p.ids.forEach((id, i) => shares.set(id, (sums[i] as number) / total));
  return shares;
}

/**
 * The length of [a, b) as a double. `wraps`: b is the first position of the ring and a the last, so the
 * interval passes 2^64 (the whole ring when a = b: one point, or one position).
 */
export function arc(ah: number, al: number, bh: number, bl: number, wraps: boolean): number {
  const d = (bh - ah) * 4294967296 + (bl - al);
  return wraps ? d + 2 ** 64 : d;
}
