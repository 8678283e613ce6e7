/**
 * Heartbeats in compact digests and positional bumps may travel as their low 4 bits, plus a 32-bit check
 * per group of 64 entries (the sender decides per column: lowBitsPay). A compact digest goes only to a peer with our membership, and in a running cluster
 * that peer's heartbeats are within a few beats of ours (measured in the simulator: |difference|
 * at most 3 at 1,000 nodes, at most 5 at 2,000 nodes under 10 % bursty loss). So the receiver
 * restores each heartbeat as the value nearest its own that has those low bits, and the check,
 * a hash of the restored values' high parts, tells it when a group held one 8 or more beats away:
 * such a group is not read (the core asks for it instead). In a cluster whose members have been up
 * for different times, exact heartbeats were 96 % of a compressed compact digest (17 random-looking
 * bits each, 1,000 nodes up 0-24 h); this costs 4.5 bits a member.
 */
import type { Column } from './messages.js';

export const LOW_HEARTBEAT_BITS = 4;
const LOW_MODULUS = 2 ** LOW_HEARTBEAT_BITS;
/** Entries per check. */
export const CHECK_GROUP = 64;
/** A check is a little-endian u32. */
export const CHECK_BYTES = 4;

export function checkCount(entries: number): number {
  return Math.ceil(entries / CHECK_GROUP);
}

/**
 * Whether low bits pay for a column of heartbeats from `min` to `max`. A cluster started all at once
 * has nearly equal heartbeats, whose varints DEFLATE folds to fewer bits than low bits plus checks
 * (60 simulated nodes started together: 425 B/node/s on the wire with exact heartbeats, 446 with low
 * bits; up 0-24 h: 972 and 463). The sender decides per column; a flag tells the receiver.
 */
export function lowBitsPay(min: number, max: number): boolean {
  return max - min >= LOW_MODULUS;
}

/**
 * Heartbeats below 2^32 (136 years of 1-second beats) take the bit-operation path: the heartbeat
 * column is a Float64Array, and `%` or Math.floor on a double is several times slower than `>>>`.
 * Restoring and checking ran at 18 % of a 2,000-node simulation before this.
 */
const TWO_32 = 2 ** 32;

/** The low bits of a heartbeat, as a compact digest carries it. */
export function lowHeartbeat(heartbeat: number): number {
  return heartbeat < TWO_32 ? (heartbeat >>> 0) & (LOW_MODULUS - 1) : heartbeat % LOW_MODULUS;
}

/** Bytes entry i's heartbeat adds to a compact digest: half a byte (two entries a byte), and every CHECK_GROUP entries a check. */
export function lowHeartbeatBytes(i: number): number {
  return (i % 2 === 0 ? 1 : 0) + (i % CHECK_GROUP === 0 ? CHECK_BYTES : 0);
}

/** The heartbeat nearest `mine` whose low bits are `low` (ties go below: the range is mine - 8 .. mine + 7). */
export function restoreHeartbeat(mine: number, low: number): number {
  let d = (low - lowHeartbeat(mine)) & (LOW_MODULUS - 1);
  if (d >= LOW_MODULUS / 2) d -= LOW_MODULUS;
  return mine + d;
}

/**
 * The check of full heartbeats [from, to): a hash of their high parts (the low bits travel as they
 * are). Each step is a bijection of the state, so one wrong heartbeat always changes the check;
 * the shifts mix high bits down, so several wrong ones cancel out only by chance (2^-32).
 */
export function groupCheck(heartbeats: Column, from: number, to: number): number {
  let h = checkSeed(from, to);
  for (let i = from; i < to; i++) h = mixHeartbeat(h, heartbeats[i] as number);
  return h >>> 0;
}

function checkSeed(from: number, to: number): number {
  return 0x811c9dc5 ^ (to - from);
}

/** One step of a check: the heartbeat's high part mixed into `h`. */
function mixHeartbeat(h: number, heartbeat: number): number {
  const high = heartbeat < TWO_32 ? heartbeat >>> LOW_HEARTBEAT_BITS : Math.floor(heartbeat / LOW_MODULUS);
  h = Math.imul(h ^ (high >>> 0), 0x01000193);
  h ^= h >>> 15;
  // Heartbeats pass 2^36 only at intervals of milliseconds after years: mixed in when present.
  if (high >= TWO_32) h = Math.imul(h ^ ((high / TWO_32) >>> 0), 0x9e3779b1);
  return h ^ (h >>> 13);
}

/** What restoreHeartbeats returns for the entries of a group whose check failed. */
export const UNREAD = -1;

/**
 * Where restoreHeartbeats looks when a group's check fails with the nearest values: the window moved up
 * by these many beats. A node that was deaf for seconds is behind on every member by about as long (give
 * or take the few beats gossip takes), so one shift fits a whole group; the first SYN it hears after a
 * spell of loss is then read, not only asked about. Without it, 100 nodes at 10 % bursty loss (mean burst
 * 10) up 0-24 h had 2,385 false positives in 207 node-hours (with the sender's own entry in full; 1 with it).
 */
const SHIFTS = [8, 16, 24, 32, 48, 64];

/** What `mine` holds for an entry whose member we hold no heartbeat of: its group is not read. */
export const NOT_HELD = -1;

/**
 * Full heartbeats from `count` low-bit values and their checks: entry i restored near `mine[i]`,
 * our heartbeat of that entry's member (NOT_HELD: its group is unread too), or, when that fails
 * the group's check, near `mine[i]` + a shift (SHIFTS) that passes it. A group no window fits held
 * heartbeats scattered around ours (a partition healing): its entries come back UNREAD rather than
 * wrong, since a wrong heartbeat above the owner's real one would make every node ignore the
 * owner's next beats. `exact`: an entry sent in full (Digest.own), read whatever its group's fate.
 * `out`: where to write, grown as needed and never shrunk (its first `count` entries are the result;
 * the caller reuses it, as a 10,000-member digest arrives several times a second).
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
      let h = checkSeed(from, to);
      for (let i = from; i < to; i++) {
        const hb = i === exactIndex ? exactHeartbeat : restoreHeartbeat((mine[i] as number) + shift, low[i] as number);
        out[i] = hb;
        h = mixHeartbeat(h, hb);
      }
      return h >>> 0 === check;
    };
    if (placed && (restore(0) || oneOutlier(out, from, to, check, exactIndex) || SHIFTS.some(restore))) continue;
    out.fill(UNREAD, from, to);
    if (exactIndex >= from && exactIndex < to) out[exactIndex] = exactHeartbeat;
  }
  return out;
}

/** Lengthens `a` to at least `n` entries by appending (setting `length` would leave holes, and a large hole turns the array into a slow dictionary). */
export function growTo(a: number[], n: number): void {
  while (a.length < n) a.push(0);
}

/**
 * Whether moving one of `out[from..to)` by 16 or 32 beats (up or down) makes the group pass `check`; if so it
 * is left moved. The usual cause of a failing group under bursty loss: one member whose heartbeats
 * reached some nodes and not others for 8 or more seconds, while its 63 neighbours agree.
 */
function oneOutlier(out: number[], from: number, to: number, check: number | undefined, exactIndex: number): boolean {
  for (let i = from; i < to; i++) {
    if (i === exactIndex) continue;
    const restored = out[i] as number;
    for (const d of OUTLIER_MOVES) {
      if (restored + d < 0) continue;
      out[i] = restored + d;
      if (groupCheck(out, from, to) === check) return true;
    }
    out[i] = restored;
  }
  return false;
}

const OUTLIER_MOVES = [LOW_MODULUS, -LOW_MODULUS, 2 * LOW_MODULUS, -2 * LOW_MODULUS];

/** The checks of the first `count` full heartbeats, one per group. */
export function groupChecks(heartbeats: Column, count: number): number[] {
  const checks = new Array<number>(checkCount(count));
  for (let g = 0; g < checks.length; g++) checks[g] = groupCheck(heartbeats, g * CHECK_GROUP, Math.min(count, (g + 1) * CHECK_GROUP));
  return checks;
}
