/**
 * Which protocol version to write to each peer. A node speaks MIN_PROTOCOL_VERSION..PROTOCOL_VERSION
 * and learns, per peer address, the highest version that address has chosen to write in. It answers
 * a message in the version the message came in, and starts an exchange (or an unsolicited message)
 * in the highest version the peer is known to speak. A reply in an older version says only that the
 * peer answered in ours, so it teaches nothing: were it taken as the peer's choice, two current nodes
 * that met through an old-version try would each take the other for an old node.
 *
 * Nothing is advertised: the envelope of an older version has no spare bit (a protocol 3 node drops
 * any other flag), so a peer's versions are learned from what it sends. Hence:
 * - a peer never heard from is tried in the newest version twice, then in the oldest, and so on,
 *   until it answers: a joiner whose seed runs the old release must reach it, and a current peer
 *   must not first hear an old-version try from us (it would take us for an old node, and answer
 *   in kind, until a probe);
 * - a peer heard only in an older version is probed in the newest one now and then (one exchange
 *   every `probeIntervalMs`): two upgraded nodes that met while one still held the other as old
 *   would otherwise go on in the old version for ever. A probe to a peer that really is old is one
 *   lost exchange, which gossip absorbs as it absorbs packet loss;
 * - what is known of an address is forgotten when the member behind it leaves, dies or is replaced
 *   (a restart on another build), since the next process there may speak otherwise.
 * Once every member has been heard in the newest version, nothing is sent in an older one. A message that exists only
 * from some version on (user events from 6, liveness messages from 7) never goes to a peer heard only in older
 * versions (heardCarrying), so a protocol-7 node talks 6 to a protocol-6 peer and never sends it a BEAT.
 */
import { MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, type ProtocolVersion } from '../wire/codec.js';
import { makeRoom, touch } from './lru.js';

export interface NegotiationOptions {
  /** How often a peer heard only in an older version is tried in the newest, in ms. */
  readonly probeIntervalMs: number;
  /** Peers remembered; past it the least recently heard are forgotten (and relearned). */
  readonly capacity?: number;
}

interface PeerEntry {
  /** Highest version received from this address since the entry began; 0: none yet. */
  highest: number;
  /** When an initiation last went out in the newest version while `highest` was below it. */
  probedAt: number;
  /** Initiations to a peer never heard from: every third is in the oldest version. */
  tries: number;
}

const DEFAULT_CAPACITY = 16_384;

export class PeerVersions {
  private readonly peers = new Map<string, PeerEntry>();
  private readonly capacity: number;

  constructor(
    private readonly options: NegotiationOptions,
    readonly min: ProtocolVersion = MIN_PROTOCOL_VERSION,
    readonly max: ProtocolVersion = PROTOCOL_VERSION,
  ) {
    this.capacity = options.capacity ?? DEFAULT_CAPACITY;
  }

  /**
   * A packet of `version` (one this node speaks) arrived from `peer`. `chosen`: the peer started it (a
   * SYN, a LEAVE), so the version is one it picked for us; a reply in an older version is not counted.
   */
  heard(peer: string, version: ProtocolVersion, chosen = true): void {
    if (!chosen && version < this.max) return;
    let e = this.peers.get(peer);
    if (!e) {
      makeRoom(this.peers, this.capacity);
      e = { highest: 0, probedAt: -Infinity, tries: 0 };
    }
    if (version > e.highest) e.highest = version;
    // Least recently heard first.
    touch(this.peers, peer, e);
  }

  /** The version to start a message to `peer` in, at `now` (ms); records probes and tries. */
  initiate(peer: string, now: number): ProtocolVersion {
    const e = this.peers.get(peer);
    if (!e) {
      // Never heard: the newest twice, then the oldest, in turn (see the module comment).
      makeRoom(this.peers, this.capacity);
      this.peers.set(peer, { highest: 0, probedAt: now, tries: 1 });
      return this.max;
    }
    if (e.highest === 0) return e.tries++ % 3 === 2 ? this.min : this.max;
    if (e.highest >= this.max) return this.max;
    if (now - e.probedAt >= this.options.probeIntervalMs) {
      e.probedAt = now;
      return this.max;
    }
    return e.highest as ProtocolVersion;
  }

  /**
   * The version to write `peer` a message that not every spoken version has (protocol 7's liveness messages, 6's user
   * events): the highest version heard from it, when `carries` it; `unheard` when nothing was heard from it (the
   * caller knows otherwise that it reads the message, or gives none: not sent); otherwise undefined, and nothing is
   * to be sent. Never a try or a probe: such a message to a peer that does not read it is lost, not an exchange that
   * gossip repeats, and a probe spent on it would not be one.
   */
  heardCarrying(
    peer: string,
    carries: (version: ProtocolVersion) => boolean,
    unheard?: ProtocolVersion,
  ): ProtocolVersion | undefined {
    const h = this.speaks(peer);
    if (h === undefined) return unheard;
    return carries(h) ? h : undefined;
  }

  /** The highest version heard from `peer`, if any. */
  speaks(peer: string): ProtocolVersion | undefined {
    const h = this.peers.get(peer)?.highest;
    return h ? (h as ProtocolVersion) : undefined;
  }

  /** The member at `peer` left, died or was replaced: what it spoke says nothing of what comes next. */
  forget(peer: string): void {
    this.peers.delete(peer);
  }

  get size(): number {
    return this.peers.size;
  }
}
