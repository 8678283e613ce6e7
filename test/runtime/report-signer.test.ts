/**
 * The runtime's Ed25519 report signer: raw 32-byte public keys, 64-byte signatures that verify under their own
 * key only and over the exact bytes signed; a set signed by it passes a ReportBook, a forger's does not. Prints
 * the verification rate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReportBook, reportSignedBytes } from '../../src/core/reports.js';
import { createPublicKey, verify } from 'node:crypto';
import { Ed25519ReportSigner, isSmallOrderKey } from '../../src/runtime/report-signer.js';
import { REPORT_KEY_BYTES, REPORT_SIGNATURE_BYTES, REPORT_SILENT } from '../../src/wire/liveness-messages.js';

const content = { version: 3, censusEpoch: 1, records: [{ subject: 77, incarnation: 2, kind: REPORT_SILENT }] };
const bytes = reportSignedBytes('default', 42, 0, content);

test('sign and verify: sizes, own key only, exact bytes only', () => {
  const signer = new Ed25519ReportSigner();
  const other = new Ed25519ReportSigner();
  assert.equal(signer.publicKey.length, REPORT_KEY_BYTES);
  assert.notDeepEqual(signer.publicKey, other.publicKey, 'each incarnation draws its own pair');
  const signature = signer.sign(bytes);
  assert.equal(signature.length, REPORT_SIGNATURE_BYTES);
  assert.equal(other.verify(signer.publicKey, bytes, signature), true, 'anybody checks with the public key');
  assert.equal(other.verify(other.publicKey, bytes, signature), false, 'wrong key');
  assert.equal(signer.verify(signer.publicKey, bytes, other.sign(bytes)), false, "another key's signature");
  for (const at of [0, 12, bytes.length - 1]) {
    const tampered = Uint8Array.from(bytes);
    tampered[at] = (tampered[at] as number) ^ 1;
    assert.equal(signer.verify(signer.publicKey, tampered, signature), false, `byte ${at} flipped`);
  }
  const badSignature = Uint8Array.from(signature);
  badSignature[5] = (badSignature[5] as number) ^ 0x80;
  assert.equal(signer.verify(signer.publicKey, bytes, badSignature), false, 'signature tampered');
  assert.equal(signer.verify(signer.publicKey, bytes, signature.subarray(1)), false, 'short signature');
  assert.equal(signer.verify(signer.publicKey.subarray(1), bytes, signature), false, 'short key');
  // 32 bytes that may not be a point of the curve: refused, not thrown.
  assert.equal(signer.verify(new Uint8Array(32).fill(0xff), bytes, signature), false);
});

test('small-order public keys are refused, whether or not node:crypto accepts forgeries under them', (t) => {
  const spki = Buffer.from('302a300506032b6570032100', 'hex');
  const weak = [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  ].map((hex) => Uint8Array.from(Buffer.from(hex, 'hex')));
  const signer = new Ed25519ReportSigner();
  // Forgeries made without any private key: R = a small-order point, S = 0. Whether node:crypto accepts them
  // depends on the OpenSSL it was built with (Node 20 and 22 do, 24 and 26 do not); the signer refuses them all.
  let acceptedByCrypto = 0;
  for (const key of weak) {
    assert.ok(isSmallOrderKey(key));
    const raw = createPublicKey({ key: Buffer.concat([spki, key]), format: 'der', type: 'spki' });
    for (let m = 0; m < 16; m++) {
      const message = Uint8Array.from([...bytes, m]);
      for (const r of weak) {
        const signature = Uint8Array.from([...r, ...new Uint8Array(32)]);
        if (verify(null, message, raw, signature)) acceptedByCrypto++;
        assert.equal(signer.verify(key, message, signature), false, 'refused by the signer');
      }
    }
  }
  t.diagnostic(`node:crypto (OpenSSL ${process.versions.openssl}) accepted ${acceptedByCrypto} of 256 forgeries`);
  assert.equal(isSmallOrderKey(signer.publicKey), false);
});

test('a ReportBook takes a set signed with Ed25519 and refuses a forger signing in its name', () => {
  const observer = new Ed25519ReportSigner();
  const forger = new Ed25519ReportSigner();
  const book = new ReportBook('default', new Ed25519ReportSigner(), 4);
  const forged = { ...content, signature: forger.sign(bytes) };
  assert.equal(book.accept(42, 0, observer.publicKey, forged), 'forged-report');
  assert.equal(book.accept(42, 0, observer.publicKey, { ...content, signature: observer.sign(bytes) }), 'accepted');
});

test('verifications per second', () => {
  const signer = new Ed25519ReportSigner();
  const verifier = new Ed25519ReportSigner();
  const signature = signer.sign(bytes);
  const n = 2_000;
  for (let i = 0; i < 200; i++) verifier.verify(signer.publicKey, bytes, signature);
  let ok = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (verifier.verify(signer.publicKey, bytes, signature)) ok++;
  const ns = Number(process.hrtime.bigint() - start);
  assert.equal(ok, n);
  const signStart = process.hrtime.bigint();
  for (let i = 0; i < n; i++) signer.sign(bytes);
  const signNs = Number(process.hrtime.bigint() - signStart);
  console.log(
    `# Ed25519 report sets (${bytes.length} B signed): verify ${(ns / n / 1000).toFixed(1)} µs ` +
      `(${Math.round((n * 1e9) / ns)}/s), sign ${(signNs / n / 1000).toFixed(1)} µs`,
  );
});
