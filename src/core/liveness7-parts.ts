/**
 * The types of core/liveness7.ts's API (the mode-7 liveness sub-coordinator), and its pure helpers, apart so
 * that it stays small: the lazy withdrawal of records about convicted members, the reports a deaf node makes
 * once a census proves it hears its side, the probe beat to a member held dead and how many a round of heal sends,
 * and the membership hash a census is named by.
 */
import type { BeatMessage, LivenessMessage, ReportRecord } from '../wire/liveness-messages.js';
import { BEAT_DEAD_HERE, BEAT_MODE_7 } from '../wire/liveness-messages.js';
import type { AssignmentPool } from './assignment-pool.js';
import type { CensusPull } from './census.js';
import { addToSetHash } from './identity.js';
import type { NeighbourReport, NeighbourWatch } from './neighbours.js';
import type { ReportSigner } from './report-set.js';
import type { IncarnationsOf } from './ref-incarnations.js';
import type { FailureDetectorConfig, Random } from './types.js';
import type { UnheardNeighbours } from './unheard.js';

export interface Liveness7Config {
  /** This node's ref. */
  readonly self: number;
  readonly clusterId: string;
  /** This node's incarnation at start. */
  readonly incarnation: number;
  /** The round: beats once a round, census rounds every quarter of it. */
  readonly gossipIntervalMs: number;
  readonly failureDetector: FailureDetectorConfig;
  /** K, liveness.observers (default 4); the same cluster-wide. */
  readonly observers?: number;
  /** This incarnation's signer (its public key travels in the introduction). */
  readonly signer: ReportSigner;
  /** This node runs in mode 7 (the gate's verdict; BEAT_MODE_7 in its beats). Default true. */
  readonly mode7?: boolean;
  /**
   * Whether a member's state says its gate is open (READY_KEY): only such a member is expected to beat, so only
   * it can be a neighbour never heard (core/unheard.ts). Default: every member.
   */
  readonly isReady?: (ref: number) => boolean;
  /** Observer assignments shared with the other nodes of this process (the simulator's; see AssignmentPool). */
  readonly assignmentPool?: AssignmentPool;
}

/** A protocol-7 message to send to member `to`. */
export interface Outbound7 {
  readonly to: number;
  readonly message: LivenessMessage;
}

/**
 * Why a member is held dead here: `failed` (a quorum of its neighbours reported it), `unreachable` (a census found
 * it absent across a cut), or `inherited` (the membership held it dead when this liveness began: protocol 6's
 * detector convicted it before the switch). Each is revived by a refutation; `unreachable` also by its census bit.
 */
export type ConvictionReason = 'failed' | 'unreachable' | 'inherited';

export interface Conviction7 {
  readonly ref: number;
  readonly reason: ConvictionReason;
}

/** What takeVerdicts returns: members dead here since the last call, and members live again. */
export interface Verdicts7 {
  readonly convictions: Conviction7[];
  readonly revivals: number[];
}

/**
 * What mode 7's censuses did at a node: censuses it started (`started`), members they convicted as unreachable
 * (`convicted`), censuses that judged a neighbour it never heard (`neverHeard`), and such neighbours it reported,
 * found absent and silent to direct checks (`neverHeardReported`; docs/design/liveness-7.md, "A neighbour never
 * heard"). The same names end to end: Liveness7.censusStatus, the switch's sums (LivenessStatus.census) and
 * stats().liveness.census.
 */
export interface CensusCounts {
  /** Censuses this node started (a partition or an unresolved report seen from here; those it joined are not). */
  readonly started: number;
  /** Members censuses convicted here as unreachable: absent and reported, or absent and silent to direct checks. */
  readonly convicted: number;
  /**
   * Censuses that judged, here, a neighbour this node never heard beat (a member that died before its first beat,
   * or whose view does not count this node), whoever started them (core/unheard.ts).
   */
  readonly neverHeard: number;
  /** Such neighbours found absent and silent to direct checks, which this node then reported (silent). */
  readonly neverHeardReported: number;
}

/** No census yet: the counts of a node that never ran mode 7 (frozen: shared by every caller). */
export const NO_CENSUS: CensusCounts = Object.freeze({
  started: 0,
  convicted: 0,
  neverHeard: 0,
  neverHeardReported: 0,
});

/** Liveness7.censusStatus: the census here, and its counts since construction. */
export interface CensusStatus7 extends CensusCounts {
  readonly running: boolean;
  /** The newest census epoch this node completed (0: none). */
  readonly completedEpoch: number;
}

/** What a received beat says beyond liveness (the coordinator's part). */
export interface BeatNews7 {
  /** The sender's state hash (the coordinator compares it with its own: drill-down). */
  readonly stateHash: number;
  /** The sender runs in mode 7 (the gate's BEAT flag input). */
  readonly mode7: boolean;
}

/**
 * Whether the own set `held` may stay as it is although the detector now makes `records`: it differs only by
 * records about members convicted here (`convicted(record)`), which are dropped lazily, with the set's next other
 * change. The watch stops judging a convicted neighbour at once; a set withdrawing the record at once would race
 * the other observers' sets to the nodes still short of a quorum (they would see 2 of 3 reports and wait for a
 * census), and cost every node a second wave of sets.
 */
export function keepsConvictedRecords(
  held: readonly ReportRecord[],
  records: readonly ReportRecord[],
  convicted: (r: ReportRecord) => boolean,
): boolean {
  const kept = held.filter(convicted).length;
  return (
    kept > 0 &&
    held.length - kept === records.length &&
    records.every((r) =>
      held.some((h) => h.subject === r.subject && h.kind === r.kind && h.incarnation === r.incarnation),
    )
  );
}

/**
 * The records the own set should hold now, or null to keep it as it stands: the detector's reports about members
 * live here, at the incarnation held for each, then the never-heard rule's (core/unheard.ts) about other subjects,
 * at most `max` (2K). Null when the held set differs from them only by records about members convicted here
 * (keepsConvictedRecords); the never-heard rule's records stay while their member is dead here: they are how the
 * rest of the cluster learns of it.
 */
export function nextOwnRecords(
  held: readonly ReportRecord[],
  reports: readonly NeighbourReport[],
  unheard: UnheardNeighbours,
  view: { readonly incarnations: IncarnationsOf; readonly dead: ReadonlyMap<number, unknown> },
  max: number,
  now: number,
): ReportRecord[] | null {
  const { incarnations, dead } = view;
  const records: ReportRecord[] = [];
  for (const r of reports) {
    const inc = incarnations.get(r.subject);
    if (inc !== undefined && !dead.has(r.subject)) records.push({ ...r, incarnation: inc });
  }
  for (const r of unheard.records(now, incarnations)) {
    if (records.length < max && !records.some((h) => h.subject === r.subject)) records.push(r);
  }
  const convicted = (r: ReportRecord): boolean =>
    dead.has(r.subject) && incarnations.get(r.subject) === r.incarnation && !unheard.reports(r.subject);
  return keepsConvictedRecords(held, records, convicted) ? null : records;
}

/** A BEAT_DEAD_HERE probe to a member held dead: it refutes if alive, and its beats back are contact. */
export function deadHereProbe(self: number, mode7: boolean, sequence: number, stateHash: number): BeatMessage {
  return {
    type: 'beat',
    flags: (mode7 ? BEAT_MODE_7 : 0) | BEAT_DEAD_HERE,
    senderTag: self & 0xffff,
    sequence,
    echo: 0,
    stateHash,
  };
}

/** After evidence of a heal, each node probes at least this many members held dead a round... */
export const HEAL_PROBES = 8;
/** ...and at most this many: a bound on the burst of probes, refutations and probes back at a small side. */
export const HEAL_PROBES_MAX = 64;

/**
 * How many members held dead a node probes in a round of heal: its share of them, ceil(dead / (side + 1)), where
 * `side` counts the members it holds live that did not come back in this heal (its own side, itself apart), at
 * least HEAL_PROBES and at most HEAL_PROBES_MAX. A member held dead comes back only by refuting a dead-here probe,
 * and only the side that holds it dead probes it: the members that came back hold nobody across dead. A side of one
 * across from 199 at HEAL_PROBES took 22 s to revive them all; a side of tens has a share within HEAL_PROBES.
 */
export function healProbeCount(dead: number, side: number): number {
  const share = Math.ceil(dead / (Math.max(0, side) + 1));
  return Math.min(dead, Math.max(HEAL_PROBES, Math.min(HEAL_PROBES_MAX, share)));
}

/** Neighbours whose beats arrive and echo ours (neither deadline passed): the census's reachable ones. */
export function reachableNeighbours(watch: NeighbourWatch, now: number): number[] {
  return watch.beaten().filter((ref) => watch.silentDeadline(ref) > now && watch.echoDeadline(ref) > now);
}

/**
 * Whom to probe this round among the members held dead, or undefined: with probability dead / (live + 1), as
 * protocol 6 picks a dead member to gossip with, one of them uniformly.
 */
export function pickProbe(dead: readonly number[], live: number, random: Random): number | undefined {
  if (dead.length === 0 || random.next() >= Math.min(1, dead.length / (live + 1))) return undefined;
  return dead[Math.floor(random.next() * dead.length)];
}

/**
 * The census start rule's memory (docs/design/liveness-7.md, "When a census starts": the count leaves out records
 * the census it last completed already judged, so a record that outlives a census does not start one after
 * another). Judged = unresolved when that census's pulling ended: the round that ends it reads them as its
 * reported members and judges the absentees; its verification rounds judge nobody new, so a record arriving then
 * is news for the next census (kept, it left a member across a one-way cut live).
 */
export class JudgedSubjects {
  private judged = new Set<number>();
  private judgingEpoch = -1;
  private judging: readonly number[] = [];
  private wasRunning = false;

  /** How many of `unresolved` (subjects, self excluded) the last completed census did not judge. */
  fresh(unresolved: readonly number[], self: number): number {
    // A subject resolved since leaves the set: a new record about it later is news again.
    for (const s of [...this.judged]) if (!unresolved.includes(s)) this.judged.delete(s);
    return unresolved.filter((s) => s !== self && !this.judged.has(s)).length;
  }

  /** After a census round: its epoch, whether it still runs, the pulls it sent, the unresolved subjects it read. */
  afterRound(epoch: number, running: boolean, pulls: readonly CensusPull[], unresolved: readonly number[]): void {
    const judgedNow = pulls.some((p) => p.message.verification) || !running;
    if (epoch !== this.judgingEpoch && judgedNow) {
      this.judgingEpoch = epoch;
      this.judging = unresolved;
    }
    if (this.wasRunning && !running) this.judged = new Set(this.judging);
    this.wasRunning = running;
  }
}

/** The membership hash (identity.ts's set hash: the sum of refs mod 2^48) of `refs`. */
export function membershipHash(refs: ArrayLike<number>): number {
  let hash = 0;
  for (let i = 0; i < refs.length; i++) hash = addToSetHash(hash, refs[i] as number);
  return hash;
}
