/**
 * Per-member state, stored column-wise in typed arrays indexed by a slot number.
 * A 10,000-node simulation holds 10^8 (observer, member) pairs: one JS object per pair would
 * not fit in memory, typed-array columns cost a few dozen bytes per pair.
 */
import type { NodeIdentity } from '../wire/messages.js';
import { memberRecord, type MemberRecord } from './member-records.js';
import { Mode6Columns, NO_SAMPLE } from './mode6-columns.js';
import { SlotValues } from './slot-values.js';
import { fits, widened, written32, written8or32 } from './zero-column.js';

export const LIVE = 0;
export const DEAD = 1;
export const FREE = 2;
/** Versions are stored in 32 bits. */
export const MAX_VERSION = 0xffffffff;
/**
 * How far one message may move a member's heartbeat: more is a lie (or corruption), dropped and
 * counted ('implausible-heartbeat'). A member's heartbeat moves one a round; a member is removed
 * a grace period after it went silent, so no true leap comes near this. It keeps a forged claim
 * far from 2^53, where the owner could no longer refute it by going one higher.
 */
export const MAX_HEARTBEAT_LEAP = 65_536;
/**
 * How far one node delta may move a known member's max version ('implausible-version' past it):
 * a million writes between two of our exchanges with the cluster. It keeps a forged version far
 * from 2^32, so the owner can refute it and go on writing.
 */
export const MAX_VERSION_LEAP = 1 << 20;
/** The largest epoch PeerTable.mark holds. */
export const MAX_MARK_EPOCH = 255;

/** One key's value as this node holds it. expiresAt and deletedAt matter only on the owner. */
export interface StoredValue {
  value: string;
  version: number;
  tombstone: boolean;
  /** Owner only: when a TTL key turns into a tombstone (Infinity when none). */
  expiresAt: number;
  /** Owner only: when the key was deleted (for tombstone GC). */
  deletedAt: number;
}

/**
 * Told of every change to the fields protocol 7's state hash covers (ref set, incarnation, max version, GC version,
 * report version, left): core/state7.ts keeps the hash in step through it, O(1) a change. Null (protocol 6): no call.
 */
export interface StateObserver {
  /** Slot s was just allocated to a member. */
  added(slot: number): void;
  /** Slot s's hashed fields are about to change; `changed` follows once they did. */
  changing(slot: number): void;
  changed(slot: number): void;
  /** Slot s is about to be released (its fields still hold the member's state). */
  removing(slot: number): void;
}

/**
 * The element types of the columns. Four at most: the loops that copy every column (grow, permute)
 * stay polymorphic; a fifth type makes them megamorphic, about ten times slower.
 */
type TableColumn = Float64Array | Float32Array | Uint32Array | Uint8Array;

/** A zeroed column like `a` (or filled with `fill`), `capacity` long. */
function blank<A extends TableColumn>(a: A, capacity: number, fill: number): A {
  const b = new (a.constructor as new (length: number) => A)(capacity);
  if (fill !== 0) b.fill(fill);
  return b;
}

/** `length` nulls, allocated at once (packed, no spare room). */
function nulls<T>(length: number): (T | null)[] {
  return new Array<T | null>(length).fill(null);
}

/** `a` copied into a `capacity`-long column, nulls after it. */
function extended<T>(a: (T | null)[], capacity: number): (T | null)[] {
  const b = nulls<T>(capacity);
  for (let i = 0; i < a.length; i++) b[i] = a[i] ?? null;
  return b;
}

/** New slot k holds old slot order[k]; the rest of the `capacity` are null. */
function permuted<T>(a: (T | null)[], order: Int32Array, capacity: number): (T | null)[] {
  const b = nulls<T>(capacity);
  for (let k = 0; k < order.length; k++) b[k] = a[order[k] as number] ?? null;
  return b;
}

export class PeerTable {
  capacity: number;
  /** Slots handed out so far (some may be FREE again). */
  used = 0;
  private readonly freeSlots: number[] = [];
  readonly window: number;

  /**
   * Each member's identity, leave commitment and identity size (see MemberRecord; null: a free slot). A column of
   * objects, `capacity` long like the typed ones: an array grown one assignment at a time keeps up to half its
   * length spare, 4 B per (node, member) pair in the simulator.
   */
  records: (MemberRecord | null)[];
  /**
   * The key-values of the members that have any, by slot. Sparse while most members carry no keys (a slot-indexed
   * column of nulls costs 8 B per (node, member) pair, 0.8 GB in a 10,000-node simulation), a slot-indexed array
   * once most do (see SlotValues).
   */
  readonly values = new SlotValues<Map<string, StoredValue>>();
  /**
   * The refs of released slots not handed out again (a ref is read from the slot's record, which a release drops):
   * a slot reads the ref it last held until it is reused or the table renumbered, as a column of refs would.
   */
  private readonly releasedRefs = new Map<number, number>();
  status: Uint8Array;
  /** 1 once the member left (written through setLeft, which protocol 7's state hash watches). */
  left: Uint8Array;
  /** Told of changes to the state protocol 7 hashes (see StateObserver); null: nobody listens. */
  stateObserver: StateObserver | null = null;
  /**
   * Scratch mark used by the digest comparison: an epoch number (Membership.nextEpoch), not a boolean, so it needs
   * clearing only once every MAX_MARK_EPOCH epochs. One byte, where 32 bits (never cleared) cost 3 B more per
   * (node, member) pair in the simulator.
   */
  mark: Uint8Array;
  // The rest is read and written through the methods below.
  /**
   * Heartbeats are whole numbers that fit 32 bits in practice: a Uint32 column (4 B a member, not 8: 4 B per
   * (node, member) pair in the simulator) until a value that does not fit is written, then a Float64 one, which
   * holds whatever it is given. Either way a read returns what was written. Held in either mode: digests and deltas
   * carry them, to members still in mode 6 too, and a leave or a death records the last one.
   */
  private heartbeats: Uint32Array | Float64Array;
  /** When each member's newest known heartbeat was born, on our clock: the ages digests and deltas carry. */
  private births: Float64Array;
  /** Protocol 6's failure detector's columns, allocated on first write (null: none written since, or dropped). */
  private mode6: Mode6Columns | null = null;
  /**
   * Narrow while they can be (zero-column.ts), each read back as the Uint32 column it replaces: the GC version and
   * the report version are 0 for most members of a settled cluster, so each column is null (every slot reads 0)
   * until a value other than 0 is first written; the max version and the incarnation (protocol 7: one more for each
   * refutation) are held in bytes while every one fits. 4 B and 3 B per (node, member) pair in the simulator.
   */
  private maxVersions: Uint8Array | Uint32Array;
  private gcVersions: Uint32Array | null = null;
  private incarnations: Uint8Array | Uint32Array;
  private reportVersions: Uint32Array | null = null;
  /** 1 once the member's heartbeat was seen to advance here (see Membership.isProven). */
  private provenFlags: Uint8Array;

  constructor(window: number, initialCapacity = 16) {
    this.window = window;
    this.capacity = initialCapacity;
    this.records = nulls(initialCapacity);
    this.status = new Uint8Array(initialCapacity).fill(FREE);
    this.left = new Uint8Array(initialCapacity);
    this.mark = new Uint8Array(initialCapacity);
    this.heartbeats = new Uint32Array(initialCapacity);
    this.births = new Float64Array(initialCapacity);
    this.maxVersions = new Uint8Array(initialCapacity);
    this.provenFlags = new Uint8Array(initialCapacity);
    this.incarnations = new Uint8Array(initialCapacity);
  }

  /** A slot for `identity` (its ref: MemberRecord.ref). */
  allocate(identity: NodeIdentity): number {
    let slot = this.freeSlots.pop();
    if (slot === undefined) {
      if (this.used === this.capacity) this.grow();
      slot = this.used++;
    }
    this.records[slot] = memberRecord(identity, null);
    this.releasedRefs.delete(slot);
    this.values.delete(slot);
    this.status[slot] = LIVE;
    this.left[slot] = 0;
    this.mark[slot] = 0;
    this.heartbeats[slot] = 0;
    this.births[slot] = 0;
    this.mode6?.reset(slot);
    this.maxVersions[slot] = 0;
    if (this.gcVersions !== null) this.gcVersions[slot] = 0;
    this.incarnations[slot] = 0;
    if (this.reportVersions !== null) this.reportVersions[slot] = 0;
    this.provenFlags[slot] = 0;
    this.stateObserver?.added(slot);
    return slot;
  }

  release(slot: number): void {
    this.stateObserver?.removing(slot);
    this.releasedRefs.set(slot, this.ref(slot));
    this.records[slot] = null;
    this.values.delete(slot);
    this.status[slot] = FREE;
    this.freeSlots.push(slot);
  }

  private grow(): void {
    // 1.5x: a large cluster wastes less than with doubling, and growth stays amortized O(1).
    const cap = Math.ceil(this.capacity * 1.5);
    this.mapColumns(<A extends TableColumn>(a: A, fill: number): A => {
      const b = blank(a, cap, fill);
      b.set(a);
      return b;
    });
    this.records = extended(this.records, cap);
    this.capacity = cap;
  }

  /**
   * Renumbers the occupied slots: new slot k is old slot `order[k]` (every occupied slot once, self
   * first). Free slots disappear. The caller re-indexes whatever maps slots. Why: members are
   * admitted in arrival order, but digests walk them in ref order; with slots in that order, a
   * digest's walk reads every column front to back instead of at random (at 10,000 members, a
   * cache miss per column per member becomes a streamed read).
   */
  permute(order: Int32Array): void {
    const n = order.length;
    this.mapColumns(<A extends TableColumn>(a: A, fill: number): A => {
      const b = blank(a, this.capacity, fill);
      for (let k = 0; k < n; k++) b[k] = a[order[k] as number] as number;
      return b;
    });
    this.records = permuted(this.records, order, this.capacity);
    const values = [...this.values];
    this.values.clear();
    const slotOf = new Int32Array(this.used);
    for (let k = 0; k < n; k++) slotOf[order[k] as number] = k;
    for (const [s, map] of values) this.values.set(slotOf[s] as number, map);
    this.used = n;
    this.freeSlots.length = 0;
    this.releasedRefs.clear();
  }

  /** Replaces every per-slot column by f(column, the value of an empty slot). */
  private mapColumns(f: <A extends TableColumn>(a: A, fill: number) => A): void {
    this.status = f(this.status, FREE);
    this.left = f(this.left, 0);
    this.mark = f(this.mark, 0);
    this.heartbeats = f(this.heartbeats, 0);
    this.births = f(this.births, 0);
    this.mode6?.map(f);
    this.maxVersions = f(this.maxVersions, 0);
    if (this.gcVersions !== null) this.gcVersions = f(this.gcVersions, 0);
    this.incarnations = f(this.incarnations, 0);
    if (this.reportVersions !== null) this.reportVersions = f(this.reportVersions, 0);
    this.provenFlags = f(this.provenFlags, 0);
  }

  /** The ref of the member in slot s (a released slot: the last one it held; 0 after a renumbering). */
  ref(slot: number): number {
    const record = this.records[slot];
    return record ? record.ref : (this.releasedRefs.get(slot) ?? 0);
  }

  /** The identity of the member in (occupied) slot s. */
  identity(slot: number): NodeIdentity {
    return (this.records[slot] as MemberRecord).identity;
  }

  /** Slot s's leave commitment, the first one heard for its incarnation (null: none heard). */
  commitment(slot: number): Uint8Array | null {
    return (this.records[slot] as MemberRecord).commitment;
  }

  /** Records slot s's leave commitment; the caller keeps the first one heard. */
  setCommitment(slot: number, commitment: Uint8Array): void {
    this.records[slot] = memberRecord(this.identity(slot), commitment, this.publicKey(slot));
  }

  /** Slot s's report-signing public key (protocol 7; null: none held, or a free slot). */
  publicKey(slot: number): Uint8Array | null {
    return this.records[slot]?.publicKey ?? null;
  }

  /** Records slot s's report-signing public key (null: drops it); the caller keeps the first one heard. */
  setPublicKey(slot: number, key: Uint8Array | null): void {
    this.records[slot] = memberRecord(this.identity(slot), this.commitment(slot), key);
  }

  /** Bytes of slot s's identity on the wire (codec's identitySize, computed once per identity). */
  identitySize(slot: number): number {
    return (this.records[slot] as MemberRecord).size;
  }

  /** Whether slot s's heartbeat was seen to advance past the one it was admitted at. */
  proven(slot: number): boolean {
    return this.provenFlags[slot] === 1;
  }

  setProven(slot: number): void {
    this.provenFlags[slot] = 1;
  }

  /** Whether protocol 6's failure detector's columns are allocated (see Mode6Columns). */
  get hasMode6Columns(): boolean {
    return this.mode6 !== null;
  }

  /**
   * Releases protocol 6's failure detector's columns: every member's sampling anchor, period statistics, lag
   * allowance and deadline read as a new member's until written again (heartbeats and births stay). For a node that
   * stopped running protocol 6's liveness (FailureDetector.stop).
   */
  dropMode6Columns(): void {
    this.mode6 = null;
  }

  /** The mode-6 columns, allocated now if they are not yet. */
  private written(): Mode6Columns {
    return (this.mode6 ??= new Mode6Columns(this.capacity));
  }

  heartbeat(slot: number): number {
    return this.heartbeats[slot] as number;
  }

  setHeartbeat(slot: number, heartbeat: number): void {
    const a = this.heartbeats;
    if (a instanceof Uint32Array && !fits(heartbeat, 0xffffffff)) this.heartbeats = widened(a, null);
    this.heartbeats[slot] = heartbeat;
  }

  /**
   * When the newest known heartbeat was born, on our clock (its arrival time less the age it
   * carried): silence is counted from here.
   */
  birth(slot: number): number {
    return this.births[slot] as number;
  }

  setBirth(slot: number, birth: number): void {
    this.births[slot] = birth;
  }

  /** When phi crosses the threshold (precomputed, so a conviction check is one comparison). */
  deadline(slot: number): number {
    const c = this.mode6;
    return c === null ? Infinity : (c.deadlines[slot] as number);
  }

  setDeadline(slot: number, deadline: number): void {
    this.written().deadlines[slot] = deadline;
  }

  /** Versions are 32-bit: the core refuses larger ones (4 billion writes per node incarnation). */
  maxVersion(slot: number): number {
    return this.maxVersions[slot] as number;
  }

  setMaxVersion(slot: number, version: number): void {
    const o = this.stateObserver;
    o?.changing(slot);
    this.maxVersions = written8or32(this.maxVersions, slot, version);
    o?.changed(slot);
  }

  gcVersion(slot: number): number {
    const c = this.gcVersions;
    return c === null ? 0 : (c[slot] as number);
  }

  setGcVersion(slot: number, version: number): void {
    const o = this.stateObserver;
    o?.changing(slot);
    this.gcVersions = written32(this.gcVersions, this.capacity, slot, version);
    o?.changed(slot);
  }

  /** Protocol 7's incarnation of the member (32 bits; 0 until one is heard). */
  incarnation(slot: number): number {
    return this.incarnations[slot] as number;
  }

  setIncarnation(slot: number, incarnation: number): void {
    const o = this.stateObserver;
    o?.changing(slot);
    this.incarnations = written8or32(this.incarnations, slot, incarnation);
    o?.changed(slot);
  }

  /** The version of the member's report set as an observer (protocol 7; 0: none). */
  reportVersion(slot: number): number {
    const c = this.reportVersions;
    return c === null ? 0 : (c[slot] as number);
  }

  setReportVersion(slot: number, version: number): void {
    const o = this.stateObserver;
    o?.changing(slot);
    this.reportVersions = written32(this.reportVersions, this.capacity, slot, version);
    o?.changed(slot);
  }

  /** Marks the member left (1) or back (0). */
  setLeft(slot: number, left: 0 | 1): void {
    const o = this.stateObserver;
    o?.changing(slot);
    this.left[slot] = left;
    o?.changed(slot);
  }

  /**
   * Gossip lag allowance: the largest recent delay between a heartbeat's birth and its arrival here.
   * It jumps up to any larger lag at once and decays toward smaller ones (see noteLag).
   */
  lagAllowance(slot: number): number {
    const c = this.mode6;
    return c === null ? 0 : (c.lagMax[slot] as number);
  }

  setLagAllowance(slot: number, lagMs: number): void {
    this.written().lagMax[slot] = lagMs;
  }

  /** Intervals seen, up to the window size. */
  intervalCount(slot: number): number {
    const c = this.mode6;
    return c === null ? 0 : (c.fdCount[slot] as number);
  }

  /**
   * Moves the member's clock readings (birth, sampling anchor, deadline) later by `ms`: a stall of ours, excused.
   * Allocates nothing: a new member's anchor (none) and deadline (Infinity) read the same shifted.
   */
  shiftTimes(slot: number, ms: number): void {
    this.births[slot] = (this.births[slot] as number) + ms;
    this.mode6?.shiftTimes(slot, ms);
  }

  /** Drops the anchor of slot's interval samples (a revival): the silence before the next birth is no sample. */
  restartSampling(slot: number): void {
    const c = this.mode6;
    if (c !== null) c.sampledHeartbeats[slot] = NO_SAMPLE;
  }

  /**
   * A heartbeat born at `birth`. When 'measured', the interval since the previous measured birth,
   * per beat, is a sample of the owner's period; a 'placed' birth is no sample and no anchor.
   * Intervals run between measured births only: a birth placed by the owner's rhythm (the sender
   * gave only an age bound) would feed the rhythm's own error back into it.
   */
  sampleBirth(slot: number, heartbeat: number, birth: number, how: 'measured' | 'placed'): void {
    if (how === 'placed') return;
    this.written().sampleBirth(slot, heartbeat, birth, this.window);
  }

  /** Adds one interval to the period's mean and variance (Mode6Columns.addInterval). */
  addInterval(slot: number, intervalMs: number): void {
    this.written().addInterval(slot, intervalMs, this.window);
  }

  /** One heartbeat's gossip lag (Mode6Columns.noteLag). */
  noteLag(slot: number, lagMs: number): void {
    this.written().noteLag(slot, lagMs);
  }

  /** Mean period (0 when no interval was seen). */
  intervalMean(slot: number): number {
    const c = this.mode6;
    return c === null ? 0 : (c.fdMean[slot] as number);
  }

  /** Standard deviation of the period (0 when fewer than two intervals were seen). */
  intervalStd(slot: number): number {
    const c = this.mode6;
    return c === null ? 0 : Math.sqrt(c.fdVar[slot] as number);
  }
}
