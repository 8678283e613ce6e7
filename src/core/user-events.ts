/**
 * User events, the pure part (docs/building-on-membership.md, "User events"). Each member holds
 * the events it has seen for a bounded horizon and spreads them two ways:
 * - push: a new event goes to `fanout` random peers at once and again in the next few rounds
 *   (1 + ceil(log10(N + 1)) rounds, memberlist's retransmit budget), which reaches everyone in a
 *   few hops when few packets are lost;
 * - repair: every round a member holding events sends one random peer a digest of them (origin and
 *   Lamport times only); the peer answers with the events the digest lacks, and with its own digest
 *   when it lacks some itself. Lost packets and a member cut off for less than the horizon are
 *   healed by this, as anti-entropy heals key-values.
 * Receivers deliver each (origin, generation, ltime) once, coalesce same-name bursts when asked, and
 * bound what one origin may push at them. Time and randomness are arguments: deterministic, and
 * runnable in a simulator.
 */
import { randomInt, shuffle } from './random.js';
import type { Random } from './types.js';
import { Coalescer, isNewer, TokenBucket } from './user-event-parts.js';
import {
  digestGroupSize,
  eventDigestHeaderSize,
  EVENT_AGE_UNIT_MS,
  MAX_EVENT_NAME_BYTES,
  userEventsHeaderSize,
  wireEventSize,
  type DigestGroup,
  type EventDigestMessage,
  type UserEventMessage,
  type WireUserEvent,
} from '../wire/user-events.js';
import { utf8Length } from '../wire/varint.js';

export interface UserEventLogConfig {
  readonly clusterId: string;
  readonly self: { readonly id: string; readonly generation: number };
  /** Largest payload broadcast or accepted, bytes. */
  readonly maxPayloadBytes: number;
  /** This node's broadcasts: a token bucket of `burst` refilled at `ratePerSecond`. */
  readonly ratePerSecond: number;
  readonly burst: number;
  /** How long (ms, from the broadcast) members hold an event to repair a peer that missed it. */
  readonly horizonMs: number;
  /** Random peers each push goes to. */
  readonly fanout: number;
  /** Most bytes of one message. */
  readonly payloadBudget: number;
  /** Coalescing: wait this long without a newer same-name event before delivering, at most `coalesceMaxMs`. */
  readonly coalesceQuietMs: number;
  readonly coalesceMaxMs: number;
  /** The Lamport clock starts here (a restarted agent's snapshot), or at 0. */
  readonly clock?: number;
  /**
   * Whether an origin is a member this node knows (live or dead, not yet removed). An event from any
   * other is refused, not marked seen (a repair brings it again once the member is known): a lying
   * member cannot escape the per-origin bound by making up origins.
   */
  readonly isMember?: (id: string, generation: number) => boolean;
}

export interface UserEventOutbound {
  readonly to: string;
  readonly message: UserEventMessage;
}

export type BroadcastResult =
  | { readonly ok: true; readonly event: WireUserEvent }
  | { readonly ok: false; readonly reason: 'bad-name' | 'too-large' | 'rate-limited'; readonly detail: string };

export interface UserEventCounts {
  sent: number;
  delivered: number;
  duplicates: number;
  coalesced: number;
  refused: number;
  /** Events received past the horizon (an old event the sender still held): not delivered. */
  expired: number;
}

/**
 * A receiver takes from one origin up to this many times the rate and burst it allows its own
 * broadcasts (members are meant to share one setting); the rest waits for a later repair.
 */
const ORIGIN_ALLOWANCE = 2;
/** Most events held (for repair) at once, and their payload bytes: past either the oldest are let go early. */
const MAX_HELD = 4096;
const MAX_HELD_BYTES = 4 * 1024 * 1024;
/** Origins whose dedup state is kept; past it the least recently heard one without held events is forgotten. */
const MAX_ORIGINS = 16_384;
/** Most message packets sent in answer to one digest; what is left goes with the next digest. */
const MAX_REPAIR_MESSAGES = 4;
/**
 * Repair digests: every round while the newest held event is younger than FRESH_ROUNDS rounds (when
 * loss has just struck), then one round in SLOW_DIGEST_EVERY on average, until the horizon. A member
 * that comes back (seen live again) is sent a digest at once instead (greet()).
 */
const FRESH_ROUNDS = 8;
const SLOW_DIGEST_EVERY = 4;
/** Origin ids are member ids, which the config limits to 255 characters. */
const MAX_ORIGIN_LENGTH = 255;

interface Held {
  readonly event: WireUserEvent;
  /** When the origin broadcast it, on our clock (from its age when it arrived). */
  readonly bornAt: number;
  /** Push rounds left. */
  transmits: number;
  readonly bytes: number;
}

interface Origin {
  readonly id: string;
  readonly generation: number;
  /** Every time at or below is old: seen, or beyond the horizon. */
  floor: number;
  /** Times above the floor seen, and until when each is remembered. */
  readonly seen: Map<number, number>;
  readonly held: Map<number, Held>;
  readonly bucket: TokenBucket;
}

/**
 * Largest step a received Lamport time may take past this node's clock: a lying member cannot push
 * every clock to the end of the safe integers (no real cluster broadcasts 2^32 events between two
 * members hearing each other).
 */
const MAX_CLOCK_JUMP = 2 ** 32;
const MAX_CLOCK = Number.MAX_SAFE_INTEGER - 1;

const originKey = (id: string, generation: number): string => `${generation}:${id}`;

export class UserEventLog {
  readonly counts: UserEventCounts = { sent: 0, delivered: 0, duplicates: 0, coalesced: 0, refused: 0, expired: 0 };
  private clockValue: number;
  private readonly origins = new Map<string, Origin>();
  private heldCount = 0;
  private heldBytes = 0;
  private readonly ready: WireUserEvent[] = [];
  private readonly coalescer: Coalescer;
  private readonly bucket: TokenBucket;
  /** An event arrived or was broadcast since the last push: an early push would spread it. */
  private fresh = false;
  /** Peers at the last push, for the push budget. */
  private peerCount = 0;
  /** Rounds since an event was last taken (see FRESH_ROUNDS). */
  private roundsSinceNews = 0;

  constructor(
    private readonly config: UserEventLogConfig,
    private readonly rng: Random,
    now: number,
  ) {
    this.clockValue = Math.max(0, Math.floor(config.clock ?? 0));
    this.coalescer = new Coalescer(config.coalesceQuietMs, config.coalesceMaxMs);
    this.bucket = new TokenBucket(config.ratePerSecond, config.burst, now);
  }

  /** The Lamport clock: the time of the newest event seen or broadcast. */
  get clock(): number {
    return this.clockValue;
  }

  /** Whether anything is held (the node then sends a digest each round). */
  get holding(): boolean {
    return this.heldCount > 0;
  }

  /** News to push now rather than at the next round. */
  get hasNews(): boolean {
    return this.fresh;
  }

  /** When the coalescer next has something to deliver (Infinity when nothing waits). */
  get nextFlushAt(): number {
    return this.coalescer.nextFlushAt;
  }

  /** Broadcasts an event: stamped with the next Lamport time, held, pushed at the next push, delivered here too. */
  broadcast(name: string, payload: Uint8Array, coalesce: boolean, now: number): BroadcastResult {
    const nameBytes = utf8Length(name);
    if (name.length === 0 || nameBytes > MAX_EVENT_NAME_BYTES) {
      this.counts.refused++;
      return { ok: false, reason: 'bad-name', detail: `an event name is 1 to ${MAX_EVENT_NAME_BYTES} UTF-8 bytes` };
    }
    if (payload.length > this.config.maxPayloadBytes) {
      this.counts.refused++;
      return {
        ok: false,
        reason: 'too-large',
        detail: `${payload.length} bytes of payload, over userEvents.maxPayloadBytes (${this.config.maxPayloadBytes})`,
      };
    }
    if (this.clockValue >= MAX_CLOCK) {
      this.counts.refused++;
      return { ok: false, reason: 'rate-limited', detail: 'the Lamport clock is exhausted' };
    }
    if (!this.bucket.take(now)) {
      this.counts.refused++;
      return {
        ok: false,
        reason: 'rate-limited',
        detail: `more than userEvents.burst (${this.config.burst}) events at once or ${this.config.ratePerSecond}/s`,
      };
    }
    const event: WireUserEvent = {
      origin: this.config.self.id,
      generation: this.config.self.generation,
      ltime: ++this.clockValue,
      age: 0,
      name,
      payload,
      coalesce,
    };
    this.counts.sent++;
    this.accept(event, now, this.originOf(event.origin, event.generation, now));
    return { ok: true, event };
  }

  /** Handles a user event message from a live member at `from`; returns the answers to send. */
  receive(from: string, message: UserEventMessage, now: number): UserEventOutbound[] {
    if (message.clusterId !== this.config.clusterId) return [];
    if (message.type === 'userEvents') {
      for (const e of message.events) this.take(e, now);
      return [];
    }
    return this.answerDigest(from, message, now);
  }

  /** The events ready for listeners, oldest Lamport time first (coalesced ones once their wait is over). */
  takeDeliveries(now: number): WireUserEvent[] {
    const out = this.ready.splice(0).concat(this.coalescer.flush(now));
    this.counts.delivered += out.length;
    return out.length > 1 ? out.sort((a, b) => (isNewer(a, b) ? 1 : -1)) : out;
  }

  /**
   * Pushes fresh events to `fanout` random peers among `peers` (live members that speak user events);
   * with `round`, also forgets what passed the horizon and sends one of them a digest.
   */
  push(peers: readonly string[], now: number, round = false): UserEventOutbound[] {
    this.fresh = false;
    if (round) {
      this.expire(now);
      this.roundsSinceNews++;
    }
    this.peerCount = peers.length;
    if (peers.length === 0 || this.heldCount === 0) return [];
    const out: UserEventOutbound[] = [];
    const targets = this.pick(peers, this.config.fanout);
    const batch = this.pushBatch(now);
    if (batch.length > 0) for (const to of targets) out.push({ to, message: this.eventsMessage(batch) });
    if (round && (this.roundsSinceNews <= FRESH_ROUNDS || this.rng.next() * SLOW_DIGEST_EVERY < 1)) {
      const to = peers[randomInt(this.rng, peers.length)] as string;
      out.push({ to, message: this.digest(false) });
    }
    return out;
  }

  /** A digest for a member just seen live (new, or back from a partition): what it missed reaches it at once. */
  greet(peer: string): UserEventOutbound[] {
    return this.heldCount > 0 ? [{ to: peer, message: this.digest(false) }] : [];
  }

  // ------------------------------------------------------------------ receiving

  private take(e: WireUserEvent, now: number): void {
    if (
      e.origin.length === 0 ||
      e.origin.length > MAX_ORIGIN_LENGTH ||
      e.name.length === 0 ||
      e.ltime === 0 ||
      e.ltime > this.clockValue + MAX_CLOCK_JUMP ||
      e.payload.length > this.config.maxPayloadBytes
    ) {
      this.counts.refused++;
      return;
    }
    if (this.config.isMember && !this.config.isMember(e.origin, e.generation)) {
      this.counts.refused++;
      return;
    }
    const o = this.originOf(e.origin, e.generation, now);
    if (e.ltime <= o.floor || o.seen.has(e.ltime)) {
      this.counts.duplicates++;
      return;
    }
    if (e.age * EVENT_AGE_UNIT_MS >= this.config.horizonMs) {
      this.counts.expired++;
      return;
    }
    // Not marked seen: a repair brings it again once the origin's allowance has refilled.
    if (!o.bucket.take(now)) {
      this.counts.refused++;
      return;
    }
    if (e.ltime > this.clockValue) this.clockValue = e.ltime;
    this.accept(e, now, o);
  }

  private accept(e: WireUserEvent, now: number, o: Origin): void {
    const bornAt = now - e.age * EVENT_AGE_UNIT_MS;
    // Remembered past the last moment any member still holds it (2x: ages are rounded and delayed).
    o.seen.set(e.ltime, bornAt + 2 * this.config.horizonMs);
    const bytes = wireEventSize(e);
    o.held.set(e.ltime, { event: e, bornAt, transmits: this.transmitRounds(), bytes });
    this.heldCount++;
    this.heldBytes += bytes;
    this.fresh = true;
    this.roundsSinceNews = 0;
    if (this.heldCount > MAX_HELD || this.heldBytes > MAX_HELD_BYTES) this.dropOldest();
    if (!e.coalesce) this.ready.push(e);
    else this.counts.coalesced += this.coalescer.offer(e, now);
  }

  private answerDigest(from: string, d: EventDigestMessage, now: number): UserEventOutbound[] {
    const listed = new Map<string, DigestGroup>();
    let lacking = false;
    for (const g of d.groups) {
      listed.set(originKey(g.origin, g.generation), g);
      const o = this.origins.get(originKey(g.origin, g.generation));
      if (!lacking) lacking = g.ltimes.some((t) => !o || (t > o.floor && !o.seen.has(t)));
    }
    const missing: WireUserEvent[] = [];
    for (const [key, o] of this.origins) {
      if (o.held.size === 0) continue;
      const g = listed.get(key);
      if (!g && !d.allOrigins) continue;
      const has = g ? new Set(g.ltimes) : null;
      for (const h of o.held.values()) {
        if (g && (h.event.ltime < g.from || has?.has(h.event.ltime))) continue;
        missing.push(this.aged(h, now));
      }
    }
    const out: UserEventOutbound[] = [];
    for (const batch of this.split(missing).slice(0, MAX_REPAIR_MESSAGES))
      out.push({ to: from, message: { type: 'userEvents', clusterId: this.config.clusterId, events: batch } });
    if (lacking && !d.reply) out.push({ to: from, message: this.digest(true) });
    return out;
  }

  // ------------------------------------------------------------------ sending

  /** Pushed each round: the fewer rounds an event has left, the later it goes (fresh news first). */
  private pushBatch(now: number): WireUserEvent[] {
    const due: Held[] = [];
    for (const o of this.origins.values()) for (const h of o.held.values()) if (h.transmits > 0) due.push(h);
    due.sort((a, b) => b.transmits - a.transmits || a.bornAt - b.bornAt);
    let room = this.config.payloadBudget - userEventsHeaderSize(this.config.clusterId, due.length);
    const batch: WireUserEvent[] = [];
    for (const h of due) {
      if (h.bytes > room) break;
      room -= h.bytes;
      h.transmits--;
      batch.push(this.aged(h, now));
    }
    return batch;
  }

  private transmitRounds(): number {
    return 1 + Math.ceil(Math.log10(this.peerCount + 2));
  }

  private aged(h: Held, now: number): WireUserEvent {
    const age = Math.max(0, Math.floor((now - h.bornAt) / EVENT_AGE_UNIT_MS));
    return age === h.event.age ? h.event : { ...h.event, age };
  }

  private eventsMessage(events: readonly WireUserEvent[]): UserEventMessage {
    return { type: 'userEvents', clusterId: this.config.clusterId, events };
  }

  /** Events in messages that each fit the budget. */
  private split(events: readonly WireUserEvent[]): WireUserEvent[][] {
    const out: WireUserEvent[][] = [];
    let batch: WireUserEvent[] = [];
    let room = 0;
    for (const e of events) {
      const size = wireEventSize(e);
      if (batch.length === 0 || size > room) {
        batch = [];
        out.push(batch);
        room = this.config.payloadBudget - userEventsHeaderSize(this.config.clusterId, events.length);
      }
      batch.push(e);
      room -= size;
    }
    return out;
  }

  /**
   * A digest of what is held: whole origins in a random order while they fit, then the newest times
   * of the next one (a cut origin says from which time it is exact; the rest wait for the next digest).
   */
  private digest(reply: boolean): EventDigestMessage {
    const holding = [...this.origins.values()].filter((o) => o.held.size > 0);
    shuffle(holding, this.rng);
    let room = this.config.payloadBudget - eventDigestHeaderSize(this.config.clusterId, holding.length);
    const groups: DigestGroup[] = [];
    let all = true;
    for (const o of holding) {
      const ltimes = [...o.held.keys()].sort((a, b) => a - b);
      let g: DigestGroup = { origin: o.id, generation: o.generation, from: 0, ltimes };
      let size = digestGroupSize(g);
      while (size > room && g.ltimes.length > 1) {
        const kept = g.ltimes.slice(Math.ceil(g.ltimes.length / 2));
        g = { ...g, from: kept[0] as number, ltimes: kept };
        size = digestGroupSize(g);
        all = false;
      }
      if (size > room) {
        all = false;
        break;
      }
      room -= size;
      groups.push(g);
    }
    return { type: 'eventDigest', clusterId: this.config.clusterId, reply, allOrigins: all, groups };
  }

  private pick(peers: readonly string[], n: number): string[] {
    if (peers.length <= n) return [...peers];
    const chosen = new Set<string>();
    while (chosen.size < n) chosen.add(peers[randomInt(this.rng, peers.length)] as string);
    return [...chosen];
  }

  // ------------------------------------------------------------------ bounds

  private originOf(id: string, generation: number, now: number): Origin {
    const key = originKey(id, generation);
    let o = this.origins.get(key);
    if (o) {
      // Most recently heard last: the first entries are the ones to forget.
      this.origins.delete(key);
      this.origins.set(key, o);
      return o;
    }
    if (this.origins.size >= MAX_ORIGINS) this.forgetOrigin();
    o = {
      id,
      generation,
      floor: 0,
      seen: new Map(),
      held: new Map(),
      bucket: new TokenBucket(ORIGIN_ALLOWANCE * this.config.ratePerSecond, ORIGIN_ALLOWANCE * this.config.burst, now),
    };
    this.origins.set(key, o);
    return o;
  }

  private forgetOrigin(): void {
    for (const [key, o] of this.origins) {
      if (o.held.size > 0) continue;
      this.origins.delete(key);
      return;
    }
  }

  /** Lets go of events past the horizon, and of dedup memory once no member can still hold the event. */
  private expire(now: number): void {
    for (const o of this.origins.values()) {
      for (const [t, h] of o.held) if (now - h.bornAt >= this.config.horizonMs) this.unhold(o, t, h);
      for (const [t, until] of o.seen) {
        if (now < until) continue;
        o.seen.delete(t);
        if (t > o.floor) o.floor = t;
      }
      // The floor covers whatever it passed.
      for (const t of o.seen.keys()) if (t <= o.floor) o.seen.delete(t);
    }
  }

  private dropOldest(): void {
    while (this.heldCount > MAX_HELD || this.heldBytes > MAX_HELD_BYTES) {
      let oldest: { o: Origin; t: number; h: Held } | null = null;
      for (const o of this.origins.values())
        for (const [t, h] of o.held) if (!oldest || h.bornAt < oldest.h.bornAt) oldest = { o, t, h };
      if (!oldest) return;
      this.unhold(oldest.o, oldest.t, oldest.h);
    }
  }

  private unhold(o: Origin, t: number, h: Held): void {
    o.held.delete(t);
    this.heldCount--;
    this.heldBytes -= h.bytes;
  }
}
