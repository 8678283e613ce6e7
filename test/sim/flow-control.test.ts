/**
 * Flow control in the simulator: heavy writers at several times what gossip can carry, and nodes
 * that write rarely (a status change every 10 s). Without flow control the rare updates queue behind
 * the heavy writers' backlog in every delta (the stalest state goes first); with it the heavy writers
 * are held to what the network carries, and the rare updates spread at gossip speed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runWorkload, type WorkloadOptions } from '../../src/sim/workload.js';
import { simConfig, type BenchOptions } from '../../src/sim/options.js';
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
  // Without flow control the rare writers' one new version sorts behind every heavy backlog.
  assert.ok(
    r.lightStaleness && r.lightStaleness.mean < 2000,
    `rare updates' staleness ${JSON.stringify(r.lightStaleness)}`,
  );
  assert.ok(
    r.backlog > 0 && r.backlog <= OVERLOAD.keys,
    `backlog ${r.backlog} keys, at most the ${OVERLOAD.keys} distinct keys`,
  );
  assert.ok(
    r.allowedRate && r.allowedRate.max < OVERLOAD.writeRate,
    `writers held below their offered rate: ${JSON.stringify(r.allowedRate)}`,
  );
  assert.ok(r.fairness >= 0.95, `fairness ${r.fairness}`);
  assert.equal(r.falsePositives, 0);
  // Bounded: the last tenth's p99 (writes still in flight at the end aside) is no worse than the first's by much.
  const tenths = r.stalenessP99ByTenth;
  assert.ok((tenths[8] as number) < 2 * (tenths[0] as number), `p99 by tenth ${tenths.map(Math.round).join(' ')}`);
  // Every heavy write reaches every node within the bound the allowed rate sets: its key is
  // released within keys / rate of first waiting, then spreads in a few rounds (24 nodes, fanout 3).
  // Without flow control a hot key is overwritten in flight and some nodes keep an older version
  // for rounds on end, so the same run breaks that bound.
  const bound = (1000 * OVERLOAD.keys) / (r.allowedRate as { lowest: number }).lowest + 3 * OVERLOAD.intervalMs;
  assert.ok(
    r.staleness.max < bound,
    `heavy writers' worst staleness ${Math.round(r.staleness.max)} ms, bound ${Math.round(bound)} ms`,
  );
  const off = runWorkload({ ...OVERLOAD, flowControl: false });
  assert.ok(
    off.staleness.max > bound,
    `without flow control the worst staleness (${Math.round(off.staleness.max)} ms) should exceed the bound (${Math.round(bound)} ms)`,
  );
});

test('idle, flow control costs nothing: 50 nodes send the same bytes with it on and off', () => {
  const bytes = (on: boolean): number => {
    const o: BenchOptions = {
      nodes: 50,
      fanout: 3,
      intervalMs: 1000,
      loss: 0,
      burst: 1,
      runs: 1,
      seed: 3,
      window: 100,
      disseminations: 1,
      durationS: 0,
      latencyMs: 1,
      jitterMs: 2,
    };
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

test('rate sharing (protocol 5): when writers go idle, the others take over their share faster than local AIMD alone', () => {
  // 8 writers at several times what 800-byte packets carry; half stop 10 s into the measured run.
  const base: WorkloadOptions = {
    ...OVERLOAD,
    nodes: 32,
    writers: 8,
    lightWriters: 0,
    writeRate: 100,
    maxPacketBytes: 800,
    warmupS: 40,
    durationS: 30,
    idleWriters: 4,
    idleAtS: 10,
  };
  const gain = (rateSharing: boolean): { before: number; after: number; falsePositives: number } => {
    const r = runWorkload({ ...base, rateSharing });
    const a = r.allowedRateBySecond as number[];
    const mean = (xs: number[]): number => xs.reduce((x, y) => x + y, 0) / xs.length;
    // The writers that stop still drain their backlog for several seconds: compare 8-18 s after with the 10 s before.
    return { before: mean(a.slice(0, 10)), after: mean(a.slice(18, 28)), falsePositives: r.falsePositives };
  };
  const shared = gain(true);
  const local = gain(false);
  const msg = `allowed rate of the writers that keep writing: shared ${shared.before.toFixed(1)} -> ${shared.after.toFixed(1)}, local ${local.before.toFixed(1)} -> ${local.after.toFixed(1)}`;
  // Local AIMD climbs 5 % of its last peak a round; shared rates hand the share over within a few rounds
  // (docs/benchmarks.md, "Writers going idle").
  assert.ok(shared.after / shared.before > 1.15 * (local.after / local.before), msg);
  assert.equal(shared.falsePositives + local.falsePositives, 0);
});
