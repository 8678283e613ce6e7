/**
 * Queries (protocol 6): this node asking members and collecting their answers, and (through
 * query-responder.ts) answering theirs. The node wires it in: it hands over every query message that
 * arrives and asks it for query(), onQuery() and the counters.
 *
 * A query goes straight to each matching live member (one small packet each, no gossip), and again
 * to those that have not acked at 1/5, 2/5 and 3/5 of the timeout (loss); its answers come straight
 * back, and through `relayFactor` other members when asked (serf's relay, for a lossy path between
 * two members). Members heard only in an older protocol are not asked (the summary counts them);
 * members not heard from directly yet are asked in 6, as negotiation tries a new peer in the newest.
 */
import { PROTOCOL_VERSION, carriesQueries, encodeQueryMessage, type ProtocolVersion } from '../wire/codec.js';
import { MAX_ENVELOPE_OVERHEAD } from '../wire/envelope-sizes.js';
import type { NodeIdentity } from '../wire/messages.js';
import {
  MAX_QUERY_NAME_BYTES,
  MAX_QUERY_TAGS,
  MAX_QUERY_TIMEOUT_MS,
  MAX_RELAY_FACTOR,
  type QueryMessage,
  type QueryWireMessage,
} from '../wire/query-messages.js';
import { utf8Length } from '../wire/varint.js';
import {
  QueryError,
  type Logger,
  type QueryHandler,
  type QueryOptions,
  type QueryRequest,
  type QueryResponses,
  type QueryStats,
  type ScuttlebuttConfig,
} from './api.js';
import type { ScuttlebuttCore } from '../core/core.js';
import { monotonicNow } from './clock.js';
import type { Packets } from './packets.js';
import { defaultQueryTimeoutMs, queryLimits, TokenBucket, type QueryLimits } from './query-limits.js';
import { QueryResponder, type QueryAnswerMessage, type QueryNet } from './query-responder.js';
import { QueryStream } from './query-stream.js';
import { InvalidArgumentError } from '../errors.js';

/** Retransmissions of a query to members that have not acked, at k/5 of its timeout (k = 1..RETRANSMISSIONS). */
export const RETRANSMISSIONS = 3;
const RETRANSMIT_FRACTION = 5;
/** How long the list of relay candidates is reused, ms: it is rebuilt from the membership at most this often. */
const RELAY_LIST_MS = 1000;
/** The first protocol version with queries. */
const FIRST_QUERY_VERSION: ProtocolVersion = 6;

interface Asked {
  readonly address: string;
  acked: boolean;
  /** Its ack said a response will follow. */
  responds: boolean;
  responded: boolean;
}

interface Running {
  readonly start: number;
  readonly message: QueryMessage;
  readonly body: Uint8Array;
  readonly asked: Map<string, Asked>;
  readonly notAsked: number;
  readonly stream: QueryStream;
  readonly timers: NodeJS.Timeout[];
  readonly detach: () => void;
}

export interface QueriesComponents extends Omit<QueryNet, 'send' | 'relayCandidates'> {
  readonly log: Logger;
  /** Sends a sealed body (packets.ts sendBody). */
  readonly sendBody: (to: string, body: Uint8Array, version: ProtocolVersion) => void;
  /** The highest protocol version heard from an address, if any. */
  readonly speaks: (address: string) => ProtocolVersion | undefined;
  /** Tells `on('query')` listeners (guarded by the node). */
  readonly emitQuery: (q: QueryRequest) => void;
}

export interface QueriesInit {
  readonly limits: QueryLimits;
  readonly gossipIntervalMs: number;
  readonly maxPacketBytes: number;
  /** Members this node holds state for at most (origins remembered by the responder). */
  readonly capacity: number;
  /** The query Lamport clock starts here (a snapshot's). */
  readonly clock?: number;
}

/** What a node hands its queries: its core, identity, log and packet path, and its `on('query')` emitter. */
export interface QueriesNode {
  readonly core: ScuttlebuttCore;
  readonly self: NodeIdentity;
  readonly log: Logger;
  readonly packets: Packets;
  /** Calls the node's `on('query')` listeners, each guarded. */
  readonly emit: (q: QueryRequest) => void;
}

/** A node's queries, from its parts and its config. */
export function nodeQueries(node: QueriesNode, c: ScuttlebuttConfig): Queries {
  return new Queries(
    {
      core: node.core,
      self: node.self,
      clusterId: c.clusterId,
      now: monotonicNow,
      random: Math.random,
      log: node.log,
      sendBody: (to, body, version) => void node.packets.sendBody(to, body, version),
      speaks: (address) => node.packets.versions.speaks(address),
      // On a later turn than the packet: a slow listener cannot stall the packet path.
      emitQuery: (q) => void setImmediate(() => node.emit(q)),
    },
    {
      limits: queryLimits(c.queries),
      gossipIntervalMs: c.gossipIntervalMs,
      maxPacketBytes: c.maxPacketBytes,
      capacity: c.maxMembers,
      clock: c.lamportClocks?.query,
    },
  );
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class Queries {
  private readonly responder: QueryResponder;
  private readonly running = new Map<number, Running>();
  private readonly bucket: TokenBucket;
  private readonly counts = { sent: 0, stray: 0 };
  private clock: number;
  private closed = false;
  private relayList: { at: number; members: readonly NodeIdentity[] } = { at: -Infinity, members: [] };

  constructor(
    private readonly c: QueriesComponents,
    private readonly init: QueriesInit,
  ) {
    this.clock = Math.max(0, Math.floor(init.clock ?? 0));
    this.bucket = new TokenBucket(init.limits.ratePerSecond, init.limits.burst, c.now());
    const net: QueryNet = {
      ...c,
      send: (to, m) => this.send(to, m),
      relayCandidates: () => this.relayCandidates(),
    };
    this.responder = new QueryResponder(net, init.limits, {
      accepted: (q, ltime) => {
        this.clock = Math.max(this.clock, ltime);
        c.emitQuery(q);
      },
      refused: (why, from, m) => c.log.debug({ from, why, type: m.type, origin: m.origin }, 'query packet refused'),
      capacity: init.capacity,
    });
  }

  /** The query Lamport clock: the newest query time this node started or accepted. */
  get lamportClock(): number {
    return this.clock;
  }

  stats(): QueryStats {
    const r = this.responder.counts;
    return {
      sent: this.counts.sent,
      received: r.received,
      answered: r.answered,
      refused: r.refused,
      relayed: r.relayed,
      stray: r.stray + this.counts.stray,
    };
  }

  onQuery(name: string, handler: QueryHandler): () => void {
    if (typeof name !== 'string' || utf8Length(name) === 0 || utf8Length(name) > MAX_QUERY_NAME_BYTES)
      throw new QueryError('bad-name', `a query name is 1..${MAX_QUERY_NAME_BYTES} UTF-8 bytes`);
    if (typeof handler !== 'function') throw new InvalidArgumentError('onQuery: the handler must be a function');
    this.responder.handlers.set(name, handler);
    return () => {
      if (this.responder.handlers.get(name) === handler) this.responder.handlers.delete(name);
    };
  }

  /** A query message from the network. */
  receive(from: string, m: QueryWireMessage): void {
    if (m.type === 'query') return this.responder.receiveQuery(from, m);
    if (m.origin !== this.c.self.id) {
      if (m.relay) return this.responder.relay(from, m);
      this.counts.stray++;
      return;
    }
    const r = this.running.get(m.ltime);
    const asked = r?.asked.get(m.from);
    // A relayed copy comes from the relay, a member: an address nobody in the membership has is no relay.
    if (
      !r ||
      !asked ||
      m.clusterId !== this.c.clusterId ||
      (from !== asked.address && !this.c.core.isKnownAddress(from))
    )
      return void this.counts.stray++;
    this.answer(r, asked, m);
  }

  query(name: string, payload: string | Uint8Array = new Uint8Array(0), options: QueryOptions = {}): QueryResponses {
    if (this.closed) throw new QueryError('closed', 'this scuttlebutt node has been shut down');
    const ltime = this.clock + 1;
    const m = this.build(name, payload, options, ltime);
    const body = encodeQueryMessage(m, PROTOCOL_VERSION);
    // Room for encryption is always kept, as the core keeps it: keys may be turned on while running.
    const room = this.init.maxPacketBytes - MAX_ENVELOPE_OVERHEAD;
    if (body.length > room)
      throw new QueryError('too-large', `the query is ${body.length} bytes, over the ${room} of one packet`);
    const now = this.c.now();
    if (!this.bucket.take(now))
      throw new QueryError(
        'rate-limited',
        `more than ${this.init.limits.burst} queries at once or ${this.init.limits.ratePerSecond} per second`,
      );
    this.clock = ltime;
    const { asked, notAsked } = this.targets(options);
    const stream = new QueryStream(() => this.finish(ltime));
    const signal = options.signal;
    const onAbort = (): void => this.finish(ltime);
    const r: Running = {
      start: now,
      message: m,
      body,
      asked: signal?.aborted ? new Map() : asked,
      notAsked,
      stream,
      timers: [],
      detach: () => signal?.removeEventListener('abort', onAbort),
    };
    this.running.set(ltime, r);
    this.counts.sent++;
    if (signal?.aborted) {
      this.finish(ltime);
      return stream;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    this.transmit(r);
    if (r.asked.has(this.c.self.id)) {
      const self = r.asked.get(this.c.self.id) as Asked;
      this.responder.local(m, (a) => this.running.get(ltime) && this.answer(r, self, a));
    }
    r.timers.push(setTimeout(() => this.finish(ltime), m.timeoutMs));
    if (m.ack)
      for (let k = 1; k <= RETRANSMISSIONS; k++)
        r.timers.push(setTimeout(() => this.transmit(r), Math.floor((m.timeoutMs * k) / RETRANSMIT_FRACTION)));
    return stream;
  }

  /** Ends every running query and stops answering: the node shuts down. */
  close(): void {
    this.closed = true;
    this.responder.close();
    for (const ltime of [...this.running.keys()]) this.finish(ltime);
  }

  private build(name: string, payload: string | Uint8Array, o: QueryOptions, ltime: number): QueryMessage {
    if (typeof name !== 'string' || utf8Length(name) === 0 || utf8Length(name) > MAX_QUERY_NAME_BYTES)
      throw new QueryError('bad-name', `a query name is 1..${MAX_QUERY_NAME_BYTES} UTF-8 bytes`);
    const bytes = typeof payload === 'string' ? encoder.encode(payload) : payload;
    if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('a query payload is a string or bytes');
    const max = this.init.limits.maxPayloadBytes;
    if (bytes.length > max)
      throw new QueryError('too-large', `the query payload is ${bytes.length} bytes, over the limit of ${max}`);
    const tags = o.filter?.tags ?? {};
    const entries = Object.entries(tags);
    if (entries.length > MAX_QUERY_TAGS || entries.some(([, v]) => typeof v !== 'string'))
      throw new InvalidArgumentError(`filter.tags: at most ${MAX_QUERY_TAGS} tags, each value a string`);
    const ids = o.filter?.ids;
    if (ids !== undefined && (!Array.isArray(ids) || ids.some((id) => typeof id !== 'string')))
      throw new InvalidArgumentError('filter.ids: an array of member ids');
    const timeoutMs = o.timeoutMs ?? defaultQueryTimeoutMs(this.init.gossipIntervalMs, this.c.core.liveCount);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > MAX_QUERY_TIMEOUT_MS)
      throw new InvalidArgumentError(`timeoutMs: an integer from 1 to ${MAX_QUERY_TIMEOUT_MS} (got ${timeoutMs})`);
    const relayFactor = o.relayFactor ?? 0;
    if (!Number.isInteger(relayFactor) || relayFactor < 0 || relayFactor > MAX_RELAY_FACTOR)
      throw new InvalidArgumentError(`relayFactor: an integer from 0 to ${MAX_RELAY_FACTOR} (got ${relayFactor})`);
    return {
      type: 'query',
      clusterId: this.c.clusterId,
      origin: this.c.self.id,
      generation: this.c.self.generation,
      ltime,
      ack: o.ack ?? true,
      timeoutMs,
      relayFactor,
      tags: Object.fromEntries(entries),
      name,
      payload: bytes,
    };
  }

  /** The live members the filter matches: those to ask, and how many speak too old a protocol to be. */
  private targets(o: QueryOptions): { asked: Map<string, Asked>; notAsked: number } {
    const tags = Object.entries(o.filter?.tags ?? {});
    const ids = o.filter?.ids ? new Set(o.filter.ids) : null;
    const asked = new Map<string, Asked>();
    let notAsked = 0;
    for (const v of this.c.core.snapshot().live) {
      if (ids && !ids.has(v.node.id)) continue;
      if (tags.some(([k, value]) => v.values[k] !== value)) continue;
      const version = v.node.id === this.c.self.id ? PROTOCOL_VERSION : this.c.speaks(v.node.address);
      if (version !== undefined && !carriesQueries(version)) notAsked++;
      else asked.set(v.node.id, { address: v.node.address, acked: false, responds: false, responded: false });
    }
    return { asked, notAsked };
  }

  /**
   * Sends the query to every asked member whose ack has not arrived, or whose ack promised a response that
   * has not (all of them the first time). The member sends what it already sent again; copies are dropped here.
   */
  private transmit(r: Running): void {
    for (const [id, a] of r.asked)
      if (id !== this.c.self.id && (!a.acked || (a.responds && !a.responded)))
        this.c.sendBody(a.address, r.body, this.versionTo(a.address));
  }

  private answer(r: Running, asked: Asked, a: QueryAnswerMessage): void {
    const latencyMs = Math.max(0, this.c.now() - r.start);
    if (a.type === 'queryAck') {
      if (asked.acked) return void this.counts.stray++;
      asked.acked = true;
      asked.responds = a.responds;
      r.stream.push({ kind: 'ack', from: a.from, latencyMs });
      return;
    }
    if (asked.responded) return void this.counts.stray++;
    asked.responded = true;
    r.stream.push(
      a.error
        ? { kind: 'error', from: a.from, message: decoder.decode(a.payload), latencyMs }
        : { kind: 'response', from: a.from, payload: a.payload, latencyMs },
    );
  }

  private finish(ltime: number): void {
    const r = this.running.get(ltime);
    if (!r) return;
    this.running.delete(ltime);
    for (const t of r.timers) clearTimeout(t);
    r.detach();
    r.stream.end(r.asked.size, r.notAsked, Math.max(0, this.c.now() - r.start));
  }

  private send(to: string, m: QueryWireMessage): void {
    const version = this.versionTo(to);
    this.c.sendBody(to, encodeQueryMessage(m, version), version);
  }

  /**
   * The version a query message to `address` goes in: the highest it was heard in when that carries queries (7 to a
   * protocol-7 node), else the first that does, which every node that reads queries reads (the body is the same in
   * each: test/wire/golden.test.ts). Never the newest untried: a protocol-6 node would drop it as too new.
   */
  private versionTo(address: string): ProtocolVersion {
    const heard = this.c.speaks(address);
    return heard !== undefined && carriesQueries(heard) ? heard : FIRST_QUERY_VERSION;
  }

  private relayCandidates(): readonly NodeIdentity[] {
    const now = this.c.now();
    if (now - this.relayList.at >= RELAY_LIST_MS) {
      const members = this.c.core
        .snapshot()
        .live.map((v) => v.node)
        .filter((n) => n.id !== this.c.self.id && carriesQueries(this.c.speaks(n.address) ?? 3));
      this.relayList = { at: now, members };
    }
    return this.relayList.members;
  }
}
