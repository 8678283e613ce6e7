/**
 * The size of a message as the runtime sends it by default: the envelope's 4-byte header, then the
 * body raw-DEFLATEd when that is smaller (bodies under 64 bytes are not tried), no encryption. This
 * mirrors transport/envelope.ts seal() without importing the transport (the simulator runs the core
 * alone); test/sim/wire-bytes.test.ts checks that the two agree.
 */
import { deflateRawSync } from 'node:zlib';
import { ENVELOPE_HEADER_BYTES } from '../wire/codec.js';
import { MIN_COMPRESS_BYTES } from '../wire/envelope-sizes.js';

export function plaintextPacketBytes(body: Uint8Array): number {
  if (body.length < MIN_COMPRESS_BYTES) return ENVELOPE_HEADER_BYTES + body.length;
  return ENVELOPE_HEADER_BYTES + Math.min(body.length, deflateRawSync(body).length);
}
