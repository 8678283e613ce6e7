/**
 * Peers' membership hashes and sizes, as they last told us, by address: bounded, and past the bound
 * simply dropped and relearned. The figures sit in one typed array indexed from the map, not in an
 * object per peer: a simulator holds one of these per node with up to `limit` entries each, and an
 * object per peer (its hash boxed) cost about as much again as the map entry it hangs from.
 */
export class PeerSets {
  private readonly index = new Map<string, number>();
  /** Entry i's hash at 2i, its size at 2i + 1; grown by doubling up to the limit. */
  private figures = new Float64Array(32);

  constructor(private readonly limit: number) {}

  /** The entry for `address`, or -1. */
  find(address: string): number {
    return this.index.get(address) ?? -1;
  }

  hash(entry: number): number {
    return this.figures[2 * entry] as number;
  }

  size(entry: number): number {
    return this.figures[2 * entry + 1] as number;
  }

  set(address: string, hash: number, size: number): void {
    // Full: forgotten wholesale, whoever is telling (a present entry too), and relearned.
    if (this.index.size >= this.limit) this.index.clear();
    let entry = this.index.get(address);
    if (entry === undefined) {
      // Entries are numbered in arrival order since the last clear, so they stay below the limit.
      entry = this.index.size;
      this.index.set(address, entry);
      if (2 * entry + 1 >= this.figures.length) {
        const grown = new Float64Array(Math.min(this.figures.length * 2, 2 * this.limit));
        grown.set(this.figures);
        this.figures = grown;
      }
    }
    this.figures[2 * entry] = hash;
    this.figures[2 * entry + 1] = size;
  }
}
