/**
 * The small parts of user events (core/user-events.ts): a token bucket for rate limits, and the
 * coalescer that delivers only the newest of a same-name burst. Pure: time is an argument.
 */
import type { WireUserEvent } from '../wire/user-events.js';

/** `rate` tokens per second up to `burst`; full at first. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.at) * this.rate) / 1000);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/** Whether `a` comes after `b` in the cluster-wide order of events: Lamport time, then origin id, then generation. */
export function isNewer(a: WireUserEvent, b: WireUserEvent): boolean {
  if (a.ltime !== b.ltime) return a.ltime > b.ltime;
  if (a.origin !== b.origin) return a.origin > b.origin;
  return a.generation > b.generation;
}

interface Pending {
  event: WireUserEvent;
  firstAt: number;
  lastAt: number;
}

/** Names whose newest delivered event is remembered, so a straggler of a delivered burst is not delivered after it. */
const MAX_NAMES = 4096;

/**
 * serf's coalescing: a coalescing event waits until no newer event of its name has arrived for
 * `quietMs` (or `maxMs` passed since the first of the burst), and only the newest of those that
 * arrived meanwhile is delivered. An event no newer than the last one delivered under its name is
 * dropped: a straggler of a burst already delivered.
 */
export class Coalescer {
  private readonly pending = new Map<string, Pending>();
  private readonly delivered = new Map<string, WireUserEvent>();

  constructor(
    private readonly quietMs: number,
    private readonly maxMs: number,
  ) {}

  /** Takes an event; returns how many events it made redundant (0 or 1: itself or the one it replaced). */
  offer(e: WireUserEvent, now: number): number {
    const last = this.delivered.get(e.name);
    if (last && !isNewer(e, last)) return 1;
    const p = this.pending.get(e.name);
    if (!p) {
      this.pending.set(e.name, { event: e, firstAt: now, lastAt: now });
      return 0;
    }
    if (isNewer(e, p.event)) {
      p.event = e;
      p.lastAt = now;
    }
    return 1;
  }

  /** The events whose wait is over, oldest first. */
  flush(now: number): WireUserEvent[] {
    const out: WireUserEvent[] = [];
    for (const [name, p] of this.pending) {
      if (now - p.lastAt < this.quietMs && now - p.firstAt < this.maxMs) continue;
      this.pending.delete(name);
      this.delivered.delete(name);
      if (this.delivered.size >= MAX_NAMES) this.delivered.delete(this.delivered.keys().next().value as string);
      this.delivered.set(name, p.event);
      out.push(p.event);
    }
    return out.sort((a, b) => (isNewer(a, b) ? 1 : -1));
  }

  /** When the next wait ends (Infinity when none is pending). */
  get nextFlushAt(): number {
    let at = Infinity;
    for (const p of this.pending.values()) at = Math.min(at, p.lastAt + this.quietMs, p.firstAt + this.maxMs);
    return at;
  }

  get size(): number {
    return this.pending.size;
  }
}
