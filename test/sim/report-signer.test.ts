/**
 * The simulator's report signer: Ed25519's sizes, keys replayable from (seed, node, generation) and distinct
 * across them, signatures that verify under their own key over the exact bytes only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { simReportSigner } from '../../src/sim/report-signer.js';
import { REPORT_KEY_BYTES, REPORT_SIGNATURE_BYTES } from '../../src/wire/liveness-messages.js';

test('keys replay from the seed and differ by node and generation', () => {
  const a = simReportSigner(7, 3, 0);
  assert.equal(a.publicKey.length, REPORT_KEY_BYTES);
  assert.deepEqual(simReportSigner(7, 3, 0).publicKey, a.publicKey);
  const others = [simReportSigner(8, 3, 0), simReportSigner(7, 4, 0), simReportSigner(7, 3, 1)];
  for (const o of others) assert.notDeepEqual(o.publicKey, a.publicKey);
});

test('a signature verifies under its own key, over the bytes signed, and nothing else', () => {
  const a = simReportSigner(1, 0, 0);
  const forger = simReportSigner(1, 1, 0);
  const bytes = Uint8Array.from([1, 2, 3, 4]);
  const signature = a.sign(bytes);
  assert.equal(signature.length, REPORT_SIGNATURE_BYTES);
  assert.equal(forger.verify(a.publicKey, bytes, signature), true);
  assert.equal(a.verify(a.publicKey, bytes, forger.sign(bytes)), false, "a forger's own key");
  assert.equal(a.verify(a.publicKey, Uint8Array.from([1, 2, 3, 5]), signature), false, 'other bytes');
  assert.equal(a.verify(a.publicKey, bytes, signature.subarray(1)), false, 'short signature');
  assert.equal(a.verify(a.publicKey.subarray(1), bytes, signature), false, 'short key');
});
