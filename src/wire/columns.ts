/**
 * The columns of digests and bumps as the codec writes and reads them: varints in a row, and
 * heartbeat columns either as varints or as low bits plus checks (see wire/low-heartbeats.ts).
 */
import { DecodeError } from './errors.js';
import { checkCount, LOW_HEARTBEAT_BITS } from './low-heartbeats.js';
import type { Column } from './messages.js';
import type { Reader } from './reader.js';
import type { Writer } from './writer.js';
import { InvalidArgumentError } from '../errors.js';

/**
 * A heartbeat column: with checks, low bits (compact digests, positional bumps), two a byte (the
 * first in the low half), then the checks; without, varints.
 */
export function writeHeartbeats(w: Writer, heartbeats: Column, checks: Column | null, count: number): void {
  if (!checks) {
    writeVarints(w, heartbeats, count);
    return;
  }
  const low = (i: number): number => {
    const v = i < count ? (heartbeats[i] as number) : 0;
    if (!Number.isInteger(v) || v < 0 || v >= 2 ** LOW_HEARTBEAT_BITS)
      throw new InvalidArgumentError(`heartbeat ${v} is not low bits`);
    return v;
  };
  for (let i = 0; i < count; i += 2) w.u8(low(i) | (low(i + 1) << LOW_HEARTBEAT_BITS));
  if (checks.length !== checkCount(count))
    throw new InvalidArgumentError(`${count} low-bit heartbeats need ${checkCount(count)} checks`);
  for (let g = 0; g < checks.length; g++) w.u32(checks[g] as number);
}

export function readHeartbeats(
  r: Reader,
  count: number,
  low: boolean,
  what: string,
): { heartbeats: Float64Array; checks: Float64Array | null } {
  if (!low) return { heartbeats: readVarints(r, count, what), checks: null };
  const heartbeats = new Float64Array(count);
  const mask = 2 ** LOW_HEARTBEAT_BITS - 1;
  for (let i = 0; i < count; i += 2) {
    const b = r.u8(`${what} bits`);
    heartbeats[i] = b & mask;
    if (i + 1 < count) heartbeats[i + 1] = b >> LOW_HEARTBEAT_BITS;
    else if (b >> LOW_HEARTBEAT_BITS !== 0)
      throw new DecodeError('bad-value', 'padding after the last heartbeat bits is not zero');
  }
  const checks = new Float64Array(checkCount(count));
  for (let g = 0; g < checks.length; g++) checks[g] = r.u32(`${what} check`);
  return { heartbeats, checks };
}

/** The first `count` values of a column, as varints in a row. */
export function writeVarints(w: Writer, column: Column, count: number): void {
  for (let i = 0; i < count; i++) w.varint(column[i] as number);
}

/** `count` varints in a row: one column of a digest or of bumps. */
export function readVarints(r: Reader, count: number, what: string): Float64Array {
  const column = new Float64Array(count);
  for (let i = 0; i < count; i++) column[i] = r.varint(what);
  return column;
}
