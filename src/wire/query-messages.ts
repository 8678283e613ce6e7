/**
 * The query messages of protocol 6, as plain data: a query, its acks and its responses. They travel
 * point to point (querier to responder and back, or through a relay), never in gossip, so the core
 * never sees them: the runtime (runtime/queries.ts) sends and receives them beside the core's messages.
 */

/** Asks one member to run the handler registered for `name` (and to ack, when `ack`). */
export interface QueryMessage {
  readonly type: 'query';
  readonly clusterId: string;
  /** The querier's member id and generation: a responder answers only that member, at its address. */
  readonly origin: string;
  readonly generation: number;
  /** The querier's query Lamport time: with origin and generation, the query's identity (answers name it). */
  readonly ltime: number;
  readonly ack: boolean;
  /** How long the querier listens, ms: a responder drops an answer it could not send before then. */
  readonly timeoutMs: number;
  /** How many other members the responder also sends each answer through (serf's relay factor). */
  readonly relayFactor: number;
  /** Tags the responder must carry, exactly, to answer: it checks its own, newer than the querier's view of them. */
  readonly tags: Readonly<Record<string, string>>;
  readonly name: string;
  readonly payload: Uint8Array;
}

/** Fields shared by an ack and a response. */
interface AnswerFields {
  readonly clusterId: string;
  /** The querier's member id, and its query's Lamport time. */
  readonly origin: string;
  readonly ltime: number;
  /** The responder's member id. */
  readonly from: string;
  /** Sent to a relay: forward it to `origin`'s address (and clear this flag). */
  readonly relay: boolean;
}

/** "I received the query." */
export interface QueryAckMessage extends AnswerFields {
  readonly type: 'queryAck';
  /** A response will follow: the querier sends the query again until it has it (a lost response is re-sent). */
  readonly responds: boolean;
}

/** The handler's result, or with `error` the message of what it threw (UTF-8). */
export interface QueryResponseMessage extends AnswerFields {
  readonly type: 'queryResponse';
  readonly error: boolean;
  readonly payload: Uint8Array;
}

export type QueryWireMessage = QueryMessage | QueryAckMessage | QueryResponseMessage;

/** Longest query timeout the wire carries, ms (10 minutes): a responder keeps a query's state no longer. */
export const MAX_QUERY_TIMEOUT_MS = 600_000;
/** Most relays per answer: each is one more copy of every answer on the network. */
export const MAX_RELAY_FACTOR = 8;
/** Longest query name, UTF-8 bytes. */
export const MAX_QUERY_NAME_BYTES = 128;
/** Most tags a query's filter names. */
export const MAX_QUERY_TAGS = 32;
