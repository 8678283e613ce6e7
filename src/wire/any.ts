/**
 * Every message a packet body can hold: the membership messages (codec.ts), from protocol 6 on user events
 * (user-events.ts) and queries (query-codec.ts), and from protocol 7 on the liveness messages (liveness-codec.ts).
 * The runtime's packet path reads and writes through these two; the core speaks membership and liveness messages,
 * and the simulator carries those (sized by coreMessageBytes).
 */
import { EVENT_DIGEST_CODE, USER_EVENTS_CODE } from './codes.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { DecodeError } from './errors.js';
import { decodeLivenessMessage, encodeLivenessMessage } from './liveness-codec.js';
import { isLivenessMessage, LIVENESS_TYPE_CODES, type LivenessMessage } from './liveness-messages.js';
import { livenessMessageBytes } from './liveness-sizes.js';
import { messageSize } from './message-sizes.js';
import type { Message } from './messages.js';
import { carriesLiveness, carriesUserEvents, PROTOCOL_VERSION, type ProtocolVersion } from './protocol.js';
import {
  decodeUserEventMessage,
  encodeUserEventMessage,
  isUserEventMessage,
  type UserEventMessage,
} from './user-events.js';
import { decodeQueryMessage, encodeQueryMessage, isQueryCode, isQueryMessage } from './query-codec.js';
import type { QueryWireMessage } from './query-messages.js';
import { InvalidArgumentError } from '../errors.js';

export type WireMessage = Message | UserEventMessage | QueryWireMessage | LivenessMessage;

/** The lowest and highest liveness type codes (12..21). */
const LIVENESS_CODE_MIN = Math.min(...Object.values(LIVENESS_TYPE_CODES));
const LIVENESS_CODE_MAX = Math.max(...Object.values(LIVENESS_TYPE_CODES));

/** Whether a body's first byte names one of protocol 7's liveness messages. */
export function isLivenessCode(code: number | undefined): boolean {
  return code !== undefined && code >= LIVENESS_CODE_MIN && code <= LIVENESS_CODE_MAX;
}

/**
 * Encodes a body in protocol `version`. Throws InvalidArgumentError for a message the version cannot carry (a user
 * event before 6, a liveness message before 7): sending it would only be dropped as an unknown type.
 */
export function encodeAny(m: WireMessage, version: ProtocolVersion = PROTOCOL_VERSION): Uint8Array {
  if (isLivenessMessage(m)) {
    if (!carriesLiveness(version)) throw new InvalidArgumentError(`protocol ${version} carries no ${m.type} message`);
    return encodeLivenessMessage(m);
  }
  if (isQueryMessage(m)) return encodeQueryMessage(m, version);
  if (!isUserEventMessage(m)) return encodeMessage(m, version);
  if (!carriesUserEvents(version)) throw new InvalidArgumentError(`protocol ${version} carries no user events`);
  return encodeUserEventMessage(m);
}

/**
 * Decodes a body of protocol `version`; throws only DecodeError (a user event before 6, a liveness message before 7:
 * 'bad-type', as a reader of that version finds it).
 */
export function decodeAny(body: Uint8Array, version: ProtocolVersion = PROTOCOL_VERSION): WireMessage {
  const code = body[0];
  if (isLivenessCode(code)) {
    if (!carriesLiveness(version))
      throw new DecodeError('bad-type', `unknown message type ${code} (protocol ${version})`);
    return decodeLivenessMessage(body);
  }
  if (isQueryCode(code)) return decodeQueryMessage(body, version);
  if (code !== USER_EVENTS_CODE && code !== EVENT_DIGEST_CODE) return decodeMessage(body, version);
  if (!carriesUserEvents(version))
    throw new DecodeError('bad-type', `unknown message type ${code} (protocol ${version})`);
  return decodeUserEventMessage(body);
}

/**
 * The encoded body size of a message the core sends, in `version` (as encodeAny writes it, without encoding it): the
 * simulator counts bytes with it.
 */
export function coreMessageBytes(m: Message | LivenessMessage, version: ProtocolVersion = PROTOCOL_VERSION): number {
  return isLivenessMessage(m) ? livenessMessageBytes(m) : messageSize(m, version);
}
