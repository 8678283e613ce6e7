/**
 * The simulator's report signer (core/report-set.ts, ReportSigner): a keyed hash with Ed25519's sizes (32-byte
 * public key, 64-byte signature), so sets cost the simulator the bytes and the checks they cost the runtime,
 * and a run replays exactly from its seed.
 *
 * It models honest nodes only: a "signature" is SHA-512 of (public key, bytes), so whoever knows a public key
 * can sign for it. A forger that signs with a key of its own fails every check against its victim's key, which
 * is what the core's tests need; attacks on the signature itself belong to the runtime's Ed25519 signer.
 */
import { createHash } from 'node:crypto';
import { InvalidArgumentError } from '../errors.js';
import type { ReportSigner } from '../core/report-set.js';
import { seededRandom } from '../core/random.js';
import { REPORT_KEY_BYTES, REPORT_SIGNATURE_BYTES } from '../wire/liveness-messages.js';

function keyedHash(publicKey: Uint8Array, bytes: Uint8Array): Uint8Array {
  return createHash('sha512').update(publicKey).update(bytes).digest();
}

export class SimReportSigner implements ReportSigner {
  /**
   * @param publicKey REPORT_KEY_BYTES bytes naming this incarnation (see {@link simReportSigner} for one drawn
   * from a run's seed).
   */
  constructor(readonly publicKey: Uint8Array) {
    if (publicKey.length !== REPORT_KEY_BYTES)
      throw new InvalidArgumentError(`a public key is ${REPORT_KEY_BYTES} bytes`);
  }

  sign(bytes: Uint8Array): Uint8Array {
    return keyedHash(this.publicKey, bytes);
  }

  verify(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean {
    if (publicKey.length !== REPORT_KEY_BYTES || signature.length !== REPORT_SIGNATURE_BYTES) return false;
    const expected = keyedHash(publicKey, bytes);
    for (let i = 0; i < REPORT_SIGNATURE_BYTES; i++) if (expected[i] !== signature[i]) return false;
    return true;
  }
}

/**
 * Node `node`'s signer for one incarnation, from the run's seed: replayable, drawn from a stream of its own (so
 * adding keys moves no other random choice of a run), and different for every (seed, node, generation).
 */
export function simReportSigner(seed: number, node: number, generation: number): SimReportSigner {
  const rng = seededRandom((seed * 2_654_435_761 + node * 40_503 + generation) ^ 0x5e9047ed);
  return new SimReportSigner(Uint8Array.from({ length: REPORT_KEY_BYTES }, () => Math.floor(rng.next() * 256)));
}
