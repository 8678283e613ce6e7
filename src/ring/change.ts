/**
 * What moved between two rings: every stretch of the key space whose owner differs, found in one pass over
 * both rings' points merged (the union of their positions cuts the ring into intervals each ring gives to
 * one member).
 */
import { toHex } from './hash.js';
import { arc, type Points } from './points.js';

/** A stretch of the ring that changed owner: positions [start, end) as hex, wrapping past ffff...ffff. */
export interface RingRange {
  /** First position, 16 hex digits. */
  readonly start: string;
  /** First position after it, 16 hex digits; equal to `start` for the whole ring. */
  readonly end: string;
  /** The owner before (undefined when the ring was empty). */
  readonly from: string | undefined;
  /** The owner after (undefined when the ring is now empty). */
  readonly to: string | undefined;
}

/** A change of a ring's members, and what it did to the key space. */
export interface RingChange {
  /** Members that joined the ring, sorted. */
  readonly added: readonly string[];
  /** Members that left it, sorted. */
  readonly removed: readonly string[];
  /** The fraction of the key space whose owner changed (0 to 1). */
  readonly moved: number;
  /** The stretches that changed owner, in ring order from position 0 (the last may wrap past it). */
  readonly ranges: readonly RingRange[];
}

interface Open {
  startHi: number;
  startLo: number;
  /** Where it ends so far: the union position after its last interval. */
  endHi: number;
  endLo: number;
  endsAtFirst: boolean;
  from: string | undefined;
  to: string | undefined;
}

export function changeBetween(a: Points, b: Points): RingChange {
  const inA = new Set(a.ids);
  const inB = new Set(b.ids);
  const added = b.ids.filter((id) => !inA.has(id));
  const removed = a.ids.filter((id) => !inB.has(id));
  const na = a.pos.length;
  const nb = b.pos.length;
  if (na + nb === 0) return { added, removed, moved: 0, ranges: [] };
  // Before the first point, keys belong to the last one.
  let curA = na > 0 ? a.ids[a.who[na - 1] as number] : undefined;
  let curB = nb > 0 ? b.ids[b.who[nb - 1] as number] : undefined;
  const open: Open[] = [];
  let moved = 0;
  let firstHi = 0;
  let firstLo = 0;
  // The arcs add up to 2^64 but for rounding: `moved` is taken of their sum, so a whole ring is exactly 1.
  // The interval that starts at the previous union position, closed when the next one is found.
  let started = false;
  let prevHi = 0;
  let prevLo = 0;
  let prevFrom: string | undefined;
  let prevTo: string | undefined;
  let whole = 0;
  const close = (endHi: number, endLo: number, wraps: boolean): void => {
    const length = arc(prevHi, prevLo, endHi, endLo, wraps);
    whole += length;
    if (prevFrom === prevTo) return;
    moved += length;
    const last = open[open.length - 1];
    if (last && last.endHi === prevHi && last.endLo === prevLo && last.from === prevFrom && last.to === prevTo) {
      last.endHi = endHi;
      last.endLo = endLo;
      last.endsAtFirst = wraps;
    } else {
      open.push({ startHi: prevHi, startLo: prevLo, endHi, endLo, endsAtFirst: wraps, from: prevFrom, to: prevTo });
    }
  };
  let i = 0;
  let j = 0;
  while (i < na || j < nb) {
    let fromA: boolean;
    if (i >= na) fromA = false;
    else if (j >= nb) fromA = true;
    else {
      const d = (a.pos[i] as number) - (b.pos[j] as number) || (a.lo[i] as number) - (b.lo[j] as number);
      fromA = d <= 0;
    }
    const h = fromA ? (a.hi[i] as number) : (b.hi[j] as number);
    const l = fromA ? (a.lo[i] as number) : (b.lo[j] as number);
    // Of points at one position, the last in order owns what follows it.
    while (i < na && a.hi[i] === h && a.lo[i] === l) curA = a.ids[a.who[i++] as number];
    while (j < nb && b.hi[j] === h && b.lo[j] === l) curB = b.ids[b.who[j++] as number];
    if (started) close(h, l, false);
    else [started, firstHi, firstLo] = [true, h, l];
    [prevHi, prevLo, prevFrom, prevTo] = [h, l, curA, curB];
  }
  close(firstHi, firstLo, true);
  // A stretch across position 0 was opened twice: once starting the ring, once ending it.
  const first = open[0];
  const last = open[open.length - 1];
  if (open.length > 1 && first && last && last.endsAtFirst && first.startHi === firstHi && first.startLo === firstLo) {
    if (last.from === first.from && last.to === first.to) {
      last.endHi = first.endHi;
      last.endLo = first.endLo;
      open.shift();
    }
  }
  const ranges = open.map((r) => ({
    start: toHex(r.startHi, r.startLo),
    end: toHex(r.endHi, r.endLo),
    from: r.from,
    to: r.to,
  }));
  return { added, removed, moved: moved / whole, ranges };
}
