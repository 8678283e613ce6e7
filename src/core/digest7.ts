/**
 * Protocol 7's digests (docs/design/liveness-7.md, "Quiet exchanges" and "Message layouts", digest7): for a list
 * of members, (ref, incarnation, max version, last GC version, report version), packed to a byte budget; and a
 * received digest read against our state, entry by entry, into what the sender lacks (to send) and what we lack
 * (to request), by protocol 6's rules (digest-comparison.ts): versions up, a GC past the receiver's versions resets
 * it, an unknown member is asked for by ref unless we removed it, a member the sender never named is introduced
 * only when its digest was complete. Pure: no clock, no sending.
 *
 * Which members a digest lists is the caller's: a hot digest (members changed in the last rounds), a drill-down's
 * differing leaves (slotsOfLeaves), a request (request7).
 */
import { digest7EntryBytes, digest7HeaderBytes } from '../wire/liveness-sizes.js';
import type { Digest7 } from '../wire/liveness-messages.js';
import type { Column } from '../wire/messages.js';
import { leafSpan } from './drill-down.js';
import { SELF, type Membership } from './membership.js';
import { FREE, LIVE, type PeerTable } from './peer-table.js';

/** What the sender of a digest lacks of one member, and so what a node delta for it must carry. */
export interface Candidate7 {
  readonly slot: number;
  /** The receiver's max version, GC version, incarnation and report version for the member (0 when unknown). */
  readonly fromVersion: number;
  readonly receiverGc: number;
  readonly receiverIncarnation: number;
  readonly receiverReportVersion: number;
  /** The receiver does not know the member (its incarnation 0: "send its identity"): introduce it. */
  readonly introduce: boolean;
  /** Versions the receiver lacks (for ordering and flow control, as DeltaCandidate.staleness). */
  readonly staleness: number;
}

/** What comparing a digest7 with our state found. */
export interface Comparison7 {
  /** Slots we lack state for (-1: a ref we do not know), and their refs: a request (request7). */
  readonly request: number[];
  readonly requestRefs: number[];
  /** Members the sender lacks or is behind on: what a delta7 to it carries (Deltas7.pack). */
  readonly send: Candidate7[];
}

/** A digest with no entries. */
export const EMPTY_DIGEST7: Digest7 = {
  complete: false,
  hot: false,
  count: 0,
  refs: [],
  incarnations: [],
  maxVersions: [],
  gcVersions: [],
  reportVersions: [],
};

/**
 * A digest7 of `slots` (in the order given) within `budgetBytes` (its header included): the longest prefix of
 * `slots` that fits. `complete` is set only when `whole` (the caller lists every member it holds) and every entry
 * fit; `hot` marks news (a hot digest). A slot of -1 is a member we do not know, listed with `refs[i]` and zeros:
 * how a request says "send its identity".
 */
export function buildDigest7(
  table: PeerTable,
  slots: ArrayLike<number>,
  budgetBytes: number,
  options: { readonly hot: boolean; readonly whole?: boolean; readonly refs?: ArrayLike<number> },
): Digest7 {
  const n = slots.length;
  const refs: number[] = [];
  const incarnations: number[] = [];
  const maxVersions: number[] = [];
  const gcVersions: number[] = [];
  const reportVersions: number[] = [];
  // The count is written before the entries: reserve its largest size.
  let room = budgetBytes - digest7HeaderBytes(n);
  for (let i = 0; i < n; i++) {
    const s = slots[i] as number;
    const known = s >= 0;
    const inc = known ? table.incarnation(s) : 0;
    const max = known ? table.maxVersion(s) : 0;
    const gc = known ? table.gcVersion(s) : 0;
    const rep = known ? table.reportVersion(s) : 0;
    const size = digest7EntryBytes(inc, max, gc, rep);
    if (size > room) break;
    room -= size;
    refs.push(known ? table.ref(s) : (options.refs?.[i] as number));
    incarnations.push(inc);
    maxVersions.push(max);
    gcVersions.push(gc);
    reportVersions.push(rep);
  }
  return {
    complete: options.whole === true && refs.length === n,
    hot: options.hot,
    count: refs.length,
    refs,
    incarnations,
    maxVersions,
    gcVersions,
    reportVersions,
  };
}

/**
 * The SYN-ACK7's request: our entries for the members a comparison found we lack (`slots[i]` -1: unknown to us,
 * sent with incarnation 0, "send its identity"), within `budgetBytes`.
 */
export function request7(table: PeerTable, found: Comparison7, budgetBytes: number): Digest7 {
  return buildDigest7(table, found.request, budgetBytes, { hot: false, refs: found.requestRefs });
}

/** Our members in the given leaves (a drill-down's differing leaves), in ref order. */
export function slotsOfLeaves(membership: Membership, leaves: readonly number[]): number[] {
  const order = membership.sortedMembers();
  const table = membership.table;
  const refAt = (i: number): number => table.ref(order[i] as number);
  const out: number[] = [];
  for (const leaf of leaves) {
    const [from, to] = leafSpan(refAt, order.length, leaf);
    for (let i = from; i < to; i++) out.push(order[i] as number);
  }
  return out;
}

/** Whether every field of a received digest is usable: counts and columns agree, every value an integer >= 0. */
function wellFormed(d: Digest7): boolean {
  const cols: Column[] = [d.refs, d.incarnations, d.maxVersions, d.gcVersions, d.reportVersions];
  if (!Number.isInteger(d.count) || d.count < 0) return false;
  for (const c of cols) {
    if (c.length < d.count) return false;
    for (let i = 0; i < d.count; i++) {
      const v = c[i] as number;
      if (!Number.isSafeInteger(v) || v < 0) return false;
    }
  }
  return true;
}

/**
 * Reads a received digest against our state. For each entry (refs not ours are skipped once the member was
 * removed here, as protocol 6 skips them):
 * - we lack something (an unknown ref, or a higher incarnation, max version, GC version or report version): the
 *   member goes into the request; our own entry too, so that a claim about us above ours reaches us and is refuted;
 * - the sender lacks something: a Candidate7 (introduced when its incarnation is 0).
 * A complete digest that did not name one of our live (or left) members also makes it a candidate to introduce.
 * Entries' members are marked with `epoch` (Membership.nextEpoch). A malformed digest finds nothing.
 */
export function compareDigest7(membership: Membership, digest: Digest7, epoch: number): Comparison7 {
  const found: Comparison7 = { request: [], requestRefs: [], send: [] };
  if (!wellFormed(digest)) return found;
  const t = membership.table;
  // Nothing here admits members: the table's columns stay where they are.
  const mark = t.mark;
  for (let i = 0; i < digest.count; i++) {
    const ref = digest.refs[i] as number;
    const s = membership.slotOfRef(ref);
    if (s < 0) {
      if (!membership.wasRemoved(ref)) {
        found.request.push(-1);
        found.requestRefs.push(ref);
      }
      continue;
    }
    mark[s] = epoch;
    const theirInc = digest.incarnations[i] as number;
    const theirMax = digest.maxVersions[i] as number;
    const theirGc = digest.gcVersions[i] as number;
    const theirRep = digest.reportVersions[i] as number;
    const myInc = t.incarnation(s);
    const myMax = t.maxVersion(s);
    const myGc = t.gcVersion(s);
    const myRep = t.reportVersion(s);
    if (theirInc > myInc || theirMax > myMax || theirGc > myGc || theirRep > myRep) {
      found.request.push(s);
      found.requestRefs.push(ref);
    }
    if (myInc > theirInc || myMax > theirMax || myGc > theirGc || myRep > theirRep)
      found.send.push(candidate(s, theirMax, theirGc, theirInc, theirRep, myMax));
  }
  if (digest.complete) {
    for (let s = 0; s < t.used; s++) {
      if (t.status[s] === FREE || mark[s] === epoch) continue;
      // Live members, as protocol 6 introduces them (a receiver admits an introduced member as live), and members
      // that left: their delta carries the leave proof, so the receiver holds them left as we do (same state hash).
      if (s === SELF || t.status[s] === LIVE || t.left[s] === 1)
        found.send.push(candidate(s, 0, 0, 0, 0, t.maxVersion(s)));
    }
  }
  return found;
}

function candidate(
  slot: number,
  fromVersion: number,
  receiverGc: number,
  receiverIncarnation: number,
  receiverReportVersion: number,
  myMax: number,
): Candidate7 {
  return {
    slot,
    fromVersion,
    receiverGc,
    receiverIncarnation,
    receiverReportVersion,
    introduce: receiverIncarnation === 0,
    staleness: Math.max(0, myMax - fromVersion),
  };
}

/** Slot s introduced to a receiver that knows nothing of it: identity, keys, every value, its report set. */
export function introduction(t: PeerTable, s: number): Candidate7 {
  return {
    slot: s,
    fromVersion: 0,
    receiverGc: 0,
    receiverIncarnation: 0,
    receiverReportVersion: 0,
    introduce: true,
    staleness: t.maxVersion(s),
  };
}

/** Slot s's values above `from`, to a receiver that got the rest of its state already (a stream's next batch). */
export function continuation(t: PeerTable, s: number, from: number): Candidate7 {
  return {
    slot: s,
    fromVersion: from,
    receiverGc: t.gcVersion(s),
    receiverIncarnation: t.incarnation(s),
    receiverReportVersion: t.reportVersion(s),
    introduce: false,
    staleness: Math.max(0, t.maxVersion(s) - from),
  };
}

/** Most behind first; ties by slot, so the order is the same on every run. */
export function byStaleness(a: Candidate7, b: Candidate7): number {
  return b.staleness - a.staleness || a.slot - b.slot;
}
