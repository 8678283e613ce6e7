// A sharded in-memory cache across processes: three cache processes share the key space through a
// consistent-hash ring (node.ring()), each keeping only the keys it owns. A read or write of a key owned
// by another process is a query to that one member (node.query() with filter.ids); a process answers
// with node.onQuery(). When a process leaves, the ring's 'change' says which ranges moved: its keys are
// lost (it is a cache) and the rest stay where they were.
//
//   npm run build && node examples/sharded-cache.js  (UDP ports BASE_PORT..BASE_PORT+2, default 9111)
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createScuttlebutt, defaultLanConfig } from 'scuttlebutt-ts';

const port = Number(process.env.BASE_PORT ?? 9111);
const text = (bytes) => new TextDecoder().decode(bytes);

/** A cache process: its node, its ring of cache members, and the keys it owns. */
async function cacheNode(id, p) {
  const node = await createScuttlebutt(
    defaultLanConfig({
      node: { id, gossipPublicAddress: `127.0.0.1:${p}` },
      listenAddress: `127.0.0.1:${p}`,
      // Every cache read of a remote key is a query: allow far more than the control-plane default (10/s).
      queries: { ratePerSecond: 500, burst: 500 },
    }),
    { role: 'cache' },
  );
  const ring = node.ring({ filter: { tags: { role: 'cache' } } });
  const store = new Map();
  const owns = (key) => ring.owner(key) === node.self.id;
  // Keys that moved to another member are dropped: their new owner fills them on its next write.
  ring.on('change', () => {
    for (const key of store.keys()) if (!owns(key)) store.delete(key);
  });
  node.onQuery('cache-put', (q) => {
    const { key, value } = JSON.parse(text(q.payload));
    if (!owns(key)) return JSON.stringify({ error: 'not-owner' });
    store.set(key, value);
    return JSON.stringify({ ok: true });
  });
  node.onQuery('cache-get', (q) => {
    const key = text(q.payload);
    return JSON.stringify(store.has(key) ? { value: store.get(key) } : { miss: true });
  });
  return { node, ring, store };
}

/** Asks one member and returns its answer, parsed (undefined when it did not answer in time). */
async function ask(node, id, name, payload) {
  for await (const answer of node.query(name, payload, { filter: { ids: [id] }, timeoutMs: 2000 })) {
    if (answer.kind === 'response') return JSON.parse(text(answer.payload));
    if (answer.kind === 'error') throw new Error(`${id}: ${answer.message}`);
  }
  return undefined;
}

if (process.argv[2] === 'serve') {
  // A child: serve until the parent says leave (or goes away).
  const [id, p] = [process.argv[3], Number(process.argv[4])];
  const { node } = await cacheNode(id, p);
  await node.join([`127.0.0.1:${port}`]);
  const leave = () => node.leave().then(() => process.exit(0));
  process.on('message', (m) => m === 'leave' && void leave());
  process.on('disconnect', () => void leave());
  process.send?.('up');
} else {
  const self = await cacheNode('cache-1', port);
  const { node, ring, store } = self;
  const children = new Map();
  for (const [i, id] of ['cache-2', 'cache-3'].entries()) {
    const child = fork(fileURLToPath(import.meta.url), ['serve', id, String(port + 1 + i)], { stdio: 'inherit' });
    await new Promise((resolve) => child.once('message', resolve));
    children.set(id, child);
  }
  await until(() => ring.members.length === 3);

  const put = async (key, value) => {
    const owner = ring.owner(key);
    if (owner === node.self.id) store.set(key, value);
    else await ask(node, owner, 'cache-put', JSON.stringify({ key, value }));
    return owner;
  };
  const get = async (key) => {
    const owner = ring.owner(key);
    if (owner === node.self.id) return { owner, value: store.get(key) };
    return { owner, value: (await ask(node, owner, 'cache-get', key))?.value };
  };

  const keys = Array.from({ length: 60 }, (_, i) => `user:${i}`);
  const placed = await Promise.all(keys.map((k) => put(k, `profile of ${k}`)));
  const count = (id) => placed.filter((o) => o === id).length;
  console.log(`${keys.length} keys written: ${ring.members.map((id) => `${count(id)} on ${id}`).join(', ')}`);

  let read = await Promise.all(keys.map(get));
  const local = read.filter((r) => r.owner === node.self.id).length;
  const good = read.filter((r, i) => r.value === `profile of ${keys[i]}`).length;
  console.log(`read back ${good} of ${keys.length}: ${local} from this process, ${good - local} by query`);

  const moved = new Promise((resolve) => ring.once('change', resolve));
  children.get('cache-3').send('leave');
  const change = await moved;
  const share = (change.moved * 100).toFixed(0);
  const tos = [...new Set(change.ranges.map((r) => r.to))].sort().join(' and ');
  console.log(`${change.removed.join()} left: ${change.ranges.length} ranges (${share}% of the keys) moved to ${tos}`);

  read = await Promise.all(keys.map(get));
  const misses = read.filter((r) => r.value === undefined).length;
  const held = count('cache-3');
  console.log(
    `after it left: ${keys.length - misses} hits, ${misses} misses` +
      (misses === held ? ', exactly the keys cache-3 held' : ` (cache-3 held ${held})`),
  );

  children.get('cache-2').send('leave');
  await until(() => ring.members.length === 1);
  ring.close();
  await node.shutdown();
}

async function until(condition, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
