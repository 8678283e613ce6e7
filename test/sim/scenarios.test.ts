/** Scenario tests: the unchanged core in the simulator, at modest N, replayable from a seed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchOptions, simConfig, type BenchOptions } from '../../src/sim/options.js';
import { SimCluster, UP, type SimConfig } from '../../src/sim/cluster.js';
import type { CoreEvent } from '../../src/core/types.js';

const BASE: BenchOptions = benchOptions({ nodes: 24 });

interface Logged {
  obs: number;
  t: number;
  e: CoreEvent;
}

function boot(
  over: Partial<BenchOptions> = {},
  cfg: Partial<SimConfig> = {},
  values: (i: number) => Record<string, string> = (i) => ({ idx: String(i) }),
): { sim: SimCluster; log: Logged[] } {
  const o = { ...BASE, ...over };
  const sim = new SimCluster({ ...simConfig(o, o.seed), ...cfg });
  const log: Logged[] = [];
  sim.onEvent((obs, e, t) => log.push({ obs, t, e }));
  for (let i = 0; i < o.nodes; i++) sim.start(i, values(i));
  sim.runUntil(15_000);
  assertConverged(sim);
  return { sim, log };
}

function up(sim: SimCluster): number[] {
  return [...Array(sim.config.nodes).keys()].filter((i) => sim.status[i] === UP);
}

function assertConverged(sim: SimCluster): void {
  const nodes = up(sim);
  const reference = JSON.stringify(valuesSeenBy(sim, nodes[0] as number));
  for (const i of nodes) {
    const live = sim.cores[i]!.snapshot()
      .live.map((v) => v.node.id)
      .sort();
    assert.deepEqual(live, nodes.map((n) => `node-${n}`).sort(), `node-${i} sees the live set`);
    assert.equal(JSON.stringify(valuesSeenBy(sim, i)), reference, `node-${i} holds the same metadata`);
  }
}

function valuesSeenBy(sim: SimCluster, i: number): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const v of [...sim.cores[i]!.snapshot().live].sort((a, b) => a.node.id.localeCompare(b.node.id)))
    out[`${v.node.id}/${v.node.generation}`] = v.values;
  return out;
}

const deaths = (log: Logged[], since: number) => log.filter((l) => l.e.type === 'dead' && l.t >= since);

test('partition into halves: each side convicts the other; heal: one cluster, metadata intact, deletes not resurrected', () => {
  const { sim, log } = boot();
  sim.cores[2]!.set('doomed', 'x', sim.now);
  sim.runUntil(sim.now + 5000);
  sim.cores[2]!.delete('doomed', sim.now);
  sim.runUntil(sim.now + 5000);
  const a = [...Array(12).keys()];
  const b = a.map((x) => x + 12);
  const t0 = sim.now;
  sim.network.partition([a, b]);
  sim.runUntil(sim.now + 30_000);
  for (const i of a)
    for (const j of b)
      assert.ok(
        log.some((l) => l.obs === i && l.e.type === 'dead' && l.e.node.id === `node-${j}` && l.t >= t0),
        `node-${i} convicted node-${j}`,
      );
  for (const i of b)
    for (const j of a)
      assert.ok(
        log.some((l) => l.obs === i && l.e.type === 'dead' && l.e.node.id === `node-${j}` && l.t >= t0),
        `node-${i} convicted node-${j}`,
      );
  sim.network.heal();
  sim.runUntil(sim.now + 30_000);
  assertConverged(sim);
  for (const i of up(sim))
    assert.equal(sim.cores[i]!.snapshot().live.find((v) => v.node.id === 'node-2')!.values.doomed, undefined);
});

test('a restart with a new generation supersedes the old one everywhere', () => {
  const { sim, log } = boot();
  sim.cores[5]!.set('old-only', 'x', sim.now);
  sim.runUntil(sim.now + 5000);
  sim.crash(5);
  sim.runUntil(sim.now + 2000); // restarted before anyone convicted it
  const t0 = sim.now;
  sim.restart(5, { idx: '5', fresh: 'yes' });
  sim.runUntil(sim.now + 20_000);
  assertConverged(sim);
  for (const i of up(sim)) {
    const views = [...sim.cores[i]!.snapshot().live, ...sim.cores[i]!.snapshot().dead].filter(
      (v) => v.node.id === 'node-5',
    );
    assert.deepEqual(
      views.map((v) => [v.node.generation, v.values]),
      [[2, { idx: '5', fresh: 'yes' }]],
      `node-${i}`,
    );
  }
  assert.ok(
    !log.some((l) => l.t >= t0 && l.e.type === 'live' && l.e.node.id === 'node-5' && l.e.node.generation === 1),
  );
});

test('a node partitioned past tombstone GC gets a reset, not a resurrection', () => {
  const { sim } = boot({}, { tombstoneGracePeriodMs: 5000 });
  sim.cores[0]!.set('gone', 'soon', sim.now);
  sim.cores[0]!.set('kept', 'yes', sim.now);
  sim.runUntil(sim.now + 5000);
  const isolated = 17;
  const rest = up(sim).filter((i) => i !== isolated);
  sim.network.partition([rest, [isolated]]);
  sim.cores[0]!.delete('gone', sim.now);
  sim.cores[0]!.set('after', 'partition', sim.now);
  sim.runUntil(sim.now + 20_000); // the tombstone is collected meanwhile
  sim.network.heal();
  sim.runUntil(sim.now + 20_000);
  assertConverged(sim);
  const v = sim.cores[isolated]!.snapshot().live.find((x) => x.node.id === 'node-0')!.values;
  assert.deepEqual(v, { idx: '0', kept: 'yes', after: 'partition' });
});

test('TTL keys expire on every node; a graceful leave is seen at once', () => {
  const { sim, log } = boot();
  sim.cores[3]!.setWithTtl('lease', 'held', 5000, sim.now);
  sim.runUntil(sim.now + 3000);
  for (const i of up(sim))
    assert.equal(sim.cores[i]!.snapshot().live.find((v) => v.node.id === 'node-3')!.values.lease, 'held');
  sim.runUntil(sim.now + 6000);
  for (const i of up(sim))
    assert.equal(sim.cores[i]!.snapshot().live.find((v) => v.node.id === 'node-3')!.values.lease, undefined);
  const t0 = sim.now;
  sim.leave(9);
  sim.runUntil(sim.now + 100);
  const left = log.filter((l) => l.t >= t0 && l.e.type === 'dead' && l.e.node.id === 'node-9');
  assert.equal(left.length, 23);
  assert.ok(left.every((l) => l.e.type === 'dead' && l.e.reason === 'left'));
});

test('a paused node is convicted, convicts nobody itself, and comes back', () => {
  const { sim, log } = boot();
  const t0 = sim.now;
  sim.pause(4, 15_000);
  sim.runUntil(sim.now + 30_000);
  assert.equal(deaths(log, t0).filter((l) => l.e.node.id === 'node-4').length, 23);
  assert.deepEqual(
    deaths(log, t0)
      .filter((l) => l.obs === 4)
      .map((l) => l.e.node.id),
    [],
  );
  assertConverged(sim);
});

test('a node that hears nothing while memberships differ keeps its heartbeat spreading: it is not convicted', () => {
  // Nodes 24 and 25 join while node 5's inbound link is down, so node 5's membership differs from
  // everyone else's by two (one is read around: see oneMemberApart) and its compact digests cannot be
  // read; only its own sends carry its heartbeat. Fails (node 5 convicted by all) when a node that
  // hears nobody keeps sending compact digests.
  const o = { ...BASE, nodes: 26, uptimeSpreadS: 86_400 };
  const sim = new SimCluster(simConfig(o, o.seed));
  const log: Logged[] = [];
  sim.onEvent((obs, e, t) => log.push({ obs, t, e }));
  for (let i = 0; i < 24; i++) sim.start(i);
  sim.runUntil(15_000);
  const t0 = sim.now;
  sim.network.cutInbound([5]);
  sim.runUntil(t0 + 500);
  sim.start(24);
  sim.start(25);
  sim.runUntil(t0 + 12_000);
  assert.deepEqual(
    deaths(log, t0).map((l) => `${l.obs}->${l.e.node.id}`),
    [],
    'nobody convicted',
  );
  sim.network.heal();
  sim.runUntil(sim.now + 10_000);
  assertConverged(sim);
});

test('a node whose inbound link lets through only a peer as cut off as itself holds its convictions', () => {
  // Node 5 hears nothing but node 6's SYNs, and node 6 hears nothing at all: 6's digests bring 5
  // packets (so 5 never goes two rounds without one) but no news of anyone else. Fails (node 5
  // convicts every member but 6, as one node did under 10 % loss in bursts of 10) when deafness is
  // judged only by packets heard, not by answers to the exchanges 5 itself opens.
  const { sim, log } = boot({ nodes: 8, seed: 3 });
  const t0 = sim.now;
  sim.network.cutInbound([5], [6]);
  sim.network.cutInbound([6]);
  sim.runUntil(t0 + 15_000);
  assert.deepEqual(
    deaths(log, t0)
      .filter((l) => l.obs === 5)
      .map((l) => l.e.node.id),
    [],
    'node 5 convicted nobody',
  );
  assert.deepEqual(
    deaths(log, t0).map((l) => `${l.obs}->${l.e.node.id}`),
    [],
    'nobody convicted',
  );
  sim.network.heal();
  sim.runUntil(sim.now + 10_000);
  assert.deepEqual(
    deaths(log, t0).map((l) => `${l.obs}->${l.e.node.id}`),
    [],
  );
  assertConverged(sim);
  assert.ok(sim.cores[5]!.localDeafSpells >= 1, 'node 5 knew itself deaf');
});

test('same seed: identical event log; another seed: a different one', () => {
  const trace = (seed: number): string => {
    const { sim, log } = boot({ seed, loss: 0.05, nodes: 16 });
    sim.crash(7);
    sim.runUntil(sim.now + 15_000);
    return JSON.stringify(log.map((l) => [l.obs, Math.round(l.t * 1000), l.e.type, l.e.node.id]));
  };
  assert.equal(trace(3), trace(3));
  assert.notEqual(trace(3), trace(4));
});

test('10% random loss with reordering: converges, no false positives in 10 minutes', () => {
  const { sim, log } = boot({ loss: 0.1, jitterMs: 50 });
  const t0 = sim.now;
  for (let k = 0; k < 20; k++) sim.cores[k % 24]!.set(`k${k}`, `v${k}`, sim.now + k);
  sim.runUntil(sim.now + 600_000);
  assert.deepEqual(
    deaths(log, t0).map((l) => `${l.obs}->${l.e.node.id}`),
    [],
  );
  assertConverged(sim);
});

test('loss, reordering and duplication together: every write reaches every node exactly once as an update', () => {
  const { sim, log } = boot({ loss: 0.1, jitterMs: 200, seed: 9 }, {});
  sim.network.config.duplicate = 0.3;
  const t0 = sim.now;
  for (let k = 0; k < 12; k++) sim.cores[(k * 5) % 24]!.set(`dup${k}`, `v${k}`, sim.now);
  sim.runUntil(sim.now + 60_000);
  assertConverged(sim);
  for (let k = 0; k < 12; k++) {
    const w = (k * 5) % 24;
    // The writer's own core reports its local write too; count the other 23 observers.
    const seenBy = log
      .filter(
        (l) =>
          l.t >= t0 &&
          l.obs !== w &&
          l.e.type === 'update' &&
          l.e.node.id === `node-${w}` &&
          l.e.keys.includes(`dup${k}`),
      )
      .map((l) => l.obs);
    // A duplicate must not surface as a second update: the core applies each version once.
    assert.equal(seenBy.length, 23, `dup${k} updates`);
    assert.equal(new Set(seenBy).size, 23, `dup${k} reached every other node`);
  }
  assert.deepEqual(
    deaths(log, t0).map((l) => `${l.obs}->${l.e.node.id}`),
    [],
  );
});

test('members that outgrow one packet still bootstrap fast: the bucket summary introduces what a digest run cannot', () => {
  // 200 members at 1,368-byte packets: a full digest (about 11 bytes an entry) is cut to a run. Without
  // the summary a responder cannot tell which members the initiator lacks (docs/protocol.md, "Bucket summaries").
  const n = 200;
  const sim = new SimCluster({ ...simConfig({ ...BASE, nodes: n }, 7), payloadBudget: 1368 });
  const seen = new Uint32Array(n);
  let complete = 0;
  sim.onEvent((obs, e) => {
    if (e.type === 'live' && ++seen[obs]! === n - 1) complete++;
  });
  for (let i = 0; i < n; i++) sim.start(i);
  assert.ok(
    sim.runUntilTrue(() => complete === n, 4000),
    `${complete}/${n} nodes know everyone after 4 s`,
  );
  assertConverged(sim);
});

test('bytes on the wire are what the runtime seals: compressed below the encoded size, and no worse for a long-running cluster', () => {
  const traffic = (uptimeSpreadS: number): ReturnType<SimCluster['traffic']> => {
    const { sim } = boot({ nodes: 60, uptimeSpreadS });
    sim.resetTraffic();
    sim.runUntil(sim.now + 10_000);
    return sim.traffic();
  };
  const fresh = traffic(0);
  const aged = traffic(86_400);
  assert.equal(fresh.wireSampled, 60, 'every node is sampled in a small cluster');
  assert.ok(fresh.wireMean > 0 && fresh.wireMean < fresh.mean, `wire ${fresh.wireMean} vs encoded ${fresh.mean}`);
  // Heartbeats a day apart are 3-byte counters that DEFLATE cannot fold together; as low bits
  // (compact digests, positional bumps) they cost about what a fresh cluster's nearly equal ones do;
  // exact heartbeats would not stay within this bound (docs/protocol.md, "Heartbeats as low bits").
  assert.ok(aged.wireMean < 1.3 * fresh.wireMean, `aged wire ${aged.wireMean} vs fresh ${fresh.wireMean}`);
});
