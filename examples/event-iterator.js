// Membership events as an async iterator: `for await` over node.events({ signal }) until the signal
// aborts. Here the program aborts it once its work is done; AbortSignal.timeout(ms) bounds a watch
// the same way. Events already queued when the signal aborts are still delivered, then the loop ends.
//
//   npm run build && node examples/event-iterator.js     (UDP ports BASE_PORT..BASE_PORT+2, default 9111)
import { createScuttlebutt, defaultLanConfig } from 'scuttlebutt-ts';

const port = Number(process.env.BASE_PORT ?? 9111);
const start = (id, p) =>
  createScuttlebutt(
    defaultLanConfig({ node: { id, gossipPublicAddress: `127.0.0.1:${p}` }, listenAddress: `127.0.0.1:${p}` }),
  );

const watcher = await start('watcher', port);
const controller = new AbortController();
const watching = (async () => {
  let count = 0;
  for await (const event of watcher.events({ signal: controller.signal })) {
    count++;
    if (event.type === 'live') console.log(`live    ${event.node.id}`);
    if (event.type === 'update')
      console.log(
        `update  ${event.node.id} ${event.keys.join(',')}=${event.keys.map((k) => event.node.metadata[k]).join(',')}`,
      );
    if (event.type === 'dead') console.log(`dead    ${event.node.id} (${event.reason})`);
    if (event.type === 'removed') console.log(`removed ${event.node.id}`);
  }
  return count;
})();

const worker = await start('worker-1', port + 1);
await worker.join([`127.0.0.1:${port}`]);
await until(() => watcher.state().live.length === 2);
worker.set('job', 'resize-images');
await until(() => watcher.state().live.find((m) => m.id === 'worker-1')?.metadata.job === 'resize-images');
await worker.shutdown();
await until(() => watcher.state().live.length === 1);

controller.abort();
console.log(`the loop ended after ${await watching} events`);
await watcher.shutdown();

async function until(condition, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
