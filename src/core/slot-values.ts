/**
 * The peer table's key-value maps by slot (PeerTable.values). Sparse while few members carry keys, as in a protocol-6
 * cluster without metadata, where a slot-indexed column would cost a pointer per (node, member) pair for nothing;
 * a slot-indexed array once most do, as every protocol-7 member does (its reserved keys), where a Map entry keyed by
 * slot costs about 30 B per pair against the array's 8. Which one holds them changes nothing a reader sees.
 */
/** Below this many members with keys the maps stay in the sparse form whatever the share. */
const DENSE_FROM = 32;

/** Slot -> T (a member's key-value map), in either form. */
export class SlotValues<T extends object> {
  /** Slot -> map while sparse; null once dense. */
  private sparse: Map<number, T> | null = new Map();
  /** Slot -> map (null: none) once dense. */
  private dense: (T | null)[] = [];
  private count = 0;
  /** At least the highest slot set since the last clear (a bound: deletes do not lower it). */
  private highest = -1;

  /** How many slots hold a map. */
  get size(): number {
    return this.count;
  }

  get(slot: number): T | undefined {
    if (this.sparse !== null) return this.sparse.get(slot);
    return this.dense[slot] ?? undefined;
  }

  set(slot: number, map: T): this {
    if (slot > this.highest) this.highest = slot;
    const sparse = this.sparse;
    if (sparse !== null) {
      sparse.set(slot, map);
      this.count = sparse.size;
      // Most slots hold a map: the array costs less than the Map's entries.
      if (this.count >= DENSE_FROM && 2 * this.count > this.highest + 1) this.densify(sparse);
      return this;
    }
    const d = this.dense;
    // Appended one at a time: an array written past its end gets holes, and a holey one may turn into a dictionary.
    while (d.length <= slot) d.push(null);
    if (d[slot] === null) this.count++;
    d[slot] = map;
    return this;
  }

  delete(slot: number): boolean {
    if (this.sparse !== null) {
      const had = this.sparse.delete(slot);
      this.count = this.sparse.size;
      return had;
    }
    if ((this.dense[slot] ?? null) === null) return false;
    this.dense[slot] = null;
    this.count--;
    return true;
  }

  /** Empties it (the form stays: a table renumbering its slots refills it at once). */
  clear(): void {
    if (this.sparse !== null) this.sparse.clear();
    else this.dense = [];
    this.count = 0;
    this.highest = -1;
  }

  /** [slot, map] for every slot holding one. */
  *[Symbol.iterator](): IterableIterator<[number, T]> {
    if (this.sparse !== null) {
      yield* this.sparse;
      return;
    }
    const d = this.dense;
    for (let s = 0; s < d.length; s++) {
      const map = d[s];
      if (map) yield [s, map];
    }
  }

  private densify(sparse: Map<number, T>): void {
    const d: (T | null)[] = [];
    while (d.length <= this.highest) d.push(null);
    for (const [s, map] of sparse) d[s] = map;
    this.dense = d;
    this.sparse = null;
  }
}
