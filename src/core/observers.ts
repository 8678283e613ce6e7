/**
 * Who watches whom, for protocol 7's delegated liveness (docs/design/liveness-7.md, "Who watches whom").
 *
 * Every live member is placed on R = K/2 rings, each ordered by a keyed hash of its ref. A member's
 * *own* list is its ring neighbours, nearest first: distance 1 on ring 0 (successor, predecessor), on ring 1,
 * ..., then distance 2 on every ring, and so on, skipping itself and repeats, until K members are listed
 * (or everyone else, when the view has K + 1 members or fewer). Its *neighbours* are the symmetric closure:
 * x and y are neighbours when either lists the other. Neighbours beat to each other and each watches the
 * other, so every edge carries evidence both ways (the echo of docs/design/liveness-7.md). A member has at
 * least min(K, N - 1) neighbours; the closure adds a few when rings place two members near each other
 * without reciprocity.
 *
 * Pure and deterministic: the same set of refs gives the same assignment whatever the order it is given
 * in. A join or a death moves only the members near it on some ring: O(K) edges change (measured in
 * test/core/observers.test.ts). Two views that differ by a few members agree on everyone else's neighbours.
 *
 * Eligibility is wider than neighbourhood: a report from `o` about `s` counts where `o` is within the first
 * 2K of `s`'s list (or `s` within `o`'s) in the receiver's own view, so a reporter whose view differs from
 * the receiver's by a member or two near `s` is still heard.
 */
import { InvalidArgumentError } from '../errors.js';
import { addToSetHash, mix32 } from './identity.js';

/** The default K: neighbours each member has (docs/design/liveness-7.md, "Choosing K"). */
export const DEFAULT_OBSERVERS = 4;

const TWO_32 = 2 ** 32;

/** Up to this many refs a ring sorts as packed doubles (ringSorted): a 32-bit key times it plus an index is exact. */
const PACKED_INDEX = 2 ** 21;

/**
 * A member's position key on ring `ring`: a hash of its 48-bit ref keyed by the ring number, so the rings
 * are independent orders. Ties (2^-32 per pair) are broken by ref.
 */
export function ringKey(ref: number, ring: number): number {
  const lo = ref >>> 0;
  const hi = Math.floor(ref / TWO_32) >>> 0;
  return mix32(lo ^ mix32(hi ^ mix32((ring + 1) * 0x9e3779b9)));
}

/**
 * Reports needed to convict a member with `observers` neighbours: a strict majority. A single observer
 * whose own link is bad (docs/design/liveness-7.md, "Gray failures") cannot convict; a crash is seen by
 * every neighbour at the same instant, so waiting for a majority costs nothing.
 */
export function convictionQuorum(observers: number): number {
  return Math.floor(observers / 2) + 1;
}

/**
 * Assignment of neighbours over one membership view. Immutable: `with` gives the assignment over a view that
 * differs by a few members without rebuilding. Only the rings are held (each member sorted by ring key); own
 * lists and neighbours are read off them when asked, and kept for the next ask, so a change to the view costs
 * a memmove per ring and per changed member, and a query O(K^2) ring lookups, whatever N.
 */
export class ObserverAssignment implements RingOrder {
  /** K: the length of each member's own list (fewer when the view is smaller). */
  readonly k: number;
  readonly rings: number;
  /** Members in the view. */
  readonly size: number;
  /** The view's refs, ascending, and their set hash (identity.ts addToSetHash). */
  private readonly refs: Float64Array;
  private readonly refsHash: number;
  /** Per ring: the members' keys in ring order (ties by ref), and the refs in that order. */
  private readonly keys: Float64Array[];
  private readonly order: Float64Array[];
  /** Strict own-list length min(K, N - 1) and eligibility width min(2K, N - 1). */
  private readonly ownLength: number;
  private readonly wide: number;
  /** Own lists (`wide` long) and neighbour rows computed so far, by ref. */
  private ownCache = new Map<number, Float64Array>();
  private rowCache = new Map<number, number[]>();

  private constructor(refs: Float64Array, k: number, keys: Float64Array[], order: Float64Array[]) {
    this.k = k;
    this.rings = k / 2;
    this.refs = refs;
    let hash = 0;
    for (let i = 0; i < refs.length; i++) hash = addToSetHash(hash, refs[i] as number);
    this.refsHash = hash;
    this.size = refs.length;
    this.keys = keys;
    this.order = order;
    this.ownLength = Math.min(k, this.size - 1);
    this.wide = Math.min(2 * k, this.size - 1);
  }

  /**
   * The assignment over a view: the refs of its live members, this node's own included, in any order.
   * `k`: neighbours per member, even and at least 2 (one successor and one predecessor per ring).
   */
  static of(refs: ArrayLike<number>, k: number = DEFAULT_OBSERVERS): ObserverAssignment {
    if (!Number.isInteger(k) || k < 2 || k % 2 !== 0 || k > 64) {
      throw new InvalidArgumentError(`observers must be an even integer in [2, 64] (got ${String(k)})`);
    }
    const sorted = Float64Array.from(refs).sort();
    for (let i = 1; i < sorted.length; i++) {
      if (sorted[i] === sorted[i - 1]) throw new InvalidArgumentError(`ref ${String(sorted[i])} given twice`);
    }
    const keys: Float64Array[] = [];
    const order: Float64Array[] = [];
    for (let r = 0; r < k / 2; r++) {
      const ring = ringSorted(sorted, r);
      keys.push(ring.keys);
      order.push(ring.order);
    }
    return new ObserverAssignment(sorted, k, keys, order);
  }

  /**
   * The assignment over this view with `added` joined and `removed` gone: the same as `of` over the new
   * view, at one O(N) block copy per column (the refs, and each ring's keys and order) plus O(log N) per change,
   * instead of a rebuild (a sort of the whole view, its ring keys computed again, costs several times more even
   * when N/16 or more members change). Past N/16 changes the cached lists are dropped, as a rebuild has none.
   */
  with(added: ArrayLike<number>, removed: ArrayLike<number>): ObserverAssignment {
    const gone = new Set<number>();
    for (let i = 0; i < removed.length; i++) {
      const ref = removed[i] as number;
      if (!this.has(ref) || gone.has(ref)) throw new InvalidArgumentError(`ref ${String(ref)} is not in the view`);
      gone.add(ref);
    }
    const joined = new Set<number>();
    for (let i = 0; i < added.length; i++) {
      const ref = added[i] as number;
      if ((this.has(ref) && !gone.has(ref)) || joined.has(ref)) {
        throw new InvalidArgumentError(`ref ${String(ref)} given twice`);
      }
      joined.add(ref);
    }
    // Each column is copied once whatever the number of changes: the members that left are cut at their
    // positions and the joiners, sorted as the column is (key, then ref), go in before the first old entry above
    // them. The same arrays as cutting and inserting one change at a time.
    const joiners = Float64Array.from(joined).sort();
    const cutRefs = [...gone].map((ref) => search(this.refs, ref, ref, this.refs)).sort((a, b) => a - b);
    const refs = spliced(
      this.refs,
      cutRefs,
      Array.from(joiners, (ref) => search(this.refs, ref, ref, this.refs)),
      joiners,
    );
    const keys: Float64Array[] = [];
    const order: Float64Array[] = [];
    for (let r = 0; r < this.rings; r++) {
      const oldKeys = this.keys[r] as Float64Array;
      const oldOrder = this.order[r] as Float64Array;
      const cut = [...gone].map((ref) => search(oldKeys, ringKey(ref, r), ref, oldOrder)).sort((a, b) => a - b);
      const { keys: sortedKeys, order: sortedRefs } = ringSorted(joiners, r);
      const at = Array.from(sortedKeys, (key, i) => search(oldKeys, key, sortedRefs[i] as number, oldOrder));
      keys.push(spliced(oldKeys, cut, at, sortedKeys));
      order.push(spliced(oldOrder, cut, at, sortedRefs));
    }
    const next = new ObserverAssignment(refs, this.k, keys, order);
    // Past N/16 changes the cached lists that stand are not worth sorting out: `next` computes its own.
    if (gone.size + joined.size <= Math.max(1, this.size / 16)) this.handOver(next, gone, joined);
    return next;
  }

  /**
   * Moves the cached lists to `next` (this one recomputes its own when asked again), less those a change can
   * have moved. A wide own list reads at most K positions either side on each ring (ring 0 alone fills it by
   * distance K), so own lists stand unless a member left within K on some ring (in this view's order) or joined
   * within K (in next's). A row is its member's strict list plus the members within K/2 whose strict lists name
   * it, so a row moves when a strict list within K/2 of its member (on any ring, in either view) does: those
   * lists are of members within K/2 of a change (a strict list is complete by distance K/2), but their rows'
   * members may sit anywhere on the other rings. One more position either side covers the shift. Small views,
   * where windows wrap around the ring, keep nothing.
   */
  private handOver(next: ObserverAssignment, gone: Set<number>, joined: Set<number>): void {
    const own = this.ownCache;
    const row = this.rowCache;
    this.ownCache = new Map();
    this.rowCache = new Map();
    if (Math.min(this.size, next.size) <= 4 * this.k + 4) return;
    const near = (a: ObserverAssignment, x: number, reach: number, visit: (y: number) => void): void => {
      const n = a.size;
      for (let r = 0; r < a.rings; r++) {
        const order = a.order[r] as Float64Array;
        const p = a.position(x, r);
        for (let d = -reach; d <= reach; d++) visit(order[(p + d + n) % n] as number);
      }
    };
    // Strict lists are complete by distance K/2, so only those within K/2 + 1 of a change can move.
    const reach = this.k / 2 + 1;
    const strictMoved = (y: number): void => {
      near(this, y, reach, (z) => row.delete(z));
      near(next, y, reach, (z) => row.delete(z));
    };
    const dropped = (y: number): void => {
      own.delete(y);
      row.delete(y);
    };
    for (const x of gone) {
      near(this, x, this.k + 1, dropped);
      near(this, x, reach, strictMoved);
    }
    for (const x of joined) {
      near(next, x, this.k + 1, dropped);
      near(next, x, reach, strictMoved);
    }
    next.ownCache = own;
    next.rowCache = row;
  }

  /** Whether `other` is over the same members with the same K (then every answer of the two is the same). */
  sameView(other: ObserverAssignment): boolean {
    if (other.k !== this.k || other.size !== this.size || other.refsHash !== this.refsHash) return false;
    for (let i = 0; i < this.size; i++) if (other.refs[i] !== this.refs[i]) return false;
    return true;
  }

  has(ref: number): boolean {
    const p = search(this.refs, ref, ref, this.refs);
    return this.refs[p] === ref;
  }

  /** The view's members, ascending. */
  members(): Float64Array {
    return this.refs.slice();
  }

  /**
   * The neighbours of `ref`: the members that watch it, and that it watches (the relation is symmetric).
   * Ascending refs; empty for a ref outside the view.
   */
  observersOf(ref: number): number[] {
    return this.has(ref) ? this.row(ref).slice() : [];
  }

  /** Whether `a` and `b` are neighbours in this view. */
  areNeighbours(a: number, b: number): boolean {
    if (a === b || !this.has(a) || !this.has(b)) return false;
    return this.lists(a, b, this.ownLength) || this.lists(b, a, this.ownLength);
  }

  /**
   * Whether a report by `observer` about `subject` counts here: either lists the other within its first
   * 2K. Wider than neighbourhood so that a reporter whose view differs from ours by a member or two near
   * the subject (a join or a death not yet heard everywhere) is still counted; narrow enough that a member
   * far from the subject on every ring cannot report it.
   */
  isEligibleReporter(observer: number, subject: number): boolean {
    if (observer === subject || !this.has(observer) || !this.has(subject)) return false;
    return this.lists(subject, observer, this.wide) || this.lists(observer, subject, this.wide);
  }

  /** Every neighbour pair once, as `[smaller ref, larger ref]` (for tests and the partition model). */
  *edges(): IterableIterator<[number, number]> {
    for (const x of this.refs) {
      for (const y of this.row(x)) if (y > x) yield [x, y];
    }
  }

  /** Whether x's own list has y among its first `length` entries. */
  private lists(x: number, y: number, length: number): boolean {
    return hasAmong(this.own(x), y, length);
  }

  /** x's neighbours (neighbourRow), kept for the next ask. */
  private row(x: number): number[] {
    const cached = this.rowCache.get(x);
    if (cached !== undefined) return cached;
    const row = neighbourRow(this, x, this.ownLength, (y) => this.own(y));
    this.rowCache.set(x, row);
    return row;
  }

  /** The member at position `i` (0 <= i < size) of ring `r`. */
  at(r: number, i: number): number {
    return (this.order[r] as Float64Array)[i] as number;
  }

  /** Where member `x` sits on ring `r` (where it would go, for a ref outside the view). */
  position(x: number, r: number): number {
    return search(this.keys[r] as Float64Array, ringKey(x, r), x, this.order[r] as Float64Array);
  }

  /** Ring `r`'s keys and refs in ring order (read-only: a draft over this view reads them). @internal */
  column(r: number): { readonly keys: Float64Array; readonly order: Float64Array } {
    return { keys: this.keys[r] as Float64Array, order: this.order[r] as Float64Array };
  }

  /** x's own list (ownList), kept for the next ask. */
  private own(x: number): Float64Array {
    const cached = this.ownCache.get(x);
    if (cached !== undefined) return cached;
    const own = ownList(this, x, this.wide);
    this.ownCache.set(x, own);
    return own;
  }
}

/**
 * Ring `r`'s keys and refs in ring order (key, then ref) for `sorted`, refs ascending and distinct. Refs ascend with
 * the index, so the index breaks key ties by ref: up to PACKED_INDEX refs, each (key, index) is packed into one exact
 * double, key * PACKED_INDEX + index (keys are 32-bit), and the native sort without a comparator orders them, several
 * times faster than a comparator.
 */
function ringSorted(sorted: Float64Array, r: number): { keys: Float64Array; order: Float64Array } {
  const n = sorted.length;
  const keys = new Float64Array(n);
  const order = new Float64Array(n);
  if (n <= PACKED_INDEX) {
    const packed = new Float64Array(n);
    for (let i = 0; i < n; i++) packed[i] = ringKey(sorted[i] as number, r) * PACKED_INDEX + i;
    packed.sort();
    for (let j = 0; j < n; j++) {
      const p = packed[j] as number;
      const i = p % PACKED_INDEX;
      keys[j] = (p - i) / PACKED_INDEX;
      order[j] = sorted[i] as number;
    }
    return { keys, order };
  }
  const key = new Float64Array(n);
  for (let i = 0; i < n; i++) key[i] = ringKey(sorted[i] as number, r);
  const byKey = Int32Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (key[a] as number) - (key[b] as number) || a - b,
  );
  for (let j = 0; j < n; j++) {
    const i = byKey[j] as number;
    keys[j] = key[i] as number;
    order[j] = sorted[i] as number;
  }
  return { keys, order };
}

/** A view's rings as own lists and rows read them (ObserverAssignment, or a draft of one: observers-draft.ts). */
export interface RingOrder {
  readonly size: number;
  readonly k: number;
  readonly rings: number;
  at(r: number, i: number): number;
  position(x: number, r: number): number;
}

/**
 * x's own list, its first `wide` entries: ring neighbours nearest first (distance d on each ring, successor then
 * predecessor).
 */
export function ownList(v: RingOrder, x: number, wide: number): Float64Array {
  const n = v.size;
  const own = new Float64Array(wide);
  const positions = Array.from({ length: v.rings }, (_, r) => v.position(x, r));
  let count = 0;
  for (let d = 1; count < wide && d < n; d++) {
    for (let r = 0; r < v.rings && count < wide; r++) {
      const p = positions[r] as number;
      // Successor then predecessor at distance d (without an array per step: this is the hot loop).
      for (let side = 0; side < 2 && count < wide; side++) {
        const y = v.at(r, side === 0 ? (p + d) % n : (p - d + n * d) % n);
        if (y === x) continue;
        let seen = false;
        for (let j = 0; j < count && !seen; j++) seen = own[j] === y;
        if (!seen) own[count++] = y;
      }
    }
  }
  return own;
}

/**
 * x's neighbours, ascending: its strict own list (`ownLength` long), and every member whose strict list has x. A
 * strict list is complete by ring distance K/2 (ring 0 alone gives 2d distinct members by distance d), so only
 * members within K/2 of x on some ring can list it. `own` gives a member's own list (at least `ownLength` long).
 */
export function neighbourRow(v: RingOrder, x: number, ownLength: number, own: (y: number) => Float64Array): number[] {
  const n = v.size;
  const mine = own(x);
  const out: number[] = [];
  for (let j = 0; j < ownLength; j++) out.push(mine[j] as number);
  for (let r = 0; r < v.rings; r++) {
    const p = v.position(x, r);
    for (let d = 1; d <= v.k / 2 && d < n; d++) {
      for (let side = 0; side < 2; side++) {
        const y = v.at(r, side === 0 ? (p + d) % n : (p - d + n * d) % n);
        if (y !== x && !out.includes(y) && hasAmong(own(y), x, ownLength)) out.push(y);
      }
    }
  }
  return out.sort((a, b) => a - b);
}

/**
 * The first position in `keys` (ascending, ties ascending by `refs` at the same position) whose entry is
 * not below (key, ref): where (key, ref) is, or would be inserted.
 */
export function search(keys: Float64Array, key: number, ref: number, refs: Float64Array): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const k = keys[mid] as number;
    if (k < key || (k === key && (refs[mid] as number) < ref)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `a` without its entries at the positions `cut` (ascending), with `values[v]` inserted before old entry `at[v]`
 * (`at` non-decreasing; an entry inserted where one is cut goes first): block copies between the changes.
 */
function spliced(
  a: Float64Array,
  cut: readonly number[],
  at: readonly number[],
  values: ArrayLike<number>,
): Float64Array {
  const out = new Float64Array(a.length - cut.length + at.length);
  let i = 0;
  let o = 0;
  let c = 0;
  let v = 0;
  while (c < cut.length || v < at.length) {
    const insert = v < at.length && (c >= cut.length || (at[v] as number) <= (cut[c] as number));
    const p = insert ? (at[v] as number) : (cut[c] as number);
    out.set(a.subarray(i, p), o);
    o += p - i;
    i = p;
    if (insert) {
      out[o++] = values[v++] as number;
    } else {
      i = p + 1;
      c++;
    }
  }
  out.set(a.subarray(i), o);
  return out;
}

/** Whether `y` is among the first `length` entries of an own list. */
function hasAmong(list: Float64Array, y: number, length: number): boolean {
  for (let j = 0; j < length; j++) if (list[j] === y) return true;
  return false;
}
