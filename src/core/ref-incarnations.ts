/**
 * Member ref -> incarnation, as one node's mode-7 view holds it (core/liveness7-view.ts): an open-addressing hash
 * table in typed columns: the ref split in its low 32 bits and its high 16 (a ref is 48 bits), the incarnation as a
 * byte, or Uint32 once one exceeds 255. Why not a Map: a Map keeps every key as a boxed number beside its entry, 44 B
 * a (node, member) pair in the simulator; here an entry costs 7 B (where a Float64 key took 9), at a load of 1/2 to
 * 3/4 (the table grows by half, not double): 9 to 14 B a pair while every incarnation fits a byte.
 *
 * Two 48-bit values mark empty and deleted entries; those two refs, and any key that is not a 48-bit whole number
 * (none in practice), are held in a Map beside the table, so every number keeps a Map's answers.
 *
 * Keys iterate in table order, not insertion order: callers read the set of keys, never their order.
 */
import { mix32 } from './identity.js';
import { written8or32 } from './zero-column.js';

/** What readers of a view's incarnations need (a Map satisfies it too). */
export interface IncarnationsOf {
  get(ref: number): number | undefined;
}

const TWO_32 = 2 ** 32;
/** The high 16 bits of both markers, and their low 32. */
const MARK_HIGH = 0xffff;
const EMPTY_LOW = 0xffffffff;
const DELETED_LOW = 0xfffffffe;
/** Refs from 0 to this one are held in the table; the two above it are the markers. */
const MAX_TABLE_REF = 2 ** 48 - 3;

function inTable(ref: number): boolean {
  return ref >= 0 && ref <= MAX_TABLE_REF && Number.isInteger(ref);
}

/** Where a probe for (low, high) starts in a table of `capacity` entries: the hash scaled to it (no power of 2). */
function homeOf(low: number, high: number, capacity: number): number {
  const h = mix32(low ^ mix32(high));
  // The top 21 bits times capacity is exact (below 2^52) for any capacity an Int32 index holds, and the quotient,
  // below capacity, truncates to an int32.
  return (((h >>> 11) * capacity) / 2097152) | 0;
}

export class RefIncarnations implements IncarnationsOf {
  private lows: Uint32Array;
  private highs: Uint16Array;
  /** In bytes while every incarnation fits one (zero-column.ts): 1 B an entry where Uint32 took 4. */
  private values: Uint8Array | Uint32Array;
  private count = 0;
  /** Occupied and deleted entries: a probe stops only at an empty one, so deleted ones count towards the load. */
  private filled = 0;
  /** Keys the table cannot hold (see above) -> their incarnation as the table would read it back; null: none. */
  private others: Map<number, number> | null = null;

  constructor(capacity = 16) {
    const cap = capacity > 2 ? capacity : 2;
    this.lows = new Uint32Array(cap).fill(EMPTY_LOW);
    this.highs = new Uint16Array(cap).fill(MARK_HIGH);
    this.values = new Uint8Array(cap);
  }

  get size(): number {
    return this.count + (this.others?.size ?? 0);
  }

  has(ref: number): boolean {
    if (!inTable(ref)) return this.others?.has(ref) ?? false;
    return this.find(ref >>> 0, Math.floor(ref / TWO_32), false) >= 0;
  }

  get(ref: number): number | undefined {
    if (!inTable(ref)) return this.others?.get(ref);
    const i = this.find(ref >>> 0, Math.floor(ref / TWO_32), false);
    return i >= 0 ? this.values[i] : undefined;
  }

  set(ref: number, incarnation: number): void {
    if (!inTable(ref)) {
      (this.others ??= new Map()).set(ref, incarnation >>> 0);
      return;
    }
    const low = ref >>> 0;
    const high = Math.floor(ref / TWO_32);
    let i = this.find(low, high, true);
    if (this.lows[i] === low && this.highs[i] === high) {
      this.values = written8or32(this.values, i, incarnation);
      return;
    }
    const cap = this.lows.length;
    if (4 * (this.filled + 1) > 3 * cap) {
      this.rehash(2 * (this.count + 1) > cap ? Math.ceil(cap * 1.5) : cap);
      i = this.find(low, high, true);
    }
    if (this.lows[i] === EMPTY_LOW) this.filled++;
    this.lows[i] = low;
    this.highs[i] = high;
    this.values = written8or32(this.values, i, incarnation);
    this.count++;
  }

  /** Whether `ref` was held. */
  delete(ref: number): boolean {
    if (!inTable(ref)) return this.others?.delete(ref) ?? false;
    const i = this.find(ref >>> 0, Math.floor(ref / TWO_32), false);
    if (i < 0) return false;
    this.lows[i] = DELETED_LOW;
    this.highs[i] = MARK_HIGH;
    this.count--;
    return true;
  }

  /** The refs held, in table order, as an array (safe to change the table while walking it). */
  refs(): number[] {
    const out: number[] = [];
    const lows = this.lows;
    const highs = this.highs;
    for (let i = 0; i < lows.length; i++) {
      const high = highs[i] as number;
      const low = lows[i] as number;
      if (high !== MARK_HIGH || low < DELETED_LOW) out.push(high * TWO_32 + low);
    }
    if (this.others !== null) for (const ref of this.others.keys()) out.push(ref);
    return out;
  }

  /** The refs held, as Map.keys (table order). */
  keys(): IterableIterator<number> {
    return this.refs().values();
  }

  /** [ref, incarnation] pairs, as a Map's (table order). */
  *[Symbol.iterator](): IterableIterator<[number, number]> {
    for (const ref of this.refs()) yield [ref, this.get(ref) as number];
  }

  /**
   * Where (low, high) is; when absent, -1, or with `free` the first free entry on its probe path (deleted before
   * empty).
   */
  private find(low: number, high: number, free: boolean): number {
    const lows = this.lows;
    const highs = this.highs;
    const cap = lows.length;
    let i = homeOf(low, high, cap);
    let deleted = -1;
    for (;;) {
      const h = highs[i] as number;
      const l = lows[i] as number;
      if (l === low && h === high) return i;
      if (h === MARK_HIGH) {
        if (l === EMPTY_LOW) return !free ? -1 : deleted >= 0 ? deleted : i;
        if (l === DELETED_LOW && deleted < 0) deleted = i;
      }
      if (++i === cap) i = 0;
    }
  }

  private rehash(capacity: number): void {
    const lows = this.lows;
    const highs = this.highs;
    const values = this.values;
    this.lows = new Uint32Array(capacity).fill(EMPTY_LOW);
    this.highs = new Uint16Array(capacity).fill(MARK_HIGH);
    this.values = values instanceof Uint8Array ? new Uint8Array(capacity) : new Uint32Array(capacity);
    this.filled = this.count;
    for (let j = 0; j < lows.length; j++) {
      const high = highs[j] as number;
      const low = lows[j] as number;
      if (high === MARK_HIGH && low >= DELETED_LOW) continue;
      let i = homeOf(low, high, capacity);
      while (this.highs[i] !== MARK_HIGH || this.lows[i] !== EMPTY_LOW) if (++i === capacity) i = 0;
      this.lows[i] = low;
      this.highs[i] = high;
      this.values[i] = values[j] as number;
    }
  }
}
