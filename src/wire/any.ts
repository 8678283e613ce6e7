/**
 * Every message a packet body can hold: the membership messages (codec.ts) and, from protocol 6 on,
 * user events (user-events.ts) and queries (query-codec.ts). The runtime's packet path reads and
 * writes through these two; the core and the simulator speak membership messages only.
 */
import { EVENT_DIGEST_CODE, USER_EVENTS_CODE } from './codes.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { DecodeError } from './errors.js';
import type { Message } from './messages.js';
import { carriesUserEvents, PROTOCOL_VERSION, type ProtocolVersion } from './protocol.js';
import {
  decodeUserEventMessage,
  encodeUserEventMessage,
  isUserEventMessage,
  type UserEventMessage,
} from './user-events.js';
import { decodeQueryMessage, encodeQueryMessage, isQueryCode, isQueryMessage } from './query-codec.js';
import type { QueryWireMessage } from './query-messages.js';
import { InvalidArgumentError } from '../errors.js';

export type WireMessage = Message | UserEventMessage | QueryWireMessage;

export function encodeAny(m: WireMessage, version: ProtocolVersion = PROTOCOL_VERSION): Uint8Array {
  if (isQueryMessage(m)) return encodeQueryMessage(m, version);
  if (!isUserEventMessage(m)) return encodeMessage(m, version);
  if (!carriesUserEvents(version)) throw new InvalidArgumentError(`protocol ${version} carries no user events`);
  return encodeUserEventMessage(m);
}

/** Decodes a body of protocol `version`; throws only DecodeError (a user event in an older version: 'bad-type'). */
export function decodeAny(body: Uint8Array, version: ProtocolVersion = PROTOCOL_VERSION): WireMessage {
  const code = body[0];
  if (isQueryCode(code)) return decodeQueryMessage(body, version);
  if (code !== USER_EVENTS_CODE && code !== EVENT_DIGEST_CODE) return decodeMessage(body, version);
  if (!carriesUserEvents(version))
    throw new DecodeError('bad-type', `unknown message type ${code} (protocol ${version})`);
  return decodeUserEventMessage(body);
}
