/**
 * The membership's slots in ref order (Membership.sortedMembers), brought up to date from the last order rather
 * than sorted again. Every admission invalidates the order, and in a bootstrap a drill-down (digest7.ts
 * slotsOfLeaves) reads it right after: a comparator sort of all N slots per packet.
 */
import { FREE, type PeerTable } from './peer-table.js';

/**
 * The occupied slots of `t` by ref, ties by slot (as a stable sort of them in slot order gives), from `prev` (an
 * earlier such order) and `changed` (the slots indexed since: a member admitted, maybe into a slot another held):
 * the entries of `prev` whose slot is still occupied and not changed keep their order, and the other occupied slots
 * are sorted alone and merged in. O(N + c log c) for c new entries.
 */
export function resortedSlots(t: PeerTable, prev: Int32Array, changed: ReadonlySet<number>): Int32Array {
  const kept = new Uint8Array(t.used);
  const keep: number[] = [];
  for (let i = 0; i < prev.length; i++) {
    const s = prev[i] as number;
    if (s < t.used && t.status[s] !== FREE && !changed.has(s) && kept[s] === 0) {
      kept[s] = 1;
      keep.push(s);
    }
  }
  const fresh: number[] = [];
  for (let s = 0; s < t.used; s++) if (t.status[s] !== FREE && kept[s] === 0) fresh.push(s);
  fresh.sort((a, b) => t.ref(a) - t.ref(b) || a - b);
  const slots = new Int32Array(keep.length + fresh.length);
  let i = 0;
  let j = 0;
  for (let o = 0; o < slots.length; o++) {
    const a = keep[i];
    const b = fresh[j];
    const takeKept = a !== undefined && (b === undefined || t.ref(a) < t.ref(b) || (t.ref(a) === t.ref(b) && a < b));
    slots[o] = takeKept ? (a as number) : (b as number);
    if (takeKept) i++;
    else j++;
  }
  return slots;
}
