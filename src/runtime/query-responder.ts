/**
 * The responder's side of queries, and the relay's: which query packets are accepted, the handlers
 * run for them, and the answers sent back.
 *
 * A query is answered only when its packet comes from the querier itself: the sender's address must
 * be the address of the live member the query names as its origin, in the generation it names. A
 * stranger's query (any other address: a forged source, a member's name at another address) is never
 * answered, so no packet of an outsider can make members send anything to anyone. Per querier, a query
 * is accepted once: a copy of one already seen (a retransmission, or a replay) only gets the answers
 * already sent again, at most MAX_RESENDS times, and one older than the queries that have timed out is
 * refused outright. Each querier is held to a rate (query-limits.ts), and each answer to a size.
 */
import type { ScuttlebuttCore } from '../core/core.js';
import type { NodeIdentity } from '../wire/messages.js';
import type { QueryAckMessage, QueryMessage, QueryResponseMessage } from '../wire/query-messages.js';
import { makeRoom, touch } from '../transport/lru.js';
import type { QueryHandler, QueryRequest } from './api.js';
import { RESPONDER_RATE_SLACK, TokenBucket, type QueryLimits } from './query-limits.js';

export type QueryAnswerMessage = QueryAckMessage | QueryResponseMessage;

/** What the query path sends with and looks members up in. */
export interface QueryNet {
  readonly core: ScuttlebuttCore;
  readonly self: NodeIdentity;
  readonly clusterId: string;
  readonly now: () => number;
  /** Sends a query message to an address in protocol 6. */
  readonly send: (to: string, m: QueryMessage | QueryAnswerMessage) => void;
  /** Live members other than this node that are known to speak protocol 6 (relay candidates). */
  readonly relayCandidates: () => readonly NodeIdentity[];
  readonly random: () => number;
}

/**
 * How many times a copy of an accepted query gets its answers again: the querier retransmits a query
 * whose ack it has not heard at most this often (queries.ts RETRANSMISSIONS), so a lost ack or
 * response is made good while a replay can draw no more than this many copies.
 */
export const MAX_RESENDS = 3;
/** Queries remembered per querier: past it the oldest is forgotten, and everything up to it refused. */
const MAX_SEEN_PER_ORIGIN = 1024;
/** Answers remembered as relayed (each is forwarded once). */
const FORWARDED_CAPACITY = 8192;

interface Seen {
  readonly expires: number;
  resends: number;
  ack: QueryAckMessage | null;
  response: QueryResponseMessage | null;
}

/** What this node knows of one querier's queries, for the incarnation (generation) it is in. */
interface OriginState {
  readonly generation: number;
  /** Every query at or below this Lamport time has timed out here (or was forgotten): a copy is a replay. */
  floor: number;
  readonly seen: Map<number, Seen>;
  readonly bucket: TokenBucket;
}

export interface ResponderCounts {
  received: number;
  answered: number;
  refused: number;
  relayed: number;
  stray: number;
}

const encoder = new TextEncoder();

/** A UTF-8 text cut to at most `max` bytes, never inside a character. */
export function utf8Prefix(text: string, max: number): Uint8Array {
  const bytes = encoder.encode(text);
  if (bytes.length <= max) return bytes;
  let end = max;
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.slice(0, end);
}

export class QueryResponder {
  readonly counts: ResponderCounts = { received: 0, answered: 0, refused: 0, relayed: 0, stray: 0 };
  readonly handlers = new Map<string, QueryHandler>();
  private readonly origins = new Map<string, OriginState>();
  private readonly forwarded = new Map<string, true>();
  private readonly relayBuckets = new Map<string, TokenBucket>();
  private closed = false;

  constructor(
    private readonly net: QueryNet,
    private readonly limits: QueryLimits,
    private readonly hooks: {
      /** A query was accepted: its Lamport time is witnessed and `on('query')` told. */
      readonly accepted: (q: QueryRequest, ltime: number) => void;
      /** Why a packet was refused, for the debug log. */
      readonly refused: (why: string, from: string, m: QueryMessage | QueryAnswerMessage) => void;
      readonly capacity: number;
    },
  ) {}

  close(): void {
    this.closed = true;
  }

  /** A query packet from `from`. */
  receiveQuery(from: string, m: QueryMessage): void {
    const why = this.check(from, m);
    if (why) {
      this.counts.refused++;
      this.hooks.refused(why, from, m);
      return;
    }
    const now = this.net.now();
    const origin = this.originState(m, now);
    const copy = origin.seen.get(m.ltime);
    if (copy) {
      // The querier's retransmission (its ack or response was lost), or a replay: the handler does not run
      // again, and only what it already said is said again, a bounded number of times.
      this.counts.refused++;
      if (copy.resends >= MAX_RESENDS) return this.hooks.refused('copy', from, m);
      copy.resends++;
      if (copy.ack) this.net.send(from, copy.ack);
      if (copy.response) this.net.send(from, copy.response);
      return;
    }
    if (m.ltime <= origin.floor) return this.refuse('replay', from, m);
    if (!origin.bucket.take(now)) return this.refuse('rate', from, m);
    for (const [key, value] of Object.entries(m.tags))
      if (this.net.core.get(key) !== value) return this.refuse('tags', from, m);
    if (origin.seen.size >= MAX_SEEN_PER_ORIGIN) {
      const [oldest] = origin.seen.keys() as IterableIterator<number>;
      origin.seen.delete(oldest as number);
      origin.floor = Math.max(origin.floor, oldest as number);
    }
    const seen: Seen = { expires: now + m.timeoutMs, resends: 0, ack: null, response: null };
    origin.seen.set(m.ltime, seen);
    const relays = this.pickRelays(m);
    this.accept(m, now, seen, (answer) => {
      this.net.send(from, answer);
      for (const relay of relays) this.net.send(relay, { ...answer, relay: true });
    });
  }

  /** This node's own query, when it matches its own filter: answered in-process. */
  local(m: QueryMessage, deliver: (answer: QueryAnswerMessage) => void): void {
    const seen: Seen = { expires: this.net.now() + m.timeoutMs, resends: 0, ack: null, response: null };
    this.accept(m, this.net.now(), seen, deliver);
  }

  /**
   * An answer with the relay flag, for another member's query: forwarded once to that querier's
   * address, when it comes from the responder it names and both are live members.
   */
  relay(from: string, a: QueryAnswerMessage): void {
    const responder = this.net.core.liveIdentity(a.from);
    const querier = this.net.core.liveIdentity(a.origin);
    if (a.clusterId !== this.net.clusterId || !responder || responder.address !== from || !querier) {
      this.counts.stray++;
      return this.hooks.refused('relay-from-stranger', from, a);
    }
    const key = `${a.type} ${a.ltime} ${a.origin} ${a.from}`;
    if (this.forwarded.has(key)) {
      this.counts.stray++;
      return;
    }
    let bucket = this.relayBuckets.get(a.from);
    if (!bucket) {
      makeRoom(this.relayBuckets, this.hooks.capacity);
      // Two answers per query, from queries of any number of queriers: a generous bound, against a flood only.
      const scale = 2 * RESPONDER_RATE_SLACK * 4;
      bucket = new TokenBucket(scale * this.limits.ratePerSecond, scale * this.limits.burst, this.net.now());
    }
    touch(this.relayBuckets, a.from, bucket);
    if (!bucket.take(this.net.now())) {
      this.counts.stray++;
      return this.hooks.refused('relay-rate', from, a);
    }
    makeRoom(this.forwarded, FORWARDED_CAPACITY);
    this.forwarded.set(key, true);
    this.counts.relayed++;
    this.net.send(querier.address, { ...a, relay: false });
  }

  private refuse(why: string, from: string, m: QueryMessage): void {
    this.counts.refused++;
    this.hooks.refused(why, from, m);
  }

  /** Why a query packet cannot be accepted from `from` at all, or null. */
  private check(from: string, m: QueryMessage): string | null {
    if (m.clusterId !== this.net.clusterId) return 'cluster';
    if (this.closed) return 'closed';
    if (m.origin === this.net.self.id) return 'own-id';
    const origin = this.net.core.liveIdentity(m.origin);
    if (!origin || origin.address !== from) return 'stranger';
    if (origin.generation !== m.generation) return 'generation';
    return null;
  }

  private originState(m: QueryMessage, now: number): OriginState {
    let st = this.origins.get(m.origin);
    if (!st || st.generation !== m.generation) {
      // A new incarnation of the querier starts its clock again: what the old one asked says nothing of it.
      if (!st) makeRoom(this.origins, this.hooks.capacity);
      const { ratePerSecond, burst } = this.limits;
      st = {
        generation: m.generation,
        floor: 0,
        seen: new Map(),
        bucket: new TokenBucket(RESPONDER_RATE_SLACK * ratePerSecond, RESPONDER_RATE_SLACK * burst, now),
      };
    }
    touch(this.origins, m.origin, st);
    for (const [ltime, seen] of st.seen) {
      if (seen.expires > now) continue;
      st.seen.delete(ltime);
      st.floor = Math.max(st.floor, ltime);
    }
    return st;
  }

  private pickRelays(m: QueryMessage): string[] {
    if (m.relayFactor === 0) return [];
    const pool = this.net.relayCandidates().filter((c) => c.id !== m.origin);
    const out: string[] = [];
    while (out.length < m.relayFactor && pool.length > 0) {
      const i = Math.floor(this.net.random() * pool.length);
      out.push((pool[i] as NodeIdentity).address);
      pool[i] = pool[pool.length - 1] as NodeIdentity;
      pool.pop();
    }
    return out;
  }

  private accept(m: QueryMessage, now: number, seen: Seen, send: (a: QueryAnswerMessage) => void): void {
    this.counts.received++;
    const request: QueryRequest = {
      name: m.name,
      payload: m.payload,
      origin: m.origin,
      ltime: m.ltime,
      id: `${m.origin}:${m.generation}:${m.ltime}`,
    };
    const answer = { clusterId: this.net.clusterId, origin: m.origin, ltime: m.ltime, from: this.net.self.id };
    if (m.ack) {
      seen.ack = { type: 'queryAck', ...answer, relay: false, responds: this.handlers.has(m.name) };
      send(seen.ack);
    }
    this.hooks.accepted(request, m.ltime);
    const handler = this.handlers.get(m.name);
    if (!handler) return;
    const deadline = now + m.timeoutMs;
    void this.run(handler, request).then((result) => {
      // Nothing to say (the handler returned nothing); or past the querier's timeout, when nobody listens.
      if (!result || this.closed || this.net.now() > deadline) return;
      seen.response = { type: 'queryResponse', ...answer, relay: false, ...result };
      this.counts.answered++;
      send(seen.response);
    });
  }

  /** Runs a handler on a later turn; its result or error as a response's fields, null for none. Never rejects. */
  private async run(handler: QueryHandler, q: QueryRequest): Promise<{ error: boolean; payload: Uint8Array } | null> {
    const max = this.limits.maxResponseBytes;
    const failed = (message: string) => ({ error: true, payload: utf8Prefix(message, max) });
    try {
      await Promise.resolve();
      const out = await handler(q);
      if (out === undefined) return null;
      const payload = typeof out === 'string' ? encoder.encode(out) : out;
      if (!(payload instanceof Uint8Array))
        return failed(`the handler of "${q.name}" returned a ${typeof out}, not a string or bytes`);
      if (payload.length > max)
        return failed(`the response of "${q.name}" is ${payload.length} bytes, over the limit of ${max}`);
      return { error: false, payload };
    } catch (err) {
      return failed(err instanceof Error ? err.message : String(err));
    }
  }
}
