/**
 * Protocol 7's drill-down (docs/design/liveness-7.md, "Quiet exchanges: a hash, then drill-down"): from two
 * nodes' state hashes to the few members they disagree about, in pure functions over a StateHash.
 *
 *   N <= 128: one SYN7 with every entry (sendsAllEntries), no sums.
 *   Otherwise: SUMS (level 1: the 16 level-1 sums, sumsRequest) -> SUMS reply (level 2: the 16 leaf sums of each
 *   level-1 bucket that differs, sumsReply) -> SYN7 carrying the entries of every leaf that differs (planSyn7)
 *   -> SYN-ACK7 -> ACK7, protocol 6's three-way exchange on a digest of a few leaves.
 *
 * When the differing leaves hold more entries than a packet's budget, the exchange moves to the TCP stream
 * (`streamWanted`). Who compares beats and when a drill-down starts: BeatHashTracker.
 */
import type { Column } from '../wire/messages.js';
import type { SumsMessage } from '../wire/liveness-messages.js';
import { sumsCount } from '../wire/liveness-sizes.js';
import { HASH_SPACE, LEAF_BUCKETS, LEAVES_PER_LEVEL1, LEVEL1_BUCKETS, type StateHash } from './state-hash.js';

/** At or below this many members a drill-down is one SYN7 with every entry (128 x ~10 B fits a packet). */
export const SMALL_MEMBERSHIP = 128;
/** Every level-1 bucket: the mask of a level-1 SUMS. */
export const ALL_LEVEL1 = 0xffff;

/** What a drill-down may put in one packet: bytes per digest7 entry and the bytes available for entries. */
export interface EntryBudget {
  /** Bytes one digest7 entry takes (about 10: a 6-byte ref and four small varints). */
  readonly entryBytes: number;
  /** Bytes a SYN7 may spend on entries (a packet less its headers). */
  readonly budgetBytes: number;
}

/** Whether a budget holds `entries` digest7 entries. */
export function fitsBudget(entries: number, budget: EntryBudget): boolean {
  return entries * budget.entryBytes <= budget.budgetBytes;
}

/**
 * Whether a drill-down with a membership of `memberCount` skips the sums and sends one SYN7 with every entry:
 * at 128 members or fewer that SYN7 fits a packet, and costs less than SUMS + reply (2 x 117 B) + leaves.
 */
export function sendsAllEntries(memberCount: number): boolean {
  return memberCount <= SMALL_MEMBERSHIP;
}

/** The mask (u16) of level-1 buckets whose sums differ between `mine` and `theirs` (16 sums each). */
export function differingLevel1(mine: Column, theirs: Column): number {
  let mask = 0;
  for (let i = 0; i < LEVEL1_BUCKETS; i++) if (mine[i] !== theirs[i]) mask |= 1 << i;
  return mask;
}

/**
 * The leaves whose sums differ, ascending. `mask` names the level-1 buckets `theirs` covers (16 leaf sums each,
 * in ascending bucket order, as a SUMS reply carries them); `mine` is our StateHash.
 */
export function differingLeaves(mine: StateHash, mask: number, theirs: Column): number[] {
  const out: number[] = [];
  let k = 0;
  for (let i = 0; i < LEVEL1_BUCKETS; i++) {
    if ((mask & (1 << i)) === 0) continue;
    for (let j = 0; j < LEAVES_PER_LEVEL1; j++, k++) {
      const leaf = i * LEAVES_PER_LEVEL1 + j;
      if (mine.leafSum(leaf) !== theirs[k]) out.push(leaf);
    }
  }
  return out;
}

/** A SUMS at level 1: our H, member count and 16 level-1 sums, asking the peer which buckets differ. */
export function sumsRequest(clusterId: string, mine: StateHash): SumsMessage {
  return {
    type: 'sums',
    clusterId,
    reply: false,
    streamWanted: false,
    stateHash: mine.hash,
    memberCount: mine.size,
    level: 1,
    mask: ALL_LEVEL1,
    sums: mine.level1Sums(),
  };
}

/**
 * Whether every sum of a SUMS is a 48-bit integer and there are as many as its level says: one per level-1 bucket
 * at level 1, 16 leaf sums per bit of the mask at level 2.
 */
function wellFormed(m: SumsMessage): boolean {
  if (m.mask < 0 || m.mask > 0xffff || !Number.isInteger(m.mask)) return false;
  const expected = sumsCount(m.level, m.mask);
  if (m.sums.length !== expected) return false;
  for (let i = 0; i < m.sums.length; i++) {
    const s = m.sums[i] as number;
    if (!Number.isInteger(s) || s < 0 || s >= HASH_SPACE) return false;
  }
  return true;
}

/**
 * The reply to a level-1 SUMS: for each level-1 bucket whose sum differs from ours, our 16 leaf sums. Null when the
 * request is not a well-formed level-1 SUMS (drop it), or when nothing differs (the states already agree: no reply).
 *
 * `streamWanted` is set when even a lower bound of the entries the SYN7 would carry exceeds `budget`: each
 * differing level-1 bucket has at least one differing leaf, which holds at least as many entries as our emptiest
 * leaf of that bucket; and the member counts differ by members that all sit in differing leaves. The requester,
 * which learns the differing leaves from this reply, decides exactly (planSyn7).
 */
export function sumsReply(
  clusterId: string,
  mine: StateHash,
  request: SumsMessage,
  budget: EntryBudget,
): SumsMessage | null {
  if (request.reply || request.level !== 1 || request.mask !== ALL_LEVEL1 || !wellFormed(request)) return null;
  const mask = differingLevel1(mine.level1Sums(), request.sums);
  if (mask === 0) return null;
  let fewest = 0;
  for (let i = 0; i < LEVEL1_BUCKETS; i++) {
    if ((mask & (1 << i)) === 0) continue;
    let min = Infinity;
    for (let j = 0; j < LEAVES_PER_LEVEL1; j++) min = Math.min(min, mine.leafCount(i * LEAVES_PER_LEVEL1 + j));
    fewest += min;
  }
  const lowerBound = Math.max(fewest, Math.abs(mine.size - request.memberCount));
  return {
    type: 'sums',
    clusterId,
    reply: true,
    streamWanted: !fitsBudget(lowerBound, budget),
    stateHash: mine.hash,
    memberCount: mine.size,
    level: 2,
    mask,
    sums: mine.leafSumsOf(mask),
  };
}

/** What the requester does with a SUMS reply. */
export interface Syn7Plan {
  /** The differing leaves, ascending: the SYN7 carries every entry we hold in them. */
  readonly leaves: readonly number[];
  /** Entries we hold in those leaves. */
  readonly entries: number;
  /** The entries exceed the budget, or the peer asked for it: open a stream instead of sending the SYN7. */
  readonly streamWanted: boolean;
}

/**
 * From a SUMS reply (level 2) to our SYN7's leaves, or null when the reply is not a well-formed level-2 reply (drop
 * it). No leaves: the states agree by now (news arrived meanwhile).
 */
export function planSyn7(mine: StateHash, reply: SumsMessage, budget: EntryBudget): Syn7Plan | null {
  if (!reply.reply || reply.level !== 2 || !wellFormed(reply)) return null;
  const leaves = differingLeaves(mine, reply.mask, reply.sums);
  let entries = 0;
  for (const leaf of leaves) entries += mine.leafCount(leaf);
  return { leaves, entries, streamWanted: reply.streamWanted || !fitsBudget(entries, budget) };
}

/**
 * The refs of leaf `leaf`: [lo, hi), a contiguous range (a leaf is the top 8 bits of a ref), so a membership sorted
 * by ref lists a leaf's entries between two binary searches.
 */
export function leafRefRange(leaf: number): readonly [number, number] {
  const width = HASH_SPACE / LEAF_BUCKETS;
  return [leaf * width, (leaf + 1) * width];
}

/**
 * Where leaf `leaf`'s members sit in a list sorted by ref (Membership.sortedMembers, say): the index range
 * [from, to), by two binary searches. `refAt(i)` is the ref of the list's i-th member, `count` its length.
 */
export function leafSpan(refAt: (i: number) => number, count: number, leaf: number): readonly [number, number] {
  const [lo, hi] = leafRefRange(leaf);
  return [firstAtOrAbove(refAt, count, lo), firstAtOrAbove(refAt, count, hi)];
}

/** The first index whose ref is >= `ref` in a ref-sorted list (count when none). */
function firstAtOrAbove(refAt: (i: number) => number, count: number, ref: number): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (refAt(mid) < ref) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Compares the state hash of each neighbour's beats with ours and says when to drill down: when its beats differed
 * from our hash twice in a row (news already in flight is not chased: it usually lands within a round) and we had
 * no exchange with it for `quietMs`. Per neighbour: one streak flag and one instant. The clock is an input.
 */
export class BeatHashTracker {
  /** neighbour ref -> [beats in a row that differed (0, 1, 2), instant of the last exchange]. */
  private readonly peers = new Map<number, { differed: number; exchanged: number }>();

  /** `quietMs`: how long after an exchange with a neighbour its differing beats are left alone (one interval). */
  constructor(private readonly quietMs: number) {}

  /**
   * A beat from `peer` carrying `theirs`, while our hash is `mine`, at `now` (ms). True: start a drill-down with it
   * now (counted as an exchange, so the next one waits `quietMs`). False: nothing to do.
   */
  onBeat(peer: number, theirs: number, mine: number, now: number): boolean {
    let p = this.peers.get(peer);
    if (p === undefined) {
      p = { differed: 0, exchanged: -Infinity };
      this.peers.set(peer, p);
    }
    if (theirs === mine) {
      p.differed = 0;
      return false;
    }
    p.differed = Math.min(2, p.differed + 1);
    if (p.differed < 2 || now - p.exchanged < this.quietMs) return false;
    p.differed = 0;
    p.exchanged = now;
    return true;
  }

  /**
   * Any exchange with `peer` (a SYN7 either way, a stream) at `now`: its differing beats wait `quietMs` again, and
   * two more of them in a row.
   */
  noteExchange(peer: number, now: number): void {
    // Beats before an exchange say nothing of the state after it: the streak starts over.
    this.peers.set(peer, { differed: 0, exchanged: now });
  }

  /** `peer` is no longer a neighbour: forget it. */
  forget(peer: number): void {
    this.peers.delete(peer);
  }

  /** Neighbours tracked. */
  get size(): number {
    return this.peers.size;
  }
}
