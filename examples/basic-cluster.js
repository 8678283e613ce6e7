// Three nodes on this machine: two join the first, every node learns every other, then one leaves
// and the others see it go at once (a graceful leave is announced, not detected).
//
//   npm run build && node examples/basic-cluster.js      (UDP ports BASE_PORT..BASE_PORT+2, default 9111)
import { createScuttlebutt, defaultLanConfig } from 'scuttlebutt-ts';

const port = Number(process.env.BASE_PORT ?? 9111);

async function start(id, p) {
  const node = await createScuttlebutt(
    defaultLanConfig({ node: { id, gossipPublicAddress: `127.0.0.1:${p}` }, listenAddress: `127.0.0.1:${p}` }),
  );
  node.on('dead', (m, reason) => console.log(`${id}: ${m.id} is dead (${reason})`));
  return node;
}

const nodes = [await start('node-1', port), await start('node-2', port + 1), await start('node-3', port + 2)];
const [first, second, third] = nodes;
await second.join([`127.0.0.1:${port}`]);
await third.join([`127.0.0.1:${port}`]);

// Everyone knows everyone once each node's state() lists three live members.
await until(() => nodes.every((n) => n.state().live.length === 3));
for (const n of nodes) {
  const { self, live } = n.state();
  console.log(
    `${self.id} sees ${live
      .map((m) => m.id)
      .sort()
      .join(', ')}`,
  );
}

await second.shutdown();
await until(() => first.state().live.length === 2 && third.state().live.length === 2);
await Promise.all([first.shutdown(), third.shutdown()]);

async function until(condition, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
