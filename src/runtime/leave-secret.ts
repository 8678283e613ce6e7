/**
 * The leave secret of a runtime incarnation and the hash that commits to it (CoreConfig.leaveSecret,
 * CoreConfig.hash): drawn from the system's CSPRNG at every start, so a restart is a new commitment.
 */
import { createHash, randomBytes } from 'node:crypto';
import { LEAVE_SECRET_BYTES } from '../wire/messages.js';

export function sha256(data: Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest();
}

export function leaveProof(): { leaveSecret: Uint8Array; hash: (data: Uint8Array) => Uint8Array } {
  return { leaveSecret: randomBytes(LEAVE_SECRET_BYTES), hash: sha256 };
}
