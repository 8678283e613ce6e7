/**
 * Protocol 7's per-member state beside the membership (docs/design/liveness-7.md, "Quiet exchanges" and "What
 * remains per (node, member)"): the StateHash over every member's (ref, incarnation, max version, GC version,
 * report version, left), kept in step with the peer table, and the two parts of a member's state protocol 6 has no
 * column for: its report-signing public key and, once it left, its leave secret (the proof others forward).
 *
 * Why a wrapper and not fields of Membership: the hashed fields are written in many places (delta application,
 * OwnValues' writes, refutations and GC, leaves, admissions and removals), all through PeerTable's setters. One
 * narrow hook there (PeerTable.stateObserver) sees every change, including those made by protocol-6 code that knows
 * nothing of protocol 7, and costs one null check while no State7 is attached, so protocol 6 is unchanged. The
 * incarnation and report version are PeerTable columns (Uint32, 8 B a pair), moved with the table when it grows or
 * is renumbered; public keys are in the table's member records (shared among tables handed the same objects: a map
 * by ref cost 44 B a pair in the simulator), leave secrets here by ref (a map: few members hold one).
 */
import { SELF, type Membership } from './membership.js';
import { FREE, type PeerTable, type StateObserver } from './peer-table.js';
import { StateHash, type StateEntry } from './state-hash.js';

/** A member is hot (its entry goes in hot digests) in the round it changed and the next (the design's news rule). */
export const HOT_ROUNDS = 2;

export class State7 implements StateObserver {
  /** H, the bucket sums and leaf counts over every member this node holds (self included). */
  readonly stateHash = new StateHash();
  private readonly table: PeerTable;
  /** Member ref -> its leave secret, once a leave proof for it was accepted (forwarded with its state). */
  private readonly leaveSecrets = new Map<number, Uint8Array>();
  /** Member ref -> the round of its last change, for members changed in the last HOT_ROUNDS rounds (news). */
  private readonly recent = new Map<number, number>();
  private round = 0;
  /**
   * Reused for the hook's updates, a change's entry before and after it: the StateHash reads entries and keeps
   * nothing of them (no garbage per change).
   */
  private readonly before = blankEntry();
  private readonly after = blankEntry();

  /**
   * Attaches to `membership`'s table (one State7 per table): every member already held is summed, and every later
   * change to a hashed field is followed through the table's hook. `ownPublicKey`: this incarnation's key.
   */
  constructor(
    readonly membership: Membership,
    init: { readonly ownPublicKey?: Uint8Array | null } = {},
  ) {
    this.table = membership.table;
    const t = this.table;
    for (let s = 0; s < t.used; s++) {
      if (t.status[s] === FREE) continue;
      this.stateHash.add(this.entryOf(s));
      // Keys noted by an earlier State7 on this table (before a fallback to mode 6) are not held: each starts empty.
      if (t.publicKey(s) !== null) t.setPublicKey(s, null);
    }
    t.stateObserver = this;
    if (init.ownPublicKey) t.setPublicKey(SELF, init.ownPublicKey);
  }

  /** H: what this node's BEATs carry. */
  get hash(): number {
    return this.stateHash.hash;
  }

  /** Slot s's entry as the hash sums it. */
  entryOf(s: number): StateEntry {
    const t = this.table;
    return {
      ref: t.ref(s),
      incarnation: t.incarnation(s),
      maxVersion: t.maxVersion(s),
      gcVersion: t.gcVersion(s),
      reportVersion: t.reportVersion(s),
      left: t.left[s] === 1,
    };
  }

  /** Slot s's entry written into `e`. */
  private fill(s: number, e: MutableEntry): StateEntry {
    const t = this.table;
    e.ref = t.ref(s);
    e.incarnation = t.incarnation(s);
    e.maxVersion = t.maxVersion(s);
    e.gcVersion = t.gcVersion(s);
    e.reportVersion = t.reportVersion(s);
    e.left = t.left[s] === 1;
    return e;
  }

  /** The report-signing key held for slot s (the first heard), or undefined. */
  publicKey(s: number): Uint8Array | undefined {
    return this.table.publicKey(s) ?? undefined;
  }

  /** Keeps `key` for slot s unless one is held: the first key heard wins, as the leave commitment's does. */
  notePublicKey(s: number, key: Uint8Array | undefined): void {
    if (key && this.table.publicKey(s) === null) this.table.setPublicKey(s, key);
  }

  /** Slot s's leave secret, held once its leave was accepted (sent with its state), or undefined. */
  leaveSecret(s: number): Uint8Array | undefined {
    return this.leaveSecrets.get(this.table.ref(s));
  }

  /** Keeps slot s's leave secret (the caller checked it against the commitment). */
  noteLeaveSecret(s: number, secret: Uint8Array): void {
    this.leaveSecrets.set(this.table.ref(s), secret);
  }

  /**
   * A new round begins: members whose last change is HOT_ROUNDS rounds old are no longer hot. Costs the number of
   * members changed lately, not the membership.
   */
  startRound(): void {
    this.round++;
    for (const [ref, r] of this.recent) if (this.round - r >= HOT_ROUNDS) this.recent.delete(ref);
  }

  /** The slots of members that changed here in the last HOT_ROUNDS rounds (a hot digest's members), any order. */
  hotSlots(): number[] {
    const out: number[] = [];
    for (const ref of this.recent.keys()) {
      const s = this.membership.slotOfRef(ref);
      if (s >= 0) out.push(s);
    }
    return out;
  }

  /** The hash recomputed from the table, for checks: equal to `stateHash` unless a change bypassed the hook. */
  recomputed(): StateHash {
    const t = this.table;
    const entries: StateEntry[] = [];
    for (let s = 0; s < t.used; s++) if (t.status[s] !== FREE) entries.push(this.entryOf(s));
    return StateHash.of(entries);
  }

  /** @internal StateObserver: a member was admitted. */
  added(slot: number): void {
    this.stateHash.add(this.fill(slot, this.after));
    this.recent.set(this.table.ref(slot), this.round);
  }

  /** @internal StateObserver: slot's entry is about to change (its old entry is noted). */
  changing(slot: number): void {
    this.fill(slot, this.before);
  }

  /** @internal StateObserver: slot's entry changed (the sums move from its old entry to its new one). */
  changed(slot: number): void {
    // One update of the sums by (new - old): changing() and changed() come in pairs, never nested. A write of
    // the value already held (OwnValues.expire's GC version, every round) is no change, and no news.
    const b = this.before;
    const a = this.fill(slot, this.after);
    const same =
      a.incarnation === b.incarnation &&
      a.maxVersion === b.maxVersion &&
      a.gcVersion === b.gcVersion &&
      a.reportVersion === b.reportVersion &&
      a.left === b.left;
    if (same) return;
    this.stateHash.replace(b, a);
    this.recent.set(this.table.ref(slot), this.round);
  }

  /** @internal StateObserver: a member is removed: its entry and secret go (its key with its record). */
  removing(slot: number): void {
    this.stateHash.remove(this.fill(slot, this.after));
    const ref = this.table.ref(slot);
    this.leaveSecrets.delete(ref);
    this.recent.delete(ref);
  }
}

type MutableEntry = { -readonly [K in keyof StateEntry]: StateEntry[K] };

function blankEntry(): MutableEntry {
  return { ref: 0, incarnation: 0, maxVersion: 0, gcVersion: 0, reportVersion: 0, left: false };
}
