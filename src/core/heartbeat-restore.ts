/**
 * When to send heartbeats as low bits, and how to read them back (the wire side: wire/low-heartbeats.ts).
 * The receiver restores each low-bit heartbeat near its own; a group whose check then fails is retried
 * under the two disagreements loss actually produces, and a group nothing fits is never read wrong:
 * its entries come back UNREAD and the core asks for those members instead. The figures behind each
 * retry are in docs/benchmarks.md.
 */
import {
  CHECK_GROUP,
  checkStart,
  checkStep,
  LOW_MODULUS,
  restoreHeartbeat,
  uncheckStep,
} from '../wire/low-heartbeats.js';
import type { Column } from '../wire/messages.js';

/**
 * Whether low bits pay for a column of heartbeats from `min` to `max`. A cluster started all at once
 * has nearly equal heartbeats, whose varints DEFLATE folds to fewer bits than low bits plus checks;
 * one whose members have been up for different times does not.
 */
export function lowBitsPay(min: number, max: number): boolean {
  return max - min >= LOW_MODULUS;
}

/** What restoreHeartbeats returns for the entries of a group whose check failed. */
export const UNREAD = -1;

/** What `mine` holds for an entry whose member we hold no heartbeat of: its group is not read. */
export const NOT_HELD = -1;

/**
 * Where restoreHeartbeats looks when a group's check fails with the nearest values: the window moved up
 * by these many beats. A node that was deaf for seconds is behind on every member by about as long (give
 * or take the few beats gossip takes), so one shift fits a whole group; the first SYN it hears after a
 * spell of loss is then read, not only asked about, and its members' heartbeats keep it from convicting them.
 */
const WINDOW_SHIFTS = [8, 16, 24, 32, 48, 64];

/**
 * How far oneOutlier moves a single entry: the usual cause of a failing group under bursty loss is one
 * member whose heartbeats reached some nodes and not others for 8 or more seconds, while its 63
 * neighbours agree.
 */
const OUTLIER_MOVES = [LOW_MODULUS, -LOW_MODULUS, 2 * LOW_MODULUS, -2 * LOW_MODULUS];

/**
 * Full heartbeats from `count` low-bit values and their checks: entry i restored near `mine[i]`,
 * our heartbeat of that entry's member (NOT_HELD: its group is unread too), or, when that fails
 * the group's check, with one entry moved (OUTLIER_MOVES) or the window moved up (WINDOW_SHIFTS),
 * whichever first passes it. A group no retry fits held heartbeats scattered around ours (a
 * partition healing): its entries come back UNREAD rather than wrong, since a wrong heartbeat above
 * the owner's real one would make every node ignore the owner's next beats. `exact`: an entry sent
 * in full (Digest.own), read whatever its group's fate. `out`: where to write, grown as needed and
 * never shrunk (its first `count` entries are the result; callers reuse it, as a 10,000-member
 * digest arrives several times a second).
 */
export function restoreHeartbeats(
  low: Column,
  checks: Column,
  count: number,
  mine: Column,
  exact?: { readonly index: number; readonly heartbeat: number },
  out: number[] = [],
): number[] {
  growTo(out, count);
  const exactIndex = exact ? exact.index : -1;
  const exactHeartbeat = exact ? exact.heartbeat : 0;
  for (let from = 0; from < count; from += CHECK_GROUP) {
    const to = Math.min(count, from + CHECK_GROUP);
    const check = checks[from / CHECK_GROUP];
    let placed = true;
    for (let i = from; i < to; i++) if ((mine[i] as number) < 0) placed = false;
    // Restores and checks in one pass: this runs for every entry of every low-bit digest.
    const restore = (shift: number): boolean => {
      let h = checkStart(from, to);
      for (let i = from; i < to; i++) {
        const hb = i === exactIndex ? exactHeartbeat : restoreHeartbeat((mine[i] as number) + shift, low[i] as number);
        out[i] = hb;
        h = checkStep(h, hb);
      }
      return h >>> 0 === check;
    };
    if (placed && (restore(0) || oneOutlier(out, from, to, check, exactIndex) || WINDOW_SHIFTS.some(restore))) continue;
    out.fill(UNREAD, from, to);
    if (exactIndex >= from && exactIndex < to) out[exactIndex] = exactHeartbeat;
  }
  return out;
}

/**
 * Lengthens `a` to at least `n` entries by appending (setting `length` would leave holes, and a large hole turns the
 * array into a slow dictionary).
 */
export function growTo(a: number[], n: number): void {
  while (a.length < n) a.push(0);
}

/**
 * Whether moving one of `out[from..to)` by OUTLIER_MOVES makes the group pass `check`; if so it is left moved.
 * Tries entries in order and moves in OUTLIER_MOVES's order, the first that passes wins. The group's check is a
 * chain of bijective steps, so the state before entry i (from the front) and the state entry i's step must reach
 * for the chain to end at `check` (worked back from the end, uncheckStep) are each computed once: a move is tested
 * with one step instead of the whole group's.
 */
function oneOutlier(out: number[], from: number, to: number, check: number | undefined, exactIndex: number): boolean {
  if (check === undefined) return false;
  const n = to - from;
  const { before, needed } = chainStates(n);
  let h = checkStart(from, to);
  for (let k = 0; k < n; k++) {
    before[k] = h;
    h = checkStep(h, out[from + k] as number);
  }
  let need = check;
  for (let k = n - 1; k >= 0; k--) {
    needed[k] = need >>> 0;
    need = uncheckStep(need, out[from + k] as number);
  }
  for (let i = from; i < to; i++) {
    if (i === exactIndex) continue;
    const restored = out[i] as number;
    const state = before[i - from] as number;
    const target = needed[i - from] as number;
    for (const d of OUTLIER_MOVES) {
      if (restored + d < 0) continue;
      if (checkStep(state, restored + d) >>> 0 === target) {
        out[i] = restored + d;
        return true;
      }
    }
  }
  return false;
}

/** A group's chain states, as oneOutlier computes them: before each entry's step, and what each step must reach. */
interface ChainStates {
  readonly before: Int32Array;
  readonly needed: Uint32Array;
}

/** Reused per call (oneOutlier runs for every failing group of every low-bit digest). */
const groupStates: ChainStates = { before: new Int32Array(CHECK_GROUP), needed: new Uint32Array(CHECK_GROUP) };

/** Room for the chain states of `n` entries: the reused pair for a check group or fewer, else a fresh one. */
function chainStates(n: number): ChainStates {
  return n <= CHECK_GROUP ? groupStates : { before: new Int32Array(n), needed: new Uint32Array(n) };
}
