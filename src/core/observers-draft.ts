/**
 * A draft of an ObserverAssignment: the assignment over a view that differs from a built one by a few members,
 * read through the built one's rings without copying them. `with` copies every ring, O(N), which is what a change
 * costs when it must be built; a batch of changes (core/liveness7-view.ts) asks only for one member's neighbours
 * after each change, and builds the assignment once at its end. Each ring is read as the built one's with the
 * members that left cut and the joiners inserted, as `with` would place them, so every answer is the built
 * assignment's over the same view.
 */
import { neighbourRow, ownList, ringKey, search, type ObserverAssignment, type RingOrder } from './observers.js';

/** One ring's changes in ring order: a cut of the old entry at `at`, or `ref` inserted before old entry `at`. */
interface Edit {
  readonly at: number;
  readonly ref: number;
  readonly insert: boolean;
}

export class DraftAssignment implements RingOrder {
  readonly size: number;
  readonly k: number;
  readonly rings: number;
  private readonly edits: Edit[][] = [];
  private readonly own = new Map<number, Float64Array>();

  /** `base` with `added` (refs outside it) joined and `removed` (refs in it) gone. */
  constructor(
    private readonly base: ObserverAssignment,
    added: readonly number[],
    removed: readonly number[],
  ) {
    this.k = base.k;
    this.rings = base.rings;
    this.size = base.size + added.length - removed.length;
    for (let r = 0; r < this.rings; r++) {
      const { keys, order } = base.column(r);
      const cuts = removed.map((ref) => base.position(ref, r)).sort((a, b) => a - b);
      // Joiners in ring order (key, then ref), as `with` sorts them.
      const joiners = added
        .map((ref) => ({ ref, key: ringKey(ref, r) }))
        .sort((a, b) => a.key - b.key || a.ref - b.ref)
        .map(({ ref, key }) => ({ ref, at: search(keys, key, ref, order) }));
      // Merged as `spliced` merges them: an insert where an entry is cut goes first.
      const edits: Edit[] = [];
      let c = 0;
      let v = 0;
      while (c < cuts.length || v < joiners.length) {
        const j = joiners[v];
        if (j !== undefined && (c >= cuts.length || j.at <= (cuts[c] as number))) {
          edits.push({ at: j.at, ref: j.ref, insert: true });
          v++;
        } else {
          edits.push({ at: cuts[c++] as number, ref: Number.NaN, insert: false });
        }
      }
      this.edits.push(edits);
    }
  }

  /** The neighbours of `ref` (a member of the draft's view), ascending: ObserverAssignment.observersOf. */
  observersOf(ref: number): number[] {
    const ownLength = Math.min(this.k, this.size - 1);
    const wide = Math.min(2 * this.k, this.size - 1);
    return neighbourRow(this, ref, ownLength, (y) => {
      let list = this.own.get(y);
      if (list === undefined) this.own.set(y, (list = ownList(this, y, wide)));
      return list;
    });
  }

  at(r: number, i: number): number {
    const edits = this.edits[r] as Edit[];
    // Walk the edits: `b` is the old position the draft's position `v` reads.
    let b = 0;
    let v = 0;
    for (const e of edits) {
      if (i < v + (e.at - b)) break;
      v += e.at - b;
      b = e.at;
      if (e.insert) {
        if (i === v) return e.ref;
        v++;
      } else {
        b++;
      }
    }
    return this.base.at(r, b + (i - v));
  }

  position(x: number, r: number): number {
    const edits = this.edits[r] as Edit[];
    const p = this.base.position(x, r);
    // Old entries before p and cut move it back; inserts before old entry p (or x itself) move it on.
    let shift = 0;
    for (const e of edits) {
      if (e.insert) {
        if (e.ref === x) return p + shift;
        if (e.at <= p) shift++;
      } else if (e.at < p) {
        shift--;
      }
    }
    return p + shift;
  }
}
