/**
 * Who is in the cluster as this node sees it: the peer table and its indexes, each member's status
 * (live, dead, removed), the membership hash and size, the order compact digests rely on, and the
 * records that keep removed members and retired generations from coming back on stale gossip.
 * Every status change goes through here, and so does every event about one.
 */
import { HEARTBEAT_AGE_UNIT_MS, type NodeIdentity } from '../wire/messages.js';
import { addToSetHash, identityRef, idKey, removeFromSetHash } from './identity.js';
import type { Journal } from './journal.js';
import { NO_LIMITS, type AdmissionLimits, type MembershipComponents, type MembershipInit } from './membership-init.js';
import { DEAD, FREE, LIVE, MAX_MARK_EPOCH, PeerTable } from './peer-table.js';
import { RefIndex } from './ref-index.js';
import { resortedSlots } from './sorted-slots.js';
import { AddressIndex } from './address-index.js';
import { InternalError } from '../errors.js';
import type { DeathReason } from './types.js';

export type { AdmissionLimits, MembershipComponents, MembershipInit } from './membership-init.js';

/** This node's own slot. */
export const SELF = 0;

/**
 * A dead node comes back only after this many fresh heartbeats past the one it was convicted at:
 * stale gossip about a crashed node can carry one or two, a live node produces them every round.
 * The same margin keeps a removed member out.
 */
const REVIVAL_HEARTBEATS = 2;

interface RemovedMember {
  heartbeat: number;
  until: number;
}

export class Membership {
  readonly table: PeerTable;
  private readonly byRef: RefIndex;
  /** id -> slot of the newest generation known. */
  private readonly byId: RefIndex;
  /** Removed members' ids -> their generation, so an older incarnation cannot sneak back after removal. */
  private readonly retired = new Map<string, { generation: number; until: number }>();
  /** Dead members (few): when they were convicted and at which heartbeat. */
  private readonly deaths = new Map<number, { since: number; heartbeat: number; graceMs: number }>();
  /** Removed members by ref, until the grace period ends. */
  private readonly removed = new Map<number, RemovedMember>();
  /** The gossip addresses of the members (live and dead, self included): who is no stranger (see knowsAddress). */
  private readonly addresses: AddressIndex;
  /**
   * Members admitted this interval, per sender address (forgotten when the interval ends, so bounded by one interval's
   * senders).
   */
  private readonly introduced = new Map<string, number>();
  private introducedWindow = -1;

  /** The membership hash: every member's ref (live and dead) summed; equal hashes and sizes mean equal memberships. */
  hash = 0;
  /** Members, live and dead, self included. */
  size = 0;
  liveOthers = 0;
  /** Live members besides this node whose liveness is proven here (see isProven). */
  provenOthers = 0;
  deadOthers = 0;
  /** When the earliest dead member's grace period ends. */
  nextRemoval = Infinity;
  /** Told when slots are renumbered (slotOf[old] = new): the gate keeps state by slot. */
  onRenumber: ((slotOf: Int32Array) => void) | null = null;

  private sorted: Int32Array = new Int32Array(0);
  /** Slots indexed (admitted) since `sorted` was built: their entries there, if any, are another member's. */
  private readonly unsorted = new Set<number>();
  private sortedValid = false;
  /** Members were admitted since the table was last renumbered in ref order (see keepSlotsInRefOrder). */
  private slotsDisordered = false;
  /** Members were admitted or removed since the last round. */
  private changedSinceRound = false;
  private markEpoch = 0;

  readonly self: NodeIdentity;
  private readonly journal: Journal;
  /** How long a dead member stays before it is removed (FailureDetectorConfig.deadNodeGracePeriodMs). */
  private readonly graceMs: number;
  private readonly limits: AdmissionLimits;
  /** Whether fresh heartbeats may bring a dead member back now (MembershipComponents.revivesOnHeartbeat). */
  private readonly revivesOnHeartbeat: () => boolean;

  constructor(components: MembershipComponents, init: MembershipInit) {
    this.journal = components.journal;
    this.revivesOnHeartbeat = components.revivesOnHeartbeat ?? (() => true);
    const { self, expected } = init;
    this.self = self;
    this.graceMs = init.graceMs;
    this.limits = init.limits ?? NO_LIMITS;
    this.table = new PeerTable(init.window, expected);
    this.byRef = new RefIndex((s) => this.table.ref(s), expected);
    // The id's hash is worked out again on each probe, as the address index does: a column of them cost 8 B per
    // (node, member) pair in the simulator, and ids are looked up only on admissions, removals and queries.
    this.byId = new RefIndex((s) => idKey(this.table.identity(s).id), expected);
    this.addresses = new AddressIndex(this.table, expected);
    const slot = this.table.allocate(self);
    if (slot !== SELF) throw new InternalError('self must take slot 0');
    this.index(slot, self);
  }

  /** The slot of the member with this ref, or -1. */
  slotOfRef(ref: number): number {
    return this.byRef.get(ref);
  }

  /** The slot holding some generation of `id`, or -1. A 48-bit id-hash collision is checked and treated as absent. */
  slotOfId(id: string): number {
    const s = this.byId.get(idKey(id));
    return s >= 0 && this.table.records[s]?.identity.id === id ? s : -1;
  }

  identity(s: number): NodeIdentity {
    return this.table.identity(s);
  }

  address(s: number): string {
    return this.table.identity(s).address;
  }

  /** Whether some member (live or dead, or this node) has this gossip address. */
  knowsAddress(address: string): boolean {
    return this.addresses.has(address);
  }

  /** The live member (not this node) gossiping from `address`, or -1 when none or several do. */
  liveSlotAt(address: string): number {
    const sole = this.addresses.soleHolder(address);
    if (sole !== -2) return sole > SELF && this.table.status[sole] === LIVE ? sole : -1;
    // Several members hold the address (a restart on it, say): find the live one, if it is alone.
    const t = this.table;
    let found = -1;
    for (let s = SELF + 1; s < t.used; s++) {
      if (t.status[s] !== LIVE || this.address(s) !== address) continue;
      if (found >= 0) return -1;
      found = s;
    }
    return found;
  }

  /** The member (not self) at `address`: the live one, else the only one, dead (mode 7 hears those); else -1. */
  memberSlotAt(address: string): number {
    const live = this.liveSlotAt(address);
    if (live >= 0) return live;
    const sole = this.addresses.soleHolder(address);
    return sole > SELF && this.table.status[sole] === DEAD ? sole : -1;
  }

  /** Whether a member with this ref was removed within the grace period. */
  wasRemoved(ref: number): boolean {
    return this.removed.has(ref);
  }

  /** The heartbeat a removed member had at its removal (Infinity after a leave), if it was removed. */
  removedHeartbeat(ref: number): number | undefined {
    return this.removed.get(ref)?.heartbeat;
  }

  /**
   * A fresh mark for PeerTable.mark: slots marked with it are the ones seen in the current message. It is good until
   * the next one is drawn (every caller marks and reads within one message): after MAX_MARK_EPOCH of them the marks
   * are cleared and the epochs start over.
   */
  nextEpoch(): number {
    if (this.markEpoch === MAX_MARK_EPOCH) {
      this.table.mark.fill(0);
      this.markEpoch = 0;
    }
    return ++this.markEpoch;
  }

  /** How old our newest heartbeat of slot s is, in wire units. */
  ageOf(s: number, now: number): number {
    return Math.max(0, Math.round((now - this.table.birth(s)) / HEARTBEAT_AGE_UNIT_MS));
  }

  /**
   * Adds a node first heard of, at `heartbeat`; returns its slot, or -1 when refused (counted). A newer
   * generation of a member we hold supersedes it: the old incarnation is convicted and removed first.
   * The caller starts the member's failure detector, then announces it (announce).
   *
   * `from`, the sender's address: it may introduce only so many members per interval, and a newer
   * generation of a live member only when it is no stranger (a member's address: a restart on the
   * same address, or gossip relayed by members). A stranger can neither fill the table at once nor
   * shadow a live member; a restart on a new address is admitted once the old incarnation is dead.
   */
  admit(identity: NodeIdentity, ref: number, heartbeat: number, now: number, from?: string): number {
    if (identityRef(identity) !== ref) return this.refuse('ref-mismatch');
    if (identity.id === this.self.id) return this.refuse('about-self');
    const retired = this.retired.get(identity.id);
    if (retired !== undefined && identity.generation < retired.generation) return this.refuse('superseded-generation');
    const gone = this.removed.get(ref);
    // As for revival: stale gossip can carry a heartbeat or two past the last one we saw.
    if (gone && heartbeat < gone.heartbeat + REVIVAL_HEARTBEATS) return this.refuse('removed-node');
    const older = this.slotOfId(identity.id);
    if (older >= 0 && this.identity(older).generation >= identity.generation)
      return this.refuse('superseded-generation');
    if (older >= 0 && this.table.status[older] === LIVE && from !== undefined && !this.knowsAddress(from)) {
      return this.refuse('shadow-refused');
    }
    if (older < 0 && this.size >= this.limits.maxMembers) return this.refuse('member-limit');
    if (from !== undefined && !this.mayIntroduce(from, now)) return this.refuse('introduction-limit');
    if (older >= 0) {
      // A restart: the old incarnation is gone for good.
      if (this.table.status[older] === LIVE) this.convict(older, 'superseded', now);
      this.remove(older, now);
    }
    if (gone) this.removed.delete(ref);
    const s = this.table.allocate(identity);
    this.index(s, identity);
    this.liveOthers++;
    this.table.setHeartbeat(s, heartbeat);
    return s;
  }

  /**
   * Whether live slot s has shown a sign of life here since it was admitted: a heartbeat above the
   * one it was admitted at (or a revival, which takes two). A member known only at its admission
   * heartbeat may be one a sender made up; peer selection prefers proven members (PeerSelection).
   */
  isProven(s: number): boolean {
    return this.table.proven(s);
  }

  /** Live slot s's heartbeat advanced: its liveness is proven from now on. */
  noteAdvance(s: number): void {
    if (this.table.proven(s)) return;
    this.table.setProven(s);
    this.provenOthers++;
  }

  /** The event for a member just admitted, once its detector is started (its view is then complete). */
  announce(s: number): void {
    this.journal.emit({ type: 'live', node: this.identity(s) }, s);
  }

  /** Counts one introduction by `from` in the current interval; false when it has used its share. */
  private mayIntroduce(from: string, now: number): boolean {
    if (this.limits.maxNewPerSender === Infinity) return true;
    const window = Math.floor(now / this.limits.intervalMs);
    if (window !== this.introducedWindow) {
      this.introduced.clear();
      this.introducedWindow = window;
    }
    const n = this.introduced.get(from) ?? 0;
    if (n >= this.limits.maxNewPerSender) return false;
    this.introduced.set(from, n + 1);
    return true;
  }

  private refuse(
    reason:
      | 'ref-mismatch'
      | 'about-self'
      | 'superseded-generation'
      | 'removed-node'
      | 'member-limit'
      | 'introduction-limit'
      | 'shadow-refused',
  ): number {
    this.journal.reject(reason);
    return -1;
  }

  private index(slot: number, identity: NodeIdentity): void {
    const ref = this.table.ref(slot);
    this.byRef.set(ref, slot);
    this.byId.set(idKey(identity.id), slot);
    this.addresses.add(slot, identity.address);
    this.hash = addToSetHash(this.hash, ref);
    this.size++;
    this.sortedValid = false;
    this.unsorted.add(slot);
    this.slotsDisordered = true;
    this.changedSinceRound = true;
  }

  /** Live slot s is dead from now, removed `graceMs` later (mode 7 keeps its convictions longer: partitions). */
  convict(s: number, reason: DeathReason, now: number, graceMs = this.graceMs): void {
    const t = this.table;
    t.status[s] = DEAD;
    this.deaths.set(s, { since: now, heartbeat: t.heartbeat(s), graceMs });
    this.nextRemoval = Math.min(this.nextRemoval, now + graceMs);
    this.liveOthers--;
    if (t.proven(s)) this.provenOthers--;
    this.deadOthers++;
    this.journal.emit({ type: 'dead', node: this.identity(s), reason }, s);
  }

  /** Slot s's leave commitment (null: none heard). */
  commitment(s: number): Uint8Array | null {
    return this.table.commitment(s);
  }

  /**
   * Slot s's leave commitment, as an introduction carried it: the first one heard for the
   * incarnation is kept, a later different one ignored (docs/security.md: the race this leaves).
   */
  noteCommitment(s: number, commitment: Uint8Array | null | undefined): void {
    if (commitment && !this.table.commitment(s)) this.table.setCommitment(s, commitment);
  }

  /**
   * A leave message for slot s, saying the member left at `heartbeat`: dead at once, for good. The
   * caller has checked that the member itself said it (its proof opened its commitment), or that it
   * made no commitment to check, and refused a heartbeat far above ours (LEAVE_HEARTBEAT_SLACK).
   */
  markLeft(s: number, now: number, heartbeat: number): void {
    this.table.setLeft(s, 1);
    if (this.table.status[s] === LIVE) this.convict(s, 'left', now);
    const death = this.deaths.get(s);
    if (death && heartbeat > death.heartbeat) death.heartbeat = heartbeat;
  }

  /**
   * Dead slot s removed now rather than a grace period after its conviction: an operator's
   * force-leave, or a leave without proof about a member that made a commitment. Stale gossip
   * cannot bring it back either way (its heartbeat at removal is kept, see admit). `final`: marked
   * left, so not even fresh heartbeats re-admit it while the record lasts; only for a member that
   * made no commitment (an older release), where a leave cannot be told from a forged one anyway.
   */
  forceLeave(s: number, now: number, options: { readonly final: boolean }): void {
    if (options.final) this.table.setLeft(s, 1);
    this.remove(s, now);
  }

  /**
   * Whether a dead member's `heartbeat` is fresh enough to bring it back. A left member never is: its leave
   * was its own (proven), or it made no commitment to tell its leave from a forged one. Nor in mode 7.
   */
  mayRevive(s: number, heartbeat: number): boolean {
    const fresh = heartbeat >= (this.deaths.get(s)?.heartbeat ?? 0) + REVIVAL_HEARTBEATS;
    return this.table.left[s] === 0 && fresh && this.revivesOnHeartbeat();
  }

  /** Back from the dead, once the detector has restarted on its fresh heartbeat. */
  revive(s: number): void {
    this.table.setLeft(s, 0);
    this.deaths.delete(s);
    this.table.status[s] = LIVE;
    this.table.setProven(s);
    this.deadOthers--;
    this.liveOthers++;
    this.provenOthers++;
    this.journal.emit({ type: 'live', node: this.identity(s) }, s);
  }

  /** Removes dead slot s if its grace period is over; returns when it will be due otherwise (Infinity once removed). */
  removeIfDue(s: number, now: number): number {
    const death = this.deaths.get(s);
    const due = death ? death.since + death.graceMs : now + this.graceMs;
    if (due > now) return due;
    this.remove(s, now);
    return Infinity;
  }

  private remove(s: number, now: number): void {
    const t = this.table;
    const identity = this.identity(s);
    const ref = t.ref(s);
    if (t.status[s] === DEAD) this.deadOthers--;
    else if (t.status[s] === LIVE) {
      this.liveOthers--;
      if (t.proven(s)) this.provenOthers--;
    }
    this.removed.set(ref, { heartbeat: t.left[s] ? Infinity : t.heartbeat(s), until: now + this.graceMs });
    this.byRef.delete(ref);
    if (this.slotOfId(identity.id) === s) this.byId.delete(idKey(identity.id));
    this.addresses.remove(s, identity.address);
    this.deaths.delete(s);
    const retired = this.retired.get(identity.id);
    if (!retired || retired.generation < identity.generation) {
      this.retired.set(identity.id, { generation: identity.generation, until: now + this.graceMs });
    }
    this.hash = removeFromSetHash(this.hash, ref);
    this.size--;
    this.sortedValid = false;
    this.changedSinceRound = true;
    this.journal.emit({ type: 'removed', node: identity }, s);
    t.release(s);
  }

  /** Drops removal and retirement records past their time. */
  forgetExpired(now: number): void {
    for (const [ref, r] of this.removed) if (r.until <= now) this.removed.delete(ref);
    for (const [id, r] of this.retired) if (r.until <= now) this.retired.delete(id);
  }

  /** Whether a peer's membership hash and size are ours. */
  matches(hash: number, size: number): boolean {
    return hash === this.hash && size === this.size;
  }

  /** Members sorted by ref: the shared order that lets compact digests leave refs out. */
  sortedMembers(): Int32Array {
    if (!this.sortedValid) {
      this.sorted = resortedSlots(this.table, this.sorted, this.unsorted);
      this.unsorted.clear();
      this.sortedValid = true;
    }
    return this.sorted;
  }

  /** Occupied slots in table order (full-mode digests need no particular order). */
  memberSlots(): number[] {
    const t = this.table;
    const out: number[] = [];
    for (let s = 0; s < t.used; s++) if (t.status[s] !== FREE) out.push(s);
    return out;
  }

  /** How many of our members have a ref below `ref`: its position in our sorted membership. */
  rankOf(ref: number): number {
    const order = this.sortedMembers();
    const t = this.table;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (t.ref(order[mid] as number) < ref) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * When a peer's membership is ours plus or minus one member we can name, how its sorted positions
   * map onto ours: skew +1, it has a member at position `at` that we have removed; skew -1, it lacks
   * our member at position `at`. Otherwise null. This is the usual disagreement: a dead member is
   * removed a grace period after its conviction, at slightly different instants on different nodes,
   * and compact digests would go unread for those seconds, the heartbeats they carry with them. The
   * difference of the two membership hashes names the member when exactly one differs; a sum of
   * several differences names nobody we know, and is refused.
   */
  oneMemberApart(hash: number, size: number): { skew: 1 | -1; at: number; ref: number } | null {
    if (size === this.size + 1) {
      const extra = removeFromSetHash(hash, this.hash); // their hash minus ours
      return this.removed.has(extra) ? { skew: 1, at: this.rankOf(extra), ref: extra } : null;
    }
    if (size === this.size - 1) {
      const missing = removeFromSetHash(this.hash, hash); // ours minus theirs
      return this.byRef.get(missing) >= 0 ? { skew: -1, at: this.rankOf(missing), ref: missing } : null;
    }
    return null;
  }

  /**
   * Renumbers the table in ref order (self stays slot 0) once membership has held still for a
   * round: compact digests, which most exchanges carry, then walk the columns front to back
   * instead of at random. Not while members keep arriving (a bootstrap), which would redo it on
   * every admission.
   */
  keepSlotsInRefOrder(): void {
    const changed = this.changedSinceRound;
    this.changedSinceRound = false;
    if (changed || !this.slotsDisordered) return;
    this.slotsDisordered = false;
    const sorted = this.sortedMembers();
    const order = new Int32Array(sorted.length); // order[0] = SELF
    order.set(
      sorted.filter((s) => s !== SELF),
      1,
    );
    this.renumber(order);
  }

  /** Gives old slot order[k] the slot k, and re-keys everything that names slots. */
  private renumber(order: Int32Array): void {
    const t = this.table;
    const slotOf = new Int32Array(t.used).fill(-1);
    for (let k = 0; k < order.length; k++) slotOf[order[k] as number] = k;
    t.permute(order);
    // Called with the order valid (keepSlotsInRefOrder sorts first): it stays so, each member keeping its ref.
    this.sorted = this.sorted.map((s) => slotOf[s] as number);
    this.unsorted.clear();
    this.byRef.remap(slotOf);
    this.byId.remap(slotOf);
    this.addresses.remap(slotOf);
    const deaths = [...this.deaths];
    this.deaths.clear();
    for (const [s, d] of deaths) this.deaths.set(slotOf[s] as number, d);
    this.onRenumber?.(slotOf);
  }
}
