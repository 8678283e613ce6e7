/**
 * User events in the node: core/user-events.ts driven by the node's clock, rounds and packets.
 * It follows which addresses are live members (from the core's membership events) and which of
 * them speak protocol 6: events go only to those, and a user event packet from any other address
 * (a stranger, a dead member) is dropped unread. Listeners hear events on a later turn, so a slow
 * or throwing one cannot stall gossip.
 */
import { randomBytes } from 'node:crypto';
import { seededRandom } from '../core/random.js';
import type { CoreEvent } from '../core/types.js';
import { UserEventLog } from '../core/user-events.js';
import { MAX_ENVELOPE_OVERHEAD } from '../wire/envelope-sizes.js';
import type { NodeIdentity } from '../wire/messages.js';
import { carriesUserEvents } from '../wire/protocol.js';
import type { UserEventMessage, WireUserEvent } from '../wire/user-events.js';
import {
  UserEventError,
  type ScuttlebuttConfig,
  type UserEvent,
  type UserEventSent,
  type UserEventStats,
} from './api.js';
import { monotonicNow } from './clock.js';
import type { Packets } from './packets.js';
import { userEventLimits } from './user-event-config.js';

/** The longest a coalescing event waits, in quiet periods: a steady stream of same-name events still delivers. */
const COALESCE_MAX_QUIETS = 5;

export interface UserEventsComponents {
  readonly packets: Packets;
  /** The node's `on('user')` listeners, as its EventEmitter holds them at delivery. */
  readonly listeners: () => readonly ((event: UserEvent) => void)[];
  /** Hears each listener that threw (the others still hear the event). */
  readonly onListenerError: (err: unknown) => void;
}

export class UserEvents {
  private readonly log: UserEventLog;
  /** Live members other than this node, by gossip address. */
  private readonly live = new Map<string, NodeIdentity>();
  private readonly packets: Packets;
  private readonly components: UserEventsComponents;
  private flushTimer: NodeJS.Timeout | null = null;
  private pushTimer: NodeJS.Timeout | null = null;
  private strangers = 0;
  /** Members known (live or dead, until removed), by id: their generations. Events come only from these. */
  private readonly members = new Map<string, Set<number>>();
  /** Members seen live since the last round: each is sent a digest once it is heard speaking protocol 6. */
  private readonly greetings = new Set<string>();
  private closed = false;

  constructor(
    components: UserEventsComponents,
    init: { readonly config: ScuttlebuttConfig; readonly self: NodeIdentity },
  ) {
    this.packets = components.packets;
    this.components = components;
    const { config, self } = init;
    const limits = userEventLimits(config);
    this.members.set(self.id, new Set([self.generation]));
    this.log = new UserEventLog(
      {
        clusterId: config.clusterId,
        self,
        maxPayloadBytes: limits.maxPayloadBytes,
        ratePerSecond: limits.ratePerSecond,
        burst: limits.burst,
        horizonMs: limits.horizonMs,
        fanout: config.gossipNodes,
        payloadBudget: config.maxPacketBytes - MAX_ENVELOPE_OVERHEAD,
        coalesceQuietMs: limits.coalesceQuietMs,
        coalesceMaxMs: Math.max(limits.coalesceQuietMs * COALESCE_MAX_QUIETS, config.gossipIntervalMs),
        clock: config.lamportClocks?.event ?? 0,
        isMember: (id, generation) => this.members.get(id)?.has(generation) ?? false,
      },
      seededRandom(randomBytes(4).readUInt32LE(0)),
      monotonicNow(),
    );
  }

  /** See Scuttlebutt.broadcast. */
  broadcast(
    name: string,
    payload: string | Uint8Array = new Uint8Array(0),
    options: { coalesce?: boolean } = {},
  ): UserEventSent {
    if (this.closed) throw new UserEventError('closed', 'this scuttlebutt node has been shut down');
    if (typeof name !== 'string')
      throw new UserEventError('bad-name', `an event name must be a string (got ${typeof name})`);
    const bytes = typeof payload === 'string' ? new TextEncoder().encode(payload) : payload;
    if (!(bytes instanceof Uint8Array))
      throw new UserEventError('too-large', 'a payload must be a string or a Uint8Array');
    const result = this.log.broadcast(name, Uint8Array.from(bytes), options.coalesce ?? true, monotonicNow());
    if (!result.ok) throw new UserEventError(result.reason, result.detail);
    this.afterChange();
    return { name, ltime: result.event.ltime };
  }

  /** A user event packet arrived from `from`. */
  receive(from: string, message: UserEventMessage): void {
    if (this.closed) return;
    if (!this.live.has(from)) {
      this.strangers++;
      this.packets.count('user-event-stranger');
      return;
    }
    this.packets.sendAll(this.log.receive(from, message, monotonicNow()));
    this.afterChange();
  }

  /** The node's gossip round: repeat pushes, send a digest, forget what passed the horizon. */
  round(): void {
    if (this.closed) return;
    if (!this.log.holding) {
      this.greetings.clear();
      return;
    }
    this.packets.sendAll(this.log.push(this.peers(), monotonicNow(), true));
    for (const address of this.greetings) {
      if (!this.live.has(address)) this.greetings.delete(address);
      else if (this.speaks6(address)) {
        this.greetings.delete(address);
        this.packets.sendAll(this.log.greet(address));
      }
    }
    this.afterChange();
  }

  /** Follows the membership: the core's events, as the node takes them. */
  noteMembers(events: readonly CoreEvent[]): void {
    for (const e of events) {
      if (e.type === 'live') {
        this.live.set(e.node.address, e.node);
        const generations = this.members.get(e.node.id) ?? new Set<number>();
        this.members.set(e.node.id, generations.add(e.node.generation));
        if (this.log.holding) this.greetings.add(e.node.address);
      } else if (e.type === 'dead' || e.type === 'removed') {
        if (e.type === 'removed') {
          const generations = this.members.get(e.node.id);
          generations?.delete(e.node.generation);
          if (generations?.size === 0) this.members.delete(e.node.id);
        }
        // Only that incarnation: a restart at the same address may already be live under a newer generation.
        const held = this.live.get(e.node.address);
        if (held?.id === e.node.id && held.generation === e.node.generation) this.live.delete(e.node.address);
      }
    }
  }

  get lamportClock(): number {
    return this.log.clock;
  }

  stats(): UserEventStats {
    const { sent, delivered, duplicates, coalesced, refused, expired } = this.log.counts;
    return { sent, delivered, duplicates, coalesced, refused, expired, strangers: this.strangers };
  }

  close(): void {
    this.closed = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    if (this.pushTimer) clearTimeout(this.pushTimer);
    this.flushTimer = this.pushTimer = null;
  }

  /** Live members heard in protocol 6: an older member would drop a user event as an unknown message. */
  private peers(): string[] {
    const out: string[] = [];
    for (const address of this.live.keys()) if (this.speaks6(address)) out.push(address);
    return out;
  }

  private speaks6(address: string): boolean {
    const v = this.packets.versions.speaks(address);
    return v !== undefined && carriesUserEvents(v);
  }

  /** News goes out on this turn's end (a burst of broadcasts shares one push); deliveries are handed over. */
  private afterChange(): void {
    this.soon();
    this.handOver();
  }

  private soon(): void {
    if (!this.log.hasNews || this.pushTimer || this.closed) return;
    this.pushTimer = setTimeout(() => {
      this.pushTimer = null;
      if (this.closed) return;
      this.packets.sendAll(this.log.push(this.peers(), monotonicNow()));
      this.handOver();
    }, 0);
  }

  private deliver(e: WireUserEvent): void {
    const event: UserEvent = {
      name: e.name,
      payload: e.payload,
      ltime: e.ltime,
      origin: e.origin,
      coalesce: e.coalesce,
    };
    for (const listener of this.components.listeners())
      try {
        listener(event);
      } catch (err) {
        this.components.onListenerError(err);
      }
  }

  private handOver(): void {
    const now = monotonicNow();
    const ready = this.log.takeDeliveries(now);
    if (ready.length > 0)
      setImmediate(() => {
        for (const e of ready) this.deliver(e);
      });
    const at = this.log.nextFlushAt;
    if (at === Infinity || this.flushTimer || this.closed) return;
    this.flushTimer = setTimeout(
      () => {
        this.flushTimer = null;
        if (!this.closed) this.handOver();
      },
      Math.max(0, at - now) + 1,
    );
  }
}
