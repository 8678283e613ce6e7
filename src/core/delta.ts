/**
 * Deltas: packing what a peer lacks into a byte budget, and applying what a peer sent.
 *
 * A delta holds node deltas (each a prefix, in version order, of the key-values the receiver lacks
 * for one member, or the member's introduction) and then heartbeat bumps (heartbeats alone, by ref
 * or, to a peer with our membership, by position). Packing stops before the first item that would
 * overflow. Applying validates each node delta whole before it touches state: a bad one changes
 * nothing and is counted.
 */
import { bumpSize, commitmentSize, heartbeatSize, NO_BUMPS, nodeDeltaHeaderSize, valueSize } from '../wire/codec.js';
import { groupChecks, lowHeartbeat } from '../wire/low-heartbeats.js';
import { varintSize } from '../wire/varint.js';
import { SPEAKS_KEY } from '../wire/liveness-messages.js';
import type { Delta, HeartbeatBumps, NodeDelta, VersionedValue } from '../wire/messages.js';
import { Budget } from './budget.js';
import type { FailureDetector } from './detector.js';
import type { Digests } from './digest.js';
import { NOT_HELD, UNREAD } from './heartbeat-restore.js';
import { identityRef } from './identity.js';
import type { Journal } from './journal.js';
import { SELF, type Membership } from './membership.js';
import type { OwnValues } from './own-values.js';
import { MAX_HEARTBEAT_LEAP, MAX_VERSION, MAX_VERSION_LEAP, type PeerTable, type StoredValue } from './peer-table.js';
import { randomInt } from './random.js';
import { intern, isShared, writable } from './shared-values.js';
import type { Random } from './types.js';

/** The parts of a node delta (protocol 6 or 7) that carry key-values: what applyNodeValues and invalid read. */
export type NodeValues = Pick<NodeDelta, 'fromVersion' | 'maxVersion' | 'lastGcVersion' | 'values'>;

/** Most members of a large cluster carry no keys: one shared empty list for them (never mutated). */
const NO_VALUES: VersionedValue[] = [];

/** A member whose key-values the receiver lacks: from which version, its GC watermark, and how far behind it is. */
export interface DeltaCandidate {
  slot: number;
  /** The receiver's max version and GC version for the member. */
  fromVersion: number;
  receiverGc: number;
  staleness: number;
}

/** What a delta is to carry, each list in the order it is packed. */
export interface DeltaContent {
  /** Members the receiver never saw, introduced whole; taken in turn from index `unknownStart`, wrapping. */
  readonly unknown?: readonly number[];
  readonly unknownStart?: number;
  /** Members whose key-values the receiver lacks, in the order given. */
  readonly stale?: readonly DeltaCandidate[];
  /** Heartbeat bumps: slots, or with `positions` indexes into it (positional bumps, for a peer with our membership). */
  readonly bumps?: readonly number[];
  readonly positions?: Int32Array | null;
  /** False: the receiver reads no low-bit heartbeats (an older protocol), so positional bumps carry them exact. */
  readonly lowBits?: boolean;
}

const NO_SLOTS: readonly number[] = [];
const NO_CANDIDATES: readonly DeltaCandidate[] = [];

/**
 * Where the congestion signal goes: FlowControl.noteDelta, one call per delta with state to carry (see noteCongestion).
 */
export interface CongestionSink {
  noteDelta(overflowed: boolean, now: number): void;
}

export interface DeltasComponents {
  readonly membership: Membership;
  readonly detector: FailureDetector;
  readonly digests: Digests;
  readonly journal: Journal;
  readonly rng: Random;
  /** This node's own state, which refutes claims about it above what it produced. */
  readonly own: OwnValues;
  /** Absent: no flow control, no signal. */
  readonly congestion?: CongestionSink | null;
}

export class Deltas {
  private readonly membership: Membership;
  private readonly detector: FailureDetector;
  private readonly digests: Digests;
  private readonly journal: Journal;
  private readonly rng: Random;
  private readonly own: OwnValues;
  private readonly congestion: CongestionSink | null;

  constructor(components: DeltasComponents) {
    this.membership = components.membership;
    this.detector = components.detector;
    this.digests = components.digests;
    this.journal = components.journal;
    this.rng = components.rng;
    this.own = components.own;
    this.congestion = components.congestion ?? null;
  }

  /**
   * Packs node deltas then heartbeat bumps into `budget` bytes, in the order of DeltaContent's
   * fields: introductions, then stale members, then bumps.
   */
  pack(content: DeltaContent, budget: number, now: number): Delta {
    const {
      unknown = NO_SLOTS,
      unknownStart = 0,
      stale = NO_CANDIDATES,
      bumps: bumpItems = NO_SLOTS,
      positions: order = null,
      lowBits = true,
    } = content;
    // Both counts are varints written before the items, and the bumps have a flags byte: reserve their largest size.
    const room = new Budget(budget, varintSize(unknown.length + stale.length) + 1 + varintSize(bumpItems.length));
    const nodes: NodeDelta[] = [];
    let open = true;
    for (let i = 0; open && i < unknown.length; i++)
      open = this.addNode(nodes, room, unknown[(unknownStart + i) % unknown.length] as number, -1, 0, now);
    let i = 0;
    for (; open && i < stale.length; i++) {
      const c = stale[i] as DeltaCandidate;
      open = this.addNode(nodes, room, c.slot, c.fromVersion, c.receiverGc, now);
    }
    if (this.congestion && unknown.length + stale.length > 0) this.noteCongestion(open, nodes, stale, i, now);
    return { nodes, bumps: this.packBumps(bumpItems, order, room.left, now, lowBits) };
  }

  /**
   * Underflow when everything fit; overflow when what the peer still lacks after this delta, in
   * versions, is more than it carried: the peer is over a packet behind. One full packet alone is
   * no queue, since a node gets several deltas a round. `next`: index in `stale` after the last tried.
   */
  private noteCongestion(
    complete: boolean,
    nodes: NodeDelta[],
    stale: readonly DeltaCandidate[],
    next: number,
    now: number,
  ): void {
    const overflowed = !complete && this.leftBehind(nodes, stale, next);
    if (complete || overflowed) (this.congestion as CongestionSink).noteDelta(overflowed, now);
  }

  /** Whether the peer lacks more versions after a cut delta than it carried. */
  private leftBehind(nodes: NodeDelta[], stale: readonly DeltaCandidate[], next: number): boolean {
    const t = this.membership.table;
    let carried = 0;
    for (const nd of nodes) carried += nd.values.length;
    const last = nodes[nodes.length - 1];
    const cut = stale[next - 1];
    let left =
      cut && last && last.ref === t.ref(cut.slot) ? t.maxVersion(cut.slot) - last.maxVersion : (cut?.staleness ?? 0);
    for (let k = next; k < stale.length; k++) left += (stale[k] as DeltaCandidate).staleness;
    return left > carried;
  }

  /**
   * Adds slot s's node delta from `fromVersion` (-1: introduce it) as far as `room` allows; false
   * when the budget is spent (nothing more should be tried).
   */
  private addNode(
    nodes: NodeDelta[],
    room: Budget,
    s: number,
    fromVersion: number,
    receiverGc: number,
    now: number,
  ): boolean {
    const m = this.membership;
    const t = m.table;
    const myGc = t.gcVersion(s);
    const myMax = t.maxVersion(s);
    // Unknown to the receiver, or it fell behind our tombstone GC: send everything from version 0 (a reset).
    const reset = fromVersion < 0 || (receiverGc < myGc && fromVersion < myGc);
    const from = reset ? 0 : fromVersion;
    const all = valuesAbove(t, s, from);
    const age = m.ageOf(s, now);
    // An introduction carries the member's leave commitment (protocol 5): the budget counts it for
    // every receiver, the codec leaves it out for one of an older protocol.
    const commitment = fromVersion < 0 ? m.commitment(s) : null;
    let size =
      nodeDeltaHeaderSize(null, t.heartbeat(s), age, myGc, from, myMax, all.length) +
      (fromVersion < 0 ? t.identitySize(s) + commitmentSize(commitment) : 0);
    if (!room.fits(size)) return false;
    let k = 0;
    for (; k < all.length; k++) {
      const vs = valueSize(all[k] as VersionedValue);
      if (!room.fits(size + vs)) break;
      size += vs;
    }
    // A header with none of the values it was meant to carry is only worth sending when it
    // introduces the node, resets it, or carries a GC watermark.
    if (k === 0 && all.length > 0 && !reset && fromVersion >= 0 && myGc <= receiverGc) return false;
    // A protocol-7 node is introduced with at least its first value, SPEAKS_KEY: a member admitted without it counts
    // as one that does not speak 7 (gate.ts, rule 4) and makes the cluster fall back.
    if (k === 0 && fromVersion < 0 && all[0]?.key === SPEAKS_KEY) return false;
    const values = k === all.length ? all : all.slice(0, k);
    room.take(size);
    nodes.push({
      ref: t.ref(s),
      identity: fromVersion < 0 ? m.identity(s) : null,
      heartbeat: t.heartbeat(s),
      heartbeatAge: age,
      lastGcVersion: myGc,
      fromVersion: from,
      maxVersion: k === all.length ? myMax : (values[k - 1]?.version ?? from),
      values,
      ...(commitment ? { commitment } : {}),
    });
    return k === all.length;
  }

  /**
   * Heartbeat bumps within `budget`, from a random start so that when the budget cuts, different
   * peers get different bumps. `items` are slots, or positions in `order` (positional bumps).
   */
  private packBumps(
    items: readonly number[],
    order: Int32Array | null,
    budget: number,
    now: number,
    lowBits: boolean,
  ): HeartbeatBumps {
    if (items.length === 0) return NO_BUMPS;
    const m = this.membership;
    // A positional bump costs at most the varint of the largest position: count that, to stay under budget.
    const keyCost = order ? varintSize(order.length) : bumpSize(0, 0) - 2;
    // Positions go to a peer with our membership, whose heartbeats are near ours: low bits pay as in compact digests.
    const low = order !== null && lowBits && this.digests.lowBitsPayFor(items.map((p) => order[p] as number));
    // Rotate only when the budget may cut; otherwise positions stay in ascending order and need no sort.
    const mayCut = items.length * (keyCost + 8) > budget;
    if (!mayCut) return this.bumpsOf(items, order, low, now);
    const chosen: number[] = [];
    const room = new Budget(budget);
    const start = randomInt(this.rng, items.length);
    for (let i = 0; i < items.length; i++) {
      const item = items[(start + i) % items.length] as number;
      const s = order ? (order[item] as number) : item;
      // Low bits' total size does not depend on the order the bumps are sorted into below.
      if (!room.take(keyCost + heartbeatSize(low, chosen.length, m.table.heartbeat(s)) + varintSize(m.ageOf(s, now))))
        break;
      chosen.push(item);
    }
    if (order) chosen.sort((a, b) => a - b);
    return this.bumpsOf(chosen, order, low, now);
  }

  /** Bumps for `items` (slots, or positions in `order`), in their order; `low`: heartbeats as low bits. */
  private bumpsOf(items: readonly number[], order: Int32Array | null, low: boolean, now: number): HeartbeatBumps {
    const m = this.membership;
    const t = m.table;
    const n = items.length;
    const keys = new Array<number>(n);
    const heartbeats = new Array<number>(n);
    const ages = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const item = items[i] as number;
      const s = order ? (order[item] as number) : item;
      keys[i] = order ? item : t.ref(s);
      heartbeats[i] = t.heartbeat(s);
      ages[i] = m.ageOf(s, now);
    }
    if (!low) return { count: n, positional: order !== null, keys, heartbeats, checks: null, ages };
    return {
      count: n,
      positional: true,
      keys,
      heartbeats: heartbeats.map(lowHeartbeat),
      checks: groupChecks(heartbeats, n),
      ages,
    };
  }

  /**
   * Applies a received delta from the address `from`. `sameMembership`: the sender's membership
   * hash equals ours, so positional bumps can be read. Bumps go first: node deltas may admit members
   * and shift positions.
   */
  apply(delta: Delta, now: number, sender: { readonly from: string; readonly sameMembership: boolean }): void {
    const { from, sameMembership } = sender;
    const { bumps } = delta;
    const m = this.membership;
    const t = m.table;
    if (bumps.positional) {
      if (sameMembership) {
        const order = m.sortedMembers();
        const slotOf = (i: number): number | undefined => order[bumps.keys[i] as number];
        const heartbeats = bumps.checks
          ? this.digests.restoreLow(bumps.heartbeats, bumps.checks, bumps.count, (i) => {
              const s = slotOf(i);
              return s === undefined ? NOT_HELD : t.heartbeat(s);
            })
          : bumps.heartbeats;
        for (let i = 0; i < bumps.count; i++) {
          const s = slotOf(i);
          const hb = heartbeats[i] as number;
          if (s === undefined || hb === UNREAD) continue;
          if (s !== SELF) this.detector.observe(s, hb, bumps.ages[i] as number, now);
          else this.own.refuteHeartbeat(hb, now);
        }
      }
    } else {
      for (let i = 0; i < bumps.count; i++) {
        const s = m.slotOfRef(bumps.keys[i] as number);
        if (s > SELF) this.detector.observe(s, bumps.heartbeats[i] as number, bumps.ages[i] as number, now);
        else if (s === SELF) this.own.refuteHeartbeat(bumps.heartbeats[i] as number, now);
      }
    }
    for (const nd of delta.nodes) this.applyNode(nd, now, from);
  }

  private applyNode(nd: NodeDelta, now: number, from?: string): void {
    const m = this.membership;
    const t = m.table;
    let s = m.slotOfRef(nd.ref);
    if (s === SELF) {
      if (nd.maxVersion > t.maxVersion(SELF) || nd.heartbeat > t.heartbeat(SELF)) this.journal.reject('about-self');
      // What others hold about us above what we produced heals only when we go higher.
      this.own.refuteHeartbeat(nd.heartbeat, now);
      if (invalid(nd) === null) this.own.refute(Math.max(nd.maxVersion, nd.lastGcVersion), nd.values, now);
      return;
    }
    const refused = invalid(nd);
    if (refused) return this.journal.reject(refused);
    if (s >= 0) {
      // Validated whole before anything is applied: a lying heartbeat or version refuses the delta.
      if (nd.heartbeat - t.heartbeat(s) > MAX_HEARTBEAT_LEAP) return this.journal.reject('implausible-heartbeat');
      if (Math.max(nd.maxVersion, nd.lastGcVersion) - t.maxVersion(s) > MAX_VERSION_LEAP)
        return this.journal.reject('implausible-version');
    }
    const admitted = s < 0;
    if (admitted) {
      if (!nd.identity) return this.journal.reject('unknown-node');
      s = m.admit(nd.identity, nd.ref, nd.heartbeat, now, from);
      if (s < 0) return;
      m.noteCommitment(s, nd.commitment);
      this.detector.watch(s, nd.heartbeatAge, now);
    } else {
      // A member we hold without a commitment (learned through an older release) gets the first one heard.
      if (nd.commitment && nd.identity && identityRef(nd.identity) === nd.ref) m.noteCommitment(s, nd.commitment);
      this.detector.observe(s, nd.heartbeat, nd.heartbeatAge, now);
    }
    const changed = applyNodeValues(t, this.journal, nd, s);
    // A member arrives with the values of the delta that introduced it: its event shows them.
    if (admitted) m.announce(s);
    if (changed.length > 0) this.journal.emit({ type: 'update', node: m.identity(s), keys: [...new Set(changed)] }, s);
  }
}

/** Whether `map` holds a tombstone at or below `gcVersion` (one a GC watermark collects). */
function holdsCollectable(map: ReadonlyMap<string, StoredValue>, gcVersion: number): boolean {
  for (const v of map.values()) if (v.tombstone && v.version <= gcVersion) return true;
  return false;
}

/** Slot s's values in `t` with version > from, ascending (the map keeps version order): a delta's prefix. */
export function valuesAbove(t: PeerTable, slot: number, from: number): VersionedValue[] {
  const map = t.values.get(slot);
  if (!map) return NO_VALUES;
  const out: VersionedValue[] = [];
  for (const [key, v] of map)
    if (v.version > from) out.push({ key, value: v.value, version: v.version, tombstone: v.tombstone });
  return out;
}

/**
 * Applies a node delta's key-values and GC watermark to slot s of `t` (the prefix invariant: a delta starting above
 * our max version is a gap, one behind the owner's GC must restate everything); returns the keys whose value changed
 * (none when refused, counted in `journal`). Shared by protocol 6's and protocol 7's node deltas.
 */
export function applyNodeValues(t: PeerTable, journal: Journal, nd: NodeValues, s: number): string[] {
  const changed: string[] = [];
  const mine = t.maxVersion(s);
  const myGc = t.gcVersion(s);
  if (nd.fromVersion > mine) {
    journal.reject('gap');
    return changed;
  }
  let map = t.values.get(s);
  if (nd.lastGcVersion > myGc && mine < nd.lastGcVersion) {
    // We fell behind the owner's tombstone GC: only a full restatement is safe.
    if (nd.fromVersion !== 0) {
      journal.reject('behind-gc');
      return changed;
    }
    if (map) for (const key of map.keys()) changed.push(key);
    map = new Map();
    t.values.set(s, map);
    t.setMaxVersion(s, 0);
  }
  const base = t.maxVersion(s);
  // A map shared with other tables (shared-values.ts) is copied before its first write here, and the result
  // shared again if another table holds the same content.
  const held = map;
  for (const v of nd.values) {
    if (v.version <= base) continue;
    // Most members of a large cluster carry no metadata: no map for them.
    map = map === undefined ? new Map() : map === held ? writable(map) : map;
    const existing = map.get(v.key);
    map.delete(v.key);
    map.set(v.key, { value: v.value, version: v.version, tombstone: v.tombstone, expiresAt: Infinity, deletedAt: 0 });
    if (!existing || existing.tombstone !== v.tombstone || existing.value !== v.value) changed.push(v.key);
  }
  if (nd.maxVersion > base) t.setMaxVersion(s, nd.maxVersion);
  if (nd.lastGcVersion > myGc) {
    t.setGcVersion(s, nd.lastGcVersion);
    if (map && holdsCollectable(map, nd.lastGcVersion)) {
      if (map === held) map = writable(map);
      for (const [key, v] of map) if (v.tombstone && v.version <= nd.lastGcVersion) map.delete(key);
    }
  }
  if (map !== undefined && !isShared(map)) t.values.set(s, intern(t.identity(s), map));
  return changed;
}

/** Why a node delta is malformed in itself (before any state is consulted), or null. */
export function invalid(nd: NodeValues): 'out-of-range' | 'not-ascending' | null {
  if (nd.maxVersion > MAX_VERSION || nd.lastGcVersion > MAX_VERSION) return 'out-of-range';
  let prev = nd.fromVersion;
  for (const v of nd.values) {
    if (v.version <= prev) return 'not-ascending';
    prev = v.version;
  }
  return nd.maxVersion < prev ? 'not-ascending' : null;
}
