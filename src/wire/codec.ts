/**
 * The binary encoding of message bodies. docs/protocol.md describes it byte by byte.
 * A body is what travels after the 4-byte envelope header (magic, protocol version, flags)
 * that transport/envelope.ts writes; compression and encryption apply to the body only.
 * This module gathers the codec's parts under one name: the versions (protocol.ts), the exact sizes
 * (message-sizes.ts), the encoder (encode.ts) and the decoder (decode.ts).
 */
import type { HeartbeatBumps } from './messages.js';

export { DecodeError } from './errors.js';
export type { DecodeErrorReason } from './errors.js';
export {
  carriesLeaveProofs,
  carriesLiveness,
  carriesLowHeartbeats,
  carriesUserEvents,
  carriesQueries,
  ENVELOPE_HEADER_BYTES,
  isSupportedVersion,
  MAGIC_0,
  MAGIC_1,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  type ProtocolVersion,
} from './protocol.js';
export {
  bucketsSize,
  bumpSize,
  bumpsSize,
  commitmentSize,
  compactEntrySize,
  deltaSize,
  digestHeaderSize,
  digestSize,
  exchangeHeaderSize,
  fullEntrySize,
  heartbeatSize,
  identitySize,
  messageSize,
  nodeDeltaHeaderSize,
  nodeDeltaSize,
  ownEntrySize,
  valueSize,
} from './message-sizes.js';
export { encodeMessage } from './encode.js';
export { decodeMessage } from './decode.js';
export {
  decodeQueryMessage,
  encodeQueryMessage,
  isQueryCode,
  isQueryMessage,
  queryMessageSize,
} from './query-codec.js';

/** Empty heartbeat bumps, shared. */
export const NO_BUMPS: HeartbeatBumps = {
  count: 0,
  positional: false,
  keys: new Float64Array(0),
  heartbeats: new Float64Array(0),
  checks: null,
  ages: new Float64Array(0),
};
