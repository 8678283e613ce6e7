/**
 * The node's side of the wire: opening and decoding what arrives, choosing per peer the protocol
 * version to write in, sealing and sending what the core produced, a stranger's replies held to
 * AMPLIFICATION_FACTOR times what it sent, and every packet counted (in, out, by version, dropped).
 */
import type { ScuttlebuttCore } from '../core/core.js';
import type { Outbound } from '../core/types.js';
import { DecodeError, decodeMessage, encodeMessage, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, type ProtocolVersion } from '../wire/codec.js';
import type { Message } from '../wire/messages.js';
import { envelopeOverhead, EnvelopeError, openPacket, seal, type EnvelopeOptions } from '../transport/envelope.js';
import type { PeerVersions } from '../transport/negotiation.js';
import { NonceSequence, ReplayWindows } from '../transport/replay.js';
import type { UdpEndpoint } from '../transport/udp.js';
import type { Logger } from './api.js';
import { parseHostPort } from './config.js';
import { publish as diag } from './diagnostics.js';
import { monotonicNow } from './clock.js';
import type { Scuttlebutt } from './scuttlebutt.js';

/**
 * QUIC's anti-amplification rule (RFC 9000, 8.1): to a sender that is not a member or a seed, a
 * packet is answered with at most this many times its own size. A forged source address then
 * turns this node into no amplifier, and a joiner loses nothing: its first SYN-ACK is small, but
 * it asks for the joiner's state, and once the ACK has admitted it the joiner is a member.
 */
const AMPLIFICATION_FACTOR = 3;
/** Version warnings are logged once per peer and version, for at most this many pairs. */
const VERSION_WARNINGS_MAX = 1024;

export interface PacketCounters {
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
}

export class Packets {
  readonly counters: PacketCounters = { packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 };
  /** Packets dropped whole, incoming or outgoing, by reason (stats().dropped): nothing else is counted here. */
  readonly dropped: Record<string, number> = {};
  readonly byVersion = { packetsIn: {} as Record<string, number>, packetsOut: {} as Record<string, number> };
  /** The version chosen for each destination of the messages being produced now: one choice per peer and batch. */
  private readonly batch = new Map<string, ProtocolVersion>();
  private readonly versionWarnings = new Set<string>();
  /** This node's numbered nonces (keyring, protocol 5 on), and the windows of every stream it hears. */
  private readonly replay: { readonly own: NonceSequence; readonly windows: ReplayWindows };

  constructor(
    private readonly node: Scuttlebutt,
    private readonly core: () => ScuttlebuttCore,
    private readonly udp: UdpEndpoint,
    private readonly envelope: () => EnvelopeOptions,
    /** Per peer, the protocol versions it speaks, as learned from what it sent. */
    readonly versions: PeerVersions,
    private readonly log: Logger,
    /** Streams whose replay windows are kept (see transport/replay.ts). */
    replayCapacity?: number,
  ) {
    this.replay = { own: new NonceSequence(), windows: new ReplayWindows({ capacity: replayCapacity }) };
  }

  /** How many senders' replay windows are held, and the deepest reordering they accepted (in sender packets). */
  replayStats(): { streams: number; deepestReorder: number } {
    return { streams: this.replay.windows.size, deepestReorder: this.replay.windows.deepestReorder };
  }

  /**
   * Counts, opens and decodes a packet, and notes the version its sender wrote in (replies go back
   * in it); null when it is dropped (counted, and a version mismatch logged once).
   */
  open(bytes: Uint8Array, from: string): Message | null {
    this.counters.packetsIn++;
    this.counters.bytesIn += bytes.length;
    diag.packetIn(this.node, bytes.length, from);
    try {
      const { version, body } = openPacket(bytes, this.envelope(), this.replay);
      this.byVersion.packetsIn[version] = (this.byVersion.packetsIn[version] ?? 0) + 1;
      const message = decodeMessage(body, version);
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
    diag.drop(this.node, reason);
  }

  /** Sends a batch the core produced, each message in the version chosen for its destination. */
  sendAll(out: readonly Outbound[]): Promise<void>[] {
    const sent = out.map((o) => this.send(o, this.versionTo(o.to)));
    this.batch.clear();
    return sent;
  }

  /** A packet from an address no member or seed has: its replies to that address stay within AMPLIFICATION_FACTOR times its size. */
  answerStranger(from: string, received: number, message: Message): void {
    let allowance = AMPLIFICATION_FACTOR * received;
    const overhead = envelopeOverhead(this.envelope().keys.length > 0);
    for (const o of this.core().receive(from, message, monotonicNow(), { stranger: true, replyBudget: allowance - overhead })) {
      const version = this.versionTo(o.to);
      if (o.to !== from) {
        void this.send(o, version);
        continue;
      }
      const packet = this.seal(o, version);
      if (!packet) continue;
      if (packet.length > allowance) {
        this.count('amplification-limit');
        continue;
      }
      allowance -= packet.length;
      void this.transmit(packet, o.to, version);
    }
    this.batch.clear();
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

  /** Once per peer and version: the operator must upgrade one side, and the log says which. */
  private warnVersion(from: string, version: number): void {
    const key = `${from} ${version}`;
    if (this.versionWarnings.has(key) || this.versionWarnings.size >= VERSION_WARNINGS_MAX) return;
    this.versionWarnings.add(key);
    const which = version > PROTOCOL_VERSION ? 'upgrade this node' : 'upgrade the peer';
    this.log.warn({ from, version, speaks: [MIN_PROTOCOL_VERSION, PROTOCOL_VERSION] }, `peer ${from} speaks protocol ${version}, this node speaks ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}: ${which}; its packets are dropped`);
  }

  private async send(o: Outbound, version: ProtocolVersion): Promise<void> {
    const packet = this.seal(o, version);
    if (packet) await this.transmit(packet, o.to, version);
  }

  private seal(o: Outbound, version: ProtocolVersion): Uint8Array | null {
    try {
      return seal(encodeMessage(o.message, version), this.envelope(), { version, sequence: this.replay.own });
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
      diag.packetOut(this.node, packet.length, to);
    } catch (err) {
      this.count('send-failed');
      this.log.debug({ to, err: (err as Error).message }, 'send failed');
    }
  }
}
