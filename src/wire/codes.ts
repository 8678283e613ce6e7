/**
 * The numbers of a message body's layout that the encoder writes and the decoder checks: type codes and
 * flag bits (docs/protocol.md).
 */

export const TYPE_CODES = {
  syn: 1,
  synAck: 2,
  ack: 3,
  wrongCluster: 4,
  leave: 5,
  query: 9,
  queryAck: 10,
  queryResponse: 11,
} as const;
/** A SYN that does not pull (SynMessage.pull false) has its own type code: no byte added for the flag. */
export const PUSH_SYN_CODE = 6;
/** Protocol 6: user events (wire/user-events.ts); not membership messages, so not in TYPE_CODES. */
export const USER_EVENTS_CODE = 7;
export const EVENT_DIGEST_CODE = 8;
export const DIGEST_COMPACT = 1;
export const DIGEST_COMPLETE = 2;
export const DIGEST_BUCKETS = 4;
export const DIGEST_LOW_HEARTBEATS = 8;
export const NODE_HAS_IDENTITY = 1;
export const NODE_HAS_COMMITMENT = 2;
export const VALUE_TOMBSTONE = 1;
export const BUMPS_POSITIONAL = 1;
export const BUMPS_LOW_HEARTBEATS = 2;
/** A query's flags: the querier wants acks. */
export const QUERY_ACK = 1;
/** An ack's or response's flags: sent to a relay, which forwards it to the querier (with the flag cleared). */
export const ANSWER_RELAY = 1;
/** An ack's flags: a response will follow (the responder has a handler for the name), so the querier waits for it. */
export const ACK_RESPONDS = 2;
/** A response's flags: the payload is the handler's error message, not its result. */
export const RESPONSE_ERROR = 2;
