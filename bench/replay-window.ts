/**
 * `node dist/bench/replay-window.js [--nodes N] [--seconds S] [--interval-ms MS]`: N library nodes
 * in this process, on loopback UDP with a keyring (LAN defaults otherwise), joined to the first;
 * after they converge, S seconds are measured. Prints what sizes the replay window (transport/replay.ts):
 * how many packets a node seals per second (one counter each, to all its peers: the rate at which
 * a stream moves), hence how long a packet may be overtaken before it falls below the window, and
 * what the windows saw: the deepest reordering accepted and any genuine packet dropped as a replay.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createScuttlebutt, type Scuttlebutt } from '../src/index.js';
import { WINDOW } from '../src/transport/replay.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '20' },
      seconds: { type: 'string', default: '20' },
      'interval-ms': { type: 'string' },
    },
  });
  const n = Number(values.nodes);
  const seconds = Number(values.seconds);
  if (!Number.isInteger(n) || n < 2) throw new Error(`--nodes must be an integer >= 2 (got "${values.nodes}")`);
  const key = randomBytes(32);
  const nodes: Scuttlebutt[] = [];
  try {
    for (let i = 0; i < n; i++) {
      nodes.push(
        await createScuttlebutt({
          node: { id: `r${i}`, gossipPublicAddress: '127.0.0.1:0' },
          listenAddress: '127.0.0.1:0',
          secretKeys: [key],
          ...(values['interval-ms'] ? { gossipIntervalMs: Number(values['interval-ms']) } : {}),
        }),
      );
    }
    const seed = nodes[0]!.boundAddress;
    await Promise.all(nodes.slice(1).map((x) => x.join([seed])));
    const t0 = Date.now();
    while (!nodes.every((x) => x.state().live.length === n)) {
      if (Date.now() - t0 > 60_000) throw new Error('no convergence in 60 s');
      await sleep(50);
    }
    const out0 = nodes.map((x) => x.stats().packetsOut);
    const start = Date.now();
    await sleep(seconds * 1000);
    const elapsed = (Date.now() - start) / 1000;
    const rates = nodes.map((x, i) => (x.stats().packetsOut - (out0[i] as number)) / elapsed).sort((a, b) => a - b);
    const stats = nodes.map((x) => x.stats());
    const drops = stats.reduce(
      (k, s) => k + (s.dropped['envelope:replayed'] ?? 0) + (s.dropped['envelope:below-window'] ?? 0),
      0,
    );
    const maxRate = rates.at(-1) as number;
    process.stdout.write(
      `${JSON.stringify({
        nodes: n,
        seconds: elapsed,
        packetsPerNodePerSecond: { median: rates[Math.floor(n / 2)], max: maxRate },
        windowPackets: WINDOW,
        windowSecondsAtMaxRate: WINDOW / maxRate,
        deepestReorder: Math.max(...stats.map((s) => s.replayWindows.deepestReorder)),
        replayDrops: drops,
        streamsHeld: Math.max(...stats.map((s) => s.replayWindows.streams)),
      })}\n`,
    );
  } finally {
    await Promise.all(nodes.map((x) => x.shutdown()));
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`replay-window: ${(err as Error).message}\n`);
  process.exit(1);
});
