/**
 * A mass join into a formed mode-7 cluster (docs/design/liveness-7.md, "Catching up"): 60 nodes start at once
 * beside 40 that run mode 7, with the runtime's default packet (1,400 bytes), where a reply carries about seven
 * introductions. Without catch-up a joiner took what one exchange carried and waited for drill-downs (two
 * differing beats and a quiet interval each): 2.84 to 2.89 rounds to a full view (seeds 1 to 3) against protocol 6's
 * 0.75; with catch-up 0.45 to 0.51. Replayable from a seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchOptions, simConfig } from '../../src/sim/options.js';
import { SimCluster, UP } from '../../src/sim/cluster.js';
import { MAX_ENVELOPE_OVERHEAD } from '../../src/wire/envelope-sizes.js';

const FORMED = 40;
const JOINERS = 60;
/** The runtime's default maxPacketBytes: the simulator's default budget is a whole UDP datagram. */
const PACKET_BYTES = 1400;

/** Rounds from the joiners' start until every node sees every node live; -1 past 20 rounds. */
function massJoin(protocol: 6 | 7, seed: number): number {
  const o = benchOptions({
    nodes: FORMED + JOINERS,
    seed,
    ...(protocol === 7 ? { liveness7: true, gateHoldMs: 0 } : {}),
  });
  const sim = new SimCluster({ ...simConfig(o, o.seed), payloadBudget: PACKET_BYTES - MAX_ENVELOPE_OVERHEAD });
  const up = (): number[] => [...Array(FORMED + JOINERS).keys()].filter((i) => sim.status[i] === UP);
  const full = (): boolean => {
    const nodes = up();
    return nodes.every((i) => sim.cores[i]!.snapshot().live.length === nodes.length);
  };
  for (let i = 0; i < FORMED; i++) sim.start(i, { idx: String(i) });
  assert.ok(sim.runUntilTrue(full, 30_000), 'the first 40 form');
  sim.runUntil(sim.now + 10_000);
  if (protocol === 7)
    assert.ok(
      up().every((i) => sim.cores[i]!.livenessMode === 7),
      'the formed cluster runs mode 7',
    );
  const start = sim.now;
  for (let i = FORMED; i < FORMED + JOINERS; i++) sim.start(i, { idx: String(i) });
  if (!sim.runUntilTrue(full, 20 * sim.config.intervalMs)) return -1;
  return (sim.now - start) / sim.config.intervalMs;
}

test('mode 7: 60 nodes joining a formed 40-node cluster at once see everyone within a round (protocol 6: 0.75)', () => {
  const rounds: number[] = [];
  for (const seed of [1, 2, 3]) {
    const r = massJoin(7, seed);
    console.log(
      `# mass join, seed ${seed}: protocol 7 ${r.toFixed(2)} rounds, protocol 6 ${massJoin(6, seed).toFixed(2)}`,
    );
    rounds.push(r);
  }
  for (const r of rounds) assert.ok(r >= 0 && r <= 1, `full view after ${r.toFixed(2)} rounds`);
});
