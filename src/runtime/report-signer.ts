/**
 * The runtime's report signer (core/report-set.ts, ReportSigner): Ed25519 through node:crypto. Each incarnation
 * draws a key pair at start, so a restart publishes a new key and nothing signed before it can be replayed
 * under the new incarnation.
 */
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import type { ReportSigner } from '../core/report-set.js';
import { REPORT_KEY_BYTES, REPORT_SIGNATURE_BYTES } from '../wire/liveness-messages.js';

/** DER (SubjectPublicKeyInfo) prefix of an Ed25519 public key: the raw 32 bytes follow it. */
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

export class Ed25519ReportSigner implements ReportSigner {
  readonly publicKey: Uint8Array;
  private readonly privateKey: KeyObject;
  /**
   * Key objects of the public keys checked so far, by the array the caller holds (the one kept per member), so
   * a key is parsed once and forgotten with its member.
   */
  private readonly keys = new WeakMap<Uint8Array, KeyObject>();

  constructor() {
    const pair = generateKeyPairSync('ed25519');
    this.privateKey = pair.privateKey;
    const der = pair.publicKey.export({ type: 'spki', format: 'der' });
    this.publicKey = new Uint8Array(der.subarray(der.length - REPORT_KEY_BYTES));
  }

  sign(bytes: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, bytes, this.privateKey));
  }

  verify(publicKey: Uint8Array, bytes: Uint8Array, signature: Uint8Array): boolean {
    if (publicKey.length !== REPORT_KEY_BYTES || signature.length !== REPORT_SIGNATURE_BYTES) return false;
    try {
      let key = this.keys.get(publicKey);
      if (!key) {
        const der = new Uint8Array(SPKI_PREFIX.length + REPORT_KEY_BYTES);
        der.set(SPKI_PREFIX);
        der.set(publicKey, SPKI_PREFIX.length);
        key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
        this.keys.set(publicKey, key);
      }
      return verify(null, bytes, key, signature);
    } catch {
      // A 32-byte string that is not a point of the curve: no signature can be its.
      return false;
    }
  }
}
