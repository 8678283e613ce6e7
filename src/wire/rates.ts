/**
 * Protocol 5: a sender's flow-control rates, carried by a SYN or SYN-ACK when the sender takes part
 * in rate sharing (docs/protocol.md, "Flow control"). Two varints right after the flags byte of the
 * message's digest, flagged by DIGEST_RATES in that byte; absent (no byte at all) otherwise, and
 * never written in protocol 3 or 4.
 */
import { DecodeError } from './errors.js';
import type { RateState } from './messages.js';
import type { Reader } from './reader.js';
import { varintSize } from './varint.js';
import type { Writer } from './writer.js';

/** Flag of a digest's flags byte (protocol 5): the sender's rates follow that digest. */
export const DIGEST_RATES = 16;
/** Rates travel in tenths of a version per second: the floor rate (0.5/s) is exact, a typical share is one byte. */
export const RATE_UNIT = 0.1;
/** Largest rate on the wire, in units: 10^6 versions/s, far above any budget; a varint of at most 4 bytes. */
export const MAX_RATE_UNITS = 10_000_000;

const units = (rate: number): number => Math.min(MAX_RATE_UNITS, Math.max(0, Math.round(rate / RATE_UNIT)));

export function ratesSize(r: RateState): number {
  return varintSize(units(r.allowed)) + varintSize(units(r.desired));
}

/** Bytes a message's rates may take at most: what budgets reserve before they know the values. */
export const RATES_MAX_BYTES = 2 * varintSize(MAX_RATE_UNITS);

export function writeRates(w: Writer, r: RateState): void {
  w.varint(units(r.allowed));
  w.varint(units(r.desired));
}

export function readRates(r: Reader): RateState {
  const allowed = r.varint('allowed rate');
  const desired = r.varint('desired rate');
  if (allowed > MAX_RATE_UNITS || desired > MAX_RATE_UNITS)
    throw new DecodeError('bad-value', `rates ${allowed}, ${desired} above ${MAX_RATE_UNITS} units`);
  return { allowed: allowed * RATE_UNIT, desired: desired * RATE_UNIT };
}
