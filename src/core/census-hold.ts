/**
 * Census convictions waiting to be applied (core/liveness7.ts takes them each tick it is not deaf).
 *
 * A census that got replies proved two-way contact with its side: its convictions are applied at once. A census
 * nobody answered (2C(N) rounds of pulls to members chosen at random, not one reply) says only that this node heard
 * nothing meanwhile: most likely a long burst on its own inbound link, which the neighbours' deafness guard misses
 * when one stray beat slipped through or when it has fewer than three neighbours to judge. Convicting every member
 * its records name would then convict healthy members, so those convictions wait for the deafness hold to pass with
 * nothing heard. A node truly cut off alone hears nothing and convicts them then, as a deaf node does; one that
 * hears a neighbour again drops them: its records fall as the beats return, or a census with replies judges them.
 */
export class CensusHold {
  private answered: number[] = [];
  private unanswered: number[] = [];
  /** When the unanswered census's convictions were held (NaN: none held). */
  private unansweredAt = Number.NaN;

  /** Whether any conviction is held (the caller ticks until none is). */
  get holding(): boolean {
    return this.answered.length > 0 || this.unanswered.length > 0;
  }

  /**
   * A census conviction of `ref`; `answered`: the census it came from got at least one reply; `liveOthers`: live
   * members besides this node. With fewer than three, silence is informative (as for the deafness guard): no hold.
   */
  hold(ref: number, answered: boolean, liveOthers: number, now: number): void {
    if (answered || liveOthers < 3) {
      this.answered.push(ref);
      return;
    }
    if (this.unanswered.length === 0) this.unansweredAt = now;
    this.unanswered.push(ref);
  }

  /** The convictions to apply now; `heardAt`: when a neighbour was last heard; `holdMs`: the deafness hold. */
  take(heardAt: number, holdMs: number, now: number): number[] {
    const out = this.answered;
    this.answered = [];
    if (this.unanswered.length === 0) return out;
    if (heardAt > this.unansweredAt) {
      this.unanswered = [];
    } else if (now - heardAt >= holdMs) {
      out.push(...this.unanswered);
      this.unanswered = [];
    }
    return out;
  }
}
