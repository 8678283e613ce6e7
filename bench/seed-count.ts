/**
 * `npx tsc -p tsconfig.json && node dist/bench/seed-count.js [N]`: steady-state bytes per node per
 * second in the simulator with 3 seeds per node (the benchmarks' setting) and with every member as a
 * seed (what DNS discovery of a headless Service returns), members up 0-24 h, three seeds of the
 * simulation each. The core talks to a seed in a round with probability seeds / members, so the
 * second costs about one exchange more per round; the runtime hands the core 3 (pickSeeds).
 */
import { SimCluster } from '../src/sim/cluster.js';
import { benchOptions, simConfig } from '../src/sim/options.js';

const n = Number(process.argv[2] ?? 100);
const o = benchOptions({ nodes: n, window: 200, disseminations: 0, uptimeSpreadS: 86_400 });
for (const seed of [1, 2, 3]) {
  const row: string[] = [];
  for (const seeds of [3, n]) {
    const sim = new SimCluster({ ...simConfig(o, seed), seeds });
    sim.wireSampleEvery = Math.max(1, Math.ceil(n / 200));
    for (let i = 0; i < n; i++) sim.start(i);
    sim.runUntil(60_000);
    sim.resetTraffic();
    sim.runUntil(120_000);
    const t = sim.traffic();
    row.push(`${seeds} seeds: ${Math.round(t.wireMean)} B/node/s on the wire`);
  }
  process.stdout.write(`${n} nodes, simulation seed ${seed}: ${row.join(', ')}\n`);
}
