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

/**
 * Encodings (sign bit cleared) of the points of small order, canonical and not. node:crypto accepts them as public
 * keys, and with OpenSSL 3.0 (Node 20 and 22) anybody can then make signatures that verify under them (a zero S
 * with a small-order R passes for some messages: test/runtime/report-signer.test.ts counts them), so they are
 * refused as keys whatever OpenSSL does: an introduction carrying one would let every other member sign report
 * sets in its name.
 */
const SMALL_ORDER_KEYS = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
].map((hex) => Uint8Array.from(Buffer.from(hex, 'hex')));

/** Whether `key` (REPORT_KEY_BYTES) encodes a point of small order, whatever its sign bit. */
export function isSmallOrderKey(key: Uint8Array): boolean {
  return SMALL_ORDER_KEYS.some((weak) => {
    for (let i = 0; i < REPORT_KEY_BYTES - 1; i++) if (key[i] !== weak[i]) return false;
    return ((key[REPORT_KEY_BYTES - 1] as number) & 0x7f) === weak[REPORT_KEY_BYTES - 1];
  });
}

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
        if (isSmallOrderKey(publicKey)) return false;
        const der = new Uint8Array(SPKI_PREFIX.length + REPORT_KEY_BYTES);
        der.set(SPKI_PREFIX);
        der.set(publicKey, SPKI_PREFIX.length);
        key = createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' });
        this.keys.set(publicKey, key);
      }
      return verify(null, bytes, key, signature);
    } catch {
      // Defence in depth: node:crypto refuses a malformed key by throwing; to a caller it is a failed check.
      return false;
    }
  }
}
