/**
 * Low-bit heartbeats, as the wire carries them: in compact digests and positional bumps a heartbeat
 * may travel as its low 4 bits, plus a 32-bit check per group of 64 entries (the sender decides per
 * column; a flag tells the receiver). A compact digest goes only to a peer with the sender's
 * membership, whose heartbeats are within a few beats of the sender's, so the receiver restores each
 * as the value nearest its own with those low bits; the check, a hash of the restored values' high
 * parts, tells it when a group held one 8 or more beats away. What to do then (retries, asking
 * instead) is protocol policy: src/core/heartbeat-restore.ts.
 */
import type { Column } from './messages.js';

export const LOW_HEARTBEAT_BITS = 4;
export const LOW_MODULUS = 2 ** LOW_HEARTBEAT_BITS;
/** Entries per check. */
export const CHECK_GROUP = 64;
/** A check is a little-endian u32. */
export const CHECK_BYTES = 4;

export function checkCount(entries: number): number {
  return Math.ceil(entries / CHECK_GROUP);
}

/**
 * Heartbeats below 2^32 (136 years of 1-second beats) take the bit-operation path: the heartbeat
 * column is a Float64Array, and `%` or Math.floor on a double is several times slower than `>>>`.
 */
const TWO_32 = 2 ** 32;

/** The low bits of a heartbeat, as a compact digest carries it. */
export function lowHeartbeat(heartbeat: number): number {
  return heartbeat < TWO_32 ? (heartbeat >>> 0) & (LOW_MODULUS - 1) : heartbeat % LOW_MODULUS;
}

/**
 * Bytes entry i's heartbeat adds to a compact digest: half a byte (two entries a byte), and every CHECK_GROUP entries a
 * check.
 */
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
  let h = checkStart(from, to);
  for (let i = from; i < to; i++) h = checkStep(h, heartbeats[i] as number);
  return h >>> 0;
}

/** A check's state before its first heartbeat (groupCheck, unrolled by callers that restore and check in one pass). */
export function checkStart(from: number, to: number): number {
  return 0x811c9dc5 ^ (to - from);
}

/** One step of a check: the heartbeat's high part mixed into `h`; the check is the last state `>>> 0`. */
export function checkStep(h: number, heartbeat: number): number {
  const high = highPart(heartbeat);
  h = Math.imul(h ^ (high >>> 0), MIX_P);
  h ^= h >>> 15;
  // Heartbeats pass 2^36 only at intervals of milliseconds after years: mixed in when present.
  if (high >= TWO_32) h = Math.imul(h ^ ((high / TWO_32) >>> 0), MIX_Q);
  return h ^ (h >>> 13);
}

/** The multipliers of checkStep (odd, so each multiplication is a bijection that uncheckStep inverts). */
const MIX_P = 0x01000193;
const MIX_Q = 0x9e3779b1;

/** What a check mixes of a heartbeat: all but its low bits (which travel as they are). */
function highPart(heartbeat: number): number {
  return heartbeat < TWO_32 ? heartbeat >>> LOW_HEARTBEAT_BITS : Math.floor(heartbeat / LOW_MODULUS);
}

/** The inverse of `x * m mod 2^32` for odd m (Newton's iteration: each step doubles the correct low bits). */
function inverseOdd(m: number): number {
  let inv = m;
  for (let k = 0; k < 5; k++) inv = Math.imul(inv, 2 - Math.imul(m, inv));
  return inv;
}
const INVERSE_P = inverseOdd(MIX_P);
const INVERSE_Q = inverseOdd(MIX_Q);

/** The x for which `x ^ (x >>> s)` is `y` (32 bits). */
function unshift(y: number, s: number): number {
  let x = y;
  for (let known = s; known < 32; known += s) x = y ^ (x >>> s);
  return x;
}

/**
 * The state `h` before checkStep(h, heartbeat) when its result is `after` (each step is a bijection): lets a reader
 * work back from a group's check, to test one changed entry without redoing the steps after it.
 */
export function uncheckStep(after: number, heartbeat: number): number {
  const high = highPart(heartbeat);
  let h = unshift(after, 13);
  if (high >= TWO_32) h = Math.imul(h, INVERSE_Q) ^ ((high / TWO_32) >>> 0);
  h = unshift(h, 15);
  return Math.imul(h, INVERSE_P) ^ (high >>> 0);
}

/** The checks of the first `count` full heartbeats, one per group. */
export function groupChecks(heartbeats: Column, count: number): number[] {
  const checks = new Array<number>(checkCount(count));
  for (let g = 0; g < checks.length; g++)
    checks[g] = groupCheck(heartbeats, g * CHECK_GROUP, Math.min(count, (g + 1) * CHECK_GROUP));
  return checks;
}
