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
 * really dies just after a heal is convicted that much later; nothing else waits.
 */
export class ReturnHold {
  /** Member ref -> when it was last revived here; entries go when their hold ends. */
  private readonly since = new Map<number, number>();

  /** @param holdMs how long a returned member's records (and records about it) do not convict. */
  constructor(private readonly holdMs: number) {}

  /** `ref`, held dead here, is live again at `now`, or refuted a record held here (its incarnation rose). */
  note(ref: number, now: number): void {
    this.since.set(ref, now);
  }

  /** Whether `ref` came back less than the hold ago. */
  holds(ref: number, now: number): boolean {
    const at = this.since.get(ref);
    return at !== undefined && now - at < this.holdMs;
  }

  /** Drops the holds that ended by `now`; whether any did (the conviction rule must look at their records again). */
  expire(now: number): boolean {
    let ended = false;
    for (const [ref, at] of this.since) {
      if (now - at < this.holdMs) continue;
      this.since.delete(ref);
      ended = true;
    }
    return ended;
  }

  /** `ref` is no longer a member. */
  forget(ref: number): void {
    this.since.delete(ref);
  }
}
