/**
 * A hostile peer: a real UDP socket that speaks the protocol with the project's own codec and
 * envelope, so every packet it sends is well-formed (it decodes, and with the key it decrypts) and
 * lies only in what it says. It records every reply, by source, with its size, so a test can
 * measure what a node sends back to a stranger.
 */
import { decodeMessage, encodeMessage, NO_BUMPS, type ProtocolVersion } from '../../src/wire/codec.js';
import { identityRef } from '../../src/core/identity.js';
import type { Delta, Digest, Message, NodeDelta, NodeIdentity, VersionedValue } from '../../src/wire/messages.js';
import { open, seal, type EnvelopeOptions } from '../../src/transport/envelope.js';
import { bindUdp, type UdpEndpoint } from '../../src/transport/udp.js';
import { parseHostPort } from '../../src/runtime/config.js';
import { MAX_UDP_PAYLOAD } from '../../src/wire/envelope-sizes.js';
import { encodeAny, type WireMessage } from '../../src/wire/any.js';

export interface Received {
  readonly from: string;
  readonly bytes: number;
  /** The packet as it arrived, so a test can replay it. */
  readonly packet: Uint8Array;
  /** null when the reply could not be opened or decoded with the peer's keys. */
  readonly message: Message | null;
  readonly at: number;
}

/** What a node told the peer about one member (learned from an introduction). */
export interface Learned {
  readonly identity: NodeIdentity;
  readonly ref: number;
  readonly heartbeat: number;
  readonly maxVersion: number;
  readonly values: readonly VersionedValue[];
  /** Its leave commitment, as gossip carries it to anyone (protocol 5). */
  readonly commitment: Uint8Array | undefined;
}

export class HostilePeer {
  readonly received: Received[] = [];
  private sentTo = new Map<string, number>();

  private constructor(
    private readonly udp: UdpEndpoint,
    private envelope: EnvelopeOptions,
    readonly clusterId: string,
  ) {
    udp.onPacket((bytes, from) => {
      let message: Message | null = null;
      try {
        message = decodeMessage(open(bytes, this.envelope));
      } catch {
        /* a reply we cannot read is still a reply: its size counts */
      }
      this.received.push({ from, bytes: bytes.length, packet: bytes, message, at: Date.now() });
    });
  }

  /** Binds on loopback; `keys` empty: plaintext, like a stranger without the key. */
  static async open(clusterId: string, keys: readonly Uint8Array[] = []): Promise<HostilePeer> {
    const udp = await bindUdp('127.0.0.1', 0);
    return new HostilePeer(udp, { keys, compress: true, maxPacketBytes: MAX_UDP_PAYLOAD }, clusterId);
  }

  get address(): string {
    return this.udp.address;
  }

  /** Seals and sends one message; returns the packet's size in bytes. */
  async send(to: string, message: Message): Promise<number> {
    return this.sendRaw(to, seal(encodeMessage(message), this.envelope));
  }

  /** Seals and sends any message, user events included (protocol 6). */
  async sendAny(to: string, message: WireMessage): Promise<number> {
    return this.sendRaw(to, seal(encodeAny(message), this.envelope));
  }

  /** Seals and sends a message in an older protocol `version`, as a member of an older release would. */
  async sendIn(to: string, message: Message, version: ProtocolVersion): Promise<number> {
    return this.sendRaw(to, seal(encodeMessage(message, version), this.envelope, { version }));
  }

  /** The message type codes of the packets received from `from`, with the version each came in. */
  typesFrom(from: string): { version: number; code: number }[] {
    const out: { version: number; code: number }[] = [];
    for (const r of this.received) {
      if (r.from !== from) continue;
      try {
        out.push({ version: r.packet[2] as number, code: open(r.packet, this.envelope)[0] as number });
      } catch {
        /* not readable with our keys */
      }
    }
    return out;
  }

  /** Seals raw body bytes, well-formed or not. */
  sealBody(body: Uint8Array): Uint8Array {
    return seal(body, this.envelope);
  }

  async sendRaw(to: string, packet: Uint8Array): Promise<number> {
    const { host, port } = parseHostPort(to) as { host: string; port: number };
    await this.udp.send(packet, host, port);
    this.sentTo.set(to, (this.sentTo.get(to) ?? 0) + packet.length);
    return packet.length;
  }

  /** The sealed bytes of a message, as this peer would send them. */
  seal(message: Message): Uint8Array {
    return seal(encodeMessage(message), this.envelope);
  }

  bytesSentTo(to: string): number {
    return this.sentTo.get(to) ?? 0;
  }

  bytesFrom(from: string, since = 0): number {
    return this.received.filter((r) => r.from === from && r.at >= since).reduce((a, r) => a + r.bytes, 0);
  }

  /** Waits for a reply from `from` that satisfies `pred`, or null after `timeoutMs`. */
  async reply(from: string, pred: (m: Message) => boolean, timeoutMs = 2000, since = 0): Promise<Message | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.received.find((x) => x.from === from && x.at >= since && x.message !== null && pred(x.message));
      if (r) return r.message;
      if (Date.now() > deadline) return null;
      await new Promise((res) => setTimeout(res, 10));
    }
  }

  /**
   * Learns the target's membership as an attacker on the network can: it first makes its address a
   * member's (an ACK introducing a made-up member at this peer's address: a stranger's SYN is
   * answered with the responder alone), then sends a SYN with an empty digest (pull), whose SYN-ACK
   * introduces every live member, identity, heartbeat and key-values.
   */
  async learn(target: string): Promise<Map<string, Learned>> {
    await this.send(
      target,
      ack(this.clusterId, [
        nodeDelta({ id: `spy-${this.address}`, generation: Date.now(), address: this.address }, { heartbeat: 1 }),
      ]),
    );
    await new Promise((res) => setTimeout(res, 50));
    const since = Date.now();
    await this.send(target, syn(this.clusterId, emptyDigest()));
    const reply = await this.reply(target, (m) => m.type === 'synAck', 3000, since);
    if (!reply || reply.type !== 'synAck') throw new Error(`no SYN-ACK from ${target}`);
    const out = new Map<string, Learned>();
    for (const nd of reply.delta.nodes) {
      if (nd.identity)
        out.set(nd.identity.id, {
          identity: nd.identity,
          ref: nd.ref,
          heartbeat: nd.heartbeat,
          maxVersion: nd.maxVersion,
          values: nd.values,
          commitment: nd.commitment,
        });
    }
    return out;
  }

  close(): Promise<void> {
    return this.udp.close();
  }
}

export function emptyDigest(): Digest {
  return {
    mode: 'full',
    complete: true,
    offset: 0,
    count: 0,
    refs: [],
    heartbeats: [],
    checks: null,
    ages: [],
    ageLimit: 0,
    maxVersions: [],
    gcVersions: [],
  };
}

/** A full digest naming members by ref (incomplete: absent members are "not listed", not unknown). */
export function digestOf(
  entries: readonly { ref: number; heartbeat: number; maxVersion?: number; gcVersion?: number }[],
  complete = false,
): Digest {
  return {
    mode: 'full',
    complete,
    offset: 0,
    count: entries.length,
    refs: entries.map((e) => e.ref),
    heartbeats: entries.map((e) => e.heartbeat),
    checks: null,
    ages: entries.map(() => 0),
    ageLimit: 0,
    maxVersions: entries.map((e) => e.maxVersion ?? 0),
    gcVersions: entries.map((e) => e.gcVersion ?? 0),
  };
}

export function syn(clusterId: string, digest: Digest, pull = true): Message {
  return { type: 'syn', clusterId, setHash: 0, setSize: 0, digest, pull };
}

export function deltaOf(nodes: readonly NodeDelta[]): Delta {
  return { nodes, bumps: NO_BUMPS };
}

export function ack(clusterId: string, nodes: readonly NodeDelta[]): Message {
  return { type: 'ack', clusterId, delta: deltaOf(nodes) };
}

export function synAck(clusterId: string, nodes: readonly NodeDelta[], request: Digest = emptyDigest()): Message {
  return { type: 'synAck', clusterId, setHash: 0, setSize: 0, request, delta: deltaOf(nodes) };
}

export function leave(clusterId: string, identity: NodeIdentity, heartbeat: number, proof?: Uint8Array): Message {
  return { type: 'leave', clusterId, identity, heartbeat, ...(proof ? { proof } : {}) };
}

/**
 * A node delta about `identity`. `introduce` sends the identity (a member the receiver may not
 * know); values must be ascending and above `fromVersion`.
 */
export function nodeDelta(
  identity: NodeIdentity,
  o: {
    heartbeat: number;
    introduce?: boolean;
    fromVersion?: number;
    maxVersion?: number;
    values?: readonly VersionedValue[];
    lastGcVersion?: number;
    ref?: number;
  },
): NodeDelta {
  const values = o.values ?? [];
  return {
    ref: o.ref ?? identityRef(identity),
    identity: o.introduce === false ? null : identity,
    heartbeat: o.heartbeat,
    heartbeatAge: 0,
    lastGcVersion: o.lastGcVersion ?? 0,
    fromVersion: o.fromVersion ?? 0,
    maxVersion:
      o.maxVersion ??
      (values.length > 0 ? (values[values.length - 1] as VersionedValue).version : (o.fromVersion ?? 0)),
    values,
  };
}

export function value(key: string, v: string, version: number): VersionedValue {
  return { key, value: v, version, tombstone: false };
}
