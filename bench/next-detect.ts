/**
 * `node dist/bench/next-detect.js [--nodes 100] [--seed 1] [--loss 0.01] [--measure-s 30]`: what
 * ScuttlebuttCore.nextDetectAt costs on the packet path. The runtime asks it after every packet it receives
 * (src/runtime/mode7.ts, changedCore), to move its timer sooner when something became due; this times that call,
 * once after each packet any node of a seeded protocol-7 simulation receives (--loss throughout; formed, in mode 7,
 * 10 s on, then --measure-s simulated seconds). Prints one JSON line: the calls timed, and the median, 90th percentile
 * and mean ns per call less the timer's own cost (the median of an empty timed pair). The mean carries the
 * simulator's garbage collections that land in a timed call; the median does not. `receiveNs`: the median ns of the
 * receive call itself, for scale. Then `warmNs`: ns per call when each node is asked again and again with nothing
 * changed between (the walks' own cost, with what they read in the CPU's caches: the rest of a call after a packet
 * is reading that state from memory).
 */
import { parseArgs } from 'node:util';
import type { ScuttlebuttCore } from '../src/core/core.js';
import { SimCluster } from '../src/sim/cluster.js';
import { benchOptions, simConfig } from '../src/sim/options.js';
import { converged, untilMode7 } from '../src/sim/partitions.js';

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '100' },
    seed: { type: 'string', default: '1' },
    loss: { type: 'string', default: '0.01' },
    'measure-s': { type: 'string', default: '30' },
  },
});
const nodes = Number(values.nodes);
const o = benchOptions({ nodes, seed: Number(values.seed), liveness7: true, gateHoldMs: 0, loss: Number(values.loss) });
const sim = new SimCluster(simConfig(o, o.seed));
for (let i = 0; i < nodes; i++) sim.start(i, { idx: String(i) });
if (!sim.runUntilTrue(() => converged(sim), 60_000)) throw new Error('not formed in 60 s');
if (untilMode7(sim) < 0) throw new Error('not in mode 7 everywhere');
sim.runUntil(sim.now + 10_000);

const spent: number[] = [];
const timer: number[] = [];
const receiving: number[] = [];
let sink = 0;
for (const core of sim.cores) {
  if (!core) continue;
  const receive = core.receive.bind(core);
  core.receive = (...args: Parameters<ScuttlebuttCore['receive']>) => {
    const r0 = process.hrtime.bigint();
    const out = receive(...args);
    const now = args[2];
    const t0 = process.hrtime.bigint();
    sink += core.nextDetectAt(now);
    const t1 = process.hrtime.bigint();
    const t2 = process.hrtime.bigint();
    spent.push(Number(t1 - t0));
    timer.push(Number(t2 - t1));
    receiving.push(Number(t0 - r0));
    return out;
  };
}
sim.runUntil(sim.now + Number(values['measure-s']) * 1000);
// Warm: each node asked WARM_CALLS times running with nothing changed between (what a packet that changes nothing
// the instant depends on leaves), the walks' own cost without the cache misses of a call after a packet.
const WARM_CALLS = 2000;
let warmNs = 0n;
for (const core of sim.cores) {
  if (!core) continue;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < WARM_CALLS; k++) sink += core.nextDetectAt(sim.now);
  warmNs += process.hrtime.bigint() - t0;
}
const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.floor(q * (xs.length - 1))]!;
const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const timerNs = quantile(timer, 0.5);
console.log(
  JSON.stringify({
    nodes,
    seed: o.seed,
    calls: spent.length,
    medianNs: quantile(spent, 0.5) - timerNs,
    p90Ns: quantile(spent, 0.9) - timerNs,
    meanNs: Math.round(mean(spent) - mean(timer)),
    timerNs,
    receiveNs: quantile(receiving, 0.5) - timerNs,
    warmNs: Number((Number(warmNs) / (WARM_CALLS * nodes)).toFixed(1)),
    finite: Number.isFinite(sink),
  }),
);
