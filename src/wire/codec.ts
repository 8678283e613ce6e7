// STUB: being implemented. Signatures are the contract.
import type { Message } from './messages.js';

export const MAGIC_0 = 0x53; // 'S'
export const MAGIC_1 = 0x42; // 'B'
export const PROTOCOL_VERSION = 1;
/** magic (2) + protocol version (1) + flags (1). Written by transport/envelope.ts, before the body. */
export const ENVELOPE_HEADER_BYTES = 4;

export type DecodeErrorReason = 'truncated' | 'bad-type' | 'bad-varint' | 'bad-utf8' | 'too-large' | 'bad-value' | 'trailing-bytes';

export class DecodeError extends Error {
  constructor(readonly reason: DecodeErrorReason, detail: string) {
    super(`${reason}: ${detail}`);
    this.name = 'DecodeError';
  }
}

/** Encodes a message body (no envelope header). */
export function encodeMessage(_message: Message): Uint8Array { throw new Error('not implemented'); }
/** Decodes a message body; throws only DecodeError. */
export function decodeMessage(_body: Uint8Array): Message { throw new Error('not implemented'); }
/** The exact length encodeMessage would produce. */
export function messageSize(_message: Message): number { throw new Error('not implemented'); }
