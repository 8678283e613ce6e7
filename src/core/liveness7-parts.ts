/**
 * Pure helpers of core/liveness7.ts (the mode-7 liveness sub-coordinator), apart so that it stays small: the
 * lazy withdrawal of records about convicted members, the reports a deaf node makes once a census proves it
 * hears its side, the probe beat to a member held dead, and the membership hash a census is named by.
 */
import type { BeatMessage, ReportRecord } from '../wire/liveness-messages.js';
import { BEAT_DEAD_HERE, BEAT_MODE_7, REPORT_OUTBOUND, REPORT_SILENT } from '../wire/liveness-messages.js';
import { addToSetHash } from './identity.js';
import type { NeighbourReport, NeighbourWatch } from './neighbours.js';

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
 * The watch's reports without its deafness hold (NeighbourWatch.verdicts returns the last published set while
 * deaf): each judged neighbour past its silent deadline, else past its echo deadline.
 */
export function unheldVerdicts(watch: NeighbourWatch, now: number): NeighbourReport[] {
  const out: NeighbourReport[] = [];
  for (const ref of watch.beaten()) {
    if (now > watch.silentDeadline(ref)) out.push({ subject: ref, kind: REPORT_SILENT });
    else if (now > watch.echoDeadline(ref)) out.push({ subject: ref, kind: REPORT_OUTBOUND });
  }
  return out;
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

/** The membership hash (identity.ts's set hash: the sum of refs mod 2^48) of `refs`. */
export function membershipHash(refs: ArrayLike<number>): number {
  let hash = 0;
  for (let i = 0; i < refs.length; i++) hash = addToSetHash(hash, refs[i] as number);
  return hash;
}
