// Encrypted gossip and a key rotation while the cluster runs, without losing a packet. The keyring's
// first key encrypts and every key decrypts, so the rotation is three steps, each applied to every
// node before the next: [old, new], then [new, old], then [new]. A node left on the old key alone
// is no longer understood: its packets are dropped and counted.
//
//   npm run build && node examples/key-rotation.js       (UDP ports BASE_PORT..BASE_PORT+2, default 9111)
import { randomBytes } from 'node:crypto';
import { createScuttlebutt, defaultLanConfig } from 'scuttlebutt-ts';

const port = Number(process.env.BASE_PORT ?? 9111);
const oldKey = randomBytes(32); // AES-256-GCM; 16 or 24 bytes give AES-128 or AES-192
const newKey = randomBytes(32);

const start = (id, p, secretKeys) =>
  createScuttlebutt(
    defaultLanConfig({
      node: { id, gossipPublicAddress: `127.0.0.1:${p}` },
      listenAddress: `127.0.0.1:${p}`,
      secretKeys,
    }),
  );

const a = await start('a', port, [oldKey]);
const b = await start('b', port + 1, [oldKey]);
await b.join([`127.0.0.1:${port}`]);
await until(() => a.state().live.length === 2 && b.state().live.length === 2);
console.log('a and b gossip encrypted with the old key');

const steps = [
  { name: 'old, new', keys: [oldKey, newKey] },
  { name: 'new, old', keys: [newKey, oldKey] },
  { name: 'new', keys: [newKey] },
];
for (const [i, { name, keys }] of steps.entries()) {
  a.setSecretKeys(keys);
  b.setSecretKeys(keys);
  // Prove the cluster still talks: a writes a value and b reads it through gossip.
  a.set('step', String(i + 1));
  await until(() => b.state().live.find((m) => m.id === 'a')?.metadata.step === String(i + 1));
  console.log(`keyring [${name}]: b read a's step=${i + 1}`);
}
const dropped = (n) => Object.values(n.stats().dropped).reduce((sum, count) => sum + count, 0);
console.log(`packets dropped during the rotation: ${dropped(a) + dropped(b)}`);

const late = await start('late', port + 2, [oldKey]);
await late.join([`127.0.0.1:${port}`]);
await until(() => (a.stats().dropped['envelope:decrypt-failed'] ?? 0) > 0);
console.log(
  `a node on the old key alone is refused: a counts envelope:decrypt-failed, sees ${a.state().live.length} members`,
);

await Promise.all([a.shutdown(), b.shutdown(), late.shutdown()]);

async function until(condition, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
