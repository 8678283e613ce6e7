/**
 * Which gossip addresses the members (live and dead, this node included) have: exact, and mostly
 * off the V8 heap. Each address maps to one member holding it, through a RefIndex keyed by a 48-bit
 * hash of the address, checked against that member's address; only addresses held by several members
 * (a restart on the same address, say) keep a count in a map, and so does an address whose hash
 * collides with another's. A Map from every address to its count cost about 30 B per member at
 * 1,000 members and 46 at 10,000, on a heap V8 caps at about 4 GB: the simulator holds one per node.
 */
import { idKey } from './identity.js';
import { FREE, type PeerTable } from './peer-table.js';
import { RefIndex } from './ref-index.js';

export class AddressIndex {
  /** hash of an address -> a slot whose member has it. */
  private readonly holders: RefIndex;
  /** Addresses (in holders) held by two members or more: how many. */
  private readonly shared = new Map<string, number>();
  /** Addresses whose hash another address in holders already has: how many members hold each. */
  private readonly colliding = new Map<string, number>();

  /** `hash`: a 48-bit hash of an address (a test may pass one that collides). */
  constructor(
    private readonly table: PeerTable,
    expected: number,
    private readonly hash: (address: string) => number = idKey,
  ) {
    this.holders = new RefIndex((s) => this.hash(this.addressOf(s)), expected);
  }

  has(address: string): boolean {
    const s = this.holders.get(this.hash(address));
    return (s >= 0 && this.addressOf(s) === address) || this.colliding.has(address);
  }

  /**
   * The one slot holding `address`: -1 when none does, -2 when it cannot say without a scan (the
   * address is held by several members, or its hash collides with another address's).
   */
  soleHolder(address: string): number {
    if (this.colliding.has(address) || this.shared.has(address)) return -2;
    const s = this.holders.get(this.hash(address));
    return s >= 0 && this.addressOf(s) === address ? s : -1;
  }

  /** Slot s (occupied) now holds `address`. */
  add(s: number, address: string): void {
    const held = this.colliding.get(address);
    if (held !== undefined) {
      this.colliding.set(address, held + 1);
      return;
    }
    const key = this.hash(address);
    const holder = this.holders.get(key);
    if (holder < 0) this.holders.set(key, s);
    else if (this.addressOf(holder) === address) this.shared.set(address, (this.shared.get(address) ?? 1) + 1);
    else this.colliding.set(address, 1);
  }

  /** Slot s (still occupied) no longer holds `address`: called before the slot is released. */
  remove(s: number, address: string): void {
    const held = this.colliding.get(address);
    if (held !== undefined) {
      if (held > 1) this.colliding.set(address, held - 1);
      else this.colliding.delete(address);
      return;
    }
    const key = this.hash(address);
    const count = this.shared.get(address) ?? 1;
    if (count === 1) {
      this.holders.delete(key);
      return;
    }
    if (count > 2) this.shared.set(address, count - 1);
    else this.shared.delete(address);
    // Another member holds it too: if s was the one named, name another (a scan, as rare as sharing).
    if (this.holders.get(key) !== s) return;
    const other = this.otherHolder(s, address);
    if (other >= 0) this.holders.set(key, other);
    else this.holders.delete(key);
  }

  /** The table was renumbered: old slot s is now slotOf[s]. */
  remap(slotOf: Int32Array): void {
    this.holders.remap(slotOf);
  }

  private otherHolder(s: number, address: string): number {
    const t = this.table;
    for (let o = 0; o < t.used; o++) if (o !== s && t.status[o] !== FREE && this.addressOf(o) === address) return o;
    return -1;
  }

  private addressOf(s: number): string {
    return this.table.identity(s).address;
  }
}
