/**
 * The protocol core: one node's view of the cluster and the Scuttlebutt handshake.
 * Pure: no sockets, timers, Date.now() or Math.random(). The harness passes clock readings
 * and decoded messages in, and takes out messages to send and events to publish.
 *
 * The handshake is stateless per exchange (each message is answered from the current state
 * alone), so a lost or duplicated packet never leaves half-open exchange state behind:
 *   SYN      initiator -> responder: cluster id, membership hash, digest
 *   SYN-ACK  responder -> initiator: what the responder lacks (request) + what the initiator lacks (delta)
 *   ACK      initiator -> responder: the delta for the request
 */
import {
  bucketsSize,
  bumpSize,
  compactEntrySize,
  digestHeaderSize,
  exchangeHeaderSize,
  fullEntrySize,
  heartbeatSize,
  ownEntrySize,
  NO_BUMPS,
  nodeDeltaHeaderSize,
  valueSize,
} from '../wire/codec.js';
import { bucketOf, HEARTBEAT_AGE_UNIT_MS, MAX_BUCKETS, type Column, type Delta, type Digest, type HeartbeatBumps, type Message, type NodeDelta, type NodeIdentity, type VersionedValue } from '../wire/messages.js';
import { stringSize, varintSize } from '../wire/varint.js';
import { groupChecks, growTo, lowBitsPay, lowHeartbeat, NOT_HELD, restoreHeartbeats, UNREAD } from '../wire/low-heartbeats.js';
import { DEAD, FREE, LIVE, PeerTable, type StoredValue } from './peer-table.js';
import { lnNormalUpperTail, thresholdSigma } from './phi.js';
import { addToSetHash, identityRef, idKey, removeFromSetHash } from './identity.js';
import { randomInt } from './random.js';
import { RefIndex } from './ref-index.js';
import type { ClusterSnapshot, CoreConfig, CoreEvent, NodeView, Outbound, Random, RejectReason } from './types.js';

const REJECT_REASONS: readonly RejectReason[] = [
  'about-self',
  'gap',
  'not-ascending',
  'behind-gc',
  'unknown-node',
  'superseded-generation',
  'removed-node',
  'ref-mismatch',
  'wrong-cluster',
  'out-of-range',
];
/** Most members of a large cluster carry no keys: one shared empty list for them (never mutated). */
const NO_VALUES: VersionedValue[] = [];
/** Versions are stored in 32 bits. */
const MAX_VERSION = 0xffffffff;

/** A dead node comes back only after this many fresh heartbeats past the one it was convicted at: stale gossip about a crashed node can carry one or two, a live node produces them every round. */
const REVIVAL_HEARTBEATS = 2;
/** A request (what the responder lacks) may take at most this share of a SYN-ACK; the delta gets the rest. */
const REQUEST_SHARE = 0.5;
const SELF = 0;
/** slotAt's answer for the member a peer one apart has and we removed. */
const SKIPPED = -1;
const PEER_SET_CACHE = 1024;
/**
 * A new incarnation introduces itself directly to this many members, once, when it first learns the
 * cluster. Up to this size a join is known everywhere one packet later; beyond it, the epidemic
 * starts from this many nodes instead of one and saves about log_fanout(ANNOUNCE_MAX) hops.
 */
const ANNOUNCE_MAX = 64;
/**
 * One exchange of a round pulls (the peer answers with every heartbeat we lack); the others push:
 * our digest gives the peer our heartbeats, and it answers only with keys, members, a request, or
 * a heartbeat we are PUSH_GAP or more beats behind on. A reply that would only say "one beat
 * newer" is most of the steady-state traffic (a packet and its header), and that beat arrives by
 * the next round anyway; a gap of two means we are falling behind, which the failure detector
 * pays for, so it is always answered. Measured (docs/benchmarks.md): −16 % loopback bytes at 50
 * agents; simulated detection unchanged at 1,000 nodes, +0.2–0.4 s at 50–100. Without the gap rule
 * (pure pushes) the heartbeat tail grows: 1,000 nodes detected in 10.7 s instead of 6.9.
 */
const PULLS_PER_ROUND = 1;
const PUSH_GAP = 2;

interface RemovedNode {
  heartbeat: number;
  until: number;
}

interface PeerSet {
  hash: number;
  size: number;
}

interface DeltaCandidate {
  slot: number;
  /** The receiver's max version and gc version for the node; -1 when it does not know the node. */
  fromVersion: number;
  receiverGc: number;
  staleness: number;
}

export class ScuttlebuttCore {
  readonly self: NodeIdentity;
  private readonly config: CoreConfig;
  private readonly rng: Random;
  private readonly table: PeerTable;
  private readonly byRef: RefIndex;
  /** id -> slot of the newest generation known. */
  private readonly byId: RefIndex;
  /** Removed members' ids -> their generation, so an older incarnation cannot sneak back after removal. */
  private readonly retired = new Map<string, { generation: number; until: number }>();
  /** Dead members (few): when they were convicted and at which heartbeat. */
  private readonly deaths = new Map<number, { since: number; heartbeat: number }>();
  private readonly removed = new Map<number, RemovedNode>();
  private readonly peerSets = new Map<string, PeerSet>();
  private seeds: string[] = [];
  private events: CoreEvent[] = [];
  private readonly rejected: Record<RejectReason, number>;
  private readonly sigma: number;
  /** Ages in our digests stop at one gossip interval (see Digest.ageLimit). */
  private readonly digestAgeLimit: number;
  /** Bytes left for the delta of an ACK: the budget less its type byte and cluster id. */
  private readonly ackDeltaBudget: number;
  private readonly minStdMs: number;
  private readonly pauseMs: number;
  private readonly stallThresholdMs: number;

  private setHash = 0;
  private members = 0;
  private liveOthers = 0;
  private deadOthers = 0;
  private sorted: Int32Array = new Int32Array(0);
  private sortedValid = false;
  /** Members were admitted since the table was last renumbered in ref order (see keepSlotsInRefOrder). */
  private slotsDisordered = false;
  /** Members were admitted or removed since the last round. */
  private membershipChanged = false;
  private digestCursor = 0;
  private markEpoch = 0;
  /**
   * Restoring low-bit heartbeats (one message at a time): our heartbeat of each entry's member, and
   * the restored values. Reused: a 10,000-member digest arrives several times a second. The first
   * also holds a low-bit digest's full heartbeats while its checks are computed.
   */
  private readonly heldScratch: number[] = [];
  private readonly restoredScratch: number[] = [];
  private lastClock: number;
  private stalls = 0;
  /** When a message last arrived from anyone: silence from everyone means *we* are deaf. */
  private lastHeard: number;
  private deafSpells = 0;
  private readonly deafAfterMs: number;
  private readonly maxDeafHoldMs: number;
  /**
   * How often recent peers' membership hashes matched ours (moving average in [0, 1]). Most peers
   * we pick in a large cluster have never told us their hash; when recent ones mostly agree with
   * us, we bet on compact digests for those too.
   */
  private agreement = 0;
  /** Something new arrived (a member, a key, a revival) since the last round: worth spreading now. */
  private news = false;
  /** This incarnation has introduced itself to the members it first learned (see ANNOUNCE_MAX). */
  private announced = false;
  /** A lower bound on every live member's deadline (updateDeadline lowers it, detect() recomputes it). */
  private earliestDeadline = Infinity;
  /**
   * How much later than their members' lag allowances heartbeats have lately arrived, over all
   * members: a moving average of the positive part, about one interval of arrivals long. When
   * gossip slows for everyone at once, this rises before any one member's allowance has learned it
   * (allowances learn only from heartbeats that arrive, and the member we are about to convict sent
   * none). Every deadline is extended by what exceeds a quarter interval (lateSlack). Seen at
   * 10,000 nodes under 10 % loss: the bootstrap's news-driven rounds spread heartbeats in about a
   * second, steady gossip three seconds later in the tail, and allowances learned in the bootstrap
   * convicted 194 live members three seconds after it (359 convictions; 101 with this). A crash slows
   * nobody else's heartbeats, so it leaves this at rest and detection on time.
   */
  private lateness = 0;
  /**
   * What members' lag allowances typically are: a moving average over heartbeat arrivals, about one
   * interval of arrivals long. Gossip carries every member's heartbeat along the same random paths,
   * so an allowance far below this is not a faster member but a stale lesson: at 10,000 nodes under
   * 10 % loss, allowances learned from the bootstrap's news-driven rounds (about a second) were
   * under half of steady gossip's (2.3 s three seconds later), and observers that then heard nobody
   * for a second or two made 101 convictions of 66 live members (0 with this). A deadline is never
   * earlier than the typical allowance allows (lagShortfall). Members above it keep their own, so
   * detection, which waits for the slowest observer, moves little.
   */
  private typicalLag = 0;
  /** When the earliest dead member's grace period ends. */
  private nextRemoval = Infinity;

  constructor(config: CoreConfig, rng: Random, now: number, initialValues: Readonly<Record<string, string>> = {}) {
    this.config = config;
    this.self = config.self;
    this.rng = rng;
    const expected = Math.max(16, config.expectedMembers ?? 16);
    this.table = new PeerTable(Math.max(2, config.failureDetector.samplingWindowSize), expected);
    this.byRef = new RefIndex(expected);
    this.byId = new RefIndex(expected);
    this.sigma = thresholdSigma(config.failureDetector.phiThreshold);
    this.digestAgeLimit = Math.ceil(config.gossipIntervalMs / HEARTBEAT_AGE_UNIT_MS);
    this.ackDeltaBudget = config.payloadBudget - 1 - stringSize(config.clusterId);
    this.minStdMs = config.failureDetector.minStdDeviationMs;
    this.pauseMs = config.failureDetector.acceptableHeartbeatPauseMs;
    this.stallThresholdMs = Math.max(2 * config.gossipIntervalMs, config.gossipIntervalMs + 2000);
    this.rejected = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>;
    this.lastClock = now;
    this.lastHeard = now;
    this.deafAfterMs = 2 * config.gossipIntervalMs;
    // Lifeguard's bound too (memberlist: awareness multiplier at most 8). At 4 x, one 100-node node-hour in a hundred at 10 %
    // bursty loss (mean burst 10 packets) had a 17 s burst on its inbound link and convicted all 98 peers.
    this.maxDeafHoldMs = 8 * (config.gossipIntervalMs + config.failureDetector.acceptableHeartbeatPauseMs);
    const slot = this.table.allocate(config.self, identityRef(config.self));
    if (slot !== SELF) throw new Error('self must take slot 0');
    this.indexMember(slot, config.self);
    this.table.setHeartbeat(SELF, config.firstHeartbeat ?? 1);
    this.table.setBirth(SELF, now);
    this.table.values[SELF] = new Map();
    for (const [key, value] of Object.entries(initialValues)) this.set(key, value, now);
    this.events = [];
  }

  // ------------------------------------------------------------------ local writes

  /** Sets a key of this node's map; a no-op when the value is unchanged. */
  set(key: string, value: string, now: number): void {
    void now; // part of the signature for symmetry with setWithTtl and delete; a plain set never expires
    this.write(key, value, Infinity);
  }

  /** Sets a key that this node deletes (tombstones) after ttlMs; peers learn the deletion by gossip. */
  setWithTtl(key: string, value: string, ttlMs: number, now: number): void {
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError(`ttlMs must be a positive finite number of ms (got ${ttlMs})`);
    this.write(key, value, now + ttlMs);
  }

  delete(key: string, now: number): void {
    const own = this.ownValues();
    const current = own.get(key);
    if (!current || current.tombstone) return;
    this.putOwn(key, { value: '', version: 0, tombstone: true, expiresAt: Infinity, deletedAt: now });
  }

  get(key: string): string | undefined {
    const v = this.ownValues().get(key);
    return v && !v.tombstone ? v.value : undefined;
  }

  private write(key: string, value: string, expiresAt: number): void {
    if (typeof key !== 'string' || key.length === 0) throw new TypeError('key must be a non-empty string');
    if (typeof value !== 'string') throw new TypeError(`value of key "${key}" must be a string`);
    // What an ACK carrying this one value costs at worst; 16 covers the delta's counts and the bumps' flags.
    const cost =
      exchangeHeaderSize(this.config.clusterId, 0) +
      16 +
      nodeDeltaHeaderSize(this.self, 2 ** 40, 2 ** 40, 2 ** 40, 2 ** 40, 2 ** 40, 1) +
      valueSize({ key, value, version: 2 ** 40, tombstone: false });
    if (cost > this.config.payloadBudget) {
      throw new RangeError(`key "${key.slice(0, 40)}" with its value needs ${cost} bytes in a packet; the payload budget is ${this.config.payloadBudget} bytes`);
    }
    const own = this.ownValues();
    const current = own.get(key);
    if (current && !current.tombstone && current.value === value) {
      current.expiresAt = expiresAt; // a TTL refresh needs no new version: expiry is the owner's business
      return;
    }
    this.putOwn(key, { value, version: 0, tombstone: false, expiresAt, deletedAt: 0 });
  }

  private putOwn(key: string, entry: StoredValue): void {
    const own = this.ownValues();
    const version = this.table.maxVersion(SELF) + 1;
    if (version > MAX_VERSION) throw new RangeError('this node has used all 2^32 versions of its incarnation: restart it (a new generation starts from 1)');
    entry.version = version;
    // Delete then set: Map order stays ascending by version, which is the order deltas need.
    own.delete(key);
    own.set(key, entry);
    this.table.setMaxVersion(SELF, version);
    this.news = true;
    this.events.push({ type: 'update', node: this.self, keys: [key] });
  }

  private ownValues(): Map<string, StoredValue> {
    return this.table.values[SELF] as Map<string, StoredValue>;
  }

  setSeeds(addresses: readonly string[]): void {
    this.seeds = [...new Set(addresses)].filter((a) => a !== this.self.address);
  }

  takeEvents(): CoreEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  rejections(): Readonly<Record<RejectReason, number>> {
    return { ...this.rejected };
  }

  /** Times this node noticed that it had itself been stalled (and spared its peers). */
  get localStalls(): number {
    return this.stalls;
  }

  /** Times this node heard nobody for over two rounds with live peers around (and held its convictions). */
  get localDeafSpells(): number {
    return this.deafSpells;
  }

  get liveCount(): number {
    return this.liveOthers + 1;
  }

  get memberCount(): number {
    return this.members;
  }

  // ------------------------------------------------------------------ the round

  /** One gossip round: bump own heartbeat, expire and collect own keys, run the failure detector, open exchanges. */
  tick(now: number): Outbound[] {
    const t = this.table;
    t.setHeartbeat(SELF, t.heartbeat(SELF) + 1);
    t.setBirth(SELF, now);
    this.keepSlotsInRefOrder();
    this.expireOwnValues(now);
    this.detect(now);
    return this.openExchanges(now);
  }

  /**
   * The earliest conviction deadline, on the caller's clock (Infinity when none): a harness that
   * runs detect() at this instant convicts on time rather than at its next periodic check. It may be
   * early (a deadline that was earliest has moved later since); late only by how far the typical lag
   * allowance has fallen since a member was held back by it (see lagShortfall), which is slow.
   */
  get nextDeadline(): number {
    return this.earliestDeadline + this.lateSlack();
  }

  /** What every deadline is extended by now: lateness beyond a quarter interval (see lateness). */
  private lateSlack(): number {
    return Math.max(0, this.lateness - this.config.gossipIntervalMs / 4);
  }

  /** True when this node learned something since its last round, so an early round would spread it. */
  get hasNews(): boolean {
    return this.news;
  }

  /**
   * An extra round between ticks, to spread news now rather than at the next tick: the same
   * exchanges, but no heartbeat (the detectors downstream keep their rhythm). Harnesses call it
   * when hasNews, rate-limited (the runtime: at most four per interval).
   */
  gossip(now: number): Outbound[] {
    this.observeClock(now);
    return this.openExchanges(now);
  }

  private openExchanges(now: number): Outbound[] {
    this.news = false;
    const targets = this.selectPeers();
    const out: Outbound[] = [];
    let compact: Digest | null = null;
    let full: Digest | null = null;
    // Heard nobody for a while: what we know of peers' memberships may be stale, and a compact digest
    // that meets another membership is not read at all, our own heartbeat with it; a full one names
    // members by ref, so every peer reads our heartbeat in it (we put it first). A node whose inbound
    // link failed during a bootstrap was otherwise convicted while it kept sending (docs/benchmarks.md).
    const unheard = now - this.lastHeard > this.deafAfterMs;
    for (const [k, to] of targets.entries()) {
      const peer = this.peerSets.get(to);
      let digest: Digest;
      const sameSet = !unheard && (peer ? peer.hash === this.setHash && peer.size === this.members : this.agreement >= 0.5);
      if (sameSet) {
        digest = compact ??= this.buildDigest(true, now);
      } else {
        digest = full ??= this.buildDigest(false, now, unheard);
      }
      out.push({ to, message: { type: 'syn', clusterId: this.config.clusterId, setHash: this.setHash, setSize: this.members, digest, pull: k < PULLS_PER_ROUND } });
    }
    return out;
  }

  /** Graceful leave: a message for every live peer, which marks this node dead at once. */
  leave(now: number): Outbound[] {
    this.observeClock(now);
    const out: Outbound[] = [];
    const t = this.table;
    for (let s = 1; s < t.used; s++) {
      if (t.status[s] !== LIVE) continue;
      out.push({
        to: (t.identities[s] as NodeIdentity).address,
        message: { type: 'leave', clusterId: this.config.clusterId, identity: this.self, heartbeat: t.heartbeat(SELF) },
      });
    }
    return out;
  }

  /**
   * The failure detector alone: convicts members whose phi passed the threshold and removes those
   * dead past the grace period. tick() runs it; a harness may also run it between rounds so that
   * conviction is not quantized to the gossip interval (the runtime does, four times a round).
   */
  detect(now: number): void {
    this.observeClock(now);
    const t = this.table;
    const grace = this.config.failureDetector.deadNodeGracePeriodMs;
    // Nothing due: skip the scan of every member (four times a round, on every node).
    const slack = this.lateSlack();
    if (now <= this.earliestDeadline + slack && now < this.nextRemoval) return this.forgetExpired(now);
    const deaf = this.isDeaf(now);
    let next = Infinity;
    let nextRemoval = Infinity;
    for (let s = 1; s < t.used; s++) {
      const st = t.status[s];
      if (st === LIVE) {
        let deadline = t.deadline(s);
        // Rarely due: the shortfall is worked out only for members past their own deadline.
        if (now > deadline + slack) deadline += this.lagShortfall(s);
        if (now > deadline + slack) {
          if (!deaf) this.convict(s, 'suspected', now);
          else next = now; // excused for now: look again next time
        } else if (deadline < next) {
          next = deadline;
        }
      }
      if (t.status[s] === DEAD) {
        const due = (this.deaths.get(s)?.since ?? now) + grace;
        if (due <= now) this.remove(s, now);
        else if (due < nextRemoval) nextRemoval = due;
      }
    }
    this.earliestDeadline = next;
    this.nextRemoval = nextRemoval;
    this.forgetExpired(now);
  }

  /** Drops removal and retirement records past their time. */
  private forgetExpired(now: number): void {
    for (const [ref, r] of this.removed) if (r.until <= now) this.removed.delete(ref);
    for (const [id, r] of this.retired) if (r.until <= now) this.retired.delete(id);
  }

  private selectPeers(): string[] {
    const t = this.table;
    const chosen: number[] = [];
    const fanout = this.config.fanout;
    if (this.liveOthers <= fanout * 2) {
      for (let s = 1; s < t.used; s++) if (t.status[s] === LIVE) chosen.push(s);
      shuffle(chosen, this.rng);
      chosen.length = Math.min(chosen.length, fanout);
    } else {
      // Most slots are live: rejection sampling is O(fanout) instead of a scan of the table.
      for (let attempts = 0; chosen.length < fanout && attempts < fanout * 64; attempts++) {
        const s = 1 + randomInt(this.rng, t.used - 1);
        if (t.status[s] === LIVE && !chosen.includes(s)) chosen.push(s);
      }
      // A table full of freed or dead slots can defeat sampling: fall back to a scan.
      if (chosen.length < fanout) {
        const rest: number[] = [];
        for (let s = 1; s < t.used; s++) if (t.status[s] === LIVE && !chosen.includes(s)) rest.push(s);
        shuffle(rest, this.rng);
        chosen.push(...rest.slice(0, fanout - chosen.length));
      }
    }
    const addresses = chosen.map((s) => (t.identities[s] as NodeIdentity).address);
    // A dead node now and then, so a healed partition or a revived node is noticed.
    if (this.deadOthers > 0 && this.rng.next() < this.deadOthers / (this.liveOthers + 1)) {
      const dead: number[] = [];
      for (let s = 1; s < t.used; s++) if (t.status[s] === DEAD && t.left[s] === 0) dead.push(s);
      if (dead.length > 0) {
        const address = (t.identities[dead[randomInt(this.rng, dead.length)] as number] as NodeIdentity).address;
        if (!addresses.includes(address)) addresses.push(address);
      }
    }
    // A seed when alone, else rarely: it re-joins partitions whose members were already removed.
    if (this.seeds.length > 0 && (this.liveOthers === 0 || this.rng.next() < this.seeds.length / (this.liveOthers + this.deadOthers + 1))) {
      const seed = this.seeds[randomInt(this.rng, this.seeds.length)] as string;
      if (!addresses.includes(seed)) addresses.push(seed);
    }
    return addresses;
  }

  private expireOwnValues(now: number): void {
    const own = this.ownValues();
    const expired: string[] = [];
    let collected = this.table.gcVersion(SELF);
    const grace = this.config.tombstoneGracePeriodMs;
    for (const [key, v] of own) {
      if (!v.tombstone && v.expiresAt <= now) expired.push(key);
      else if (v.tombstone && v.deletedAt + grace <= now) {
        own.delete(key);
        if (v.version > collected) collected = v.version;
      }
    }
    this.table.setGcVersion(SELF, collected);
    for (const key of expired) this.delete(key, now);
  }

  // ------------------------------------------------------------------ digests

  /** Members sorted by ref: the shared order that lets compact digests leave refs out. */
  private sortedMembers(): Int32Array {
    if (!this.sortedValid) {
      const t = this.table;
      const slots: number[] = [];
      for (let s = 0; s < t.used; s++) if (t.status[s] !== FREE) slots.push(s);
      slots.sort((a, b) => (t.refs[a] as number) - (t.refs[b] as number));
      this.sorted = Int32Array.from(slots);
      this.sortedValid = true;
    }
    return this.sorted;
  }

  /**
   * Renumbers the table in ref order (self stays slot 0) once membership has held still for a
   * round: compact digests, which most exchanges carry, then walk the columns front to back
   * instead of at random. Not while members keep arriving (a bootstrap), which would redo it on
   * every admission.
   */
  private keepSlotsInRefOrder(): void {
    const changed = this.membershipChanged;
    this.membershipChanged = false;
    if (changed || !this.slotsDisordered) return;
    this.slotsDisordered = false;
    const sorted = this.sortedMembers();
    const order = new Int32Array(sorted.length); // order[0] = SELF
    order.set(sorted.filter((s) => s !== SELF), 1);
    this.renumber(order);
    // Sorted again on next use: the slots are in ref order now, so that sort is one pass.
    this.sortedValid = false;
  }

  /** Gives old slot order[k] the slot k, and re-keys everything that names slots. */
  private renumber(order: Int32Array): void {
    const t = this.table;
    const slotOf = new Int32Array(t.used).fill(-1);
    for (let k = 0; k < order.length; k++) slotOf[order[k] as number] = k;
    t.permute(order);
    this.byRef.remap(slotOf);
    this.byId.remap(slotOf);
    const deaths = [...this.deaths];
    this.deaths.clear();
    for (const [s, d] of deaths) this.deaths.set(slotOf[s] as number, d);
  }

  /** Occupied slots in table order (full-mode digests need no particular order). */
  private memberSlots(): number[] {
    const t = this.table;
    const out: number[] = [];
    for (let s = 0; s < t.used; s++) if (t.status[s] !== FREE) out.push(s);
    return out;
  }

  /**
   * This node's digest within the byte budget. When it does not all fit, a run of entries is sent,
   * starting where the previous round's run stopped, so every entry is sent in turn. A compact run
   * is contiguous in the sorted order (positions are implied by its offset), so it stops at the end.
   * `selfFirst`: a full run starts at our own entry instead (see openExchanges).
   */
  private buildDigest(compact: boolean, now: number, selfFirst = false): Digest {
    const t = this.table;
    const list = compact ? this.sortedMembers() : this.memberSlots();
    const n = list.length;
    const ageLimit = this.digestAgeLimit;
    let budget = this.config.payloadBudget - exchangeHeaderSize(this.config.clusterId, n) - digestHeaderSize(n, n, ageLimit);
    // Plain arrays, not typed ones: see Column.
    const refs = compact ? null : new Array<number>(n);
    const heartbeats = new Array<number>(n);
    // Low bits (compact only): `heartbeats` gets them, `full` (scratch, not sent) the full values for the checks.
    const low = compact && this.lowBitsPayFor(list);
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
      const age = Math.min(ageLimit, this.ageOf(s, now));
      const max = t.maxVersion(s);
      const gc = t.gcVersion(s);
      if (refs) refs[i] = t.refs[s] as number;
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
    const own = (count: number): { own?: Digest['own'] } => (low && ownIndex >= 0 && ownIndex < count ? { own: { index: ownIndex, heartbeat: ownHeartbeat } } : {});
    if (total <= budget) {
      const checks = low ? groupChecks(full, n) : null;
      return { mode: compact ? 'compact' : 'full', complete: true, offset: 0, count: n, refs, heartbeats, checks, ...own(n), ages, ageLimit, maxVersions, gcVersions };
    }
    let buckets: number[] | undefined;
    if (!compact) {
      // A run cannot tell the peer which members we lack; a bucket summary can (see onSyn).
      buckets = this.bucketSums(this.bucketCount());
      budget -= bucketsSize(buckets.length);
    }
    // The run, written over the columns: an entry that does not fit is written, then cut off.
    // A full run may start with ourselves (memberSlots() lists SELF first): see openExchanges.
    const start = selfFirst && !compact ? 0 : this.digestCursor % n;
    const limit = compact ? n - start : n;
    let m = 0;
    let used = 0;
    ownIndex = -1;
    for (let i = 0; i < limit; i++) {
      const size = put(m, list[(start + i) % n] as number);
      if (used + size > budget) break;
      used += size;
      m++;
    }
    this.digestCursor = (start + m) % n;
    const cut = (c: number[]): number[] => {
      c.length = m;
      return c;
    };
    return {
      mode: compact ? 'compact' : 'full',
      complete: false,
      offset: compact ? start : 0,
      count: m,
      refs: refs && cut(refs),
      heartbeats: cut(heartbeats),
      checks: low ? groupChecks(full, m) : null,
      ...own(m),
      ages: cut(ages),
      ageLimit,
      maxVersions: cut(maxVersions),
      gcVersions: cut(gcVersions),
      ...(buckets ? { buckets } : {}),
    };
  }

  /**
   * Whether our heartbeats of the live members among `slots` are spread enough for low bits to pay
   * (lowBitsPay). Dead members are left out: a crashed member's heartbeat stops while the others go
   * on, and would otherwise switch a cluster started together to low bits until it is removed.
   */
  private lowBitsPayFor(slots: ArrayLike<number>): boolean {
    const t = this.table;
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

  /** Buckets for a summary: at least 16 members each on average, and the summary at most 1/32 of the budget. */
  private bucketCount(): number {
    let b = 1;
    while (b * 2 <= MAX_BUCKETS && b * 2 * 16 <= this.members && bucketsSize(b * 2) * 32 <= this.config.payloadBudget) b *= 2;
    return b;
  }

  /** Our membership (live and dead, like the membership hash) summed per bucket. */
  private bucketSums(count: number): number[] {
    const t = this.table;
    const sums = new Array<number>(count).fill(0);
    for (let s = 0; s < t.used; s++) {
      if (t.status[s] === FREE) continue;
      const ref = t.refs[s] as number;
      const b = bucketOf(ref, count);
      sums[b] = addToSetHash(sums[b] as number, ref);
    }
    return sums;
  }

  /** Adds to `into` our live members, not marked with `epoch`, in every bucket where the peer's sum differs from ours. */
  private membersOfDifferingBuckets(theirs: Column, epoch: number, into: number[]): void {
    const mine = this.bucketSums(theirs.length);
    const differs = mine.map((sum, b) => (sum === theirs[b] ? 0 : 1));
    if (!differs.includes(1)) return;
    const t = this.table;
    for (let s = 0; s < t.used; s++) {
      if (t.status[s] === LIVE && t.mark[s] !== epoch && differs[bucketOf(t.refs[s] as number, theirs.length)] === 1) into.push(s);
    }
  }

  /** How old our newest heartbeat of slot s is, in wire units. */
  private ageOf(s: number, now: number): number {
    return Math.max(0, Math.round((now - this.table.birth(s)) / HEARTBEAT_AGE_UNIT_MS));
  }

  // ------------------------------------------------------------------ incoming

  /** Handles one decoded message from `from` ("host:port"); returns the replies to send. */
  receive(from: string, message: Message, now: number): Outbound[] {
    this.observeClock(now);
    if (this.isDeaf(now)) {
      // Traffic again after a spell of hearing nobody: the silence was ours, excuse it like a stall.
      this.excuse(now - this.lastHeard);
      this.deafSpells++;
    }
    this.lastHeard = now;
    if (message.type !== 'wrongCluster' && message.clusterId !== this.config.clusterId) {
      this.reject('wrong-cluster');
      // Only a SYN is answered, so two clusters that share seeds see why they never merge.
      return message.type === 'syn' ? [{ to: from, message: { type: 'wrongCluster', clusterId: this.config.clusterId } }] : [];
    }
    switch (message.type) {
      case 'syn':
        this.notePeerSet(from, message.setHash, message.setSize);
        return this.onSyn(from, message.digest, message.pull, now);
      case 'synAck': {
        this.notePeerSet(from, message.setHash, message.setSize);
        this.applyDelta(message.delta, now, message.setHash === this.setHash && message.setSize === this.members);
        const delta = this.answerRequest(message.request, now);
        const out = this.announce(from, now);
        if (delta.nodes.length > 0 || delta.bumps.count > 0) out.push({ to: from, message: { type: 'ack', clusterId: this.config.clusterId, delta } });
        return out;
      }
      case 'ack':
        this.applyDelta(message.delta, now, false);
        return this.announce(from, now);
      case 'leave':
        this.onLeave(message.identity, now);
        return [];
      case 'wrongCluster':
        return [];
    }
  }

  /**
   * Once per incarnation, as soon as a delta has taught this node members besides its sender: an
   * unsolicited ACK introducing itself to up to ANNOUNCE_MAX of them. A joiner learns the cluster
   * from its seed in one reply, but the cluster learns the joiner only hop by hop; the sender is
   * skipped, it already knows us.
   */
  private announce(from: string, now: number): Outbound[] {
    if (this.announced || this.liveOthers < 2) return [];
    this.announced = true;
    const t = this.table;
    const targets: number[] = [];
    for (let s = 1; s < t.used; s++) if (t.status[s] === LIVE && (t.identities[s] as NodeIdentity).address !== from) targets.push(s);
    shuffle(targets, this.rng);
    targets.length = Math.min(targets.length, ANNOUNCE_MAX);
    const delta = this.packDelta([SELF], 0, [], [], null, this.ackDeltaBudget, now);
    return targets.map((s) => ({ to: (t.identities[s] as NodeIdentity).address, message: { type: 'ack', clusterId: this.config.clusterId, delta } }));
  }

  private notePeerSet(from: string, hash: number, size: number): void {
    // A cache keyed by address, bounded: past the bound it is simply dropped and relearned.
    if (this.peerSets.size >= PEER_SET_CACHE) this.peerSets.clear();
    this.peerSets.set(from, { hash, size });
    const hit = hash === this.setHash && size === this.members ? 1 : 0;
    this.agreement += (hit - this.agreement) * 0.1;
  }

  private onSyn(from: string, digest: Digest, pull: boolean, now: number): Outbound[] {
    const t = this.table;
    const compact = digest.mode === 'compact';
    const reply = (request: Digest, delta: Delta): Outbound[] => [
      { to: from, message: { type: 'synAck', clusterId: this.config.clusterId, setHash: this.setHash, setSize: this.members, request, delta } },
    ];
    // A compact digest's positions, read on our sorted membership shifted by `skew` from `skewAt` on.
    let skew = 0;
    let skewAt = 0;
    let skewRef = 0;
    if (compact) {
      const peer = this.peerSets.get(from);
      const same = peer !== undefined && peer.hash === this.setHash && peer.size === this.members;
      const apart = same || !peer ? null : this.oneMemberApart(peer.hash, peer.size);
      if (apart) {
        skew = apart.skew;
        skewAt = apart.at;
        skewRef = apart.ref;
      }
      if ((!same && !apart) || digest.offset + digest.count > (peer as PeerSet).size) {
        // Our memberships differ, so positions mean nothing here. Turn the exchange around: our
        // whole digest as the request lets the initiator send us what we lack, and our hash in the
        // reply makes it send refs next time.
        const all = this.memberSlots();
        const refs = Array.from(all, (s) => t.refs[s] as number);
        const budget = this.config.payloadBudget - exchangeHeaderSize(this.config.clusterId, this.members) - varintSize(0) * 2;
        return reply(this.buildRequest(all, refs, budget, now, true), { nodes: [], bumps: NO_BUMPS });
      }
    }
    const order = compact ? this.sortedMembers() : null;
    // Bumps go back as positions only to a peer whose positions are ours.
    const positional = compact && skew === 0;
    const epoch = ++this.markEpoch;
    const request: number[] = []; // refs we lack state for (slot or -1 with the ref)
    const requestRefs: number[] = [];
    const candidates: DeltaCandidate[] = [];
    // Bumps name slots; with a compact digest (same membership on both sides) they go out as positions.
    const bumpSlots: number[] = [];
    let bumpGap = 0;
    const ages = digest.ages;
    const maxVersions = digest.maxVersions;
    const gcVersions = digest.gcVersions;
    // Nothing in this loop admits members, so the table's columns cannot be reallocated under us.
    const mark = t.mark;
    const offset = digest.offset;
    /** A compact entry's slot: SKIPPED for the member the peer has and we removed. */
    const slotAt = (i: number): number => {
      let p = offset + i;
      if (skew !== 0 && p >= skewAt) {
        if (skew > 0 && p === skewAt) return SKIPPED;
        p -= skew;
      }
      return (order as Int32Array)[p] as number;
    };
    const heartbeats = order && digest.checks ? this.restoreDigestHeartbeats(digest, slotAt, skewRef) : digest.heartbeats;
    for (let i = 0; i < digest.count; i++) {
      let s: number;
      let ref = 0;
      if (order) {
        s = slotAt(i);
        if (s === SKIPPED) continue;
      } else {
        ref = (digest.refs as Column)[i] as number;
        const found = this.byRef.get(ref);
        if (found < 0) {
          if (!this.removed.has(ref)) {
            request.push(-1);
            requestRefs.push(ref);
          }
          continue;
        }
        s = found;
      }
      if (!order) mark[s] = epoch; // for the introductions below
      const theirHb = heartbeats[i] as number;
      const myHb = t.heartbeat(s);
      // An unreadable heartbeat (UNREAD): we ask for the member instead. Our entry in the request
      // carries our heartbeat, so the initiator learns it if newer, and answers with its own if newer.
      const unread = theirHb === UNREAD;
      if (unread) {
        if (s !== SELF) {
          request.push(s);
          requestRefs.push(t.refs[s] as number);
        }
      } else if (theirHb > myHb) {
        if (s !== SELF) this.heartbeatIncreased(s, theirHb, ages[i] as number, now, ageBounded(digest, i));
      } else if (myHb > theirHb) {
        bumpSlots.push(positional ? offset + i : s);
        if (myHb - theirHb > bumpGap) bumpGap = myHb - theirHb;
      }
      const theirMax = maxVersions[i] as number;
      const theirGc = gcVersions[i] as number;
      const mine = t.maxVersion(s);
      const myGc = t.gcVersion(s);
      if (theirMax === mine && theirGc === myGc) continue; // the common case: only heartbeats differ
      if (s !== SELF && !unread && (theirMax > mine || theirGc > myGc)) {
        request.push(s);
        requestRefs.push(order ? (t.refs[s] as number) : ref);
      }
      if (mine > theirMax || myGc > theirGc) {
        // The node delta carries the heartbeat: no bump for it.
        if (!unread && myHb > theirHb) bumpSlots.pop();
        candidates.push({ slot: s, fromVersion: theirMax, receiverGc: theirGc, staleness: mine - theirMax });
      }
    }
    // Slots only: while a large cluster bootstraps this list holds most of the table for every SYN,
    // and one object per entry would dominate the cost; the budget takes a thousand at most.
    const neverSeen: number[] = [];
    let neverSeenStart = 0;
    // A compact digest comes from a peer with our membership (so it is not marked): nobody to introduce.
    if (digest.complete && !order) {
      for (let s = 0; s < t.used; s++) {
        // Dead nodes are not introduced to peers that never knew them: that spreads only stale news.
        if (t.status[s] === LIVE && t.mark[s] !== epoch) neverSeen.push(s);
      }
      neverSeenStart = rotationStart(neverSeen.length, this.rng);
    } else if (digest.buckets) {
      // Too many members for one packet: introduce ours from every bucket whose sum differs.
      this.membersOfDifferingBuckets(digest.buckets, epoch, neverSeen);
      neverSeenStart = rotationStart(neverSeen.length, this.rng);
    }

    const budget = this.config.payloadBudget - exchangeHeaderSize(this.config.clusterId, this.members);
    const req = this.buildRequest(request, requestRefs, Math.floor(budget * REQUEST_SHARE), now);
    candidates.sort((a, b) => b.staleness - a.staleness || a.slot - b.slot);
    // A push wants no reply that would carry heartbeats alone.
    if (!pull && bumpGap < PUSH_GAP && req.count === 0 && neverSeen.length === 0 && candidates.length === 0) return [];
    const delta = this.packDelta(neverSeen, neverSeenStart, candidates, bumpSlots, positional ? order : null, budget - reqSize(req), now);
    return reply(req, delta);
  }

  /**
   * When a peer's membership is ours plus or minus one member we can name, how its sorted positions
   * map onto ours: skew +1, it has a member at position `at` that we have removed; skew -1, it lacks
   * our member at position `at`. Otherwise null. This is the usual disagreement: a dead member is
   * removed a grace period after its conviction, at slightly different instants on different nodes,
   * and for those seconds compact digests went unread; a node whose answers were lost on a bad link
   * then had its heartbeat stop spreading, and was falsely convicted (docs/benchmarks.md). The
   * difference of the two membership hashes names the member when exactly one differs; a sum of
   * several differences names nobody we know, and is refused.
   */
  private oneMemberApart(hash: number, size: number): { skew: 1 | -1; at: number; ref: number } | null {
    if (size === this.members + 1) {
      const extra = removeFromSetHash(hash, this.setHash); // their hash minus ours
      return this.removed.has(extra) ? { skew: 1, at: this.rankOf(extra), ref: extra } : null;
    }
    if (size === this.members - 1) {
      const missing = removeFromSetHash(this.setHash, hash); // ours minus theirs
      return this.byRef.get(missing) >= 0 ? { skew: -1, at: this.rankOf(missing), ref: missing } : null;
    }
    return null;
  }

  /**
   * A compact digest's heartbeats, restored from their low bits near ours (UNREAD where a group's
   * check fails: see wire/low-heartbeats.ts). The member the peer has and we removed (`slotAt`
   * SKIPPED) is restored from the heartbeat we remembered when removing it, so its group is still read.
   */
  private restoreDigestHeartbeats(digest: Digest, slotAt: (i: number) => number, removedRef: number): number[] {
    const t = this.table;
    const removed = this.removed.get(removedRef)?.heartbeat ?? NOT_HELD;
    return this.restoreLowHeartbeats(
      digest.heartbeats,
      digest.checks as Column,
      digest.count,
      (i) => {
        const s = slotAt(i);
        return s === SKIPPED ? removed : t.heartbeat(s);
      },
      digest.own,
    );
  }

  /**
   * Low-bit heartbeats restored near ours (wire/low-heartbeats.ts); `heldAt(i)`: our heartbeat of entry
   * i's member, or NOT_HELD. Into the reused scratch columns, one message at a time.
   */
  private restoreLowHeartbeats(low: Column, checks: Column, count: number, heldAt: (i: number) => number, exact?: Digest['own']): number[] {
    const held = this.heldScratch;
    growTo(held, count);
    for (let i = 0; i < count; i++) held[i] = heldAt(i);
    return restoreHeartbeats(low, checks, count, held, exact, this.restoredScratch);
  }

  /** How many of our members have a ref below `ref`: its position in our sorted membership. */
  private rankOf(ref: number): number {
    const order = this.sortedMembers();
    const refs = this.table.refs;
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((refs[order[mid] as number] as number) < ref) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The SYN-ACK's request: a full-mode digest of our own state for the nodes we lack (heartbeat 0 =
   * unknown to us). With `summarize` (the request is our whole membership), a request cut by the
   * budget carries a bucket summary, so the initiator can still introduce what we lack.
   */
  private buildRequest(slots: number[], refs: number[], budget: number, now: number, summarize = false): Digest {
    const t = this.table;
    const sizeOf = (s: number): number =>
      s < 0 ? fullEntrySize(0, 0, 0, 0) : fullEntrySize(t.heartbeat(s), this.ageOf(s, now), t.maxVersion(s), t.gcVersion(s));
    const fit = (room: number): number => {
      let used = digestHeaderSize(0, slots.length, 0);
      for (let k = 0; k < slots.length; k++) {
        const size = sizeOf(slots[k] as number);
        if (used + size > room) return k;
        used += size;
      }
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
        d.ages[i] = this.ageOf(s, now);
        d.maxVersions[i] = t.maxVersion(s);
        d.gcVersions[i] = t.gcVersion(s);
      }
    }
    return d;
  }

  /** The ACK's delta: what the responder said it lacks. Its heartbeats are fresh evidence too. */
  private answerRequest(request: Digest, now: number): Delta {
    const t = this.table;
    const unknown: number[] = [];
    const stale: DeltaCandidate[] = [];
    const bumps: number[] = [];
    const epoch = ++this.markEpoch;
    for (let i = 0; i < request.count; i++) {
      const s = this.byRef.get((request.refs as Column)[i] as number);
      if (s < 0) continue;
      t.mark[s] = epoch;
      const hb = request.heartbeats[i] as number;
      if (hb === 0) {
        if (t.status[s] === LIVE) unknown.push(s);
        continue;
      }
      if (s !== SELF) this.observeHeartbeat(s, hb, request.ages[i] as number, now, ageBounded(request, i));
      const theirMax = request.maxVersions[i] as number;
      const theirGc = request.gcVersions[i] as number;
      const mine = t.maxVersion(s);
      if (mine > theirMax || t.gcVersion(s) > theirGc) {
        stale.push({ slot: s, fromVersion: theirMax, receiverGc: theirGc, staleness: mine - theirMax });
      } else if (t.heartbeat(s) > hb) {
        bumps.push(s);
      }
    }
    // A request cut short with a summary: the responder may lack members it could not list.
    if (request.buckets && !request.complete) this.membersOfDifferingBuckets(request.buckets, epoch, unknown);
    stale.sort((a, b) => b.staleness - a.staleness || a.slot - b.slot);
    return this.packDelta(unknown, 0, stale, bumps, null, this.ackDeltaBudget, now);
  }

  /**
   * Packs node deltas then heartbeat bumps into `budget` bytes: first the members the receiver never
   * saw (`unknown`, taken in turn from index `unknownStart`, wrapping), then `stale` in its order.
   * Each node delta is a prefix of what the receiver lacks; packing stops before the first item
   * that would overflow.
   */
  private packDelta(unknown: number[], unknownStart: number, stale: DeltaCandidate[], bumpItems: number[], order: Int32Array | null, budget: number, now: number): Delta {
    const t = this.table;
    // Both counts are varints written before the items, and the bumps have a flags byte: reserve their largest size.
    let used = varintSize(unknown.length + stale.length) + 1 + varintSize(bumpItems.length);
    const nodes: NodeDelta[] = [];
    /** Adds slot s from `fromVersion` (-1: introduce it); false when the budget is spent. */
    const add = (s: number, fromVersion: number, receiverGc: number): boolean => {
      const identity = t.identities[s] as NodeIdentity;
      const myGc = t.gcVersion(s);
      const myMax = t.maxVersion(s);
      // Unknown to the receiver, or it fell behind our tombstone GC: send everything from version 0 (a reset).
      const reset = fromVersion < 0 || (receiverGc < myGc && fromVersion < myGc);
      const from = reset ? 0 : fromVersion;
      const all = this.valuesAbove(s, from);
      const age = this.ageOf(s, now);
      let size = nodeDeltaHeaderSize(null, t.heartbeat(s), age, myGc, from, myMax, all.length) + (fromVersion < 0 ? t.identitySize(s) : 0);
      if (used + size > budget) return false;
      let k = 0;
      for (; k < all.length; k++) {
        const vs = valueSize(all[k] as VersionedValue);
        if (used + size + vs > budget) break;
        size += vs;
      }
      // A header with none of the values it was meant to carry is only worth sending when it
      // introduces the node, resets it, or carries a GC watermark.
      if (k === 0 && all.length > 0 && !reset && fromVersion >= 0 && myGc <= receiverGc) return false;
      const values = k === all.length ? all : all.slice(0, k);
      used += size;
      nodes.push({
        ref: t.refs[s] as number,
        identity: fromVersion < 0 ? identity : null,
        heartbeat: t.heartbeat(s),
        heartbeatAge: age,
        lastGcVersion: myGc,
        fromVersion: from,
        maxVersion: k === all.length ? myMax : (values[k - 1]?.version ?? from),
        values,
      });
      return k === all.length;
    };
    let open = true;
    for (let i = 0; open && i < unknown.length; i++) open = add(unknown[(unknownStart + i) % unknown.length] as number, -1, 0);
    for (let i = 0; open && i < stale.length; i++) {
      const c = stale[i] as DeltaCandidate;
      open = add(c.slot, c.fromVersion, c.receiverGc);
    }
    return { nodes, bumps: this.packBumps(bumpItems, order, budget - used, now) };
  }

  /**
   * Heartbeat bumps within `budget`, from a random start so that when the budget cuts, different
   * peers get different bumps. `items` are slots, or positions in `order` (positional bumps).
   */
  private packBumps(items: number[], order: Int32Array | null, budget: number, now: number): HeartbeatBumps {
    if (items.length === 0) return NO_BUMPS;
    const t = this.table;
    // A positional bump costs at most the varint of the largest position: count that, to stay under budget.
    const keyCost = order ? varintSize(order.length) : bumpSize(0, 0) - 2;
    const chosen: number[] = [];
    let used = 0;
    // Positions go to a peer with our membership, whose heartbeats are near ours: low bits pay as in compact digests.
    const low = order !== null && this.lowBitsPayFor(items.map((p) => order[p] as number));
    // Rotate only when the budget may cut; otherwise positions stay in ascending order and need no sort.
    const mayCut = items.length * (keyCost + 8) > budget;
    if (!mayCut) return this.bumpsOf(items, order, low, now);
    const start = randomInt(this.rng, items.length);
    for (let i = 0; i < items.length; i++) {
      const item = items[(start + i) % items.length] as number;
      const s = order ? (order[item] as number) : item;
      // Low bits' total size does not depend on the order the bumps are sorted into below.
      const size = keyCost + heartbeatSize(low, chosen.length, t.heartbeat(s)) + varintSize(this.ageOf(s, now));
      if (used + size > budget) break;
      used += size;
      chosen.push(item);
    }
    if (order) chosen.sort((a, b) => a - b);
    return this.bumpsOf(chosen, order, low, now);
  }

  /** Bumps for `items` (slots, or positions in `order`), in their order; `low`: heartbeats as low bits. */
  private bumpsOf(items: number[], order: Int32Array | null, low: boolean, now: number): HeartbeatBumps {
    const t = this.table;
    const n = items.length;
    const keys = new Array<number>(n);
    const heartbeats = new Array<number>(n);
    const ages = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const item = items[i] as number;
      const s = order ? (order[item] as number) : item;
      keys[i] = order ? item : (t.refs[s] as number);
      heartbeats[i] = t.heartbeat(s);
      ages[i] = this.ageOf(s, now);
    }
    if (!low) return { count: n, positional: order !== null, keys, heartbeats, checks: null, ages };
    return { count: n, positional: true, keys, heartbeats: heartbeats.map(lowHeartbeat), checks: groupChecks(heartbeats, n), ages };
  }

  /** A node's values with version > from, ascending (the map keeps version order). */
  private valuesAbove(slot: number, from: number): VersionedValue[] {
    const map = this.table.values[slot];
    if (!map) return NO_VALUES;
    const out: VersionedValue[] = [];
    for (const [key, v] of map) if (v.version > from) out.push({ key, value: v.value, version: v.version, tombstone: v.tombstone });
    return out;
  }

  /**
   * `sameMembership`: the sender's membership hash equals ours, so positional bumps can be read.
   * Bumps go first: node deltas may admit members and shift positions.
   */
  private applyDelta(delta: Delta, now: number, sameMembership: boolean): void {
    const { bumps } = delta;
    if (bumps.positional) {
      if (sameMembership) {
        const order = this.sortedMembers();
        const t = this.table;
        const slotOf = (i: number): number | undefined => order[bumps.keys[i] as number];
        const heartbeats = bumps.checks
          ? this.restoreLowHeartbeats(bumps.heartbeats, bumps.checks, bumps.count, (i) => {
              const s = slotOf(i);
              return s === undefined ? NOT_HELD : t.heartbeat(s);
            })
          : bumps.heartbeats;
        for (let i = 0; i < bumps.count; i++) {
          const s = slotOf(i);
          const hb = heartbeats[i] as number;
          if (s !== undefined && s !== SELF && hb !== UNREAD) this.observeHeartbeat(s, hb, bumps.ages[i] as number, now);
        }
      }
    } else {
      for (let i = 0; i < bumps.count; i++) {
        const s = this.byRef.get(bumps.keys[i] as number);
        if (s > SELF) this.observeHeartbeat(s, bumps.heartbeats[i] as number, bumps.ages[i] as number, now);
      }
    }
    for (const nd of delta.nodes) this.applyNodeDelta(nd, now);
  }

  private reject(reason: RejectReason): void {
    this.rejected[reason]++;
  }

  private applyNodeDelta(nd: NodeDelta, now: number): void {
    const t = this.table;
    let s = this.byRef.get(nd.ref);
    if (s === SELF) {
      if (nd.maxVersion > t.maxVersion(SELF) || nd.heartbeat > t.heartbeat(SELF)) this.reject('about-self');
      return;
    }
    // Validate the whole delta before touching state: a bad one changes nothing.
    if (nd.maxVersion > MAX_VERSION || nd.lastGcVersion > MAX_VERSION) return this.reject('out-of-range');
    let prev = nd.fromVersion;
    for (const v of nd.values) {
      if (v.version <= prev) return this.reject('not-ascending');
      prev = v.version;
    }
    if (nd.maxVersion < prev) return this.reject('not-ascending');
    if (s < 0) {
      if (!nd.identity) return this.reject('unknown-node');
      const added = this.admit(nd.identity, nd.ref, nd.heartbeat, nd.heartbeatAge, now);
      if (added < 0) return;
      s = added;
    } else {
      this.observeHeartbeat(s, nd.heartbeat, nd.heartbeatAge, now);
    }
    const mine = t.maxVersion(s);
    const myGc = t.gcVersion(s);
    if (nd.fromVersion > mine) return this.reject('gap');
    let map = t.values[s];
    const changed: string[] = [];
    if (nd.lastGcVersion > myGc && mine < nd.lastGcVersion) {
      // We fell behind the owner's tombstone GC: only a full restatement is safe.
      if (nd.fromVersion !== 0) return this.reject('behind-gc');
      if (map) for (const key of map.keys()) changed.push(key);
      map = new Map();
      t.values[s] = map;
      t.setMaxVersion(s, 0);
    }
    const base = t.maxVersion(s);
    for (const v of nd.values) {
      if (v.version <= base) continue;
      map ??= t.values[s] = new Map(); // most members of a large cluster carry no metadata: no map for them
      const existing = map.get(v.key);
      map.delete(v.key);
      map.set(v.key, { value: v.value, version: v.version, tombstone: v.tombstone, expiresAt: Infinity, deletedAt: 0 });
      if (!existing || existing.tombstone !== v.tombstone || existing.value !== v.value) changed.push(v.key);
    }
    if (nd.maxVersion > base) t.setMaxVersion(s, nd.maxVersion);
    if (nd.lastGcVersion > myGc) {
      t.setGcVersion(s, nd.lastGcVersion);
      if (map) for (const [key, v] of map) if (v.tombstone && v.version <= nd.lastGcVersion) map.delete(key);
    }
    if (changed.length > 0) {
      this.news = true;
      this.events.push({ type: 'update', node: t.identities[s] as NodeIdentity, keys: [...new Set(changed)] });
    }
  }

  /** Adds a node first heard of; returns its slot, or -1 when refused. */
  private admit(identity: NodeIdentity, ref: number, heartbeat: number, age: number, now: number): number {
    if (identityRef(identity) !== ref) {
      this.reject('ref-mismatch');
      return -1;
    }
    if (identity.id === this.self.id) {
      this.reject('about-self');
      return -1;
    }
    const retired = this.retired.get(identity.id);
    if (retired !== undefined && identity.generation < retired.generation) {
      this.reject('superseded-generation');
      return -1;
    }
    const gone = this.removed.get(ref);
    // As for revival: stale gossip can carry a heartbeat or two past the last one we saw.
    if (gone && heartbeat < gone.heartbeat + REVIVAL_HEARTBEATS) {
      this.reject('removed-node');
      return -1;
    }
    const older = this.slotOfId(identity.id);
    if (older >= 0) {
      const old = this.table.identities[older] as NodeIdentity;
      if (old.generation >= identity.generation) {
        this.reject('superseded-generation');
        return -1;
      }
      // A restart: the old incarnation is gone for good.
      if (this.table.status[older] === LIVE) this.convict(older, 'superseded', now);
      this.remove(older, now);
    }
    if (gone) this.removed.delete(ref);
    const t = this.table;
    const s = t.allocate(identity, ref);
    this.indexMember(s, identity);
    this.liveOthers++;
    t.setHeartbeat(s, heartbeat);
    // Seed the window as Akka does: the first estimate, with a spread of a quarter of it.
    const first = this.config.failureDetector.firstHeartbeatEstimateMs;
    t.addInterval(s, first - first / 4);
    t.addInterval(s, first + first / 4);
    t.setBirth(s, birthOf(age, now));
    t.sampleBirth(s, heartbeat, t.birth(s), true);
    // Until lags are observed, allow one interval's worth, as for the first heartbeat itself.
    t.setLagAllowance(s, Math.max(first, now - t.birth(s)));
    this.updateDeadline(s);
    this.news = true;
    this.events.push({ type: 'live', node: identity });
    return s;
  }

  /** The slot holding some generation of `id`, or -1. A 48-bit id-hash collision is checked and treated as absent. */
  private slotOfId(id: string): number {
    const s = this.byId.get(idKey(id));
    return s >= 0 && this.table.identities[s]?.id === id ? s : -1;
  }

  private indexMember(slot: number, identity: NodeIdentity): void {
    const ref = this.table.refs[slot] as number;
    this.byRef.set(ref, slot);
    this.byId.set(idKey(identity.id), slot);
    this.setHash = addToSetHash(this.setHash, ref);
    this.members++;
    this.sortedValid = false;
    this.slotsDisordered = true;
    this.membershipChanged = true;
  }

  private onLeave(identity: NodeIdentity, now: number): void {
    const s = this.byRef.get(identityRef(identity));
    if (s <= SELF) return;
    const t = this.table;
    t.left[s] = 1;
    if (t.status[s] === LIVE) this.convict(s, 'left', now);
  }

  // ------------------------------------------------------------------ failure detection

  /** Heartbeat evidence for a slot: if it is news, record it, maybe revive. */
  private observeHeartbeat(s: number, heartbeat: number, age: number, now: number, ageIsBound = false): void {
    if (heartbeat > this.table.heartbeat(s)) this.heartbeatIncreased(s, heartbeat, age, now, ageIsBound);
  }

  /**
   * A newer heartbeat of slot s, born `age` units ago. Silence is counted from the heartbeat's
   * birth, so every observer anchors on the same instant; the conviction deadline is that birth,
   * plus the phi timeout of the owner's rhythm, plus the lag allowance for gossip.
   *
   * `ageIsBound`: the sender only said "at least `age` old" (a digest's age limit). The owner's
   * rhythm then places the birth (previous birth + beats × mean period): exact for a steady owner.
   * After a pause the rhythm guesses too early, so the guess is held within one period of what
   * the lag allowance reaches back: the allowance grows by a period at most, not by the pause.
   * Such a birth is no interval sample, nor the start of one (the rhythm would be measuring itself):
   * intervals run between measured births, over however many beats lie between them.
   */
  private heartbeatIncreased(s: number, heartbeat: number, age: number, now: number, ageIsBound = false): void {
    const t = this.table;
    const beats = heartbeat - t.heartbeat(s);
    t.setHeartbeat(s, heartbeat);
    const prevBirth = t.birth(s);
    let claimed = birthOf(age, now);
    if (ageIsBound) {
      const period = t.intervalMean(s);
      claimed = Math.min(claimed, Math.max(prevBirth + beats * period, now - t.lagAllowance(s) - period));
    }
    // A newer heartbeat cannot be older than the previous one, nor born in our future.
    const birth = Math.min(now, Math.max(prevBirth, claimed));
    if (t.status[s] === LIVE) {
      // Phi models the owner's own rhythm: birth to birth, shared among heartbeats we never heard.
      // How late gossip brings a heartbeat is a separate, bounded quantity: the lag allowance.
      t.sampleBirth(s, heartbeat, birth, !ageIsBound);
      const allowance = t.lagAllowance(s);
      // A member's first arrival has no allowance to be late against yet.
      const weight = 1 / Math.max(16, this.liveOthers);
      if (allowance > 0) this.lateness += (Math.max(0, now - birth - allowance) - this.lateness) * weight;
      t.noteLag(s, now - birth);
      this.typicalLag += (t.lagAllowance(s) - this.typicalLag) * weight;
      t.setBirth(s, birth);
      this.updateDeadline(s);
    } else if (t.left[s] === 0 && heartbeat >= (this.deaths.get(s)?.heartbeat ?? 0) + REVIVAL_HEARTBEATS) {
      // Back from the dead: the silence is not a sample of its normal rhythm, so it is not added.
      this.deaths.delete(s);
      t.status[s] = LIVE;
      this.deadOthers--;
      this.liveOthers++;
      t.setBirth(s, birth);
      t.sampleBirth(s, heartbeat, birth, !ageIsBound, true);
      this.updateDeadline(s);
      this.news = true;
      this.events.push({ type: 'live', node: t.identities[s] as NodeIdentity });
    }
  }

  /** Precomputes when phi will cross the threshold, so a tick checks each member with one comparison. */
  private updateDeadline(s: number): void {
    const deadline = this.silenceExpectedUntil(s) + this.periodStd(s) * this.sigma;
    this.table.setDeadline(s, deadline);
    if (deadline < this.earliestDeadline) this.earliestDeadline = deadline;
  }

  /** Current phi of a member (for diagnostics; conviction uses the precomputed deadline). */
  phiOf(nodeId: string, now: number): number | undefined {
    const s = this.slotOfId(nodeId);
    if (s <= SELF) return undefined;
    return -lnNormalUpperTail((now - this.silenceExpectedUntil(s) - this.lagShortfall(s) - this.lateSlack()) / this.periodStd(s)) / Math.LN10;
  }

  /** How far a member's lag allowance is below the typical one (see typicalLag): its deadline is extended by this. */
  private lagShortfall(s: number): number {
    return Math.max(0, this.typicalLag - this.table.lagAllowance(s));
  }

  /** Where phi's normal is centred: the last heartbeat's birth, plus the lag allowance, the mean period and the acceptable pause. */
  private silenceExpectedUntil(s: number): number {
    const t = this.table;
    return t.birth(s) + t.lagAllowance(s) + t.intervalMean(s) + this.pauseMs;
  }

  /** The period's standard deviation, floored at the configured minimum. */
  private periodStd(s: number): number {
    return Math.max(this.table.intervalStd(s), this.minStdMs);
  }

  /**
   * A long gap between our own clock readings means this process was stalled (GC, SIGSTOP, an
   * overloaded host): peers' silence during it is our fault, not theirs. Shift every deadline by
   * the stall so nobody is convicted for it.
   */
  private observeClock(now: number): void {
    const gap = now - this.lastClock;
    if (gap > this.stallThresholdMs) {
      this.excuse(gap);
      this.stalls++;
    }
    if (now > this.lastClock) this.lastClock = now;
  }

  /**
   * Lifeguard's insight, applied to phi: when a node with several live peers hears from none of
   * them, its own network is the likelier culprit (a bad link, a burst of loss), so it convicts
   * nobody for a while. A bounded while: if the peers really did all die, they are convicted late,
   * not never. With fewer than three live peers silence is informative, and there is no hold.
   */
  private isDeaf(now: number): boolean {
    const silence = now - this.lastHeard;
    return this.liveOthers >= 3 && silence > this.deafAfterMs && silence < this.maxDeafHoldMs;
  }

  /** Moves every live member's deadline and heartbeat births by a gap we were not listening through. */
  private excuse(gap: number): void {
    const shift = gap - this.config.gossipIntervalMs;
    if (shift <= 0) return;
    const t = this.table;
    for (let s = 1; s < t.used; s++) {
      if (t.status[s] === LIVE) t.shiftTimes(s, shift);
    }
  }

  private convict(s: number, reason: 'suspected' | 'left' | 'superseded', now: number): void {
    const t = this.table;
    t.status[s] = DEAD;
    this.deaths.set(s, { since: now, heartbeat: t.heartbeat(s) });
    this.nextRemoval = Math.min(this.nextRemoval, now + this.config.failureDetector.deadNodeGracePeriodMs);
    this.liveOthers--;
    this.deadOthers++;
    this.events.push({ type: 'dead', node: t.identities[s] as NodeIdentity, reason });
  }

  private remove(s: number, now: number): void {
    const t = this.table;
    const identity = t.identities[s] as NodeIdentity;
    const ref = t.refs[s] as number;
    if (t.status[s] === DEAD) this.deadOthers--;
    else if (t.status[s] === LIVE) this.liveOthers--;
    this.removed.set(ref, { heartbeat: t.left[s] ? Infinity : t.heartbeat(s), until: now + this.config.failureDetector.deadNodeGracePeriodMs });
    this.byRef.delete(ref);
    if (this.slotOfId(identity.id) === s) this.byId.delete(idKey(identity.id));
    this.deaths.delete(s);
    const retired = this.retired.get(identity.id);
    if (!retired || retired.generation < identity.generation) {
      this.retired.set(identity.id, { generation: identity.generation, until: now + this.config.failureDetector.deadNodeGracePeriodMs });
    }
    this.setHash = removeFromSetHash(this.setHash, ref);
    this.members--;
    this.sortedValid = false;
    this.membershipChanged = true;
    t.release(s);
    this.events.push({ type: 'removed', node: identity });
  }

  // ------------------------------------------------------------------ views

  snapshot(): ClusterSnapshot {
    const t = this.table;
    const live: NodeView[] = [];
    const dead: NodeView[] = [];
    for (let s = 0; s < t.used; s++) {
      const st = t.status[s];
      if (st === FREE) continue;
      (st === LIVE ? live : dead).push(this.viewOf(s));
    }
    return { self: this.self, live, dead, seeds: [...this.seeds] };
  }

  /** One member's current view, or undefined once it has been removed. O(its keys), for event payloads. */
  member(identity: NodeIdentity): NodeView | undefined {
    const s = this.byRef.get(identityRef(identity));
    return s >= 0 ? this.viewOf(s) : undefined;
  }

  private viewOf(s: number): NodeView {
    const t = this.table;
    const values: Record<string, string> = {};
    const map = t.values[s];
    if (map) for (const [key, v] of map) if (!v.tombstone) values[key] = v.value;
    return {
      node: t.identities[s] as NodeIdentity,
      status: t.status[s] === LIVE ? 'live' : 'dead',
      heartbeat: t.heartbeat(s),
      maxVersion: t.maxVersion(s),
      values,
      ...(s === SELF ? {} : { detector: { meanIntervalMs: round1(t.intervalMean(s)), stdIntervalMs: round1(t.intervalStd(s)), lagAllowanceMs: round1(t.lagAllowance(s)), samples: t.intervalCount(s) } }),
    };
  }
}

function reqSize(d: Digest): number {
  let n = digestHeaderSize(0, d.count, d.ageLimit);
  for (let i = 0; i < d.count; i++) {
    n += fullEntrySize(d.heartbeats[i] as number, d.ages[i] as number, d.maxVersions[i] as number, d.gcVersions[i] as number);
  }
  return n;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** True when entry i of `d` gives only a lower bound on the heartbeat's age (see Digest.ageLimit). */
function ageBounded(d: Digest, i: number): boolean {
  return d.ageLimit > 0 && (d.ages[i] as number) >= d.ageLimit;
}

/** A heartbeat's birth on our clock, from the age it carried. */
function birthOf(age: number, now: number): number {
  return now - age * HEARTBEAT_AGE_UNIT_MS;
}

function shuffle<T>(a: T[], rng: Random): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const tmp = a[i] as T;
    a[i] = a[j] as T;
    a[j] = tmp;
  }
}

/** A random start for walking a list round: different peers get different first items when the budget cuts. */
function rotationStart(length: number, rng: Random): number {
  return length < 2 ? 0 : randomInt(rng, length);
}
