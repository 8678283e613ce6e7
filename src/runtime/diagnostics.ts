/**
 * What a running node tells observability tools, over `node:diagnostics_channel`: the library
 * depends on no metrics or tracing package, and a channel nobody subscribes to costs one boolean
 * check per publish. Subscribe with `diagnostics_channel.subscribe(channels.packetIn, fn)`.
 *
 * Every payload carries `node`, the publishing Scuttlebutt instance, so one process may run
 * several nodes and a subscriber tells them apart (`msg.node.self.id`, or `msg.node === mine`) or
 * reads `msg.node.stats()`. This module is a leaf: it knows the node only as a {@link DiagnosticsNode},
 * and the node publishes at each call site.
 * Packet, drop and stall messages are published synchronously on the gossip path: keep
 * subscribers cheap. Member messages are published on a later turn, after the node's own listeners.
 * As with every diagnostics channel, an exception thrown by a subscriber is re-thrown as an
 * uncaught exception: a subscriber must not throw.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import type { MembershipEvent, NodeIdentity, Stats } from './api.js';

/** The channel names; each is documented with its payload type below. */
export const channels = {
  /** A node started (after binding its socket): {@link NodeMessage}. */
  nodeStart: 'scuttlebutt:node:start',
  /** A node shut down (after its leave message and socket close): {@link NodeMessage}. */
  nodeStop: 'scuttlebutt:node:stop',
  /** A UDP packet arrived, before decoding (so corrupt ones too): {@link PacketMessage}. */
  packetIn: 'scuttlebutt:packet:in',
  /** A UDP packet was handed to the socket: {@link PacketMessage}. */
  packetOut: 'scuttlebutt:packet:out',
  /** A packet was dropped and counted in stats().dropped (a bad packet, a failed send): {@link DropMessage}. */
  drop: 'scuttlebutt:drop',
  /**
   * A membership event (live, dead, update, removed), with the convicting silence for a suspected death: {@link
   * MemberMessage}.
   */
  member: 'scuttlebutt:member',
  /**
   * This node found that its own process had been stalled (its peers' silence during it is excused): {@link
   * StallMessage}.
   */
  stall: 'scuttlebutt:stall',
  /**
   * Flow control began holding this node's writes back (a backlog formed), or released them all: {@link
   * ThrottleMessage}.
   */
  throttle: 'scuttlebutt:throttle',
} as const;

/**
 * The publishing node as a payload types it: the Scuttlebutt instance itself (so `===` against a
 * node in hand tells which one published), described by what a subscriber reads of it.
 */
export interface DiagnosticsNode {
  readonly self: NodeIdentity;
  stats(): Stats;
}

export interface NodeMessage {
  readonly node: DiagnosticsNode;
}

export interface PacketMessage {
  readonly node: DiagnosticsNode;
  /** UDP payload size, envelope included. */
  readonly bytes: number;
  /** "host:port" of the sender (packetIn) or the destination (packetOut). */
  readonly peer: string;
}

export interface DropMessage {
  readonly node: DiagnosticsNode;
  /** The stats().dropped key, e.g. "decode:truncated", "envelope:decrypt-failed", "send-failed". */
  readonly reason: string;
}

export interface MemberMessage {
  readonly node: DiagnosticsNode;
  readonly event: MembershipEvent;
  /**
   * Only on a 'dead' event with reason 'suspected': ms from the birth of the member's newest
   * heartbeat this node held (on this node's clock, from the age that heartbeat carried in gossip)
   * to its conviction. The member crashed at most one heartbeat period after that birth, so its
   * crash-to-conviction time lies between this minus one period and this.
   */
  readonly silenceMs?: number;
}

export interface StallMessage {
  readonly node: DiagnosticsNode;
  /** Stalls noticed by this node since it started. */
  readonly stalls: number;
}

export interface ThrottleMessage {
  readonly node: DiagnosticsNode;
  /** True when writes started waiting, false once none waits (the node's 'throttled' / 'unthrottled' events). */
  readonly throttled: boolean;
  /** The allowed rate, versions per second, and the keys waiting. */
  readonly rate: number;
  readonly backlog: number;
}

const nodeStart = diagnostics_channel.channel(channels.nodeStart);
const nodeStop = diagnostics_channel.channel(channels.nodeStop);
const packetIn = diagnostics_channel.channel(channels.packetIn);
const packetOut = diagnostics_channel.channel(channels.packetOut);
const drop = diagnostics_channel.channel(channels.drop);
const member = diagnostics_channel.channel(channels.member);
const stall = diagnostics_channel.channel(channels.stall);
const throttle = diagnostics_channel.channel(channels.throttle);

/** The runtime's side: one call per fact, each a no-op without subscribers. */
export const publish = {
  nodeStart(node: DiagnosticsNode): void {
    if (nodeStart.hasSubscribers) nodeStart.publish({ node } satisfies NodeMessage);
  },
  nodeStop(node: DiagnosticsNode): void {
    if (nodeStop.hasSubscribers) nodeStop.publish({ node } satisfies NodeMessage);
  },
  packetIn(node: DiagnosticsNode, bytes: number, peer: string): void {
    if (packetIn.hasSubscribers) packetIn.publish({ node, bytes, peer } satisfies PacketMessage);
  },
  packetOut(node: DiagnosticsNode, bytes: number, peer: string): void {
    if (packetOut.hasSubscribers) packetOut.publish({ node, bytes, peer } satisfies PacketMessage);
  },
  drop(node: DiagnosticsNode, reason: string): void {
    if (drop.hasSubscribers) drop.publish({ node, reason } satisfies DropMessage);
  },
  get wantsMembers(): boolean {
    return member.hasSubscribers;
  },
  member(node: DiagnosticsNode, event: MembershipEvent, silenceMs: number | undefined): void {
    if (member.hasSubscribers)
      member.publish((silenceMs === undefined ? { node, event } : { node, event, silenceMs }) satisfies MemberMessage);
  },
  stall(node: DiagnosticsNode, stalls: number): void {
    if (stall.hasSubscribers) stall.publish({ node, stalls } satisfies StallMessage);
  },
  throttle(node: DiagnosticsNode, throttled: boolean, rate: number, backlog: number): void {
    if (throttle.hasSubscribers) throttle.publish({ node, throttled, rate, backlog } satisfies ThrottleMessage);
  },
};
