/**
 * The user events part of the config: defaults, the payload room a packet leaves, and validation
 * (runtime/config.ts gathers the problems).
 */
import { MAX_ENVELOPE_OVERHEAD } from '../wire/envelope-sizes.js';
import type { ScuttlebuttConfig } from './api.js';

/** serf's UserEventSizeLimit. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 512;
export const DEFAULT_RATE_PER_SECOND = 10;
/** Room for a deploy burst of 100 coalescing events (serf's typical use) in one go. */
export const DEFAULT_BURST = 100;
/** A member cut off for up to a minute (a switch reboot, a long GC) still gets what it missed. */
export const DEFAULT_HORIZON_MS = 60_000;
/** A burst is sent in one go: its events arrive within milliseconds of each other, well inside this wait. */
export const DEFAULT_COALESCE_QUIET_MS = 200;
/**
 * What an event takes in a packet besides its payload, at most: the message header (type, a
 * 255-byte cluster id, a count), and the event's flags, 255-byte origin, generation, time, age and
 * name with their length prefixes.
 */
const EVENT_OVERHEAD = 1 + 257 + 4 + 1 + 257 + 8 + 8 + 4 + 130 + 4;

/** Largest payload one packet of `maxPacketBytes` can carry in an event, whatever the envelope. */
export function payloadRoom(maxPacketBytes: number): number {
  return maxPacketBytes - MAX_ENVELOPE_OVERHEAD - EVENT_OVERHEAD;
}

export interface ResolvedUserEventLimits {
  readonly maxPayloadBytes: number;
  readonly ratePerSecond: number;
  readonly burst: number;
  readonly horizonMs: number;
  readonly coalesceQuietMs: number;
}

export function userEventLimits(c: ScuttlebuttConfig): ResolvedUserEventLimits {
  const u = c.userEvents ?? {};
  return {
    maxPayloadBytes: u.maxPayloadBytes ?? Math.min(DEFAULT_MAX_PAYLOAD_BYTES, payloadRoom(c.maxPacketBytes)),
    ratePerSecond: u.ratePerSecond ?? DEFAULT_RATE_PER_SECOND,
    burst: u.burst ?? DEFAULT_BURST,
    horizonMs: u.horizonMs ?? DEFAULT_HORIZON_MS,
    coalesceQuietMs: u.coalesceQuietMs ?? DEFAULT_COALESCE_QUIET_MS,
  };
}

export function userEventProblems(c: ScuttlebuttConfig, problems: string[]): void {
  const u: Record<string, unknown> = (c.userEvents ?? {}) as Record<string, unknown>;
  const check = (name: string, ok: (v: number) => boolean, want: string): void => {
    const v = u[name];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)))
      problems.push(`userEvents.${name} must be ${want} (got ${JSON.stringify(v)})`);
  };
  const room = payloadRoom(c.maxPacketBytes);
  check(
    'maxPayloadBytes',
    (v) => Number.isInteger(v) && v >= 0 && v <= room,
    `an integer from 0 to ${room} (what one packet of maxPacketBytes leaves)`,
  );
  check('ratePerSecond', (v) => v > 0, 'a positive number');
  check('burst', (v) => Number.isInteger(v) && v >= 1, 'an integer from 1 up');
  check('horizonMs', (v) => v >= 1000 && v <= 3_600_000, 'a number of ms from 1,000 to 3,600,000');
  check('coalesceQuietMs', (v) => v >= 0 && v <= 60_000, 'a number of ms from 0 to 60,000');
  const clocks = c.lamportClocks as Record<string, unknown> | undefined;
  for (const [k, v] of Object.entries(clocks ?? {})) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
      problems.push(`lamportClocks.${k} must be a non-negative integer (got ${JSON.stringify(v)})`);
  }
}
