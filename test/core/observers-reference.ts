/**
 * A from-scratch, eager build of protocol 7's assignment (docs/design/liveness-7.md, "Who watches whom"):
 * every own list and the symmetric closure computed up front over index arrays. It is the construction
 * src/core/observers.ts had before it kept only the rings; tests hold the ring-based, updatable one equal to
 * it, query for query, so every node with the same view keeps agreeing on neighbours.
 */
import { ringKey } from '../../src/core/observers.js';

/** The eager build, every own list and closure row computed up front (the reference the lazy one must equal). */
export class ReferenceAssignment {
  /** K: the length of each member's own list (fewer when the view is smaller). */
  readonly k: number;
  readonly rings: number;
  /** Members in the view. */
  readonly size: number;
  /** The view's refs, ascending: member index i is refs[i]. */
  private readonly refs: Float64Array;
  private readonly index = new Map<number, number>();
  /** Per ring: member indices in ring order, and each member's position on it. */
  private readonly order: Int32Array[] = [];
  private readonly position: Int32Array[] = [];
  /** Each member's own list of `wide` entries (the first `ownLength` are the strict ones), flattened. */
  private readonly own: Int32Array;
  private readonly wide: number;
  private readonly ownLength: number;
  /** Neighbours (the symmetric closure of the strict own lists), compressed rows, sorted by ref. */
  private readonly rowStart: Int32Array;
  private readonly rows: Int32Array;

  private constructor(refs: Float64Array, k: number) {
    this.k = k;
    this.rings = k / 2;
    this.refs = refs;
    const n = refs.length;
    this.size = n;
    for (let i = 0; i < n; i++) this.index.set(refs[i] as number, i);
    for (let r = 0; r < this.rings; r++) {
      const keys = new Float64Array(n);
      for (let i = 0; i < n; i++) keys[i] = ringKey(refs[i] as number, r);
      // Refs ascend with the index, so the index breaks key ties by ref.
      const order = Int32Array.from({ length: n }, (_, i) => i).sort(
        (a, b) => (keys[a] as number) - (keys[b] as number) || a - b,
      );
      const position = new Int32Array(n);
      for (let p = 0; p < n; p++) position[order[p] as number] = p;
      this.order.push(order);
      this.position.push(position);
    }
    this.ownLength = Math.min(k, n - 1);
    this.wide = Math.min(2 * k, n - 1);
    this.own = new Int32Array(n * this.wide);
    for (let i = 0; i < n; i++) this.fillOwn(i);
    // Symmetric closure of the strict lists: count, then place, then sort each row by ref.
    const degree = new Int32Array(n);
    const listed = (x: number, y: number): boolean => this.ownIndexOf(x, y, this.ownLength) >= 0;
    for (let x = 0; x < n; x++) {
      for (let j = 0; j < this.ownLength; j++) {
        const y = this.own[x * this.wide + j] as number;
        degree[x] = (degree[x] as number) + 1;
        if (!listed(y, x)) degree[y] = (degree[y] as number) + 1;
      }
    }
    this.rowStart = new Int32Array(n + 1);
    for (let x = 0; x < n; x++) this.rowStart[x + 1] = (this.rowStart[x] as number) + (degree[x] as number);
    this.rows = new Int32Array(this.rowStart[n] as number);
    const fill = Int32Array.from(this.rowStart.subarray(0, n));
    const put = (x: number, y: number): void => {
      this.rows[fill[x] as number] = y;
      fill[x] = (fill[x] as number) + 1;
    };
    for (let x = 0; x < n; x++) {
      for (let j = 0; j < this.ownLength; j++) {
        const y = this.own[x * this.wide + j] as number;
        put(x, y);
        if (!listed(y, x)) put(y, x);
      }
    }
    for (let x = 0; x < n; x++) this.rows.subarray(this.rowStart[x], this.rowStart[x + 1]).sort();
  }

  /**
   * The assignment over a view: the refs of its live members, this node's own included, in any order.
   * `k`: neighbours per member, even and at least 2 (one successor and one predecessor per ring).
   */
  static of(refs: ArrayLike<number>, k: number): ReferenceAssignment {
    const sorted = Float64Array.from(refs).sort();
    return new ReferenceAssignment(sorted, k);
  }

  has(ref: number): boolean {
    return this.index.has(ref);
  }

  /**
   * The neighbours of `ref`: the members that watch it, and that it watches (the relation is symmetric).
   * Ascending refs; empty for a ref outside the view.
   */
  observersOf(ref: number): number[] {
    const x = this.index.get(ref);
    if (x === undefined) return [];
    const out: number[] = [];
    for (let p = this.rowStart[x] as number; p < (this.rowStart[x + 1] as number); p++) {
      out.push(this.refs[this.rows[p] as number] as number);
    }
    return out;
  }

  /** Whether `a` and `b` are neighbours in this view. */
  areNeighbours(a: number, b: number): boolean {
    const x = this.index.get(a);
    const y = this.index.get(b);
    if (x === undefined || y === undefined || x === y) return false;
    for (let p = this.rowStart[x] as number; p < (this.rowStart[x + 1] as number); p++) {
      if (this.rows[p] === y) return true;
    }
    return false;
  }

  /**
   * Whether a report by `observer` about `subject` counts here: either lists the other within its first
   * 2K. Wider than neighbourhood so that a reporter whose view differs from ours by a member or two near
   * the subject (a join or a death not yet heard everywhere) is still counted; narrow enough that a member
   * far from the subject on every ring cannot report it.
   */
  isEligibleReporter(observer: number, subject: number): boolean {
    const o = this.index.get(observer);
    const s = this.index.get(subject);
    if (o === undefined || s === undefined || o === s) return false;
    return this.ownIndexOf(s, o, this.wide) >= 0 || this.ownIndexOf(o, s, this.wide) >= 0;
  }

  /** Every neighbour pair once, as `[smaller ref, larger ref]` (for tests and the partition model). */
  *edges(): IterableIterator<[number, number]> {
    for (let x = 0; x < this.size; x++) {
      for (let p = this.rowStart[x] as number; p < (this.rowStart[x + 1] as number); p++) {
        const y = this.rows[p] as number;
        if (y > x) yield [this.refs[x] as number, this.refs[y] as number];
      }
    }
  }

  /** Position of y in x's own list among its first `length` entries, or -1. */
  private ownIndexOf(x: number, y: number, length: number): number {
    const base = x * this.wide;
    for (let j = 0; j < length; j++) if (this.own[base + j] === y) return j;
    return -1;
  }

  /** x's own list: ring neighbours nearest first (distance d on each ring, successor then predecessor). */
  private fillOwn(x: number): void {
    const n = this.size;
    const base = x * this.wide;
    let count = 0;
    for (let d = 1; count < this.wide && d < n; d++) {
      for (let r = 0; r < this.rings && count < this.wide; r++) {
        const order = this.order[r] as Int32Array;
        const p = (this.position[r] as Int32Array)[x] as number;
        for (const q of [(p + d) % n, (p - d + n * d) % n]) {
          if (count >= this.wide) break;
          const y = order[q] as number;
          if (y !== x && this.ownIndexOf(x, y, count) < 0) this.own[base + count++] = y;
        }
      }
    }
  }
}
