/**
 * What mode 7's conviction rule (core/liveness7.ts) must look at again: the subjects whose records or incarnation
 * changed since the last quorum scan (every subject after a change of the view, which moves eligibility and
 * quorums), and ReportBook.unresolved, recomputed only after a change rather than on every beat.
 */
export class ScanMarks {
  /** Counts changes the rule reads (sets accepted, incarnations, the view). */
  private version = 0;
  /** Subjects changed since the last take; null: all (the view changed). */
  private touched: Set<number> | null = null;
  private listAt = -1;
  private list: number[] = [];

  /** Records (or incarnations) about these subjects changed: the next scan looks at them. */
  touch(subjects: readonly number[]): void {
    this.version++;
    for (const s of subjects) this.touched?.add(s);
  }

  /** The view changed: the next scan looks at every unresolved subject. */
  touchAll(): void {
    this.version++;
    this.touched = null;
  }

  /** The subjects changed since the last call (null: all), the marks cleared. */
  take(): Set<number> | null {
    const touched = this.touched;
    this.touched = new Set();
    return touched;
  }

  /** Whether the next `unresolved` call computes the list again (a change since the last one). */
  get stale(): boolean {
    return this.listAt !== this.version;
  }

  /** `compute()` (ReportBook.unresolved over the view), computed again only after a change. */
  unresolved(compute: () => number[]): number[] {
    if (this.listAt !== this.version) {
      this.list = compute();
      this.listAt = this.version;
    }
    return this.list;
  }
}
