/**
 * Protocol 7's switch and what protocol 6 leaves behind: a member that one node alone convicted by its
 * protocol-6 detector just before that node switched. In mode 7 no heartbeat revives it there and no report
 * tells it, so only a BEAT_DEAD_HERE probe (core/mode7.ts, healProbes) makes it refute. Replayable from a seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchOptions, simConfig } from '../../src/sim/options.js';
import { SimCluster } from '../../src/sim/cluster.js';
import { converged, upNodes as up } from '../../src/sim/partitions.js';
import type { Membership } from '../../src/core/membership.js';
import type { CoreEvent } from '../../src/core/types.js';

const NODES = 40;
const SEED = 3;

function boot(): { sim: SimCluster; deaths: { obs: number; t: number; id: string }[] } {
  const o = benchOptions({ nodes: NODES, liveness7: true, seed: SEED });
  const sim = new SimCluster(simConfig(o, o.seed));
  const deaths: { obs: number; t: number; id: string }[] = [];
  sim.onEvent((obs: number, e: CoreEvent, t: number) => {
    if (e.type === 'dead') deaths.push({ obs, t, id: e.node.id });
  });
  for (let i = 0; i < NODES; i++) sim.start(i, { idx: String(i) });
  assert.ok(
    sim.runUntilTrue(() => converged(sim), 30_000),
    'the cluster forms',
  );
  return { sim, deaths };
}

const holdsLive = (sim: SimCluster, obs: number, id: string): boolean =>
  sim.cores[obs]!.snapshot().live.some((v) => v.node.id === id);

test('mode 7 switch: a member convicted by protocol 6 just before the switch, at one node, is back there within seconds', () => {
  const watcher = 5;
  const victim = 23;
  const id = `node-${victim}`;
  // The instant the watcher switches, from the same seed without the conviction.
  const first = boot().sim;
  assert.ok(
    first.runUntilTrue(() => first.cores[watcher]!.livenessMode === 7, 90_000),
    'the watcher switches',
  );
  const switchAt = first.now;

  const { sim, deaths } = boot();
  // Half a round before its switch the watcher's protocol-6 detector convicts the victim (as an overloaded host's
  // late heartbeats would): too soon for two fresh heartbeats to revive it in mode 6 (REVIVAL_HEARTBEATS).
  sim.runUntil(switchAt - 500);
  assert.equal(sim.cores[watcher]!.livenessMode, 6);
  const membership = (sim.cores[watcher] as unknown as { membership: Membership }).membership;
  membership.convict(membership.slotOfId(id), 'suspected', sim.now);
  assert.ok(
    sim.runUntilTrue(() => sim.cores[watcher]!.livenessMode === 7, 10_000),
    'the watcher switches',
  );
  assert.equal(holdsLive(sim, watcher, id), false, 'still held dead at the switch');
  const switchedAt = sim.now;
  assert.ok(
    sim.runUntilTrue(() => holdsLive(sim, watcher, id), 30_000),
    `${id} back at the watcher within 30 s of its switch`,
  );
  const backS = (sim.now - switchedAt) / 1000;
  console.log(
    `# mode 7 switch: a member held dead by one node's protocol-6 detector back there ${backS.toFixed(1)} s after its switch`,
  );
  // Probed in the first rounds of mode 7: it refutes, and the refutation reaches the watcher by news.
  assert.ok(backS <= 5, `back after ${backS.toFixed(1)} s`);
  sim.runUntil(sim.now + 20_000);
  assert.ok(
    up(sim).every((i) => holdsLive(sim, i, id)),
    'every node holds it live',
  );
  assert.deepEqual(
    deaths.filter((d) => !(d.obs === watcher && d.id === id)).map((d) => `${d.obs}:${d.id}@${d.t}`),
    [],
    'no other death',
  );
});
