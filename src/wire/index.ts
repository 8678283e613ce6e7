/**
 * The wire format: the protocol's messages as plain data, and the codec between them and packet
 * bodies for each protocol version spoken. The decoder is bounds-checked and throws only
 * {@link DecodeError}, with a reason to count by. The envelope around a body (magic, version,
 * compression, encryption) is `scuttlebutt-ts/transport`'s.
 *
 * @module scuttlebutt-ts/wire
 */
export {
  carriesLiveness,
  carriesQueries,
  DecodeError,
  decodeMessage,
  decodeQueryMessage,
  encodeMessage,
  encodeQueryMessage,
  messageSize,
  queryMessageSize,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  type ProtocolVersion,
} from './codec.js';
export type { DecodeErrorReason } from './errors.js';
/** Every message a packet body holds (membership, protocol 7's liveness, user events, queries), by version. */
export { decodeAny, encodeAny, type WireMessage } from './any.js';
export type {
  AckMessage,
  Column,
  Delta,
  Digest,
  HeartbeatBumps,
  LeaveMessage,
  Message,
  MessageType,
  NodeDelta,
  NodeIdentity,
  RateState,
  SynAckMessage,
  SynMessage,
  VersionedValue,
  WrongClusterMessage,
} from './messages.js';
export type {
  Ack7Message,
  BeatMessage,
  CensusMessage,
  CensusPullMessage,
  Digest7,
  LivenessMessage,
  NodeDelta7,
  ReportKind,
  ReportRecord,
  ReportSet,
  StreamEndMessage,
  StreamHelloMessage,
  SumsMessage,
  Syn7Message,
  SynAck7Message,
} from './liveness-messages.js';
export type { QueryAckMessage, QueryMessage, QueryResponseMessage, QueryWireMessage } from './query-messages.js';
export type {
  DigestGroup,
  EventDigestMessage,
  UserEventMessage,
  UserEventsMessage,
  WireUserEvent,
} from './user-events.js';
export { MAX_QUERY_NAME_BYTES, MAX_QUERY_TAGS, MAX_QUERY_TIMEOUT_MS, MAX_RELAY_FACTOR } from './query-messages.js';
