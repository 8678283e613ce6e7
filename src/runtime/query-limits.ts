/**
 * The limits of queries: their configuration with its defaults, and the token bucket that rates them
 * (at the querier, for its own queries; at each responder, per querier).
 */
import type { QueriesConfig } from './api.js';
import { MAX_QUERY_TIMEOUT_MS } from '../wire/query-messages.js';

/** serf's QuerySizeLimit and QueryResponseSizeLimit: a payload is a request or a short answer, not a transfer. */
export const DEFAULT_QUERY_PAYLOAD_BYTES = 1024;
/**
 * Queries a node starts per second, and at once. A query costs every asked member a handler run and
 * two packets back, so a node's rate bounds the work it can make the whole cluster do; 10 per second
 * is far above what operators and services ask (serf has no limit) and far below a flood.
 */
export const DEFAULT_QUERY_RATE = 10;
export const DEFAULT_QUERY_BURST = 20;
/**
 * A responder holds each querier to this many times the configured rate and burst: the querier's own
 * bucket refuses first, so a well-behaved node is never refused; the slack absorbs clock drift, queries
 * that arrive bunched after a delay, and a querier configured a little higher.
 */
export const RESPONDER_RATE_SLACK = 2;
/**
 * serf's default query timeout is GossipInterval x QueryTimeoutMult (16) x ceil(log10(N + 1)): its
 * queries spread by gossip, log N rounds. Ours go straight to each member, so the multiplier only covers
 * retransmissions and handler time: 5 of a 1 s interval (LAN) is 5 s up to 9 members, 10 s up to 99.
 */
export const QUERY_TIMEOUT_MULT = 5;

export interface QueryLimits {
  readonly maxPayloadBytes: number;
  readonly maxResponseBytes: number;
  readonly ratePerSecond: number;
  readonly burst: number;
}

export function queryLimits(c: QueriesConfig | undefined): QueryLimits {
  return {
    maxPayloadBytes: c?.maxPayloadBytes ?? DEFAULT_QUERY_PAYLOAD_BYTES,
    maxResponseBytes: c?.maxResponseBytes ?? DEFAULT_QUERY_PAYLOAD_BYTES,
    ratePerSecond: c?.ratePerSecond ?? DEFAULT_QUERY_RATE,
    burst: c?.burst ?? DEFAULT_QUERY_BURST,
  };
}

/**
 * What is wrong with a queries config, one sentence each (for ConfigError). Payloads must leave room
 * in one packet for the rest of the message: names, ids and the envelope (`maxPacketBytes` - 512).
 */
export function queriesConfigProblems(c: QueriesConfig | undefined, maxPacketBytes: number): string[] {
  if (c === undefined) return [];
  if (typeof c !== 'object' || c === null) return [`queries must be an object (got ${JSON.stringify(c)})`];
  const problems: string[] = [];
  const room = Math.max(1, maxPacketBytes - 512);
  const limits = queryLimits(c);
  for (const key of ['maxPayloadBytes', 'maxResponseBytes'] as const) {
    const v = limits[key];
    if (!Number.isInteger(v) || v < 0 || v > room)
      problems.push(`queries.${key} must be an integer from 0 to ${room} (got ${JSON.stringify(v)})`);
  }
  for (const key of ['ratePerSecond', 'burst'] as const) {
    const v = limits[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)
      problems.push(`queries.${key} must be a positive number (got ${JSON.stringify(v)})`);
  }
  if (limits.burst < 1) problems.push(`queries.burst must be at least 1 (got ${limits.burst})`);
  return problems;
}

/** The default timeout of a query among `liveMembers`, ms (see QUERY_TIMEOUT_MULT). */
export function defaultQueryTimeoutMs(gossipIntervalMs: number, liveMembers: number): number {
  const scale = Math.max(1, Math.ceil(Math.log10(liveMembers + 1)));
  return Math.min(MAX_QUERY_TIMEOUT_MS, gossipIntervalMs * QUERY_TIMEOUT_MULT * scale);
}

/** `burst` tokens, refilled at `ratePerSecond`; take() spends one when there is one. */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly ratePerSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + (Math.max(0, now - this.at) * this.ratePerSecond) / 1000);
    this.at = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
