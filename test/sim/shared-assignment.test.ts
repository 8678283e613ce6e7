import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchOptions, simConfig } from '../../src/sim/options.js';
import { SimCluster } from '../../src/sim/cluster.js';
import { converged, untilMode7, upNodes as up } from '../../src/sim/partitions.js';
import type { ObserverAssignment } from '../../src/core/observers.js';

/** The observer assignment node i's mode 7 holds (internals: nothing public exposes it). */
function assignmentOf(sim: SimCluster, i: number): ObserverAssignment {
  const core = sim.cores[i] as unknown as {
    liveness: { active: { liveness: { view: { assignment: ObserverAssignment } } } };
  };
  return core.liveness.active.liveness.view.assignment;
}

test('simulator: nodes that agree on the live view hold one observer assignment between them', () => {
  const o = benchOptions({ nodes: 40, liveness7: true, gateHoldMs: 0 });
  const sim = new SimCluster(simConfig(o, o.seed));
  for (let i = 0; i < o.nodes; i++) sim.start(i);
  assert.ok(sim.runUntilTrue(() => converged(sim), 30_000));
  assert.ok(untilMode7(sim) > 0);
  sim.runUntil(sim.now + 5_000);
  const distinct = () => new Set(up(sim).map((i) => assignmentOf(sim, i)));
  assert.equal(distinct().size, 1, 'one assignment for 40 nodes with the same view');
  assert.equal([...distinct()][0]!.size, 40);
  sim.crash(7);
  const convicted = () => up(sim).every((i) => assignmentOf(sim, i).size === 39);
  assert.ok(sim.runUntilTrue(convicted, 30_000), 'every node drops the crashed one from its view');
  assert.equal(distinct().size, 1, 'and they share the new view’s assignment again');
});
