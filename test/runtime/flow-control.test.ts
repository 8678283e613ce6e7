/**
 * Flow control on real processes over loopback UDP: a node writing flat out with small packets.
 * Its writes are held and coalesced, readers' staleness stays within what the allowed rate
 * implies, and nobody is convicted.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { killAll, startCluster, waitFor, type NodeProc } from './procs.js';

const all: NodeProc[] = [];
after(() => killAll(all));

const INTERVAL_MS = 200;
const KEYS = 40;

test('a writer flat out with 600-byte packets: throttled, staleness bounded by backlog / allowed rate, no member convicted', async () => {
  const procs = await startCluster(4, () => ({ maxPacketBytes: 600, intervalMs: INTERVAL_MS }));
  all.push(...procs);
  const [writer, ...readers] = procs as [NodeProc, ...NodeProc[]];
  await waitFor(
    () => readers.every((r) => r.has((e) => e.event === 'live' && e.id === 'n0')),
    10_000,
    'readers see the writer',
  );
  const started = Date.now();
  // 40 keys rewritten every 5 ms: 8,000 set() calls a second. Values of 400 bytes put one in a 600-byte delta, so the
  // offer is far beyond what gossip carries even with readers forwarding to each other (with 60-byte values the four
  // nodes carried about 300 versions a second, the rate settled near it, and the overflow runs that cut it were rare).
  writer.command({ cmd: 'flood', count: KEYS, ms: 6000, bytes: 400 });
  const rates: number[] = [];
  let maxBacklog = 0;
  while (!writer.has((e) => e.event === 'flooded')) {
    const fc = (await writer.query('stats')).stats?.flowControl;
    if (fc) {
      rates.push(fc.rate);
      maxBacklog = Math.max(maxBacklog, fc.backlog);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const end = writer.events.find((e) => e.event === 'flooded')!.stats!.flowControl!;
  assert.ok(
    writer.has((e) => e.event === 'throttled'),
    'the application was told its writes are held back',
  );
  assert.ok(maxBacklog > 0 && maxBacklog <= KEYS, `backlog ${maxBacklog} within the ${KEYS} distinct keys`);
  assert.ok(end.overflows > 0 && end.decreases > 0, `the rate was cut on overflow (${JSON.stringify(end)})`);
  // A write waits at most backlog / rate to be released (keys keep their place), then spreads in a few rounds.
  const slowest = Math.min(...rates);
  const bound = (KEYS / slowest) * 1000 + 10 * INTERVAL_MS;
  let worst = 0;
  let samples = 0;
  for (const r of readers) {
    for (const e of r.events) {
      if (e.event !== 'update' || e.id !== 'n0' || e.at < started) continue;
      for (const k of e.keys ?? []) {
        const v = e.metadata?.[k];
        if (!v || !k.startsWith('f')) continue;
        worst = Math.max(worst, e.at - Number(v.split('.')[0]));
        samples++;
      }
    }
  }
  assert.ok(samples > 100, `readers saw ${samples} flood updates`);
  assert.ok(
    worst <= bound,
    `worst staleness ${worst} ms within ${Math.round(bound)} ms (${KEYS} keys / ${slowest.toFixed(1)} versions/s + 10 rounds)`,
  );
  // The last values arrive once the backlog drains.
  await waitFor(() => writer.has((e) => e.event === 'unthrottled'), 10_000, 'unthrottled');
  for (const p of procs) assert.ok(!p.has((e) => e.event === 'dead'), `${p.id} convicted nobody`);
  killAll(procs);
});
