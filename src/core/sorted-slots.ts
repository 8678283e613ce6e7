/**
 * The membership's slots in ref order (Membership.sortedMembers), brought up to date from the last order rather
 * than sorted again. Every admission invalidates the order, and in a bootstrap a drill-down (digest7.ts
 * slotsOfLeaves) reads it right after: a comparator sort of all N slots per packet.
 */
import { FREE, type PeerTable } from './peer-table.js';

/**
 * The occupied slots of `t` by ref, ties by slot (as a stable sort of them in slot order gives), and their refs,
 * from `prev` (an earlier such order) and `prevRefs` (its refs then): its entries whose slot still holds the same
 * ref keep their order, and the other occupied slots (admitted, or moved by a renumbering) are sorted alone and
 * merged in. O(N + c log c) for c new entries.
 */
export function resortedSlots(
  t: PeerTable,
  prev: Int32Array,
  prevRefs: Float64Array,
): { slots: Int32Array; refs: Float64Array } {
  const kept = new Uint8Array(t.used);
  const keep: number[] = [];
  for (let i = 0; i < prev.length; i++) {
    const s = prev[i] as number;
    if (s < t.used && t.status[s] !== FREE && t.ref(s) === prevRefs[i] && kept[s] === 0) {
      kept[s] = 1;
      keep.push(s);
    }
  }
  const fresh: number[] = [];
  for (let s = 0; s < t.used; s++) if (t.status[s] !== FREE && kept[s] === 0) fresh.push(s);
  fresh.sort((a, b) => t.ref(a) - t.ref(b) || a - b);
  const slots = new Int32Array(keep.length + fresh.length);
  const refs = new Float64Array(slots.length);
  let i = 0;
  let j = 0;
  for (let o = 0; o < slots.length; o++) {
    const a = keep[i];
    const b = fresh[j];
    const takeKept = a !== undefined && (b === undefined || t.ref(a) < t.ref(b) || (t.ref(a) === t.ref(b) && a < b));
    const s = takeKept ? (a as number) : (b as number);
    if (takeKept) i++;
    else j++;
    slots[o] = s;
    refs[o] = t.ref(s);
  }
  return { slots, refs };
}
