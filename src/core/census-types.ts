/**
 * The census's types (src/core/census.ts): what it reads of the node's view, its configuration, and what it
 * returns (pulls to send, verdicts); and the constants of its verdict.
 */
import type { CensusPullMessage } from '../wire/liveness-messages.js';
import { countBits } from './census-bits.js';

/**
 * What the census reads of the node's view. Treated as immutable: pass a new one to `setMembership` when the
 * membership changes; a running census keeps the one it joined with (its bitmaps index it).
 */
export interface CensusMembership {
  /** Every member's ref, live and dead (the set the membership hash covers), ascending: member i is bit i. */
  readonly refs: ArrayLike<number>;
  /** The membership hash (48 bits) naming this set. */
  readonly hash: number;
  /** The neighbours of `ref` in this node's assignment (refs; empty for a member outside it). */
  neighbours(ref: number): ArrayLike<number>;
  /** This node's own neighbours whose beats arrive and echo ours: known reachable both ways. */
  reachable(): ArrayLike<number>;
  /** Whether `ref` is live here: only live members are judged. */
  isLive(ref: number): boolean;
  /** Whether `ref` is held dead as `unreachable` here: its bit arriving revives it. */
  isUnreachable(ref: number): boolean;
  /**
   * Members this node holds an unresolved report about, own or learned (refs). Read when a census is joined, each
   * round while it pulls, and at its end. Bits are only set within a census: a caller that knows no other census
   * was joined since its last read may hand over just the records added meanwhile (bench/partition-model.ts does).
   */
  reported(): Iterable<number>;
  /**
   * Whether a record held here names `ref` now, asked at the end. With at most LONE_ABSENTEES (census.ts)
   * reported absentees, one not named is judged as unreported (its records were withdrawn during the census: a
   * beat lost in a burst), and one still named is checked directly: either may be a member briefly deaf to pulls
   * (a burst on its inbound link), and one participant's missed bit must not convict it. A cut's many absentees
   * keep their bits (records lag) and are convicted at once.
   */
  stillReported?(ref: number): boolean;
}

export interface CensusConfig {
  readonly clusterId: string;
  /** gossipIntervalMs: a round is a quarter of it, `settle` half of it. */
  readonly intervalMs: number;
}

/** A CENSUS-PULL to send to `to` (a ref). A round's pulls share one message, and requesters one reply: read-only. */
export interface CensusPull {
  readonly to: number;
  readonly message: CensusPullMessage;
}

/** A verdict of the census about a member: convicted as unreachable, or revived by its bit arriving. */
export interface CensusVerdict {
  readonly ref: number;
  readonly kind: 'unreachable' | 'revived';
}

/** Reported absentees up to which each is checked directly, or judged as unreported once its records fell. */
export const LONE_ABSENTEES = 2;
/** Direct verification pulls, a round apart, to a cut's absent members that no present neighbour vouches for. */
export const CENSUS_VERIFY_TRIES = 3;
/**
 * The rounds, counted from the end of the pulling, at which a census without a cut checks its absentees directly;
 * the verdict comes a round after the last. Such an absentee is most likely deaf for a while (a burst on its
 * inbound link, or on ours: loss bursts are counted in packets, and at a quiet member's few packets a second a
 * burst of 10 lasts seconds), so the doubling gaps spread 5 pulls over 4 intervals, past most bursts; a cut's
 * absentees keep the 3 quick checks that its time bound counts.
 */
export const CENSUS_LONE_CHECK_ROUNDS: readonly number[] = [0, 1, 3, 7, 15];
/**
 * Intervals after a cut's census ends within which a new census is its tail (records written late, as an outbound
 * record across a one-way cut is): its few absentees are the cut's, checked quickly.
 */
export const CUT_TAIL_INTERVALS = 4;
/** The cut's schedule: CENSUS_VERIFY_TRIES rounds running. */
export const CENSUS_QUICK_CHECK_ROUNDS: readonly number[] = Array.from({ length: CENSUS_VERIFY_TRIES }, (_, r) => r);

/**
 * The check schedule for verification round `tries`, of the verdict's `checks` absentees those in `verifying` still
 * unanswered: the quick one turns slow once most answered their first checks. Their absence was this node's (deaf
 * while it pulled: a burst on its inbound link), and the few left are likelier deaf for a while too than gone. A
 * cut's absentees do not answer, and keep the quick schedule.
 */
export function checkSchedule(
  rounds: readonly number[],
  tries: number,
  verifying: Uint8Array,
  checks: number,
): readonly number[] {
  const quick = rounds === CENSUS_QUICK_CHECK_ROUNDS && tries > 0;
  return quick && 2 * countBits(verifying) < checks ? CENSUS_LONE_CHECK_ROUNDS : rounds;
}
