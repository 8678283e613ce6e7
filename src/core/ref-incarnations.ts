/**
 * Member ref -> incarnation, as one node's mode-7 view holds it (core/liveness7-view.ts): an open-addressing hash
 * table in two typed columns (the ref as a double, the incarnation as a byte, or Uint32 once one exceeds 255). Why
 * not a Map: a ref is 48 bits, so a Map keeps every key as a boxed number beside its entry, 44 B a (node, member) pair
 * in the simulator; here a pair costs 9 B over the table's load (at most 3/4 full), 12 to 24 B, while every
 * incarnation fits a byte.
 *
 * Keys iterate in table order, not insertion order: callers read the set of keys, never their order.
 */
import { mix32 } from './identity.js';
import { written8or32 } from './zero-column.js';

/** What readers of a view's incarnations need (a Map satisfies it too). */
export interface IncarnationsOf {
  get(ref: number): number | undefined;
}

const EMPTY = -1;
const DELETED = -2;
const TWO_32 = 2 ** 32;

function hashOf(ref: number): number {
  return mix32((ref >>> 0) ^ mix32(Math.floor(ref / TWO_32) >>> 0));
}

export class RefIncarnations implements IncarnationsOf {
  private slots: Float64Array;
  /** In bytes while every incarnation fits one (zero-column.ts): 1 B an entry where Uint32 took 4. */
  private values: Uint8Array | Uint32Array;
  private count = 0;
  /** Occupied and deleted entries: a probe stops only at an empty one, so deleted ones count towards the load. */
  private filled = 0;

  constructor(capacity = 16) {
    this.slots = new Float64Array(capacity).fill(EMPTY);
    this.values = new Uint8Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  has(ref: number): boolean {
    return this.slots[this.find(ref)] === ref;
  }

  get(ref: number): number | undefined {
    const i = this.find(ref);
    return this.slots[i] === ref ? this.values[i] : undefined;
  }

  set(ref: number, incarnation: number): void {
    let i = this.find(ref);
    if (this.slots[i] === ref) {
      this.values = written8or32(this.values, i, incarnation);
      return;
    }
    if (4 * (this.filled + 1) > 3 * this.slots.length) {
      this.rehash(4 * (this.count + 1) > 3 * (this.slots.length >> 1) ? this.slots.length * 2 : this.slots.length);
      i = this.find(ref);
    }
    if (this.slots[i] === EMPTY) this.filled++;
    this.slots[i] = ref;
    this.values = written8or32(this.values, i, incarnation);
    this.count++;
  }

  /** Whether `ref` was held. */
  delete(ref: number): boolean {
    const i = this.find(ref);
    if (this.slots[i] !== ref) return false;
    this.slots[i] = DELETED;
    this.count--;
    return true;
  }

  /** The refs held, in table order, as an array (safe to change the table while walking it). */
  refs(): number[] {
    const out: number[] = [];
    const keys = this.slots;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i] as number;
      if (k >= 0) out.push(k);
    }
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

  /** Where `ref` is, or the first free entry on its probe path (deleted before empty). */
  private find(ref: number): number {
    const keys = this.slots;
    const mask = keys.length - 1;
    let i = hashOf(ref) & mask;
    let free = -1;
    for (;;) {
      const k = keys[i] as number;
      if (k === ref) return i;
      if (k === EMPTY) return free >= 0 ? free : i;
      if (k === DELETED && free < 0) free = i;
      i = (i + 1) & mask;
    }
  }

  private rehash(capacity: number): void {
    const keys = this.slots;
    const values = this.values;
    this.slots = new Float64Array(capacity).fill(EMPTY);
    this.values = values instanceof Uint8Array ? new Uint8Array(capacity) : new Uint32Array(capacity);
    this.filled = this.count;
    const mask = capacity - 1;
    for (let j = 0; j < keys.length; j++) {
      const k = keys[j] as number;
      if (k < 0) continue;
      let i = hashOf(k) & mask;
      while (this.slots[i] !== EMPTY) i = (i + 1) & mask;
      this.slots[i] = k;
      this.values[i] = values[j] as number;
    }
  }
}
