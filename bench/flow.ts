/**
 * `node dist/bench/flow.js --nodes 8 --writers 4 --write-rate 400 --keys 2000 --rare 2 --seconds 20 --flow-control
 * on|off`
 *
 * The runtime (real UDP on loopback, real timers), N nodes in this process: W of them call set() R
 * times a second over K keys of 100-byte values, `rare` more write one key every 2 s. Each value
 * carries its write time; every reader's `update` events give how late each value it received was
 * (received minus written, per reader: not the simulator's "every node holds it", which needs a
 * global view). Prints median, p99 and max for the heavy writers' values and the rare writers'.
 */
import { parseArgs } from 'node:util';
import { createScuttlebutt, defaultLanConfig, type Scuttlebutt } from '../src/index.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '8' },
    writers: { type: 'string', default: '4' },
    'write-rate': { type: 'string', default: '400' },
    keys: { type: 'string', default: '2000' },
    rare: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '20' },
    'max-packet-bytes': { type: 'string', default: '1400' },
    'flow-control': { type: 'string', default: 'on' },
    port: { type: 'string', default: '27100' },
  },
});
const n = Number(values.nodes);
const writers = Number(values.writers);
const rate = Number(values['write-rate']);
const keys = Number(values.keys);
const rare = Number(values.rare);
const seconds = Number(values.seconds);
const base = Number(values.port);
if (writers + rare > n) throw new Error('--writers plus --rare must not exceed --nodes');

const nodes: Scuttlebutt[] = [];
for (let i = 0; i < n; i++) {
  const addr = `127.0.0.1:${base + i}`;
  nodes.push(
    await createScuttlebutt(
      defaultLanConfig({
        clusterId: 'flow-bench',
        node: { id: `n${i}`, gossipPublicAddress: addr },
        listenAddress: addr,
        maxPacketBytes: Number(values['max-packet-bytes']),
        flowControl: { enabled: values['flow-control'] === 'on' },
      }),
    ),
  );
}
await Promise.all(nodes.slice(1).map((node) => node.join([`127.0.0.1:${base}`])));
while (!nodes.every((node) => node.state().live.length === n)) await new Promise((r) => setTimeout(r, 100));

const heavy: number[] = [];
const rareLag: number[] = [];
const started = performance.now();
const isRare = (id: string): boolean => Number(id.slice(1)) >= writers && Number(id.slice(1)) < writers + rare;
for (const node of nodes) {
  node.on('update', (m, changed) => {
    if (m.id === node.self.id) return;
    const now = performance.now();
    for (const k of changed) {
      const v = m.metadata[k];
      if (!v || !k.startsWith('k')) continue;
      const at = Number(v.slice(0, v.indexOf('|')));
      if (at < started) continue;
      (isRare(m.id) ? rareLag : heavy).push(now - at);
    }
  });
}
const pad = (t: number): string => `${t.toFixed(1)}|`.padEnd(100, '.');
const timers: NodeJS.Timeout[] = [];
for (let w = 0; w < writers; w++) {
  // 10 ms ticks, rate/100 writes each (set() is synchronous: the loop never waits).
  let debt = 0;
  timers.push(
    setInterval(() => {
      debt += rate / 100;
      for (; debt >= 1; debt--) nodes[w]!.set(`k${Math.floor(Math.random() * keys)}`, pad(performance.now()));
    }, 10),
  );
}
for (let r = 0; r < rare; r++)
  timers.push(
    setInterval(() => nodes[writers + r]!.set(`k${Math.floor(Math.random() * 10)}`, pad(performance.now())), 2000),
  );
await new Promise((r) => setTimeout(r, seconds * 1000));
for (const t of timers) clearInterval(t);
const dead = nodes.reduce((a, node) => a + node.state().dead.length, 0);
const stats = nodes.slice(0, writers).map((node) => node.stats().flowControl);
await Promise.all(nodes.map((node) => node.shutdown()));

const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.floor(p * s.length))] as number) : NaN;
};
const line = (name: string, xs: number[]): string =>
  `${name}: ${xs.length} values received, ms late median ${q(xs, 0.5).toFixed(0)} p99 ${q(xs, 0.99).toFixed(0)} max ${q(xs, 1).toFixed(0)}`;
process.stdout.write(
  [
    `${n} nodes, ${writers} writers x ${rate}/s over ${keys} keys, ${rare} rare writers, ${values['max-packet-bytes']}-byte packets, flow control ${values['flow-control']}, ${seconds} s`,
    line('heavy writers', heavy),
    line('rare writers', rareLag),
    `dead members seen: ${dead}`,
    `writers' allowed rate at the end: ${stats.map((s) => (s ? s.rate.toFixed(1) : '-')).join(' ')}; backlog ${stats.map((s) => (s ? s.backlog : '-')).join(' ')}`,
  ].join('\n') + '\n',
);
