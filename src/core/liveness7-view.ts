/**
 * The members one node's mode-7 liveness (core/liveness7.ts) holds, kept up to date change by change: every
 * member's incarnation, the members dead here, the ObserverAssignment over the live ones, and the membership
 * sorted by ref with its hash, which the census indexes. A bulk change (`setLive`, `keepOnly`) compares every
 * member; the single-member calls (`join`, `leave`, `remove`, `kill`, `revive`) note the ref, and `refresh`
 * then updates the assignment and the membership for the noted refs alone: a binary search and block copies of a
 * few O(N) typed arrays per change (the assignment's rings, the sorted membership), no pass over the view.
 */
import type { AssignmentPool } from './assignment-pool.js';
import { SortedRefs } from './census-bits.js';
import type { CensusMembership } from './census.js';
import type { ConvictionReason } from './liveness7-parts.js';
import { DraftAssignment } from './observers-draft.js';
import { ObserverAssignment } from './observers.js';
import { RefIncarnations } from './ref-incarnations.js';

export class MemberView7 {
  /** Every member held (live and dead, self included) -> its incarnation. */
  readonly incarnations = new RefIncarnations();
  /** Members held dead here, by reason. */
  readonly dead = new Map<number, ConvictionReason>();
  private current: ObserverAssignment;
  private sorted: SortedRefs;
  /** Refs whose liveness or membership changed since the last refresh; null: any may have (a bulk change). */
  private changed: Set<number> | null = new Set();
  /** In a batch (`batch`): whether the membership (the set of refs) changed since it began; null outside one. */
  private batchMembers: boolean | null = null;

  /** `self` is always a live member; `k`: liveness.observers; `pool`: assignments shared with other nodes. */
  constructor(
    readonly self: number,
    private readonly k: number,
    incarnation: number,
    private readonly pool: AssignmentPool | null = null,
  ) {
    this.incarnations.set(self, incarnation);
    this.current = ObserverAssignment.of([self], k);
    this.sorted = SortedRefs.of([self]);
  }

  /** The assignment over the live members, as of the last refresh. */
  get assignment(): ObserverAssignment {
    return this.current;
  }

  /** Every member, live and dead, ascending, and its membership hash, as of the last refresh. */
  get members(): SortedRefs {
    return this.sorted;
  }

  isLive(ref: number): boolean {
    return this.incarnations.has(ref) && !this.dead.has(ref);
  }

  /**
   * The live members are `live` (self added): new refs join at incarnation 0, listed members held dead are live
   * again, live members not listed leave; members dead here stay held. A bulk change, O(N). Returns the members
   * it revived.
   */
  setLive(live: Iterable<number>): number[] {
    const next = new Set(live);
    next.add(this.self);
    for (const ref of this.incarnations.refs()) {
      if (!next.has(ref) && !this.dead.has(ref)) this.incarnations.delete(ref);
    }
    const revived: number[] = [];
    for (const ref of next) {
      if (!this.incarnations.has(ref)) this.incarnations.set(ref, 0);
      if (this.dead.delete(ref)) revived.push(ref);
    }
    this.changed = null;
    return revived;
  }

  /** Keeps only `members` (self added), live and dead; `forget` is called with each member dropped. A bulk change. */
  keepOnly(members: Iterable<number>, forget: (ref: number) => void): void {
    const keep = new Set(members);
    keep.add(this.self);
    for (const ref of this.incarnations.refs()) {
      if (keep.has(ref)) continue;
      this.incarnations.delete(ref);
      this.dead.delete(ref);
      forget(ref);
    }
    this.changed = null;
  }

  /** `ref` is a live member (at incarnation 0 when new; live again when held dead). */
  join(ref: number): void {
    if (!this.incarnations.has(ref)) this.incarnations.set(ref, 0);
    this.dead.delete(ref);
    this.changed?.add(ref);
  }

  /** `ref` is no longer a live member: dropped unless it is held dead here (or is self). */
  leave(ref: number): void {
    if (ref !== this.self && !this.dead.has(ref)) this.incarnations.delete(ref);
    this.changed?.add(ref);
  }

  /** `ref` is no longer a member, live or dead (self stays). Whether it was one. */
  remove(ref: number): boolean {
    this.changed?.add(ref);
    if (ref === this.self || !this.incarnations.delete(ref)) return false;
    this.dead.delete(ref);
    return true;
  }

  /** `ref` is held dead here, for `reason` (a live member convicted, or a member the membership held dead). */
  kill(ref: number, reason: ConvictionReason): void {
    this.dead.set(ref, reason);
    this.changed?.add(ref);
  }

  /**
   * Members held dead by the coordinator's own verdicts, at its incarnations: held dead here as `inherited`, unless
   * self or already held dead (they keep their reason). Whether any was.
   */
  inherit(members: Iterable<{ readonly ref: number; readonly incarnation: number }>): boolean {
    let held = false;
    for (const { ref, incarnation } of members) {
      if (ref === this.self || this.dead.has(ref)) continue;
      this.incarnations.set(ref, incarnation);
      this.kill(ref, 'inherited');
      held = true;
    }
    return held;
  }

  /** A member held dead here is live again; false when it was not held dead. */
  revive(ref: number): boolean {
    if (!this.dead.delete(ref)) return false;
    this.changed?.add(ref);
    return true;
  }

  /**
   * Brings the assignment and the sorted membership up to the changes since the last refresh. Returns whether
   * the membership (the set of refs) changed: `members.refs` is then a new array, and the old one is untouched.
   */
  refresh(): boolean {
    const changed = this.changed;
    if (this.batchMembers !== null && changed !== null) return this.noteBatch(changed);
    this.changed = new Set();
    const before = this.sorted.refs;
    const added: number[] = [];
    const removed: number[] = [];
    if (changed === null) {
      // Both ascending: one merge finds the live members the assignment lacks and those it has that are not live,
      // instead of a binary search per member (a rebuild of mode 7's view, past 64 changes, comes here twice).
      const next = SortedRefs.of(this.incarnations.refs());
      const held = next.refs;
      const view = this.current.members();
      let j = 0;
      for (let i = 0; i < held.length; i++) {
        const ref = held[i] as number;
        while (j < view.length && (view[j] as number) < ref) removed.push(view[j++] as number);
        const inView = j < view.length && view[j] === ref;
        if (inView) j++;
        if (this.dead.has(ref)) {
          if (inView) removed.push(ref);
        } else if (!inView) {
          added.push(ref);
        }
      }
      while (j < view.length) removed.push(view[j++] as number);
      if (next.hash !== this.sorted.hash || next.refs.length !== before.length) this.sorted = next;
    } else {
      const insert: number[] = [];
      const cut: number[] = [];
      for (const ref of changed) {
        const live = this.isLive(ref);
        if (live !== this.current.has(ref)) (live ? added : removed).push(ref);
        (this.incarnations.has(ref) ? insert : cut).push(ref);
      }
      this.sorted.update(insert, cut);
    }
    // `with` updates the rings in place of a rebuild (and rebuilds itself when many changed), and gives the same
    // assignment as one.
    if (added.length > 0 || removed.length > 0) {
      const next = this.current.with(added, removed);
      this.current = this.pool === null ? next : this.pool.share(next);
    }
    const changedMembers = this.sorted.refs !== before;
    if (changedMembers && this.pool !== null)
      this.sorted.adopt(this.pool.shareRefs(this.sorted.refs, this.sorted.hash));
    if (this.batchMembers === null) return changedMembers;
    this.batchMembers ||= changedMembers;
    return false;
  }

  /**
   * The neighbours of `ref` in the live view, as of the last refresh; in a batch, the view with every change noted so
   * far, read through a draft (the assignment is built at the batch's end).
   */
  observersOf(ref: number): number[] {
    const changed = this.changed;
    if (this.batchMembers === null || changed === null || changed.size === 0) return this.current.observersOf(ref);
    const added: number[] = [];
    const removed: number[] = [];
    for (const r of changed) {
      const live = this.isLive(r);
      if (live !== this.current.has(r)) (live ? added : removed).push(r);
    }
    if (added.length === 0 && removed.length === 0) return this.current.observersOf(ref);
    return new DraftAssignment(this.current, added, removed).observersOf(ref);
  }

  /**
   * Runs `apply`, whose changes (and refreshes) only note refs: the assignment and the sorted membership are
   * brought up to all of them at the end, one block copy of each array instead of one per change, the same arrays
   * as a refresh after each change would leave. Between the changes `observersOf` reads the view as it stands.
   * Returns whether the membership changed at any refresh in between or at the end.
   */
  batch(apply: () => void): boolean {
    this.batchMembers = false;
    let members: boolean;
    try {
      apply();
    } finally {
      members = this.batchMembers;
      this.batchMembers = null;
    }
    return this.refresh() || members;
  }

  /** A refresh in a batch: notes whether the membership changed (a ref held that the sorted one lacks, or back). */
  private noteBatch(changed: Set<number>): false {
    // Once noted it stays noted, and `changed` only grows in a batch: without this, a batch of c changes (each
    // refreshing) rescanned every ref noted so far, O(c^2).
    if (this.batchMembers === true) return false;
    for (const ref of changed) if (this.incarnations.has(ref) !== this.sorted.has(ref)) this.batchMembers = true;
    return false;
  }

  /**
   * The census's view of the membership as of the last refresh (a census keeps the one it joined with; liveness
   * is read when asked). Its `neighbours` are over every member held, live and dead, not over the live view:
   * convictions during a partition move the live view's rings, giving a member across new neighbours on this side
   * that never got a beat from it (so never report it) yet are present, and it would be left live as witnessed.
   * Over the whole membership, a neighbour dead here is simply absent (a direct check follows). That assignment
   * is built when a census first asks, at its end. A member `unwitnessed` says no neighbour vouches for (one
   * this node's watch never heard: core/unheard.ts) gets no neighbours, so the census checks it directly.
   */
  censusMembership(
    reachable: () => ArrayLike<number>,
    reported: () => Iterable<number>,
    unwitnessed: (ref: number) => boolean,
    stillReported: (ref: number) => boolean,
  ): CensusMembership {
    const { refs, hash } = this.sorted;
    let whole: ObserverAssignment | null = null;
    return {
      refs,
      hash,
      neighbours: (ref) => (unwitnessed(ref) ? [] : (whole ??= ObserverAssignment.of(refs, this.k)).observersOf(ref)),
      reachable,
      isLive: (ref) => this.isLive(ref),
      isUnreachable: (ref) => this.dead.get(ref) === 'unreachable',
      reported,
      stillReported,
    };
  }
}
