/**
 * Members back from the dead at this node, or cleared of a record here, for one detection delay
 * (docs/design/liveness-7.md, "Records from across a heal wait").
 *
 * When a cut heals, each side's report sets reach the other together with the refutations that revive their
 * observers (or, when the heal comes before this node convicted them, that clear them of this side's records):
 * an observer across the cut names the members of our side silent at their current incarnation, true of the cut
 * and false of the members. Counted at once, these records convicted healthy members of the receiver's own side,
 * which refuted a round later: a death and a revival for nothing. A refuting observer's set still holds what it
 * wrote before it heard of the record. So records by a member revived or cleared here, and records about it, do
 * not count towards a quorum until it has been back for one detection delay: the time a silent record about a
 * live member needs to be withdrawn by the first beats after the heal, or refuted by its subject. A member that
 * really dies just after a heal is convicted that much later.
 *
 * Three more things wait on the same clock. A census begun before the heal ends after the refutations revived
 * the members across: they are absent from it (nobody pulls a member held dead) and reported, so its verdict
 * convicted them again; a returned member is not convicted by a census either. An observer whose incarnation rose
 * while the set it sends names members (its refutation of a record that never reached this node) wrote those
 * records before it heard of the one it refuted. And an observer named by a counted record within the hold
 * (`silenced`: the record may have been withdrawn, or refuted, before the observer's own records arrived) is an
 * accuser accused, a cut's signature, for as long as the record would have taken to clear.
 */
export class ReturnHold {
  /** Member ref -> when it was last revived here; entries go when their hold ends. */
  private readonly since = new Map<number, number>();
  /** Member ref -> when a record counted here last named it (an accuser accused); entries go as `since`'s do. */
  private readonly accusedAt = new Map<number, number>();

  /** @param holdMs how long a returned member's records (and records about it) do not convict. */
  constructor(private readonly holdMs: number) {}

  /** `ref`, held dead here, is live again at `now`, or refuted a record held here (its incarnation rose). */
  note(ref: number, now: number): void {
    this.since.set(ref, now);
  }

  /** Members named by a record that counts here at `now` (ReportBook.unresolved): each is accused then. */
  accused(refs: number[], now: number): number[] {
    for (const ref of refs) this.accusedAt.set(ref, now);
    return refs;
  }

  /**
   * Whether `ref`'s records wait at `now`: it came back, or a counted record named it, less than the hold ago.
   * A record that named it and was withdrawn, or refuted, before its own records arrived still marks a cut.
   */
  silenced(ref: number, now: number): boolean {
    const at = this.accusedAt.get(ref);
    return this.holds(ref, now) || (at !== undefined && now - at < this.holdMs);
  }

  /** Whether `ref` came back less than the hold ago. */
  holds(ref: number, now: number): boolean {
    const at = this.since.get(ref);
    return at !== undefined && now - at < this.holdMs;
  }

  /** Drops the holds that ended by `now`; whether any did (the conviction rule must look at their records again). */
  expire(now: number): boolean {
    let ended = false;
    for (const map of [this.since, this.accusedAt]) {
      for (const [ref, at] of map) {
        if (now - at < this.holdMs) continue;
        map.delete(ref);
        ended = true;
      }
    }
    return ended;
  }

  /** When the earliest hold ends, a return's or an accusation's (Infinity: none is held): expire acts then. */
  nextEnd(): number {
    let next = Infinity;
    for (const map of [this.since, this.accusedAt])
      for (const at of map.values()) next = Math.min(next, at + this.holdMs);
    return next;
  }

  /** `ref` is no longer a member. */
  forget(ref: number): void {
    this.since.delete(ref);
    this.accusedAt.delete(ref);
  }
}
