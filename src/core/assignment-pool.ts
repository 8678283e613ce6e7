/**
 * Observer assignments and sorted memberships shared among the nodes of one process (the simulator's): a node that
 * refreshes its view to the same members as one built lately by another node takes that one, and its own copy
 * goes. Each node holding its own cost 40 B a (node, member) pair for the assignment at K = 4 (the refs and two
 * rings of keys and order, 8 B each) and 8 B for the sorted membership (core/census-bits.ts SortedRefs, which a
 * census indexes); nodes that agree on the view, as a settled cluster does, now hold one between them.
 *
 * Both are immutable once built (a change makes new arrays), and an assignment is fixed by its members and K, so
 * whose copy a node holds changes nothing it reads; what an assignment caches (own lists, neighbour rows) is
 * computed from those alone.
 *
 * What is kept, in two least-recently-used lists: a view built once waits among the fresh ones, and a second node
 * arriving at it moves it to the shared ones. While news spreads most nodes pass through views nobody else holds;
 * those push each other out of the fresh list but not the views many nodes share. A view nobody holds any more
 * leaves once newer ones push it out. A runtime, one node a process, passes no pool.
 */
import type { ObserverAssignment } from './observers.js';

/** Views kept in each list (a 10,000-member assignment is 0.4 MB). */
const FRESH = 32;
const SHARED = 8;

/** The two lists over one kind of view, equal views by `same`. */
class Kept<T> {
  /** Most recently used first. */
  private readonly fresh: T[] = [];
  private readonly shared: T[] = [];

  constructor(private readonly same: (a: T, b: T) => boolean) {}

  share(a: T): T {
    const held = this.take(this.shared, a) ?? this.take(this.fresh, a);
    if (held === null) {
      this.fresh.unshift(a);
      if (this.fresh.length > FRESH) this.fresh.pop();
      return a;
    }
    this.shared.unshift(held);
    if (this.shared.length > SHARED) this.fresh.unshift(this.shared.pop() as T);
    if (this.fresh.length > FRESH) this.fresh.pop();
    return held;
  }

  private take(list: T[], a: T): T | null {
    for (let i = 0; i < list.length; i++) {
      const b = list[i] as T;
      if (b !== a && !this.same(b, a)) continue;
      list.splice(i, 1);
      return b;
    }
    return null;
  }
}

interface HashedRefs {
  readonly refs: Float64Array;
  readonly hash: number;
}

export class AssignmentPool {
  private readonly assignments = new Kept<ObserverAssignment>((a, b) => a.sameView(b));
  private readonly memberships = new Kept<HashedRefs>((a, b) => a.hash === b.hash && sameRefs(a.refs, b.refs));

  /** An assignment over the same members and K as `a`: a kept one, or `a` itself, kept from now on. */
  share(a: ObserverAssignment): ObserverAssignment {
    return this.assignments.share(a);
  }

  /** Sorted refs equal to `refs` (whose set hash is `hash`): a kept array, or `refs` itself, kept from now on. */
  shareRefs(refs: Float64Array, hash: number): Float64Array {
    return this.memberships.share({ refs, hash }).refs;
  }
}

function sameRefs(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
