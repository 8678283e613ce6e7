/**
 * A SYN's digest read against this node's state, entry by entry (the exchange's first step in answering
 * a SYN). Newer heartbeats are taken on the spot; what either side lacks is sorted into a request, delta
 * candidates and heartbeat bumps for the exchange to pack.
 */
import type { Column, Digest } from '../wire/messages.js';
import type { DeltaCandidate } from './delta.js';
import type { FailureDetector } from './detector.js';
import { REMOVED_HERE, type Digests } from './digest.js';
import { UNREAD } from './heartbeat-restore.js';
import type { OwnValues } from './own-values.js';
import { SELF, type Membership } from './membership.js';

/** How a compact digest's positions map onto our sorted membership: shifted by `skew` from `at` on. */
export interface Positions {
  skew: number;
  at: number;
  /** The ref of the one member the two memberships differ by (skew ≠ 0). */
  ref: number;
}

/** What comparing a peer's digest with our state found. */
export interface Comparison {
  /** Slots (or -1 for a ref we do not know) we lack state for, and their refs. */
  request: number[];
  requestRefs: number[];
  candidates: DeltaCandidate[];
  /** Members the peer is behind on by heartbeat only: slots, or positions when `positional`. */
  bumps: number[];
  bumpGap: number;
}

export interface DigestComparisonComponents {
  readonly membership: Membership;
  readonly detector: FailureDetector;
  readonly digests: Digests;
  /** This node's own state, which refutes claims about it above what it produced. */
  readonly own: OwnValues;
}

export class DigestComparison {
  private readonly membership: Membership;
  private readonly detector: FailureDetector;
  private readonly digests: Digests;
  private readonly own: OwnValues;

  constructor(components: DigestComparisonComponents) {
    this.membership = components.membership;
    this.detector = components.detector;
    this.digests = components.digests;
    this.own = components.own;
  }

  /**
   * Compares a peer's digest with our state, entry by entry: newer heartbeats are taken at once
   * (they are evidence for the failure detector), members or versions we lack go into the request,
   * members the peer lacks become delta candidates or heartbeat bumps. Full-mode entries' members
   * are marked with `epoch`, so the caller can tell which of ours the peer never named.
   */
  compare(
    digest: Digest,
    order: Int32Array | null,
    positions: Positions,
    positional: boolean,
    epoch: number,
    now: number,
  ): Comparison {
    const m = this.membership;
    const t = m.table;
    const found: Comparison = { request: [], requestRefs: [], candidates: [], bumps: [], bumpGap: 0 };
    const { request, requestRefs, candidates, bumps } = found;
    const { ages, maxVersions, gcVersions, offset } = digest;
    const { skew, at: skewAt } = positions;
    // Nothing in this loop admits members, so the table's columns cannot be reallocated under us.
    const mark = t.mark;
    /** A compact entry's slot: REMOVED_HERE for the member the peer has and we removed. */
    const slotAt = (i: number): number => {
      let p = offset + i;
      if (skew !== 0 && p >= skewAt) {
        if (skew > 0 && p === skewAt) return REMOVED_HERE;
        p -= skew;
      }
      return (order as Int32Array)[p] as number;
    };
    const heartbeats =
      order && digest.checks ? this.digests.restoreCompact(digest, slotAt, positions.ref) : digest.heartbeats;
    for (let i = 0; i < digest.count; i++) {
      let s: number;
      let ref = 0;
      if (order) {
        s = slotAt(i);
        if (s === REMOVED_HERE) continue;
      } else {
        ref = (digest.refs as Column)[i] as number;
        const known = m.slotOfRef(ref);
        if (known < 0) {
          if (!m.wasRemoved(ref)) {
            request.push(-1);
            requestRefs.push(ref);
          }
          continue;
        }
        s = known;
        mark[s] = epoch;
      }
      const theirHb = heartbeats[i] as number;
      const myHb = t.heartbeat(s);
      // An unreadable heartbeat (UNREAD): we ask for the member instead. Our entry in the request
      // carries our heartbeat, so the initiator learns it if newer, and answers with its own if newer.
      // Our own entry too: the peer may hold a claim about us above what we produced (a forged bump,
      // far from our heartbeat, is exactly what low bits cannot restore), and until we hear it we
      // cannot refute it, while every node that holds it takes our real heartbeats for stale ones.
      const unread = theirHb === UNREAD;
      if (unread) {
        request.push(s);
        requestRefs.push(t.ref(s));
      } else if (theirHb > myHb) {
        if (s !== SELF) this.detector.observe(s, theirHb, ages[i] as number, now, ageBounded(digest, i));
        // A claim about us above what we produced: we go higher, and the peer hears it back at once.
        else if (this.own.refuteHeartbeat(theirHb, now)) bumps.push(positional ? offset + i : s);
      } else if (myHb > theirHb) {
        bumps.push(positional ? offset + i : s);
        if (myHb - theirHb > found.bumpGap) found.bumpGap = myHb - theirHb;
      }
      const theirMax = maxVersions[i] as number;
      const theirGc = gcVersions[i] as number;
      const mine = t.maxVersion(s);
      const myGc = t.gcVersion(s);
      if (theirMax === mine && theirGc === myGc) continue; // the common case: only heartbeats differ
      // For ourselves too: a peer holding versions of ours we never wrote answers with them, and
      // seeing the forged key-values lets us overwrite them (OwnValues.refute).
      if (!unread && (theirMax > mine || theirGc > myGc)) {
        request.push(s);
        requestRefs.push(order ? t.ref(s) : ref);
      }
      if (mine > theirMax || myGc > theirGc) {
        // The node delta carries the heartbeat: no bump for it.
        if (!unread && myHb > theirHb) bumps.pop();
        candidates.push({ slot: s, fromVersion: theirMax, receiverGc: theirGc, staleness: mine - theirMax });
      }
    }
    return found;
  }
}

/** True when entry i of `d` gives only a lower bound on the heartbeat's age (see Digest.ageLimit). */
export function ageBounded(d: Digest, i: number): boolean {
  return d.ageLimit > 0 && (d.ages[i] as number) >= d.ageLimit;
}
