/**
 * `node dist/bench/partitions7.js [--nodes 200] [--seeds 1,2,3] [--partition-s 90] [--shapes halves,...] [--json]`:
 * protocol 7's partition targets in the simulator (docs/design/liveness-7.md, "Pitfalls"). For each shape and seed,
 * a cluster of N nodes in mode 7 from the start (`--gate-hold-ms 0`), formed and 10 s quiet, is cut for the partition
 * and healed (src/sim/partitions.ts runPartition). Per shape, over the seeds (min–max, median):
 *   seen      seconds from the cut until every node of every side holds every node across dead; for `one alone`,
 *             the rest (about the lone node) and the lone node (about the rest) apart;
 *   inside    `dead` events for a member of the observer's own side while cut (false deaths);
 *   whole     seconds from the heal until every node sees every node live with its values;
 *   after     `dead` events after the heal.
 * Targets: seen within 10 s (the lone node: within its deafness hold, 8 × (interval + pause)); whole within 5 s of
 * the heal after a 90 s partition; no false deaths.
 */
import { parseArgs } from 'node:util';
import { SimCluster } from '../src/sim/cluster.js';
import { benchOptions, simConfig } from '../src/sim/options.js';
import {
  converged,
  PARTITION_SHAPES,
  runPartition,
  untilMode7,
  type PartitionRun,
  type PartitionShape,
} from '../src/sim/partitions.js';
import { median } from './median.js';

const SEEN_TARGET_S = 10;
const WHOLE_TARGET_S = 5;

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '200' },
    seeds: { type: 'string', default: '1,2,3' },
    'partition-s': { type: 'string', default: '90' },
    shapes: { type: 'string', default: PARTITION_SHAPES.join(',') },
    json: { type: 'boolean', default: false },
  },
});
const nodes = Number(values.nodes);
const seeds = values.seeds.split(',').map(Number);
const partitionMs = Number(values['partition-s']) * 1000;
const shapes = values.shapes.split(',') as PartitionShape[];
for (const s of shapes) if (!PARTITION_SHAPES.includes(s)) throw new Error(`unknown shape ${s}`);

function oneRun(shape: PartitionShape, seed: number): PartitionRun & { seed: number } {
  const o = benchOptions({ nodes, seed, liveness7: true, gateHoldMs: 0 });
  const sim = new SimCluster(simConfig(o, o.seed));
  for (let i = 0; i < nodes; i++) sim.start(i, { idx: String(i) });
  if (!sim.runUntilTrue(() => converged(sim), 60_000)) throw new Error(`${shape}, seed ${seed}: not formed in 60 s`);
  if (untilMode7(sim) < 0) throw new Error(`${shape}, seed ${seed}: not in mode 7 everywhere`);
  sim.runUntil(sim.now + 10_000);
  return { seed, ...runPartition(sim, shape, { partitionMs }) };
}

interface Range {
  min: number;
  median: number;
  max: number;
}
/** Over the seeds; a run that never got there counts as Infinity. */
const range = (xs: readonly (number | null)[]): Range => {
  const v = xs.map((x) => x ?? Infinity);
  return { min: Math.min(...v), median: median(v), max: Math.max(...v) };
};
const fmt = (r: Range): string =>
  Number.isFinite(r.max)
    ? `${r.min.toFixed(2)}–${r.max.toFixed(2)} (${r.median.toFixed(2)})`
    : `${r.min.toFixed(2)}–never`;

interface ShapeSummary {
  shape: PartitionShape;
  nodes: number;
  seeds: number[];
  partitionS: number;
  /** `one alone`: the rest (about the lone node), then the lone node (about the rest); otherwise all sides. */
  seen: { who: string; s: Range; targetS: number }[];
  deathsInsideSides: number;
  whole: Range;
  deathsAfterHeal: number;
  /** Every side still held every node across dead at the heal, in every run. */
  stillDeadAtHeal: boolean;
  meetsTargets: boolean;
  runs: (PartitionRun & { seed: number })[];
}

function summarize(shape: PartitionShape, runs: (PartitionRun & { seed: number })[]): ShapeSummary {
  const hold = runs[0]!.deafnessHoldS;
  const seen =
    shape === 'one alone'
      ? [
          { who: 'the rest', s: range(runs.map((r) => r.seenDeadS[0]!)), targetS: SEEN_TARGET_S },
          { who: 'the lone node', s: range(runs.map((r) => r.seenDeadS[1]!)), targetS: hold },
        ]
      : [
          {
            who: 'every side',
            s: range(runs.map((r) => (r.seenDeadS.includes(null) ? null : Math.max(...(r.seenDeadS as number[]))))),
            targetS: SEEN_TARGET_S,
          },
        ];
  const deathsInsideSides = runs.reduce((a, r) => a + r.deathsInsideSides, 0);
  const deathsAfterHeal = runs.reduce((a, r) => a + r.deathsAfterHeal, 0);
  const whole = range(runs.map((r) => r.wholeS));
  return {
    shape,
    nodes,
    seeds,
    partitionS: partitionMs / 1000,
    seen,
    deathsInsideSides,
    whole,
    deathsAfterHeal,
    stillDeadAtHeal: runs.every((r) => r.stillDeadAtHeal),
    meetsTargets: seen.every((x) => x.s.max <= x.targetS) && deathsInsideSides === 0 && whole.max <= WHOLE_TARGET_S,
    runs,
  };
}

const out: ShapeSummary[] = [];
if (!values.json) {
  console.log(
    `${nodes} nodes, seeds ${seeds.join(',')}, ${partitionMs / 1000} s partitions; seconds min–max (median) over the seeds`,
  );
  console.log(
    '| shape | every node sees every node across dead, s | false deaths inside a side | whole after the heal, s | deaths after the heal | targets |',
  );
  console.log('|---|---|---|---|---|---|');
}
for (const shape of shapes) {
  const summary = summarize(
    shape,
    seeds.map((seed) => oneRun(shape, seed)),
  );
  out.push(summary);
  if (values.json) continue;
  const seen = summary.seen.map((x) => `${x.who}: ${fmt(x.s)} (target ${x.targetS})`).join('; ');
  console.log(
    `| ${shape} | ${seen}${summary.stillDeadAtHeal ? '' : ', revived before the heal'} | ${summary.deathsInsideSides} | ` +
      `${fmt(summary.whole)} | ${summary.deathsAfterHeal} | ${summary.meetsTargets ? 'met' : 'missed'} |`,
  );
}
if (values.json) console.log(JSON.stringify(out, null, 2));
