/**
 * The Scuttlebutt handshake, stateless per exchange (each message is answered from the current state
 * alone, so a lost or duplicated packet never leaves half-open exchange state behind):
 *   SYN      initiator -> responder: cluster id, membership hash, digest
 *   SYN-ACK  responder -> initiator: what the responder lacks (request) + what the initiator lacks (delta)
 *   ACK      initiator -> responder: the delta for the request
 * plus LEAVE (a member's goodbye), WRONG-CLUSTER (the answer to a foreign SYN) and the announcement a
 * new incarnation sends once it has learned the cluster.
 */
import { exchangeHeaderSize, NO_BUMPS } from '../wire/codec.js';
import type { Column, Delta, Digest, LeaveMessage, Message, RateState } from '../wire/messages.js';
import { RATES_MAX_BYTES } from '../wire/rates.js';
import { stringSize, varintSize } from '../wire/varint.js';
import type { DeltaCandidate, Deltas } from './delta.js';
import type { FailureDetector } from './detector.js';
import type { FlowControl } from './flow-control.js';
import { requestSize, type Digests } from './digest.js';
import { ageBounded, DigestComparison, type Positions } from './digest-comparison.js';
import { identityRef } from './identity.js';
import type { Journal } from './journal.js';
import type { LeaveProofs } from './leave-proof.js';
import type { OwnValues } from './own-values.js';
import { SELF, type Membership } from './membership.js';
import { DEAD, LIVE } from './peer-table.js';
import { PeerSets } from './peer-sets.js';
import { rotationStart, shuffle } from './random.js';
import type { Outbound, Random, Sender } from './types.js';

/** A sender the harness knows (a member's or a seed's address), with the whole payload budget for replies. */
export const KNOWN_SENDER: Sender = { stranger: false };

/** A request (what the responder lacks) may take at most this share of a SYN-ACK; the delta gets the rest. */
const REQUEST_SHARE = 0.5;
/** Peers' membership hashes are remembered by address, up to this many (then forgotten and relearned). */
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
 * newer" is most of the steady-state traffic, and that beat arrives by the next round anyway; a
 * gap of two means we are falling behind, which the failure detector pays for, so it is always
 * answered (figures: docs/benchmarks.md).
 */
const PULLS_PER_ROUND = 1;
const PUSH_GAP = 2;
/**
 * A leave may name a heartbeat at most this far above the one we hold for the leaver (gossip brings
 * heartbeats a few rounds late at most); one naming more is refused ('implausible-heartbeat'). A
 * forged leave then costs its victim at most this many rounds of being seen dead.
 */
const LEAVE_HEARTBEAT_SLACK = 16;

export interface ExchangeComponents {
  readonly membership: Membership;
  readonly detector: FailureDetector;
  readonly digests: Digests;
  readonly deltas: Deltas;
  readonly journal: Journal;
  readonly rng: Random;
  /** This node's own state, which refutes claims about it above what it produced. */
  readonly own: OwnValues;
  /** This incarnation's leave secret, and the check of others' leaves against their commitments. */
  readonly proofs: LeaveProofs;
  /** Flow control, whose rates ride on SYNs and SYN-ACKs; absent: none. */
  readonly flow?: FlowControl | null;
}

export interface ExchangeInit {
  readonly clusterId: string;
  readonly payloadBudget: number;
  /** Whether a peer reads low-bit heartbeats (CoreConfig.lowBitsTo); absent: every peer does. */
  readonly lowBitsTo?: (peer: string) => boolean;
}

export class Exchange {
  private readonly peerSets = new PeerSets(PEER_SET_CACHE);
  /**
   * How often recent peers' membership hashes matched ours (moving average in [0, 1]). Most peers
   * we pick in a large cluster have never told us their hash; when recent ones mostly agree with
   * us, we bet on compact digests for those too.
   */
  private agreement = 0;
  /** This incarnation has introduced itself to the members it first learned (see ANNOUNCE_MAX). */
  private announced = false;
  /** Bytes left for the delta of an ACK: the budget less its type byte and cluster id. */
  private readonly ackDeltaBudget: number;
  /** Reads a SYN's digest against our state. */
  private readonly comparison: DigestComparison;

  private readonly membership: Membership;
  private readonly detector: FailureDetector;
  private readonly digests: Digests;
  private readonly deltas: Deltas;
  private readonly journal: Journal;
  private readonly rng: Random;
  private readonly own: OwnValues;
  private readonly proofs: LeaveProofs;
  private readonly flow: FlowControl | null;
  private readonly clusterId: string;
  private readonly payloadBudget: number;
  private readonly lowBitsTo: (peer: string) => boolean;

  constructor(components: ExchangeComponents, init: ExchangeInit) {
    this.membership = components.membership;
    this.detector = components.detector;
    this.digests = components.digests;
    this.deltas = components.deltas;
    this.journal = components.journal;
    this.rng = components.rng;
    this.own = components.own;
    this.proofs = components.proofs;
    this.flow = components.flow ?? null;
    this.clusterId = init.clusterId;
    this.payloadBudget = init.payloadBudget;
    this.lowBitsTo = init.lowBitsTo ?? (() => true);
    this.ackDeltaBudget = init.payloadBudget - 1 - stringSize(init.clusterId);
    this.comparison = new DigestComparison(components);
  }

  /**
   * SYNs to this round's peers: a compact digest to those believed to share our membership, a full
   * one to the rest. `unheard`: we heard nobody for a while, so what we know of peers' memberships
   * may be stale, and a compact digest that meets another membership is not read at all, our own
   * heartbeat with it; a full one names members by ref, so every peer reads our heartbeat in it
   * (we put it first).
   */
  open(targets: readonly string[], now: number, options: { readonly unheard: boolean }): Outbound[] {
    const { unheard } = options;
    const m = this.membership;
    const out: Outbound[] = [];
    let compact: Digest | null = null;
    /** A compact digest with exact heartbeats, for peers of an older protocol (see CoreConfig.lowBitsTo). */
    let exact: Digest | null = null;
    let full: Digest | null = null;
    // Protocol 5: while this node throttles, its rates ride on every SYN (an older peer's codec drops them).
    const rates = this.flow?.advertised(now) ?? null;
    const reserve = rates ? RATES_MAX_BYTES : 0;
    for (const [k, to] of targets.entries()) {
      const peer = this.peerSets.find(to);
      const sameSet =
        !unheard && (peer >= 0 ? m.matches(this.peerSets.hash(peer), this.peerSets.size(peer)) : this.agreement >= 0.5);
      const compactFor = (): Digest =>
        this.lowBitsTo(to)
          ? (compact ??= this.digests.buildCompact(now, { lowBits: true, reserve }))
          : (exact ??= this.digests.buildCompact(now, { lowBits: false, reserve }));
      const digest = sameSet ? compactFor() : (full ??= this.digests.buildFull(now, { selfFirst: unheard, reserve }));
      out.push({
        to,
        message: {
          type: 'syn',
          clusterId: this.clusterId,
          setHash: m.hash,
          setSize: m.size,
          digest,
          pull: k < PULLS_PER_ROUND,
          ...(rates ? { rates } : {}),
        },
      });
    }
    return out;
  }

  /**
   * Graceful leave: a message for every live peer, which marks this node dead at once; it carries
   * this incarnation's secret, the proof that the leaver said it. With a dead member's slot, the
   * leave an operator's force-leave sends on its behalf, which has no proof to give.
   */
  leave(who = SELF): Outbound[] {
    const m = this.membership;
    const t = m.table;
    const secret = who === SELF ? this.proofs.secret : null;
    const message: LeaveMessage = {
      type: 'leave',
      clusterId: this.clusterId,
      identity: m.identity(who),
      heartbeat: t.heartbeat(who),
      ...(secret ? { proof: secret } : {}),
    };
    const out: Outbound[] = [];
    for (let s = 1; s < t.used; s++) if (t.status[s] === LIVE) out.push({ to: m.address(s), message });
    return out;
  }

  /**
   * Handles one decoded message from `from` ("host:port"); returns the replies to send, each to
   * `from` within `sender.replyBudget` bytes of encoded message (the harness's anti-amplification
   * limit for a stranger; at most the payload budget).
   */
  receive(from: string, message: Message, now: number, sender: Sender = KNOWN_SENDER): Outbound[] {
    const budget = Math.min(sender.replyBudget ?? this.payloadBudget, this.payloadBudget);
    const m = this.membership;
    if (message.type !== 'wrongCluster' && message.clusterId !== this.clusterId) {
      this.journal.reject('wrong-cluster');
      // Only a SYN is answered, so two clusters that share seeds see why they never merge.
      return message.type === 'syn' ? [{ to: from, message: { type: 'wrongCluster', clusterId: this.clusterId } }] : [];
    }
    switch (message.type) {
      case 'syn':
        this.notePeerSet(from, message.setHash, message.setSize);
        return this.onSyn(from, message.digest, message.pull, now, budget, sender.stranger, message.rates);
      case 'synAck': {
        this.notePeerSet(from, message.setHash, message.setSize);
        if (message.rates) this.flow?.share(message.rates, now);
        this.deltas.apply(message.delta, now, { from, sameMembership: m.matches(message.setHash, message.setSize) });
        const delta = this.answerRequest(message.request, now, budget - 1 - stringSize(this.clusterId));
        const out = this.announce(from, now);
        if (delta.nodes.length > 0 || delta.bumps.count > 0)
          out.push({ to: from, message: { type: 'ack', clusterId: this.clusterId, delta } });
        return out;
      }
      case 'ack':
        this.deltas.apply(message.delta, now, { from, sameMembership: false });
        return this.announce(from, now);
      case 'leave':
        this.onLeave(message, now);
        return [];
      case 'wrongCluster':
        return [];
    }
  }

  /**
   * A leave about a member we hold. Its own (the proof opens its commitment), or about a member that
   * made no commitment (an older release): dead at once, for good, as before protocol 5. Without a
   * proof (an operator's force-leave, an older sender): taken only if we see the member dead already,
   * and then it is removed now, not for good (fresh heartbeats bring it back). Anything else, a
   * wrong proof or no proof about a member we see live, is forged: dropped and counted.
   */
  private onLeave(message: LeaveMessage, now: number): void {
    const m = this.membership;
    const s = m.slotOfRef(identityRef(message.identity));
    if (s <= SELF) return;
    if (message.heartbeat - m.table.heartbeat(s) > LEAVE_HEARTBEAT_SLACK)
      return this.journal.reject('implausible-heartbeat');
    const verdict = this.proofs.judge(m.commitment(s), message.proof);
    if (verdict === 'proven' || verdict === 'uncommitted') m.markLeft(s, now, message.heartbeat);
    else if (verdict === 'unproven' && m.table.status[s] === DEAD) m.forceLeave(s, now, { final: false });
    else this.journal.reject('forged-leave');
  }

  /**
   * Once per incarnation, as soon as a delta has taught this node members besides its sender: an
   * unsolicited ACK introducing itself to up to ANNOUNCE_MAX of them. A joiner learns the cluster
   * from its seed in one reply, but the cluster learns the joiner only hop by hop; the sender is
   * skipped, it already knows us.
   */
  private announce(from: string, now: number): Outbound[] {
    const m = this.membership;
    if (this.announced || m.liveOthers < 2) return [];
    this.announced = true;
    const t = m.table;
    const targets: number[] = [];
    for (let s = 1; s < t.used; s++) if (t.status[s] === LIVE && m.address(s) !== from) targets.push(s);
    shuffle(targets, this.rng);
    targets.length = Math.min(targets.length, ANNOUNCE_MAX);
    const delta = this.deltas.pack({ unknown: [SELF] }, this.ackDeltaBudget, now);
    return targets.map((s) => ({ to: m.address(s), message: { type: 'ack', clusterId: this.clusterId, delta } }));
  }

  private notePeerSet(from: string, hash: number, size: number): void {
    this.peerSets.set(from, hash, size);
    const hit = this.membership.matches(hash, size) ? 1 : 0;
    this.agreement += (hit - this.agreement) * 0.1;
  }

  private onSyn(
    from: string,
    digest: Digest,
    pull: boolean,
    now: number,
    replyBudget: number,
    stranger: boolean,
    theirRates?: RateState,
  ): Outbound[] {
    const m = this.membership;
    // Rates are answered only by a node that shares too; it replies with its rates before taking its share.
    const ours = theirRates ? (this.flow?.advertised(now) ?? null) : null;
    const reserve = ours ? RATES_MAX_BYTES : 0;
    const reply = (request: Digest, delta: Delta): Outbound[] => {
      if (ours) this.flow?.share(theirRates as RateState, now);
      return [
        {
          to: from,
          message: {
            type: 'synAck',
            clusterId: this.clusterId,
            setHash: m.hash,
            setSize: m.size,
            request,
            delta,
            ...(ours ? { rates: ours } : {}),
          },
        },
      ];
    };
    const compact = digest.mode === 'compact';
    const positions = compact ? this.positionsOf(from, digest) : { skew: 0, at: 0, ref: 0 };
    if (!positions) {
      // Our memberships differ, so positions mean nothing here, but the sender's own heartbeat, sent
      // in full, is still its own: read it, as the entry a digest must always get across (Digest.own).
      // A node that lost its inbound link while memberships changed keeps sending compact digests
      // until it notices (two rounds); its heartbeats would otherwise reach nobody meanwhile.
      if (digest.own && !stranger) this.observeSender(from, digest, digest.own, now);
      // Turn the exchange around: our whole digest as the request lets the initiator send us what
      // we lack, and our hash in the reply makes it send refs next time.
      const all = m.memberSlots();
      const refs = Array.from(all, (s) => m.table.ref(s));
      const budget = replyBudget - reserve - exchangeHeaderSize(this.clusterId, m.size) - varintSize(0) * 2;
      return reply(this.digests.request(all, refs, budget, now, { summarize: true }), { nodes: [], bumps: NO_BUMPS });
    }
    const order = compact ? m.sortedMembers() : null;
    // Bumps go back as positions only to a peer whose positions are ours.
    const positional = compact && positions.skew === 0;
    const epoch = m.nextEpoch();
    const found = this.comparison.compare(digest, order, positions, positional, epoch, now);
    // Slots only: while a large cluster bootstraps this list holds most of the table for every SYN,
    // and one object per entry would dominate the cost; the budget takes a thousand at most.
    const neverSeen: number[] = [];
    let neverSeenStart = 0;
    if (stranger) {
      // A stranger (the harness limits our reply to it): we introduce only ourselves, and our request asks
      // for its state. A joiner's ACK then makes it a member, its next SYN (an early round: it has
      // news, us) gets the whole cluster, and it announces itself to all of it rather than to the
      // few members a small reply would have held.
      if (!order && m.table.mark[SELF] !== epoch) neverSeen.push(SELF);
    } else if (digest.complete && !order) {
      // A compact digest comes from a peer with our membership (so it is not marked): nobody to introduce.
      const t = m.table;
      // Dead nodes are not introduced to peers that never knew them: that spreads only stale news.
      for (let s = 0; s < t.used; s++) if (t.status[s] === LIVE && t.mark[s] !== epoch) neverSeen.push(s);
      neverSeenStart = rotationStart(neverSeen.length, this.rng);
    } else if (digest.buckets) {
      // Too many members for one packet: introduce ours from every bucket whose sum differs.
      this.digests.membersOfDifferingBuckets(digest.buckets, epoch, neverSeen);
      neverSeenStart = rotationStart(neverSeen.length, this.rng);
    }
    const budget = replyBudget - reserve - exchangeHeaderSize(this.clusterId, m.size);
    const request = this.digests.request(found.request, found.requestRefs, Math.floor(budget * REQUEST_SHARE), now);
    const candidates = found.candidates.sort(byStaleness);
    // A push wants no reply that would carry heartbeats alone.
    if (!pull && found.bumpGap < PUSH_GAP && request.count === 0 && neverSeen.length === 0 && candidates.length === 0)
      return [];
    const content = {
      unknown: neverSeen,
      unknownStart: neverSeenStart,
      stale: candidates,
      bumps: found.bumps,
      positions: positional ? order : null,
      lowBits: positional && this.lowBitsTo(from),
    };
    const delta = this.deltas.pack(content, budget - requestSize(request), now);
    return reply(request, delta);
  }

  /** The heartbeat a digest gives in full for its sender, observed for the live member at `from` (if exactly one). */
  private observeSender(from: string, digest: Digest, own: NonNullable<Digest['own']>, now: number): void {
    const s = this.membership.liveSlotAt(from);
    if (s < 0 || own.index >= digest.count) return;
    this.detector.observe(s, own.heartbeat, digest.ages[own.index] as number, now, ageBounded(digest, own.index));
  }

  /**
   * How a compact digest from `from` reads on our membership, or null when it cannot be read: the
   * peer's membership is neither ours nor one member apart (Membership.oneMemberApart), or the
   * digest reaches past it.
   */
  private positionsOf(from: string, digest: Digest): Positions | null {
    const m = this.membership;
    const entry = this.peerSets.find(from);
    if (entry < 0) return null;
    const hash = this.peerSets.hash(entry);
    const size = this.peerSets.size(entry);
    if (m.matches(hash, size)) return digest.offset + digest.count > size ? null : { skew: 0, at: 0, ref: 0 };
    const apart = m.oneMemberApart(hash, size);
    if (!apart || digest.offset + digest.count > size) return null;
    return { skew: apart.skew, at: apart.at, ref: apart.ref };
  }

  /** The ACK's delta: what the responder said it lacks. Its heartbeats are fresh evidence too. */
  private answerRequest(request: Digest, now: number, budget: number): Delta {
    const m = this.membership;
    const t = m.table;
    const unknown: number[] = [];
    const stale: DeltaCandidate[] = [];
    const bumps: number[] = [];
    const epoch = m.nextEpoch();
    for (let i = 0; i < request.count; i++) {
      const s = m.slotOfRef((request.refs as Column)[i] as number);
      if (s < 0) continue;
      t.mark[s] = epoch;
      const hb = request.heartbeats[i] as number;
      if (hb === 0) {
        if (t.status[s] === LIVE) unknown.push(s);
        continue;
      }
      if (s !== SELF) this.detector.observe(s, hb, request.ages[i] as number, now, ageBounded(request, i));
      else this.own.refuteHeartbeat(hb, now);
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
    if (request.buckets && !request.complete) this.digests.membersOfDifferingBuckets(request.buckets, epoch, unknown);
    return this.deltas.pack({ unknown, stale: stale.sort(byStaleness), bumps }, budget, now);
  }
}

/** Most behind first; ties by slot, so the order is the same on every run. */
function byStaleness(a: DeltaCandidate, b: DeltaCandidate): number {
  return b.staleness - a.staleness || a.slot - b.slot;
}
