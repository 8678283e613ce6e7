/**
 * Flow control in the simulator: heavy writers at several times what gossip can carry, and nodes
 * that write rarely (a status change every 10 s). Without flow control the rare updates queue behind
 * the heavy writers' backlog in every delta (the stalest state goes first); with it the heavy writers
 * are held to what the network carries, and the rare updates spread at gossip speed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runWorkload, type WorkloadOptions } from '../../src/sim/workload.js';
import { simConfig, type BenchOptions } from '../../src/sim/bench.js';
import { SimCluster } from '../../src/sim/cluster.js';
import { DEFAULT_FLOW_CONTROL } from '../../src/core/flow-control.js';

const OVERLOAD: WorkloadOptions = {
  nodes: 24,
  writers: 6,
  lightWriters: 4,
  // About 5x what 1,400-byte packets carry for 6 writers in 24 nodes (~30 versions/s each).
  writeRate: 150,
  keys: 100,
  valueBytes: 100,
  maxPacketBytes: 1400,
  flowControl: true,
  durationS: 20,
  warmupS: 10,
  seed: 1,
  fanout: 3,
  intervalMs: 1000,
  loss: 0,
};

test('overload: rare updates spread at gossip speed behind throttled heavy writers; backlog bounded, fair, no false positives', () => {
  const r = runWorkload(OVERLOAD);
  // Without flow control this run gives the rare writers a mean of 2.9 s (p99 5.3 s); with it 1.3 s.
  assert.ok(r.lightStaleness && r.lightStaleness.mean < 2000, `rare updates' staleness ${JSON.stringify(r.lightStaleness)}`);
  assert.ok(r.backlog > 0 && r.backlog <= OVERLOAD.keys, `backlog ${r.backlog} keys, at most the ${OVERLOAD.keys} distinct keys`);
  assert.ok(r.allowedRate && r.allowedRate.max < OVERLOAD.writeRate, `writers held below their offered rate: ${JSON.stringify(r.allowedRate)}`);
  assert.ok(r.fairness >= 0.95, `fairness ${r.fairness}`);
  assert.equal(r.falsePositives, 0);
  // Bounded: the last tenth's p99 (writes still in flight at the end aside) is no worse than the first's by much.
  const tenths = r.stalenessP99ByTenth;
  assert.ok((tenths[8] as number) < 2 * (tenths[0] as number), `p99 by tenth ${tenths.map(Math.round).join(' ')}`);
});

test('idle, flow control costs nothing: 50 nodes send the same bytes with it on and off', () => {
  const bytes = (on: boolean): number => {
    const o: BenchOptions = { nodes: 50, fanout: 3, intervalMs: 1000, loss: 0, burst: 1, runs: 1, seed: 3, window: 100, disseminations: 1, durationS: 0, latencyMs: 1, jitterMs: 2 };
    const sim = new SimCluster({ ...simConfig(o, 3), flowControl: on ? DEFAULT_FLOW_CONTROL : undefined });
    for (let i = 0; i < o.nodes; i++) sim.start(i, { role: `r${i % 3}` });
    sim.runUntil(10_000);
    sim.resetTraffic();
    sim.runUntil(30_000);
    return sim.bytesSent.reduce((a, b) => a + b, 0);
  };
  const off = bytes(false);
  assert.ok(off > 0);
  assert.equal(bytes(true), off);
});
