/**
 * key -> slot, open addressing over one Int32Array of entries. The keys are 48-bit numbers (refs,
 * id hashes) the peer table already holds per slot, so the index stores only slots and reads an
 * entry's key back through `keyOf`: 4 bytes a bucket where storing the key as well took 12. As Map
 * keys they would be boxed doubles, several times slower and larger again; a simulator holds
 * 10,000 of these with 10,000 entries each (three per node: Membership's byRef and byId, the address index).
 *
 * The table is sized for `expected` entries at a load of 3/4, any size rather than a power of 2 (which left
 * 1/2 to 3/8 of it empty: 8 B a (node, member) pair per index at 500 or 1,000 members, 5.3 now), and grows by half.
 * At that load a probe passes several entries: an entry keeps 9 bits of its key's hash above the slot, so a probe
 * calls `keyOf` (a record read, or hashing an id or an address) only on an entry whose bits match, about one in
 * 500 of the others. A slot past 2^22 leaves no room for them: the index then holds bare slots (see `tagged`).
 *
 * The owner keeps every entry's slot occupied by a member whose key is the entry's key: it deletes
 * the entry before releasing the slot, and remaps entries when it renumbers slots.
 */
const EMPTY = -1;
const DELETED = -2;
/** Slots below 2^SLOT_BITS share an entry with their key's hash bits. */
const SLOT_BITS = 22;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
/** The hash bits an entry keeps: 9, above the slot, below the sign bit (EMPTY and DELETED are negative). */
const TAG_MASK = 0x1ff;

function hashRef(ref: number): number {
  let h = (ref % 4294967296) ^ Math.floor(ref / 4294967296);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Where a probe for hash `h` starts in `capacity` entries: its top 21 bits scaled (exact below 2^52), truncated. */
function homeOf(h: number, capacity: number): number {
  return (((h >>> 11) * capacity) / 2097152) | 0;
}

export class RefIndex {
  private slots: Int32Array;
  private live = 0;
  private used = 0;
  /** Whether entries keep hash bits above the slot: until a slot past SLOT_MASK is set. */
  private tagged = true;

  /** `keyOf(slot)`: the key of the member in an occupied slot (a non-negative number). */
  constructor(
    private readonly keyOf: (slot: number) => number,
    expected = 8,
  ) {
    this.slots = new Int32Array(expected > 12 ? Math.ceil((expected * 4) / 3) : 16).fill(EMPTY);
  }

  get size(): number {
    return this.live;
  }

  /** Maps every entry's slot s to slotOf[s] (the table was renumbered, keys unchanged); no rehashing. */
  remap(slotOf: Int32Array): void {
    const slots = this.slots;
    const mask = this.mask();
    if (this.tagged && this.held().some((s) => (slotOf[s] as number) > SLOT_MASK)) {
      // A renumbering compacts slots, so this is for an owner that spreads them: entries without hash bits.
      this.untag(this.held().map((s) => slotOf[s] as number));
      return;
    }
    for (let i = 0; i < slots.length; i++) {
      const e = slots[i] as number;
      if (e >= 0) slots[i] = (e & ~mask) | (slotOf[e & mask] as number);
    }
  }

  /** The slot for key, or -1. */
  get(key: number): number {
    const slots = this.slots;
    const cap = slots.length;
    const h = hashRef(key);
    const tag = this.tagged ? (h & TAG_MASK) << SLOT_BITS : 0;
    const mask = this.mask();
    let i = homeOf(h, cap);
    for (;;) {
      const e = slots[i] as number;
      if (e === EMPTY) return -1;
      if (e >= 0 && (e & ~mask) === tag && this.keyOf(e & mask) === key) return e & mask;
      if (++i === cap) i = 0;
    }
  }

  /** Maps key to slot (whose member's key it is), replacing the slot key had. */
  set(key: number, slot: number): void {
    if (this.tagged && slot > SLOT_MASK) this.untag(this.held());
    // Load up to 3/4 (probes stay short there); grow when live entries fill it, else just sweep deleted ones.
    const len = this.slots.length;
    if ((this.used + 1) * 4 > len * 3) this.rehash((this.live + 1) * 2 > len ? Math.ceil(len * 1.5) : len);
    const slots = this.slots;
    const cap = slots.length;
    const h = hashRef(key);
    const tag = this.tagged ? (h & TAG_MASK) << SLOT_BITS : 0;
    const mask = this.mask();
    let i = homeOf(h, cap);
    let firstDeleted = -1;
    for (;;) {
      const e = slots[i] as number;
      if (e === EMPTY) break;
      if (e === DELETED) {
        if (firstDeleted < 0) firstDeleted = i;
      } else if ((e & ~mask) === tag && this.keyOf(e & mask) === key) {
        slots[i] = tag | slot;
        return;
      }
      if (++i === cap) i = 0;
    }
    if (firstDeleted >= 0) i = firstDeleted;
    else this.used++;
    slots[i] = tag | slot;
    this.live++;
  }

  delete(key: number): void {
    const slots = this.slots;
    const cap = slots.length;
    const h = hashRef(key);
    const tag = this.tagged ? (h & TAG_MASK) << SLOT_BITS : 0;
    const mask = this.mask();
    let i = homeOf(h, cap);
    for (;;) {
      const e = slots[i] as number;
      if (e === EMPTY) return;
      if (e >= 0 && (e & ~mask) === tag && this.keyOf(e & mask) === key) {
        slots[i] = DELETED;
        this.live--;
        return;
      }
      if (++i === cap) i = 0;
    }
  }

  private rehash(capacity: number): void {
    const old = this.slots;
    const mask = this.mask();
    this.slots = new Int32Array(capacity).fill(EMPTY);
    this.live = 0;
    this.used = 0;
    for (let i = 0; i < old.length; i++) {
      const e = old[i] as number;
      if (e >= 0) this.set(this.keyOf(e & mask), e & mask);
    }
  }

  /** The slots the entries hold. */
  private held(): number[] {
    const mask = this.mask();
    const out: number[] = [];
    for (const e of this.slots) if (e >= 0) out.push(e & mask);
    return out;
  }

  /** The bits of an entry that hold its slot. */
  private mask(): number {
    return this.tagged ? SLOT_MASK : 0x7fffffff;
  }

  /** From now on entries are bare slots, no hash bits: the index rebuilt holding `slots`. */
  private untag(slots: number[]): void {
    this.tagged = false;
    this.slots = new Int32Array(this.slots.length).fill(EMPTY);
    this.live = 0;
    this.used = 0;
    for (const s of slots) this.set(this.keyOf(s), s);
  }
}
