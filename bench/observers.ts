/**
 * `node dist/bench/observers.js [--nodes 1000,10000] [--samples 30] [--seed 1]`: what a change to the live
 * view costs protocol 7's assignment (src/core/observers.ts) at N members. Per N, one JSON line of medians in
 * milliseconds over --samples changes:
 * - `eagerRebuildMs`: the from-scratch eager build (every own list and closure row, test/core/observers-reference.ts),
 *   which Liveness7 ran on every join, conviction and revival;
 * - `buildMs`: ObserverAssignment.of over the view plus this node's neighbours (what a large change still costs);
 * - `joinMs`, `deathMs`: ObserverAssignment.with for one member joining or dying, plus this node's neighbours
 *   and eligibility of K members near it (what Liveness7 asks after a change);
 * - `setViewJoinMs`: a whole Liveness7.setView that adds one member to an N-member view, the node's full share
 *   of a join (it also rehashes the census's membership, O(N log N) apart from the assignment).
 */
import { parseArgs } from 'node:util';
import { Liveness7 } from '../src/core/liveness7.js';
import { ObserverAssignment } from '../src/core/observers.js';
import { seededRandom } from '../src/core/random.js';
import { DEFAULT_FAILURE_DETECTOR } from '../src/core/types.js';
import { simReportSigner } from '../src/sim/report-signer.js';
import { INTERVAL_MS } from '../test/core/liveness7-net.js';
import { ReferenceAssignment } from '../test/core/observers-reference.js';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return Number((s[s.length >> 1] as number).toFixed(3));
}

function time(run: () => void): number {
  const t0 = performance.now();
  run();
  return performance.now() - t0;
}

function one(n: number, samples: number, seed: number): Record<string, unknown> {
  const rng = seededRandom(seed);
  const seen = new Set<number>();
  while (seen.size < n + samples) seen.add(Math.floor(rng.next() * 2 ** 48));
  const all = [...seen];
  const view = all.slice(0, n);
  const self = view[0] as number;
  const ask = (a: ObserverAssignment): void => {
    for (const o of a.observersOf(self)) a.isEligibleReporter(o, self);
  };
  const eager: number[] = [];
  const build: number[] = [];
  const join: number[] = [];
  const death: number[] = [];
  const setView: number[] = [];
  const base = ObserverAssignment.of(view);
  const node = new Liveness7(
    {
      self,
      clusterId: 'observers',
      incarnation: 0,
      gossipIntervalMs: INTERVAL_MS,
      failureDetector: DEFAULT_FAILURE_DETECTOR,
      signer: simReportSigner(seed, 0, 0),
    },
    0,
  );
  node.setView(view, 0);
  for (let i = 0; i < samples; i++) {
    const joiner = all[n + i] as number;
    eager.push(time(() => ReferenceAssignment.of(view, 4).observersOf(self)));
    build.push(time(() => ask(ObserverAssignment.of(view))));
    join.push(time(() => ask(base.with([joiner], []))));
    death.push(time(() => ask(base.with([], [view[1 + i] as number]))));
    setView.push(time(() => node.setView([...view, joiner], 0)));
    node.setView(view, 0);
  }
  return {
    n,
    samples,
    eagerRebuildMs: median(eager),
    buildMs: median(build),
    joinMs: median(join),
    deathMs: median(death),
    setViewJoinMs: median(setView),
  };
}

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000,10000' },
    samples: { type: 'string', default: '30' },
    seed: { type: 'string', default: '1' },
  },
});
for (const n of values.nodes.split(',').map(Number)) {
  console.log(JSON.stringify(one(n, Number(values.samples), Number(values.seed))));
}
