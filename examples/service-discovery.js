// Service discovery by tags: each node publishes what it is in its metadata, and a client keeps the
// list of databases that are live and accepting work, updated from membership events.
//
//   npm run build && node examples/service-discovery.js  (UDP ports BASE_PORT..BASE_PORT+3, default 9111)
import { createScuttlebutt, defaultLanConfig } from 'scuttlebutt-ts';

const port = Number(process.env.BASE_PORT ?? 9111);
const start = (id, p, tags) =>
  createScuttlebutt(
    defaultLanConfig({ node: { id, gossipPublicAddress: `127.0.0.1:${p}` }, listenAddress: `127.0.0.1:${p}` }),
    tags,
  );

const client = await start('web-1', port, { role: 'web' });
const db1 = await start('db-1', port + 1, { role: 'db', zone: 'a', status: 'ready' });
const db2 = await start('db-2', port + 2, { role: 'db', zone: 'b', status: 'ready' });
const cache = await start('cache-1', port + 3, { role: 'cache', zone: 'a' });

// The pool is recomputed from state() whenever membership or metadata changes.
const pool = () =>
  client
    .state()
    .live.filter((m) => m.metadata.role === 'db' && m.metadata.status === 'ready')
    .map((m) => `${m.id}@${m.address} (zone ${m.metadata.zone})`)
    .sort();
let shown = '';
const show = () => {
  const now = pool().join(', ') || 'none';
  if (now !== shown) console.log(`databases ready: ${now}`);
  shown = now;
};
client.on('live', show);
client.on('dead', show);
client.on('update', show);

for (const n of [db1, db2, cache]) await n.join([`127.0.0.1:${port}`]);
await until(() => pool().length === 2);

db2.set('status', 'draining'); // a tag change travels like any metadata write
await until(() => pool().length === 1);

await db1.shutdown(); // a graceful leave: the client drops it at once
await until(() => pool().length === 0);

await Promise.all([client.shutdown(), db2.shutdown(), cache.shutdown()]);

async function until(condition, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
