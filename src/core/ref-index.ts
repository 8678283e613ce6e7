/**
 * key -> slot, open addressing over one Int32Array of slots. The keys are 48-bit numbers (refs,
 * id hashes) the peer table already holds per slot, so the index stores only slots and reads an
 * entry's key back through `keyOf`: 4 bytes a bucket where storing the key as well took 12. As Map
 * keys they would be boxed doubles, several times slower and larger again; a simulator holds
 * 10,000 of these with 10,000 entries each.
 *
 * The owner keeps every entry's slot occupied by a member whose key is the entry's key: it deletes
 * the entry before releasing the slot, and remaps entries when it renumbers slots.
 */
const EMPTY = -1;
const DELETED = -2;

function hashRef(ref: number): number {
  let h = (ref % 4294967296) ^ Math.floor(ref / 4294967296);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 0;
}

export class RefIndex {
  private slots: Int32Array;
  private mask: number;
  private live = 0;
  private used = 0;

  /** `keyOf(slot)`: the key of the member in an occupied slot (a non-negative number). */
  constructor(
    private readonly keyOf: (slot: number) => number,
    expected = 8,
  ) {
    let cap = 16;
    while (cap * 3 < expected * 4) cap *= 2;
    this.slots = new Int32Array(cap).fill(EMPTY);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.live;
  }

  /** Maps every entry's slot s to slotOf[s] (the table was renumbered, keys unchanged); no rehashing. */
  remap(slotOf: Int32Array): void {
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i] as number;
      if (s >= 0) slots[i] = slotOf[s] as number;
    }
  }

  /** The slot for key, or -1. */
  get(key: number): number {
    const slots = this.slots;
    let i = hashRef(key) & this.mask;
    for (;;) {
      const s = slots[i] as number;
      if (s === EMPTY) return -1;
      if (s >= 0 && this.keyOf(s) === key) return s;
      i = (i + 1) & this.mask;
    }
  }

  /** Maps key to slot (whose member's key it is), replacing the slot key had. */
  set(key: number, slot: number): void {
    // Load up to 3/4 (linear probing stays short there); grow when live entries fill it, else just sweep deleted ones.
    if ((this.used + 1) * 4 > this.slots.length * 3)
      this.rehash((this.live + 1) * 2 > this.slots.length ? this.slots.length * 2 : this.slots.length);
    const slots = this.slots;
    let i = hashRef(key) & this.mask;
    let firstDeleted = -1;
    for (;;) {
      const s = slots[i] as number;
      if (s === EMPTY) break;
      if (s === DELETED) {
        if (firstDeleted < 0) firstDeleted = i;
      } else if (this.keyOf(s) === key) {
        slots[i] = slot;
        return;
      }
      i = (i + 1) & this.mask;
    }
    if (firstDeleted >= 0) i = firstDeleted;
    else this.used++;
    slots[i] = slot;
    this.live++;
  }

  delete(key: number): void {
    const slots = this.slots;
    let i = hashRef(key) & this.mask;
    for (;;) {
      const s = slots[i] as number;
      if (s === EMPTY) return;
      if (s >= 0 && this.keyOf(s) === key) {
        slots[i] = DELETED;
        this.live--;
        return;
      }
      i = (i + 1) & this.mask;
    }
  }

  private rehash(capacity: number): void {
    const old = this.slots;
    this.slots = new Int32Array(capacity).fill(EMPTY);
    this.mask = capacity - 1;
    this.live = 0;
    this.used = 0;
    for (let i = 0; i < old.length; i++) {
      const s = old[i] as number;
      if (s >= 0) this.set(this.keyOf(s), s);
    }
  }
}
