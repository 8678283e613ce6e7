/**
 * Catch-up of a node far behind a peer (docs/design/liveness-7.md, "Catching up"): a joiner of a mode-7 cluster, or
 * a node whose state differs from a peer's by more than a packet. A drill-down waits for two differing beats and a
 * quiet interval, and moves one packet of node deltas: a node 60 members behind would wait tens of seconds where
 * protocol 6, which pulls a full digest from three peers a round, takes about one round. So an exchange that shows
 * the peer is ahead by more than it carried is followed at once by another pull to that peer, and each answer that
 * brought something and still shows the peer ahead by another: a chain of pulls, one in flight per peer, that
 * stops as soon as an answer brings nothing new or the peer is no longer ahead.
 *
 * Only members are pulled (a stranger's SYN7 gets our introduction alone): a chain costs the peer one reply per
 * pull, as any exchange does. A formed, quiet cluster sends no SYN7 and so starts no chain: its cost is unchanged.
 *
 * Pure: the clock is an input; nothing is sent from here.
 */
import type { Ack7Message, SynAck7Message } from '../wire/liveness-messages.js';
import { nodeDeltas7Bytes } from '../wire/liveness-sizes.js';

/**
 * Bytes of a received SYN-ACK7 or ACK7 that count towards its budget, from what its arrays hold (a count that lies
 * is not walked): its node deltas, and a request's listed entries at about 10 bytes each.
 */
export function replyBytes(m: SynAck7Message | Ack7Message): number {
  const listed = m.type === 'synAck7' ? Math.min(m.request.count, m.request.refs.length) : 0;
  return nodeDeltas7Bytes(m.nodes) + 10 * listed;
}

/** Peers pulled from at a time: protocol 6 pulls from `fanout` (3) peers a round; a chain is no wider. */
export const CATCH_UP_PEERS = 3;

/**
 * A SYN-ACK7 within this many bytes of the payload budget was cut by it: the peer had more to send than fit (a node
 * delta introducing a member, with a few keys, takes about 160 bytes).
 */
export const FULL_REPLY_SLACK = 256;

/**
 * A SYN7 from a member shows it ahead when it holds more members than we do, beyond the ones its digest lists that
 * we do not know (`request`: the slots compareDigest7 would request, -1 for an unknown member; those our reply asks
 * for now): a news digest naming the one member that joined shows nothing more.
 */
export function aheadBySyn(theirMembers: number, ourMembers: number, request: readonly number[]): boolean {
  let unknownListed = 0;
  for (const s of request) if (s < 0) unknownListed++;
  return theirMembers > ourMembers + unknownListed;
}

/**
 * A SYN7 from a member shows it far behind us when it holds more than BEHIND_GAP fewer members: a joiner that
 * knows its seed alone sends news listing what it knows, which we hold already, so no answer would tell it what it
 * lacks (and the neighbours that beat it are unknown to it: their beats are dropped). A pull of every entry (or
 * sums) from us is what shows it: its reply requests what it lacks, our ACK7 carries it, and its catch-up follows.
 * The gap leaves alone a member that removed a dead member a moment before us.
 */
export function behindBySyn(theirMembers: number, ourMembers: number): boolean {
  return theirMembers + BEHIND_GAP < ourMembers;
}

/** Members a SYN7's sender may lack before it is pulled (behindBySyn). */
export const BEHIND_GAP = 2;

/**
 * A SYN-ACK7 shows its sender still ahead when what it carried changed our state (an answer that brings nothing
 * ends the chain, whatever the counts: members removed at slightly different instants differ for nothing) and it
 * holds more members than we now do, or its reply was cut by the payload budget.
 */
export function aheadByReply(progressed: boolean, theirMembers: number, ourMembers: number, full: boolean): boolean {
  return progressed && (theirMembers > ourMembers || full);
}

/** The catch-up pulls in flight, by peer address: at most one per peer and CATCH_UP_PEERS in all. */
export class CatchUp {
  private readonly inFlight = new Map<string, number>();

  private readonly timeoutMs: number;

  /**
   * `intervalMs`: the gossip interval. A pull unanswered for a quarter of it (an eager round; a LAN's round trip is
   * a millisecond) is dropped: it was lost, or the peer had nothing to answer (a pull both sides agree on gets no
   * reply), and its peer may be pulled again.
   */
  constructor(
    intervalMs: number,
    private readonly maxPeers = CATCH_UP_PEERS,
  ) {
    this.timeoutMs = intervalMs / 4;
  }

  /** Whether a pull to `peer` may go at `now`; when it may, it is counted in flight from now. */
  start(peer: string, now: number): boolean {
    for (const [p, at] of this.inFlight) if (now - at >= this.timeoutMs) this.inFlight.delete(p);
    if (this.inFlight.has(peer) || this.inFlight.size >= this.maxPeers) return false;
    this.inFlight.set(peer, now);
    return true;
  }

  /** `peer` answered: its pull is no longer in flight (the answer may start the next). */
  answered(peer: string): void {
    this.inFlight.delete(peer);
  }

  /** Pulls in flight. */
  get size(): number {
    return this.inFlight.size;
  }
}
