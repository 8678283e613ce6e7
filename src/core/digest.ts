/**
 * Digests: what this node knows, per member (heartbeat, its age, max version, GC version), packed to
 * the byte budget. Full digests name members by ref; compact ones, for a peer with our membership,
 * by position in the shared ref order, and may carry heartbeats as low bits. A digest too large for
 * one packet goes as runs from a rotating cursor, a full run with a bucket summary of the membership.
 * Requests (the SYN-ACK's "what I lack") are full digests of our state for the members named.
 * Also here: reading low-bit heartbeats back, since the scratch columns are shared with building them.
 */
import {
  bucketsSize,
  compactEntrySize,
  digestHeaderSize,
  exchangeHeaderSize,
  fullEntrySize,
  ownEntrySize,
} from '../wire/codec.js';
import { groupChecks, lowHeartbeat } from '../wire/low-heartbeats.js';
import { bucketOf, HEARTBEAT_AGE_UNIT_MS, MAX_BUCKETS, type Column, type Digest } from '../wire/messages.js';
import { Budget } from './budget.js';
import { growTo, lowBitsPay, NOT_HELD, restoreHeartbeats } from './heartbeat-restore.js';
import { addToSetHash } from './identity.js';
import { SELF, type Membership } from './membership.js';
import { FREE, LIVE } from './peer-table.js';

/** What a compact entry's position maps to when it is the member the peer has and we removed. */
export const REMOVED_HERE = -1;

export class Digests {
  /** Ages in our digests stop at one gossip interval (see Digest.ageLimit). */
  private readonly ageLimit: number;
  private cursor = 0;
  /**
   * Scratch columns, one message at a time: our heartbeat of each entry's member while low bits are
   * restored (also a low-bit digest's full heartbeats while its checks are computed: the two uses
   * never overlap), and the restored values. Reused: a 10,000-member digest arrives several times a second.
   */
  private readonly heldScratch: number[] = [];
  private readonly restoredScratch: number[] = [];

  private readonly membership: Membership;
  private readonly clusterId: string;
  private readonly payloadBudget: number;

  constructor(
    components: { readonly membership: Membership },
    init: { readonly clusterId: string; readonly payloadBudget: number; readonly gossipIntervalMs: number },
  ) {
    this.membership = components.membership;
    this.clusterId = init.clusterId;
    this.payloadBudget = init.payloadBudget;
    this.ageLimit = Math.ceil(init.gossipIntervalMs / HEARTBEAT_AGE_UNIT_MS);
  }

  /**
   * A compact digest (members by position in the shared ref order), for a peer with our membership.
   * `lowBits` false: exact heartbeats even where low bits would pay (a peer of an older protocol).
   */
  buildCompact(now: number, options: { readonly lowBits: boolean; readonly reserve?: number }): Digest {
    return this.build(now, {
      compact: true,
      selfFirst: false,
      lowBits: options.lowBits,
      reserve: options.reserve ?? 0,
    });
  }

  /**
   * A full digest (members by ref). `selfFirst`: a run cut by the budget starts at our own entry
   * instead of the rotating cursor (see Exchange.open).
   */
  buildFull(now: number, options: { readonly selfFirst: boolean; readonly reserve?: number }): Digest {
    return this.build(now, {
      compact: false,
      selfFirst: options.selfFirst,
      lowBits: true,
      reserve: options.reserve ?? 0,
    });
  }

  /**
   * This node's digest within the byte budget. When it does not all fit, a run of entries is sent,
   * starting where the previous round's run stopped, so every entry is sent in turn. A compact run
   * is contiguous in the sorted order (positions are implied by its offset), so it stops at the end.
   * `reserve`: bytes the message carries besides (the sender's rates).
   */
  private build(
    now: number,
    spec: {
      readonly compact: boolean;
      readonly selfFirst: boolean;
      readonly lowBits: boolean;
      readonly reserve: number;
    },
  ): Digest {
    const { compact, selfFirst, lowBits, reserve } = spec;
    const m = this.membership;
    const t = m.table;
    const list = compact ? m.sortedMembers() : m.memberSlots();
    const n = list.length;
    const ageLimit = this.ageLimit;
    let budget =
      this.payloadBudget - reserve - exchangeHeaderSize(this.clusterId, n) - digestHeaderSize(n, n, ageLimit);
    // Plain arrays, not typed ones: see Column.
    const refs = compact ? null : new Array<number>(n);
    const heartbeats = new Array<number>(n);
    // Low bits (compact only): `heartbeats` gets them, `full` (scratch, not sent) the full values for the checks.
    const low = compact && lowBits && this.lowBitsPayFor(list);
    const full = low ? this.heldScratch : heartbeats;
    if (low) growTo(full, n);
    // With low bits our own entry also goes in full (Digest.own): room for it at its largest.
    const ownHeartbeat = t.heartbeat(SELF);
    if (low) budget -= ownEntrySize({ index: n, heartbeat: ownHeartbeat });
    let ownIndex = -1;
    const ages = new Array<number>(n);
    const maxVersions = new Array<number>(n);
    const gcVersions = new Array<number>(n);
    /** Writes member s as entry i of the columns; returns the entry's size. */
    const put = (i: number, s: number): number => {
      const hb = t.heartbeat(s);
      const age = Math.min(ageLimit, m.ageOf(s, now));
      const max = t.maxVersion(s);
      const gc = t.gcVersion(s);
      if (refs) refs[i] = t.ref(s);
      if (s === SELF) ownIndex = i;
      full[i] = hb;
      if (low) heartbeats[i] = lowHeartbeat(hb);
      ages[i] = age;
      maxVersions[i] = max;
      gcVersions[i] = gc;
      return compact ? compactEntrySize(low, i, hb, age, max, gc) : fullEntrySize(hb, age, max, gc);
    };
    // One pass fills the columns and sums the size: the whole digest fits in one packet up to several thousand members.
    let total = 0;
    for (let i = 0; i < n && total <= budget; i++) total += put(i, list[i] as number);
    const own = (count: number): { own?: Digest['own'] } =>
      low && ownIndex >= 0 && ownIndex < count ? { own: { index: ownIndex, heartbeat: ownHeartbeat } } : {};
    if (total <= budget) {
      const checks = low ? groupChecks(full, n) : null;
      return {
        mode: compact ? 'compact' : 'full',
        complete: true,
        offset: 0,
        count: n,
        refs,
        heartbeats,
        checks,
        ...own(n),
        ages,
        ageLimit,
        maxVersions,
        gcVersions,
      };
    }
    let buckets: number[] | undefined;
    if (!compact) {
      // A run cannot tell the peer which members we lack; a bucket summary can (see Exchange.onSyn).
      buckets = this.bucketSums(this.bucketCount());
      budget -= bucketsSize(buckets.length);
    }
    // The run, written over the columns: an entry that does not fit is written, then cut off.
    // A full run may start with ourselves (memberSlots() lists SELF first).
    const start = selfFirst && !compact ? 0 : this.cursor % n;
    const limit = compact ? n - start : n;
    const room = new Budget(budget);
    let count = 0;
    ownIndex = -1;
    for (let i = 0; i < limit; i++) {
      if (!room.take(put(count, list[(start + i) % n] as number))) break;
      count++;
    }
    this.cursor = (start + count) % n;
    const cut = (c: number[]): number[] => {
      c.length = count;
      return c;
    };
    return {
      mode: compact ? 'compact' : 'full',
      complete: false,
      offset: compact ? start : 0,
      count,
      refs: refs && cut(refs),
      heartbeats: cut(heartbeats),
      checks: low ? groupChecks(full, count) : null,
      ...own(count),
      ages: cut(ages),
      ageLimit,
      maxVersions: cut(maxVersions),
      gcVersions: cut(gcVersions),
      ...(buckets ? { buckets } : {}),
    };
  }

  /**
   * The SYN-ACK's request: a full-mode digest of our own state for the members we lack (`slots`
   * entry -1: unknown to us, sent with heartbeat 0). With `summarize` (the request is our whole
   * membership), a request cut by the budget carries a bucket summary, so the initiator can still
   * introduce what we lack.
   */
  request(
    slots: number[],
    refs: number[],
    budget: number,
    now: number,
    options: { readonly summarize: boolean } = { summarize: false },
  ): Digest {
    const summarize = options.summarize;
    const m = this.membership;
    const t = m.table;
    const sizeOf = (s: number): number =>
      s < 0
        ? fullEntrySize(0, 0, 0, 0)
        : fullEntrySize(t.heartbeat(s), m.ageOf(s, now), t.maxVersion(s), t.gcVersion(s));
    const fit = (limit: number): number => {
      const room = new Budget(limit, digestHeaderSize(0, slots.length, 0));
      for (let k = 0; k < slots.length; k++) if (!room.take(sizeOf(slots[k] as number))) return k;
      return slots.length;
    };
    let n = fit(budget);
    let buckets: number[] | undefined;
    if (summarize && n < slots.length) {
      buckets = this.bucketSums(this.bucketCount());
      n = fit(budget - bucketsSize(buckets.length));
    }
    const d = {
      mode: 'full' as const,
      complete: n === slots.length,
      offset: 0,
      count: n,
      refs: new Array<number>(n).fill(0),
      heartbeats: new Array<number>(n).fill(0),
      checks: null,
      ages: new Array<number>(n).fill(0),
      ageLimit: 0,
      maxVersions: new Array<number>(n).fill(0),
      gcVersions: new Array<number>(n).fill(0),
      ...(buckets ? { buckets } : {}),
    };
    for (let i = 0; i < n; i++) {
      const s = slots[i] as number;
      d.refs[i] = refs[i] as number;
      if (s >= 0) {
        d.heartbeats[i] = t.heartbeat(s);
        d.ages[i] = m.ageOf(s, now);
        d.maxVersions[i] = t.maxVersion(s);
        d.gcVersions[i] = t.gcVersion(s);
      }
    }
    return d;
  }

  /**
   * Whether our heartbeats of the live members among `slots` are spread enough for low bits to pay
   * (lowBitsPay). Dead members are left out: a crashed member's heartbeat stops while the others go
   * on, and would otherwise switch a cluster started together to low bits until it is removed.
   */
  lowBitsPayFor(slots: ArrayLike<number>): boolean {
    const t = this.membership.table;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i] as number;
      if (t.status[s] !== LIVE) continue;
      const hb = t.heartbeat(s);
      if (hb < min) min = hb;
      if (hb > max) max = hb;
    }
    return lowBitsPay(min, max);
  }

  /**
   * Adds to `into` our live members, not marked with `epoch`, in every bucket where the peer's sum differs from ours.
   */
  membersOfDifferingBuckets(theirs: Column, epoch: number, into: number[]): void {
    const mine = this.bucketSums(theirs.length);
    const differs = mine.map((sum, b) => (sum === theirs[b] ? 0 : 1));
    if (!differs.includes(1)) return;
    const t = this.membership.table;
    for (let s = 0; s < t.used; s++) {
      if (t.status[s] === LIVE && t.mark[s] !== epoch && differs[bucketOf(t.ref(s), theirs.length)] === 1) into.push(s);
    }
  }

  /**
   * A compact digest's heartbeats, restored from their low bits near ours (UNREAD where a group
   * fails: see heartbeat-restore.ts). The member the peer has and we removed (`slotAt` gives
   * REMOVED_HERE) is restored from the heartbeat we remembered when removing it, so its group is still read.
   */
  restoreCompact(digest: Digest, slotAt: (i: number) => number, removedRef: number): number[] {
    const t = this.membership.table;
    const removed = this.membership.removedHeartbeat(removedRef) ?? NOT_HELD;
    return this.restoreLow(
      digest.heartbeats,
      digest.checks as Column,
      digest.count,
      (i) => {
        const s = slotAt(i);
        return s === REMOVED_HERE ? removed : t.heartbeat(s);
      },
      digest.own,
    );
  }

  /** Low-bit heartbeats restored near ours; `heldAt(i)`: our heartbeat of entry i's member, or NOT_HELD. */
  restoreLow(
    low: Column,
    checks: Column,
    count: number,
    heldAt: (i: number) => number,
    exact?: Digest['own'],
  ): number[] {
    const held = this.heldScratch;
    growTo(held, count);
    for (let i = 0; i < count; i++) held[i] = heldAt(i);
    return restoreHeartbeats(low, checks, count, held, exact, this.restoredScratch);
  }

  /** Buckets for a summary: at least 16 members each on average, and the summary at most 1/32 of the budget. */
  private bucketCount(): number {
    let b = 1;
    while (b * 2 <= MAX_BUCKETS && b * 2 * 16 <= this.membership.size && bucketsSize(b * 2) * 32 <= this.payloadBudget)
      b *= 2;
    return b;
  }

  /** Our membership (live and dead, like the membership hash) summed per bucket. */
  private bucketSums(count: number): number[] {
    const t = this.membership.table;
    const sums = new Array<number>(count).fill(0);
    for (let s = 0; s < t.used; s++) {
      if (t.status[s] === FREE) continue;
      const ref = t.ref(s);
      const b = bucketOf(ref, count);
      sums[b] = addToSetHash(sums[b] as number, ref);
    }
    return sums;
  }
}

/** The encoded size of a request's entries and header (it has no low bits, buckets aside). */
export function requestSize(d: Digest): number {
  let n = digestHeaderSize(0, d.count, d.ageLimit);
  for (let i = 0; i < d.count; i++) {
    n += fullEntrySize(
      d.heartbeats[i] as number,
      d.ages[i] as number,
      d.maxVersions[i] as number,
      d.gcVersions[i] as number,
    );
  }
  return n;
}
