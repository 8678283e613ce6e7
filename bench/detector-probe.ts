/**
 * `node dist/bench/detector-probe.js --nodes N [--steady-s S] [--seed X] [--window W] [--loss P]`
 *
 * A diagnostic for the failure detector at scale: bootstraps a simulated cluster, runs S simulated
 * seconds, crashes one node, and prints what every observer's detector had learned of it (quantiles of
 * mean period, its deviation and the lag allowance) beside when each observer convicted it. The
 * slowest observer sets "detection by all"; this shows why it is slow.
 */
import { parseArgs } from 'node:util';
import type { CoreEvent } from '../src/core/types.js';
import { simConfig } from '../src/sim/options.js';
import { SimCluster, UP } from '../src/sim/cluster.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string' },
    'steady-s': { type: 'string' },
    seed: { type: 'string' },
    window: { type: 'string' },
    loss: { type: 'string' },
  },
});
const n = Number(values.nodes ?? 1000);
const seed = Number(values.seed ?? 1);
const sim = new SimCluster(
  simConfig(
    {
      nodes: n,
      fanout: 3,
      intervalMs: 1000,
      loss: Number(values.loss ?? 0),
      burst: 1,
      runs: 1,
      seed,
      window: Number(values.window ?? 200),
      disseminations: 1,
      durationS: 0,
      latencyMs: 1,
      jitterMs: 2,
    },
    seed,
  ),
);
sim.countBytes = false;
const started = performance.now();
let victimId = '';
const convictedAt: number[] = [];
let falsePositives = 0;
sim.onEvent((_observer: number, e: CoreEvent, t: number) => {
  if (e.type !== 'dead') return;
  if (e.node.id === victimId) convictedAt.push(t);
  else falsePositives++;
});
for (let i = 0; i < n; i++) sim.start(i);
sim.runUntil(Number(values['steady-s'] ?? 15) * 1000);
const victim = sim.randomNode((i) => sim.status[i] === UP && i >= 3);
const identity = sim.cores[victim]!.self;
victimId = identity.id;

const quantiles = (xs: number[]): string => {
  const sorted = xs.sort((a, b) => a - b);
  return [0.5, 0.9, 0.99, 1]
    .map((p) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN))
    .join(' / ');
};
const mean: number[] = [];
const std: number[] = [];
const lag: number[] = [];
for (let i = 0; i < n; i++) {
  const d = i === victim ? undefined : sim.cores[i]?.member(identity)?.detector;
  if (!d) continue;
  mean.push(d.meanIntervalMs);
  std.push(d.stdIntervalMs);
  lag.push(d.lagAllowanceMs);
}
const crashedAt = sim.now;
sim.crash(victim);
sim.runUntilTrue(() => convictedAt.length >= n - 1, 120_000);
const after = convictedAt.map((t) => (t - crashedAt) / 1000).sort((a, b) => a - b);
process.stdout.write(
  [
    `${n} nodes, crash of ${victimId} at ${(crashedAt / 1000).toFixed(0)} s; what ${mean.length} observers had learned of it (median / p90 / p99 / max):`,
    `  mean period ms    ${quantiles(mean)}`,
    `  period std ms     ${quantiles(std)}`,
    `  lag allowance ms  ${quantiles(lag)}`,
    `convicted by ${after.length}: median observer ${after[after.length >> 1]?.toFixed(2)} s, all ${after[after.length - 1]?.toFixed(2)} s; ${falsePositives} false positives; wall ${((performance.now() - started) / 1000).toFixed(0)} s`,
  ].join('\n') + '\n',
);
