/**
 * The node's side of the wire: opening and decoding what arrives, choosing per peer the protocol
 * version to write in, sealing and sending what the core produced, a stranger's replies held to
 * AMPLIFICATION_FACTOR times what it sent, and every packet counted (in, out, by version, dropped).
 * It knows nothing of the core or the node: it is handed messages to send, and tells its sinks
 * (`onPacket`, `onDrop`) what passed.
 */
import { decodeAny, encodeAny, type WireMessage } from '../wire/any.js';
import {
  carriesLeaveProofs,
  carriesLiveness,
  carriesUserEvents,
  DecodeError,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  type ProtocolVersion,
} from '../wire/codec.js';
import { isLivenessMessage } from '../wire/liveness-messages.js';
import { isUserEventMessage } from '../wire/user-events.js';
import { envelopeOverhead, EnvelopeError, openPacket, seal, type EnvelopeOptions } from '../transport/envelope.js';
import type { PeerVersions } from '../transport/negotiation.js';
import { NonceSequence, ReplayWindows } from '../transport/replay.js';
import type { UdpEndpoint } from '../transport/udp.js';
import type { Logger } from './api.js';
import { parseHostPort } from './config.js';
import { monotonicNow } from './clock.js';

/**
 * QUIC's anti-amplification rule (RFC 9000, 8.1): to a sender that is not a member or a seed, a
 * packet is answered with at most this many times its own size. A forged source address then
 * turns this node into no amplifier, and a joiner loses nothing: its first SYN-ACK is small, but
 * it asks for the joiner's state, and once the ACK has admitted it the joiner is a member.
 */
const AMPLIFICATION_FACTOR = 3;
/** Version warnings are logged once per peer and version, for at most this many pairs. */
const VERSION_WARNINGS_MAX = 1024;
/**
 * dropped[] reasons of this path beyond the envelope's and the decoder's: a STREAM-HELLO or STREAM-END (the TCP
 * stream's frames, protocol 7) that came over UDP, where no stream is open to take it; a message its destination was
 * heard only in older versions than (protocol 7's to a peer heard only in 6 or older), so not sent.
 */
export const STREAM_FRAME_OVER_UDP = 'stream-frame-over-udp';
export const MESSAGE_TOO_NEW = 'message-too-new';

/** A message to send: the core's (membership, liveness) or another part's (user events). */
export interface WireOutbound {
  readonly to: string;
  readonly message: WireMessage;
}

export interface PacketCounters {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** What the packet path talks to. */
export interface PacketsComponents {
  readonly udp: UdpEndpoint;
  /** Per peer, the protocol versions it speaks, as learned from what it sent. */
  readonly versions: PeerVersions;
  readonly log: Logger;
  /**
   * Hears every packet that arrives (before it is opened, so corrupt ones too) and every packet handed to the socket.
   */
  readonly onPacket: (direction: 'in' | 'out', bytes: number, peer: string) => void;
  /** Hears every count added to `dropped`, by reason. */
  readonly onDrop: (reason: string) => void;
}

export interface PacketsInit {
  /** Keys, compression and packet size to seal and open with; the keys change with setKeys(). */
  readonly envelope: EnvelopeOptions;
  /** Streams whose replay windows are kept (see transport/replay.ts). */
  readonly replayCapacity?: number;
}

/** A stranger's packet answered: what its address may receive in all, and what the core may put in one reply to it. */
export interface StrangerAllowance {
  readonly to: string;
  readonly bytes: number;
  readonly replyBudget: number;
}

export class Packets {
  readonly counters: PacketCounters = { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 };
  /** Packets dropped whole, incoming or outgoing, by reason (stats().dropped): nothing else is counted here. */
  readonly dropped: Record<string, number> = {};
  readonly byVersion = { packetsIn: {} as Record<string, number>, packetsOut: {} as Record<string, number> };
  /** Per peer, the protocol versions it speaks, as learned from what it sent. */
  readonly versions: PeerVersions;
  /** The version chosen for each destination of the messages being produced now: one choice per peer and batch. */
  private readonly batch = new Map<string, ProtocolVersion>();
  private readonly versionWarnings = new Set<string>();
  /** This node's numbered nonces (keyring, protocol 5 on), and the windows of every stream it hears. */
  private readonly replay: { readonly own: NonceSequence; readonly windows: ReplayWindows };
  private readonly udp: UdpEndpoint;
  private readonly log: Logger;
  private readonly onPacket: PacketsComponents['onPacket'];
  private readonly onDrop: PacketsComponents['onDrop'];
  private envelope: EnvelopeOptions;

  constructor(components: PacketsComponents, init: PacketsInit) {
    this.udp = components.udp;
    this.versions = components.versions;
    this.log = components.log;
    this.onPacket = components.onPacket;
    this.onDrop = components.onDrop;
    this.envelope = init.envelope;
    this.replay = { own: new NonceSequence(), windows: new ReplayWindows({ capacity: init.replayCapacity }) };
  }

  /** Replaces the keyring: the first key seals, all open. */
  setKeys(keys: readonly Uint8Array[]): void {
    this.envelope = { ...this.envelope, keys: [...keys] };
  }

  /** What packets are sealed and opened with now (a TCP stream seals its frames alike). */
  get envelopeOptions(): EnvelopeOptions {
    return this.envelope;
  }

  /** The replay windows of every sender heard over UDP: a stream refuses an opening frame already seen there. */
  get udpWindows(): Pick<ReplayWindows, 'knows'> {
    return this.replay.windows;
  }

  /** How many senders' replay windows are held, and the deepest reordering they accepted (in sender packets). */
  replayStats(): { streams: number; deepestReorder: number } {
    return { streams: this.replay.windows.size, deepestReorder: this.replay.windows.deepestReorder };
  }

  /**
   * Counts, opens and decodes a packet, and notes the version its sender wrote in (replies go back
   * in it); null when it is dropped (counted, and a version mismatch logged once). User events and
   * queries (protocol 6) come out decoded beside the core's messages: the caller routes them.
   */
  open(bytes: Uint8Array, from: string): WireMessage | null {
    this.counters.packetsIn++;
    this.counters.bytesIn += bytes.length;
    this.onPacket('in', bytes.length, from);
    try {
      const { version, body } = openPacket(bytes, this.envelope, this.replay);
      this.byVersion.packetsIn[version] = (this.byVersion.packetsIn[version] ?? 0) + 1;
      const message = decodeAny(body, version);
      if (message.type === 'streamHello' || message.type === 'streamEnd') {
        this.count(STREAM_FRAME_OVER_UDP);
        this.log.debug({ from, type: message.type }, 'dropped a stream frame that came over UDP');
        return null;
      }
      this.versions.heard(from, version, message.type === 'syn' || message.type === 'leave');
      this.batch.set(from, version);
      return message;
    } catch (err) {
      if (err instanceof EnvelopeError && err.version !== undefined) {
        this.count(`envelope:${err.reason}`);
        this.warnVersion(from, err.version);
      } else if (err instanceof EnvelopeError || err instanceof DecodeError) {
        this.count(`${err instanceof EnvelopeError ? 'envelope' : 'decode'}:${err.reason}`);
        this.log.debug({ from, reason: err.reason, err: err.message }, 'dropped a packet');
      } else {
        throw err;
      }
      return null;
    }
  }

  /** Forgets the versions chosen for a batch that was not sent (the core threw). */
  abandon(): void {
    this.batch.clear();
  }

  count(reason: string): void {
    this.dropped[reason] = (this.dropped[reason] ?? 0) + 1;
    this.onDrop(reason);
  }

  /**
   * What a packet of `received` bytes from a sender that is no member or seed may get back: replies
   * to its address stay within AMPLIFICATION_FACTOR times its size, so a forged source address makes
   * this node no amplifier.
   */
  strangerAllowance(from: string, received: number): StrangerAllowance {
    const bytes = AMPLIFICATION_FACTOR * received;
    return { to: from, bytes, replyBudget: bytes - envelopeOverhead(this.envelope.keys.length > 0) };
  }

  /**
   * Sends a batch the core produced, each message in the version chosen for its destination. With
   * `limit`, packets to `limit.to` go out only while their total stays within `limit.bytes` (the
   * rest are counted as 'amplification-limit').
   */
  sendAll(out: readonly WireOutbound[], limit?: StrangerAllowance): Promise<void>[] {
    let allowance = limit?.bytes ?? Infinity;
    const sent: Promise<void>[] = [];
    for (const o of out) {
      const version = this.versionOf(o);
      if (version === null) continue;
      if (o.to !== limit?.to) {
        sent.push(this.send(o, version));
        continue;
      }
      const packet = this.seal(o, version);
      if (!packet) continue;
      if (packet.length > allowance) {
        this.count('amplification-limit');
        continue;
      }
      allowance -= packet.length;
      sent.push(this.transmit(packet, o.to, version));
    }
    this.batch.clear();
    return sent;
  }

  /**
   * Seals an encoded body in `version` and sends it to `to`, outside any batch: the query path's
   * messages, written in the one version that carries them whatever the peer was last heard in.
   */
  sendBody(to: string, body: Uint8Array, version: ProtocolVersion): Promise<void> {
    let packet: Uint8Array;
    try {
      packet = seal(body, this.envelope, { version, sequence: this.replay.own });
    } catch (err) {
      this.count('encode-failed');
      this.log.error({ err: (err as Error).stack }, 'could not seal a message');
      return Promise.resolve();
    }
    return this.transmit(packet, to, version);
  }

  /** The version of the message being produced for `peer`: the one it came in for a reply, else the negotiated one. */
  versionTo(peer: string): ProtocolVersion {
    let v = this.batch.get(peer);
    if (v === undefined) {
      v = this.versions.initiate(peer, monotonicNow());
      this.batch.set(peer, v);
    }
    return v;
  }

  /**
   * The version to write `o` in. A membership message: versionTo. A message not every spoken version has (user
   * events, liveness messages): the reply's version when it carries it, else the highest version its destination
   * was heard in when that one does (never a try or a probe; PeerVersions.heardCarrying). A liveness message to an
   * address never heard from goes in the newest: the core sends them only to members that advertise speaking 7
   * (design/liveness-7.md, "The gate"), and a node's neighbours are seldom the peers it gossips with, so waiting to
   * hear each would keep their beats from ever starting. Else null, counted as MESSAGE_TOO_NEW: the peer was heard
   * only in older versions, and would drop it as of an unknown type.
   */
  private versionOf(o: WireOutbound): ProtocolVersion | null {
    // A leave is one message, never answered: in the oldest version, a try's turn for a peer never heard, it would
    // lose its proof, and a peer that holds the leaver's commitment would refuse it as forged.
    if (o.message.type === 'leave')
      return this.versions.heardCarrying(o.to, carriesLeaveProofs, PROTOCOL_VERSION) ?? this.versionTo(o.to);
    const liveness = isLivenessMessage(o.message);
    const carries = liveness ? carriesLiveness : isUserEventMessage(o.message) ? carriesUserEvents : null;
    if (!carries) return this.versionTo(o.to);
    const reply = this.batch.get(o.to);
    const version =
      reply !== undefined && carries(reply)
        ? reply
        : this.versions.heardCarrying(o.to, carries, liveness ? PROTOCOL_VERSION : undefined);
    if (version !== undefined) return version;
    this.count(MESSAGE_TOO_NEW);
    return null;
  }

  /** Once per peer and version: the operator must upgrade one side, and the log says which. */
  private warnVersion(from: string, version: number): void {
    const key = `${from} ${version}`;
    if (this.versionWarnings.has(key) || this.versionWarnings.size >= VERSION_WARNINGS_MAX) return;
    this.versionWarnings.add(key);
    const which = version > PROTOCOL_VERSION ? 'upgrade this node' : 'upgrade the peer';
    this.log.warn(
      { from, version, speaks: [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION] },
      `peer ${from} speaks protocol ${version}, this node speaks ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}: ` +
        `${which}; its packets are dropped`,
    );
  }

  private async send(o: WireOutbound, version: ProtocolVersion): Promise<void> {
    const packet = this.seal(o, version);
    if (packet) await this.transmit(packet, o.to, version);
  }

  private seal(o: WireOutbound, version: ProtocolVersion): Uint8Array | null {
    try {
      return seal(encodeAny(o.message, version), this.envelope, { version, sequence: this.replay.own });
    } catch (err) {
      this.count('encode-failed');
      this.log.error({ err: (err as Error).stack }, 'could not encode a message');
      return null;
    }
  }

  private async transmit(packet: Uint8Array, to: string, version: ProtocolVersion): Promise<void> {
    const target = parseHostPort(to);
    if (!target) {
      this.count('bad-peer-address');
      return;
    }
    try {
      await this.udp.send(packet, target.host, target.port);
      this.counters.packetsOut++;
      this.counters.bytesOut += packet.length;
      this.byVersion.packetsOut[version] = (this.byVersion.packetsOut[version] ?? 0) + 1;
      this.onPacket('out', packet.length, to);
    } catch (err) {
      this.count('send-failed');
      this.log.debug({ to, err: (err as Error).message }, 'send failed');
    }
  }
}
