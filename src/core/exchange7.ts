/**
 * Protocol 7's Scuttlebutt handshake (docs/design/liveness-7.md, "Quiet exchanges: a hash, then drill-down" and
 * "The stream"), stateless per exchange as exchange.ts is: every message is answered from the current state alone.
 *
 *   news        SYN7 with a hot digest (members changed in the last HOT_ROUNDS rounds) to a round's targets
 *   drill-down  a neighbour's beats show another state hash: SUMS (level 1) -> SUMS reply (level 2) -> SYN7 with
 *               the entries of every differing leaf; at 128 members or fewer, one SYN7 with every entry instead
 *   SYN7        -> SYN-ACK7: what we lack (a request digest7) + what the sender lacks (node deltas 7)
 *   SYN-ACK7    -> ACK7: the node deltas the request asked for
 *   catch-up    a SYN7 or SYN-ACK7 showing the peer ahead by more than it carried: another pull to it at once
 *   stream      differing leaves too big for a packet: the peer's address is queued for the runtime's TCP stream,
 *               which carries streamOut()'s batches and hands what it receives to streamIn()
 *
 * Pure: the clock is an input, randomness comes from the injected Random, nothing is sent from here.
 */
import type { Ack7Message, Digest7, LivenessMessage, NodeDelta7 } from '../wire/liveness-messages.js';
import type { Syn7Message, SynAck7Message, SumsMessage } from '../wire/liveness-messages.js';
import { digest7Bytes, digest7HeaderBytes, exchange7HeaderBytes } from '../wire/liveness-sizes.js';
import { livenessMessageBytes, maskBuckets, SUMS_PER_BUCKET } from '../wire/liveness-sizes.js';
import type { Message } from '../wire/messages.js';
import { stringSize, varintSize } from '../wire/varint.js';
import { aheadByReply, aheadBySyn, behindBySyn, CatchUp, FULL_REPLY_SLACK, replyBytes } from './catch-up.js';
import type { Deltas7 } from './delta7.js';
import { buildDigest7, compareDigest7, EMPTY_DIGEST7, request7, slotsOfLeaves, type Candidate7 } from './digest7.js';
import { byStaleness, continuation, introduction } from './digest7.js';
import { BeatHashTracker, planSyn7, sendsAllEntries, sumsReply, sumsRequest, type EntryBudget } from './drill-down.js';
import type { Journal } from './journal.js';
import { SELF, type Membership } from './membership.js';
import type { OwnValues } from './own-values.js';
import { FREE, LIVE } from './peer-table.js';
import { rotationStart } from './random.js';
import { HASH_SPACE, LEAVES_PER_LEVEL1, LEVEL1_BUCKETS, leafOf, level1Of } from './state-hash.js';
import type { State7 } from './state7.js';
import type { Random, Sender } from './types.js';

/**
 * A message for the harness to send. The same shape as types.ts's Outbound once its message is widened to
 * `Message | LivenessMessage` (CoreMessage): until then this module names the union itself.
 */
export interface Outbound7Any {
  readonly to: string;
  readonly message: Message | LivenessMessage;
}

/** The messages of a protocol-7 exchange this module answers. */
export type Exchange7Message = SumsMessage | Syn7Message | SynAck7Message | Ack7Message;

export interface Exchange7Components {
  readonly membership: Membership;
  readonly state: State7;
  readonly deltas: Deltas7;
  readonly journal: Journal;
  readonly rng: Random;
  /** This node's own values (Deltas7 refutes claims about them; kept here for the same components as Exchange). */
  readonly own: OwnValues;
}

export interface Exchange7Init {
  readonly clusterId: string;
  readonly payloadBudget: number;
  /**
   * How long after an exchange with a neighbour its differing beats are left alone (BeatHashTracker's quietMs):
   * one gossip interval. Default 1000 ms.
   */
  readonly quietMs?: number;
}

/** A sender the harness knows, with the whole payload budget for replies (as exchange.ts's KNOWN_SENDER). */
const KNOWN: Sender = { stranger: false };
/** A request (what the responder lacks) may take at most this share of a SYN-ACK7; the deltas get the rest. */
const REQUEST_SHARE = 0.5;
/**
 * Bytes a drill-down plans per digest7 entry (a 6-byte ref and four small varints). Only the plan uses it: the
 * SYN7 built from the plan is measured exactly, and a digest that does not fit whole goes to the stream instead.
 */
const ENTRY_BYTES = 10;
/** First target of a news round pulls (the others push), as exchange.ts's PULLS_PER_ROUND. */
const PULLS_PER_ROUND = 1;
const DEFAULT_QUIET_MS = 1000;

export class Exchange7 {
  private readonly membership: Membership;
  private readonly state: State7;
  private readonly deltas: Deltas7;
  private readonly journal: Journal;
  private readonly rng: Random;
  private readonly clusterId: string;
  private readonly payloadBudget: number;
  private readonly beats: BeatHashTracker;
  private readonly catchUp: CatchUp;
  /** Peers' addresses a stream should be opened to, in the order first asked (taken by takeStreamRequests). */
  private readonly streamRequests = new Set<string>();
  /** The census epoch our SYN7s carry: the newest given to news() or noteCensusEpoch(). */
  private censusEpoch = 0;
  /** The newest census epoch a member's SYN7 carried. */
  private heardEpoch = 0;

  constructor(components: Exchange7Components, init: Exchange7Init) {
    this.membership = components.membership;
    this.state = components.state;
    this.deltas = components.deltas;
    this.journal = components.journal;
    this.rng = components.rng;
    this.clusterId = init.clusterId;
    this.payloadBudget = init.payloadBudget;
    this.beats = new BeatHashTracker(init.quietMs ?? DEFAULT_QUIET_MS);
    this.catchUp = new CatchUp(init.quietMs ?? DEFAULT_QUIET_MS);
  }

  /** The newest census epoch a member's SYN7 carried (0: none): a node behind it learns that a census ran. */
  get newestCensusEpochHeard(): number {
    return this.heardEpoch;
  }

  /** The census epoch later SYN7s carry (news() notes it too). */
  noteCensusEpoch(epoch: number): void {
    this.censusEpoch = Math.max(this.censusEpoch, epoch);
  }

  /**
   * SYN7s carrying a hot digest (the members changed in the last HOT_ROUNDS rounds) to each target; the first
   * pulls, the rest push. Empty when nothing is hot. A hot list longer than a packet starts at a random member,
   * so that successive rounds carry all of it.
   */
  news(targets: readonly string[], _now: number, censusEpoch: number): Outbound7Any[] {
    this.noteCensusEpoch(censusEpoch);
    const hot = this.state.hotSlots();
    if (hot.length === 0 || targets.length === 0) return [];
    const t = this.membership.table;
    hot.sort((a, b) => t.ref(a) - t.ref(b));
    const budget = this.synDigestBudget();
    let digest = buildDigest7(this.membership.table, hot, budget, { hot: true });
    if (digest.count < hot.length) {
      const start = rotationStart(hot.length, this.rng);
      digest = buildDigest7(this.membership.table, [...hot.slice(start), ...hot.slice(0, start)], budget, {
        hot: true,
      });
    }
    return targets.map((to, k) => ({ to, message: this.syn7(digest, k < PULLS_PER_ROUND) }));
  }

  /**
   * A beat from the neighbour in `peerSlot` carried `theirHash`. Two differing beats in a row and no exchange with
   * it for quietMs start a drill-down: a level-1 SUMS, or at 128 members or fewer one SYN7 with every entry.
   */
  onBeatHash(peerSlot: number, theirHash: number, now: number): Outbound7Any[] {
    const m = this.membership;
    const t = m.table;
    if (!Number.isInteger(peerSlot) || peerSlot <= SELF || peerSlot >= t.used || t.status[peerSlot] === FREE) return [];
    if (!this.beats.onBeat(t.ref(peerSlot), theirHash, this.state.hash, now)) return [];
    const to = m.address(peerSlot);
    if (sendsAllEntries(m.size)) return [this.synAll(to, rotationStart(m.size, this.rng))];
    return [{ to, message: sumsRequest(this.clusterId, this.state.stateHash) }];
  }

  /** The neighbour in `peerSlot` is one no longer: its beats' streak and last exchange are forgotten. */
  forgetNeighbour(peerSlot: number): void {
    this.beats.forget(this.membership.table.ref(peerSlot));
  }

  /**
   * A pulling SYN7 to `to` listing every member we hold, in ref order (complete when it fits the payload budget).
   * One that does not fit starts at the leaf of the `start`-th member and ends at the last whole leaf that fits, so
   * that successive digests cover every member and each lists whole leaves, as a drill-down's does.
   */
  synAll(to: string, start = 0): Outbound7Any {
    const t = this.membership.table;
    const sorted = this.membership.sortedMembers();
    const n = sorted.length;
    const budget = this.synDigestBudget();
    let digest = buildDigest7(t, sorted, budget, { hot: false, whole: true });
    if (digest.count < n) {
      const leafAt = (i: number): number => leafOf(t.ref(sorted[i % n] as number));
      let from = start % n;
      while (from > 0 && leafAt(from - 1) === leafAt(from)) from--;
      const listed = Array.from({ length: n }, (_, i) => sorted[(from + i) % n] as number);
      digest = buildDigest7(t, listed, budget, { hot: false });
      let count = digest.count;
      while (count > 0 && leafAt(from + count) === leafAt(from + count - 1)) count--;
      // A first leaf larger than a packet is listed in part (its unlisted members are then introduced needlessly).
      if (count > 0 && count < digest.count) digest = buildDigest7(t, listed.slice(0, count), budget, { hot: false });
    }
    return { to, message: this.syn7(digest, true) };
  }

  /**
   * Handles one decoded message from `from` ("host:port"); returns the replies, each within `sender.replyBudget`
   * bytes of encoded message (at most the payload budget). A foreign cluster's SYN7 alone is answered
   * (WRONG-CLUSTER), so that two clusters sharing seeds see why they never merge.
   */
  receive(from: string, message: Exchange7Message, now: number, sender: Sender = KNOWN): Outbound7Any[] {
    const budget = Math.min(sender.replyBudget ?? this.payloadBudget, this.payloadBudget);
    if (message.clusterId !== this.clusterId) {
      this.journal.reject('wrong-cluster');
      return message.type === 'syn7'
        ? [{ to: from, message: { type: 'wrongCluster', clusterId: this.clusterId } }]
        : [];
    }
    switch (message.type) {
      case 'sums':
        // Drill-downs run between members: a stranger's sums are not answered (a reply outweighs the request).
        if (sender.stranger) return [];
        return message.reply ? this.onSumsReply(from, message) : this.onSumsRequest(from, message, budget);
      case 'syn7':
        this.noteExchange(from, now);
        if (!sender.stranger && Number.isSafeInteger(message.censusEpoch))
          this.heardEpoch = Math.max(this.heardEpoch, message.censusEpoch);
        return this.onSyn7(from, message, budget, sender.stranger, now);
      case 'synAck7':
        this.noteExchange(from, now);
        return this.onSynAck7(from, message, now, budget);
      case 'ack7': {
        this.noteExchange(from, now);
        const before = this.state.hash;
        this.deltas.apply(message.nodes, now, from);
        // One cut by the budget carried part of what our request asked: the rest by catch-up.
        return sender.stranger ? [] : this.chase(from, message, before, 0, budget, now);
      }
    }
  }

  /** Addresses to open a TCP stream to (a drill-down too big for a packet), each once; the list is emptied. */
  takeStreamRequests(): string[] {
    const out = [...this.streamRequests];
    this.streamRequests.clear();
    return out;
  }

  /**
   * The whole state as node deltas 7, in batches of at most one ACK7's delta budget each: every live member, every
   * member that left, and this node, introduced (as a complete digest7 would have them). Members are looked up by
   * ref as each batch is packed, so a batch read later reflects the state then; a member whose values exceed a
   * batch continues in the next from the last version carried.
   */
  *streamOut(): Iterable<NodeDelta7[]> {
    const m = this.membership;
    const t = m.table;
    const refs = compareDigest7(m, { ...EMPTY_DIGEST7, complete: true }, m.nextEpoch()).send.map((c) => t.ref(c.slot));
    const budget = this.ackDeltaBudget(this.payloadBudget);
    // A node delta takes at least a ref and a few bytes: no batch holds more candidates than this.
    const window = Math.max(1, Math.ceil(budget / 8));
    let i = 0;
    let resume: { ref: number; from: number } | null = null;
    while (i < refs.length) {
      const held: { ref: number; from: number } | null = resume;
      const at: number[] = [];
      const candidates: Candidate7[] = [];
      for (let j = i; j < refs.length && candidates.length < window; j++) {
        const s = m.slotOfRef(refs[j] as number);
        if (s < 0) continue;
        candidates.push(held !== null && held.ref === refs[j] ? continuation(t, s, held.from) : introduction(t, s));
        at.push(j);
      }
      if (candidates.length === 0) return;
      const nodes = this.deltas.pack(candidates, budget);
      const n = nodes.length;
      const last = nodes[n - 1];
      const cut = last !== undefined && last.maxVersion < t.maxVersion((candidates[n - 1] as Candidate7).slot);
      // A member that fits no batch (nothing packed, or cut with no progress at a batch's head) is skipped.
      const noProgress = held !== null && last !== undefined && held.ref === last.ref && held.from === last.maxVersion;
      if (last === undefined || (n === 1 && cut && noProgress)) {
        i = (at[0] as number) + 1;
        resume = null;
        continue;
      }
      resume = cut ? { ref: last.ref, from: last.maxVersion } : null;
      i = (at[n - 1] as number) + (cut ? 0 : 1);
      yield nodes;
    }
  }

  /** Node deltas received over a stream from `from`: applied as an ACK7's are, and counted as an exchange. */
  streamIn(nodes: readonly NodeDelta7[], now: number, from: string): void {
    this.noteExchange(from, now);
    this.deltas.apply(nodes, now, from);
  }

  /** A level-1 SUMS: our leaf sums of every level-1 bucket that differs, cut to the buckets that fit `budget`. */
  private onSumsRequest(from: string, request: SumsMessage, budget: number): Outbound7Any[] {
    const reply = sumsReply(this.clusterId, this.state.stateHash, request, this.entryBudget());
    if (!reply) return [];
    let mask = reply.mask;
    let kept = reply;
    while (livenessMessageBytes(kept) > budget) {
      // Drop the highest bucket: the requester drills the rest now, and the dropped ones on a later beat.
      mask &= ~(1 << (31 - Math.clz32(mask)));
      if (mask === 0) return [];
      kept = { ...reply, mask, sums: Array.from(reply.sums).slice(0, maskBuckets(mask) * SUMS_PER_BUCKET) };
    }
    return [{ to: from, message: kept }];
  }

  /**
   * A SUMS reply: a SYN7 with our entries of every differing leaf, or a stream request when they exceed a packet.
   * Leaves that differ while we hold nothing in them cannot be shown by our entries: the reply is turned around
   * (our sums for those leaves, the peer's own for the others of their buckets), so the peer drills them to us.
   */
  private onSumsReply(from: string, reply: SumsMessage): Outbound7Any[] {
    const st = this.state;
    const plan = planSyn7(st.stateHash, reply, this.entryBudget());
    if (!plan || plan.leaves.length === 0) return [];
    if (plan.streamWanted) {
      this.streamRequests.add(from);
      return [];
    }
    const out: Outbound7Any[] = [];
    const slots = slotsOfLeaves(this.membership, plan.leaves);
    if (slots.length > 0) {
      const digest = buildDigest7(this.membership.table, slots, this.synDigestBudget(), { hot: false });
      if (digest.count < slots.length) {
        this.streamRequests.add(from);
        return [];
      }
      out.push({ to: from, message: this.syn7(digest, true) });
    }
    const empty = plan.leaves.filter((leaf) => st.stateHash.leafCount(leaf) === 0);
    if (empty.length > 0) out.push({ to: from, message: this.turnAround(reply, empty) });
    return out;
  }

  /** A level-2 SUMS showing the peer (whose reply this was) only the `leaves` as differing. */
  private turnAround(reply: SumsMessage, leaves: readonly number[]): SumsMessage {
    const st = this.state.stateHash;
    const wanted = new Set(leaves);
    let mask = 0;
    for (const leaf of leaves) mask |= 1 << level1Of(leaf);
    const sums: number[] = [];
    let k = 0;
    for (let i = 0; i < LEVEL1_BUCKETS; i++) {
      if ((reply.mask & (1 << i)) === 0) continue;
      for (let j = 0; j < LEAVES_PER_LEVEL1; j++, k++) {
        if ((mask & (1 << i)) === 0) continue;
        const leaf = i * LEAVES_PER_LEVEL1 + j;
        sums.push(wanted.has(leaf) ? st.leafSum(leaf) : (reply.sums[k] as number));
      }
    }
    return {
      type: 'sums',
      clusterId: this.clusterId,
      reply: true,
      streamWanted: false,
      stateHash: st.hash,
      memberCount: st.size,
      level: 2,
      mask,
      sums,
    };
  }

  private onSyn7(from: string, syn: Syn7Message, replyBudget: number, stranger: boolean, now: number): Outbound7Any[] {
    const m = this.membership;
    const t = m.table;
    const epoch = m.nextEpoch();
    const found = compareDigest7(m, syn.digest, epoch);
    const far = aheadBySyn(syn.memberCount, m.size, found.request) || behindBySyn(syn.memberCount, m.size);
    const chase = this.catchUpPull(!stranger && far, from, now);
    let send: Candidate7[];
    if (stranger) {
      // A stranger (a joiner, or a spoofed source) gets our own introduction only, and our request asks for its
      // state: its ACK7 makes it a member, and its next exchange gets the cluster. The harness bounds the reply.
      send = found.send.filter((c) => c.slot === SELF);
      if (send.length === 0 && t.mark[SELF] !== epoch) send.push(introduction(t, SELF));
    } else {
      send = found.send;
      // A digest neither hot nor complete lists every member the sender holds in each leaf it names (a drill-down's
      // differing leaves, or synAll's whole leaves): ours in those leaves that it did not list are what it lacks (a
      // complete digest had compareDigest7 introduce them already).
      if (!syn.digest.hot && !syn.digest.complete) this.introduceInLeaves(syn.digest, epoch, send);
    }
    const room = replyBudget - exchange7HeaderBytes(this.clusterId, m.size);
    const request = request7(t, found, Math.floor(room * REQUEST_SHARE));
    // A push wants a reply only when we lack something; a pull also when the sender does.
    if (request.count === 0 && (send.length === 0 || !syn.pull)) return chase;
    const nodes = this.deltas.pack(send.sort(byStaleness), room - digest7Bytes(request));
    const message: SynAck7Message = {
      type: 'synAck7',
      clusterId: this.clusterId,
      stateHash: this.state.hash,
      memberCount: m.size,
      request,
      nodes,
    };
    return [{ to: from, message }, ...chase];
  }

  /**
   * After `from`'s reply moved our hash from `before` (or left it): a catch-up pull when it still shows `from` ahead
   * (catch-up.ts). `theirs`: the member count the reply carried (0: none).
   */
  private chase(
    from: string,
    reply: SynAck7Message | Ack7Message,
    before: number,
    theirs: number,
    budget: number,
    now: number,
  ): Outbound7Any[] {
    const full = replyBytes(reply) > budget - FULL_REPLY_SLACK;
    return this.catchUpPull(aheadByReply(this.state.hash !== before, theirs, this.membership.size, full), from, now);
  }

  /** When `ahead` and catch-up.ts lets it go, a pull to `to`: every entry at 128 members or fewer, else a SUMS. */
  private catchUpPull(ahead: boolean, to: string, now: number): Outbound7Any[] {
    if (!ahead || !this.catchUp.start(to, now)) return [];
    return [
      sendsAllEntries(this.membership.size)
        ? this.synAll(to)
        : { to, message: sumsRequest(this.clusterId, this.state.stateHash) },
    ];
  }

  /**
   * Adds to `send` our members in the leaves `digest` names that it did not list (not marked with `epoch`): live
   * ones, those that left, and ourselves, as a complete digest introduces them.
   */
  private introduceInLeaves(digest: Digest7, epoch: number, send: Candidate7[]): void {
    const m = this.membership;
    const t = m.table;
    const leaves = new Set<number>();
    const n = Math.min(digest.count, digest.refs.length);
    for (let i = 0; i < n; i++) {
      const ref = digest.refs[i] as number;
      if (Number.isSafeInteger(ref) && ref >= 0 && ref < HASH_SPACE) leaves.add(leafOf(ref));
    }
    if (leaves.size === 0) return;
    for (const s of slotsOfLeaves(
      m,
      [...leaves].sort((a, b) => a - b),
    )) {
      if (t.mark[s] === epoch) continue;
      if (s === SELF || t.status[s] === LIVE || t.left[s] === 1) send.push(introduction(t, s));
    }
  }

  private onSynAck7(from: string, synAck: SynAck7Message, now: number, budget: number): Outbound7Any[] {
    const m = this.membership;
    const before = this.state.hash;
    this.deltas.apply(synAck.nodes, now, from);
    this.catchUp.answered(from);
    const chase = this.chase(from, synAck, before, synAck.memberCount, budget, now);
    const found = compareDigest7(m, synAck.request, m.nextEpoch());
    const nodes = this.deltas.pack(found.send.sort(byStaleness), this.ackDeltaBudget(budget));
    if (nodes.length === 0) return chase;
    return [{ to: from, message: { type: 'ack7', clusterId: this.clusterId, nodes } }, ...chase];
  }

  /** An exchange with the live member at `from` (if one): its differing beats wait quietMs again. */
  private noteExchange(from: string, now: number): void {
    const s = this.membership.liveSlotAt(from);
    if (s > SELF) this.beats.noteExchange(this.membership.table.ref(s), now);
  }

  private syn7(digest: Digest7, pull: boolean): Syn7Message {
    return {
      type: 'syn7',
      clusterId: this.clusterId,
      pull,
      stateHash: this.state.hash,
      memberCount: this.membership.size,
      censusEpoch: this.censusEpoch,
      digest,
    };
  }

  /** Bytes a SYN7's digest may take (its own header included). */
  private synDigestBudget(): number {
    return (
      this.payloadBudget - exchange7HeaderBytes(this.clusterId, this.membership.size) - varintSize(this.censusEpoch)
    );
  }

  /** What a drill-down's SYN7 may hold, for the plan (sumsReply's lower bound, planSyn7). */
  private entryBudget(): EntryBudget {
    return {
      entryBytes: ENTRY_BYTES,
      budgetBytes: this.synDigestBudget() - digest7HeaderBytes(this.membership.size),
    };
  }

  /** Bytes left for an ACK7's node deltas within `budget`: less its type byte and cluster id. */
  private ackDeltaBudget(budget: number): number {
    return budget - 1 - stringSize(this.clusterId);
  }
}
