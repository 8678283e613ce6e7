/**
 * Protocol 7's liveness in the simulator: the core configured with `liveness7`, every member beating to its
 * neighbours and convicting by reports, state exchanged by hash. Replayable from a seed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { benchOptions, simConfig, type BenchOptions } from '../../src/sim/options.js';
import { SimCluster, simAddress } from '../../src/sim/cluster.js';
import { converged, runPartition, untilMode7, upNodes as up } from '../../src/sim/partitions.js';
import type { CoreEvent } from '../../src/core/types.js';
import { identityRef } from '../../src/core/identity.js';
import { DEFAULT_OBSERVERS, ObserverAssignment } from '../../src/core/observers.js';
import { reportSignedBytes } from '../../src/core/report-set.js';
import { simReportSigner } from '../../src/sim/report-signer.js';
import { REPORT_SILENT, type NodeDelta7 } from '../../src/wire/liveness-messages.js';
import type { PeerTable } from '../../src/core/peer-table.js';
import type { Membership } from '../../src/core/membership.js';

interface Logged {
  readonly obs: number;
  readonly t: number;
  readonly e: CoreEvent;
}

function boot(over: Partial<BenchOptions>): { sim: SimCluster; log: Logged[] } {
  const o = benchOptions({ nodes: 40, ...over });
  const sim = new SimCluster(simConfig(o, o.seed));
  const log: Logged[] = [];
  sim.onEvent((obs, e, t) => log.push({ obs, t, e }));
  for (let i = 0; i < o.nodes; i++) sim.start(i, { idx: String(i) });
  return { sim, log };
}

const falseDeaths = (log: Logged[], since: number, crashed: ReadonlySet<string>) =>
  log.filter((l) => l.e.type === 'dead' && l.t >= since && !crashed.has(l.e.node.id));

/** Node i's membership and its peer table (the core keeps them private). */
const membershipOf = (sim: SimCluster, i: number): Membership =>
  (sim.cores[i] as unknown as { membership: Membership }).membership;
const tableOf = (sim: SimCluster, i: number): PeerTable => membershipOf(sim, i).table;

test('mode 7: a cluster forms, stays quiet at beats only, and agrees on a crash within seconds', () => {
  const { sim, log } = boot({ liveness7: true });
  assert.ok(
    sim.runUntilTrue(() => converged(sim), 30_000),
    'every node sees every node live, with its values',
  );
  const formedAt = sim.now;
  const switchedAt = untilMode7(sim);
  assert.ok(switchedAt > 0, 'every node switches to mode 7');
  // A member heard of before its SPEAKS_KEY would count as an old node and make everyone fall back (gate rule 4).
  const fellBack = up(sim).filter((i) => sim.cores[i]!.livenessStatus(sim.now)!.fallbacks > 0);
  assert.deepEqual(fellBack, [], 'no node fell back while the cluster formed');
  console.log(`# mode 7, 40 nodes: every node in mode 7 at ${(switchedAt / 1000).toFixed(2)} s`);
  sim.runUntil(switchedAt + 10_000);
  sim.resetTraffic();
  const quietFrom = sim.now;
  sim.runUntil(quietFrom + 30_000);
  const perNode = sim.traffic().mean;
  console.log(`# mode 7, 40 nodes: formed at ${(formedAt / 1000).toFixed(2)} s, quiet ${perNode.toFixed(1)} B/node/s`);
  // Beats only: K = 4 neighbours on two rings, 18 B a beat with its envelope header, about 4 a second.
  assert.ok(perNode < 120, `quiet bytes/node/s ${perNode.toFixed(1)}`);
  assert.deepEqual(falseDeaths(log, 0, new Set()), [], 'nobody convicted while all are up');

  const victim = 17;
  const crashAt = sim.now;
  sim.crash(victim);
  const seen = () => up(sim).every((i) => sim.cores[i]!.snapshot().dead.some((v) => v.node.id === `node-${victim}`));
  assert.ok(sim.runUntilTrue(seen, 20_000), 'every node convicts the crashed one');
  const detection = (sim.now - crashAt) / 1000;
  console.log(`# mode 7, 40 nodes: a crash convicted by all after ${detection.toFixed(2)} s`);
  assert.ok(detection <= 8, `detection by all ${detection.toFixed(2)} s`);
  sim.runUntil(sim.now + 20_000);
  assert.deepEqual(falseDeaths(log, 0, new Set([`node-${victim}`])), [], 'no one else convicted');
});

test('mode 7: a write reaches every node within a few rounds, by news', () => {
  const { sim } = boot({ liveness7: true, seed: 2 });
  assert.ok(sim.runUntilTrue(() => converged(sim), 30_000));
  assert.ok(untilMode7(sim) > 0);
  sim.runUntil(sim.now + 5_000);
  const writeAt = sim.now;
  sim.cores[5]!.set('color', 'blue', sim.now);
  const everywhere = () =>
    up(sim).every((i) => sim.cores[i]!.snapshot().live.find((v) => v.node.id === 'node-5')?.values['color'] === 'blue');
  assert.ok(sim.runUntilTrue(everywhere, 10_000), 'the write arrives everywhere');
  const rounds = (sim.now - writeAt) / sim.config.intervalMs;
  console.log(`# mode 7, 40 nodes: a write everywhere after ${rounds.toFixed(2)} rounds`);
  assert.ok(rounds <= 3, `dissemination ${rounds.toFixed(2)} rounds`);
});

for (const shape of ['halves', '10/90', 'three ways'] as const) {
  test(`mode 7: a partition into ${shape} is seen on every side within 10 s, and heals within 5 s`, () => {
    const { sim } = boot({ liveness7: true, seed: 3 });
    assert.ok(sim.runUntilTrue(() => converged(sim), 30_000));
    assert.ok(untilMode7(sim) > 0);
    sim.runUntil(sim.now + 10_000);
    const r = runPartition(sim, shape, { partitionMs: 90_000 });
    assert.ok(!r.seenDeadS.includes(null), 'every side convicts every node across');
    const detection = Math.max(...(r.seenDeadS as number[]));
    assert.ok(detection <= 10, `partition seen everywhere after ${detection.toFixed(2)} s`);
    assert.ok(r.stillDeadAtHeal, 'nobody revived across the cut');
    assert.equal(r.deathsInsideSides, 0, 'nobody convicted inside its own side');
    assert.ok(r.wholeS !== null, 'whole again');
    assert.equal(r.deathsAfterHeal, 0, 'nobody convicted after the heal (core/returns.ts)');
    console.log(
      `# mode 7, 40 nodes, ${shape}: seen across after ${detection.toFixed(2)} s, whole ${r.wholeS.toFixed(2)} s after the heal`,
    );
    assert.ok(r.wholeS <= 5, `whole ${r.wholeS.toFixed(2)} s after the heal`);
  });
}

test('mode 7: one node alone, healed, gets every member back within a few rounds, not one per probe', () => {
  const { sim } = boot({ liveness7: true, seed: 1, nodes: 60 });
  assert.ok(sim.runUntilTrue(() => converged(sim), 30_000));
  assert.ok(untilMode7(sim) > 0);
  sim.runUntil(sim.now + 10_000);
  // Longer than the lone node's deafness hold (32 s), so that it holds the 59 others dead at the heal: each comes
  // back only by refuting its probe, and it is their only prober (healProbeCount; at 8 a round: 6.7 s).
  const r = runPartition(sim, 'one alone', { partitionMs: 45_000 });
  assert.ok(r.stillDeadAtHeal, 'each side held the other dead at the heal');
  assert.equal(r.deathsInsideSides, 0, 'nobody convicted inside its own side');
  assert.ok(r.wholeS !== null, 'whole again');
  assert.equal(r.deathsAfterHeal, 0, 'nobody convicted after the heal');
  console.log(`# mode 7, 60 nodes, one alone: whole ${r.wholeS.toFixed(2)} s after the heal`);
  assert.ok(r.wholeS <= 3, `whole ${r.wholeS.toFixed(2)} s after the heal`);
});

test('mode 7: one-way halves are seen on both sides, and no protocol-6 heartbeat revives a member across', () => {
  const { sim } = boot({ liveness7: true, seed: 1 });
  assert.ok(sim.runUntilTrue(() => converged(sim), 30_000));
  assert.ok(untilMode7(sim) > 0);
  sim.runUntil(sim.now + 10_000);
  const r = runPartition(sim, 'one-way halves', { partitionMs: 40_000 });
  // The side that is not heard still sends protocol-6 SYNs to the members it holds dead, carrying heartbeats: a
  // revival on those would undo the census's verdicts for as long as the cut lasts.
  assert.ok(!r.seenDeadS.includes(null), `every side convicts every node across (${JSON.stringify(r.seenDeadS)})`);
  assert.ok(r.stillDeadAtHeal, 'nobody revived across the cut');
  assert.equal(r.deathsInsideSides, 0, 'nobody convicted inside its own side');
  assert.ok(r.wholeS !== null && r.wholeS <= 5, `whole ${r.wholeS} s after the heal`);
  const seen = (r.seenDeadS as number[]).map((x) => x.toFixed(2)).join(' and ');
  // The side that is not heard hears the members it watches across: only their outbound records, written as late
  // as their echo deadlines, name them. A cut's census that took a present watcher's silence as vouching left them
  // live until a second census (docs/design/liveness-7.md, "Verdict").
  assert.ok(Math.max(...(r.seenDeadS as number[])) <= 10, `seen across after ${seen} s`);
  console.log(
    `# mode 7, 40 nodes, one-way halves: seen across after ${seen} s, whole ${r.wholeS.toFixed(2)} s after the heal`,
  );
});

test('mode 7 gate: a rolling upgrade from protocol 6, one node at a time, switches only at the end; no false deaths', () => {
  const n = 24;
  const o = benchOptions({ nodes: n, liveness7: true, seed: 4 });
  const sim = new SimCluster(simConfig(o, o.seed));
  const upgraded = new Set<number>();
  sim.speaks7 = (i) => upgraded.has(i);
  const log: Logged[] = [];
  sim.onEvent((obs, e, t) => log.push({ obs, t, e }));
  for (let i = 0; i < n; i++) sim.start(i, { idx: String(i) });
  assert.ok(sim.runUntilTrue(() => converged(sim), 30_000));
  sim.runUntil(sim.now + 10_000);
  sim.resetTraffic();
  sim.runUntil(sim.now + 20_000);
  const before = sim.traffic().mean;
  const restarts = new Set<string>();
  for (let i = 0; i < n; i++) {
    upgraded.add(i);
    restarts.add(`node-${i}`);
    sim.crash(i);
    sim.runUntil(sim.now + 500);
    sim.restart(i, { idx: String(i) });
    sim.runUntil(sim.now + 4_000);
    if (i < n - 1) {
      assert.ok(
        up(sim).every((j) => sim.cores[j]!.livenessMode === 6),
        `still mode 6 with ${n - i - 1} old nodes`,
      );
    }
  }
  const lastAt = sim.now;
  const switchedAt = untilMode7(sim, 90_000);
  assert.ok(switchedAt > 0, 'mode 7 once every node is upgraded');
  sim.runUntil(switchedAt + 10_000);
  sim.resetTraffic();
  sim.runUntil(sim.now + 20_000);
  const after = sim.traffic().mean;
  console.log(
    `# gate: ${n} nodes upgraded one by one; mode 7 everywhere ${((switchedAt - lastAt) / 1000).toFixed(1)} s ` +
      `after the last; ${before.toFixed(0)} -> ${after.toFixed(0)} B/node/s`,
  );
  assert.ok(after < before / 2, `bytes drop: ${before.toFixed(0)} -> ${after.toFixed(0)} B/node/s`);
  // A restart convicts the old incarnation ('superseded'); nothing else dies.
  const wrong = log.filter((l) => l.e.type === 'dead' && l.e.reason !== 'superseded' && l.e.reason !== 'left');
  const stray = wrong.filter((l) => !restarts.has(l.e.node.id) || l.t > lastAt);
  assert.deepEqual(
    stray.map((l) => `${l.obs}:${l.e.node.id}@${l.t}`),
    [],
    'no false deaths',
  );
  assert.ok(converged(sim));
});

/** 23 protocol-7 nodes of 24 started and in mode 7; the last (`old`) speaks only protocol 6 and is not started. */
function modeSevenWithOldNode(seed: number): { sim: SimCluster; log: Logged[]; old: number } {
  const n = 24;
  const o = benchOptions({ nodes: n, liveness7: true, seed });
  const sim = new SimCluster(simConfig(o, o.seed));
  const old = n - 1;
  sim.speaks7 = (i) => i !== old;
  const log: Logged[] = [];
  sim.onEvent((obs, e, t) => log.push({ obs, t, e }));
  for (let i = 0; i < n - 1; i++) sim.start(i, { idx: String(i) });
  assert.ok(untilMode7(sim) > 0);
  return { sim, log, old };
}

test('mode 7 gate: an old node joining a mode-7 cluster makes every node fall back at once; no false deaths', () => {
  const { sim, log, old } = modeSevenWithOldNode(5);
  sim.runUntil(sim.now + 5_000);
  const joinAt = sim.now;
  sim.start(old, { idx: String(old) });
  assert.ok(
    sim.runUntilTrue(() => up(sim).every((j) => sim.cores[j]!.livenessMode === 6), 10_000),
    'every node falls back to mode 6',
  );
  const fellBack = (sim.now - joinAt) / 1000;
  sim.runUntil(sim.now + 30_000);
  assert.ok(converged(sim), 'the old node and the rest see each other');
  assert.ok(
    up(sim).every((j) => sim.cores[j]!.livenessMode === 6),
    'and stay in mode 6',
  );
  for (const j of up(sim).filter((j) => j !== old)) {
    const status = sim.cores[j]!.livenessStatus(sim.now)!;
    assert.deepEqual(
      [status.mode, status.switches, status.fallbacks, status.gate.notSpeaking],
      [6, 1, 1, 1],
      `node ${j}: in mode 6 after one switch and one fallback, held by the one member not speaking 7`,
    );
  }
  assert.equal(sim.cores[old]!.livenessStatus(sim.now), null, 'the old node runs no gate');
  console.log(`# gate: an old node joins; every node in mode 6 ${fellBack.toFixed(2)} s later`);
  assert.deepEqual(
    log.filter((l) => l.e.type === 'dead').map((l) => `${l.obs}:${l.e.node.id}@${l.t}`),
    [],
    'no false deaths',
  );
});

test("mode 7: a node running mode 7 holds none of protocol 6's detector columns, from the switch on, a joiner admitted", () => {
  const n = 40;
  const o = benchOptions({ nodes: n, liveness7: true, seed: 8 });
  const sim = new SimCluster(simConfig(o, o.seed));
  const joiner = n - 1;
  for (let i = 0; i < joiner; i++) sim.start(i, { idx: String(i) });
  assert.ok(sim.runUntilTrue(() => converged(sim), 30_000));
  assert.ok(
    up(sim).every((i) => sim.cores[i]!.livenessMode === 6 && tableOf(sim, i).hasMode6Columns),
    'in mode 6 (the gate holds) every node runs the detector on its columns',
  );
  // A quarter round apart: through the switch and its switch period (heartbeats still reach members not yet
  // beating), then a joiner's admission (a protocol-6 delta, which starts a detector in mode 6).
  let inMode7 = 0;
  const watch = (ms: number): void => {
    const end = sim.now + ms;
    while (sim.now < end) {
      sim.runUntil(sim.now + 250);
      for (const i of up(sim)) {
        if (sim.cores[i]!.livenessMode !== 7) continue;
        inMode7++;
        assert.equal(tableOf(sim, i).hasMode6Columns, false, `node ${i} in mode 7 at ${sim.now} ms holds them`);
      }
    }
  };
  watch(40_000);
  assert.ok(
    up(sim).every((i) => sim.cores[i]!.livenessMode === 7),
    'every node switched',
  );
  sim.start(joiner, { idx: String(joiner) });
  watch(20_000);
  assert.ok(converged(sim), 'the joiner is in');
  assert.ok(
    up(sim).every((i) => sim.cores[i]!.livenessMode === 7),
    'in mode 7, the joiner too',
  );
  assert.ok(inMode7 > 0);
});

test('mode 7 gate: a fallback after minutes in mode 7 starts every detector afresh: no false death in the next 3 min, a crash at the fallback convicted by all', () => {
  const { sim, log, old } = modeSevenWithOldNode(9);
  // Long enough in mode 7 for every heartbeat birth held to be a minute stale.
  sim.runUntil(sim.now + 60_000);
  assert.ok(up(sim).every((i) => !tableOf(sim, i).hasMode6Columns));
  sim.start(old, { idx: String(old) });
  assert.ok(
    sim.runUntilTrue(() => up(sim).every((j) => sim.cores[j]!.livenessMode === 6), 10_000),
    'every node falls back to mode 6',
  );
  const fellBackAt = sim.now;
  // Crashed at the fallback: most nodes never hear a heartbeat of it again; only the restart's deadline convicts it.
  const victim = 3;
  sim.crash(victim);
  sim.runUntil(fellBackAt + 180_000);
  assert.ok(
    up(sim).every((j) => sim.cores[j]!.livenessMode === 6 && tableOf(sim, j).hasMode6Columns),
    'in mode 6 with the detector running',
  );
  const victimId = `node-${victim}`;
  const convictedBy = new Set(log.filter((l) => l.e.type === 'dead' && l.e.node.id === victimId).map((l) => l.obs));
  assert.deepEqual(
    up(sim).filter((j) => !convictedBy.has(j)),
    [],
    'every node convicts the node crashed at the fallback',
  );
  assert.deepEqual(
    falseDeaths(log, 0, new Set([victimId])).map((l) => `${l.obs}:${l.e.node.id}@${l.t}`),
    [],
    'no false deaths',
  );
});

test("mode 7: report sets forged by a member on behalf of a victim's observers are refused; the victim lives", () => {
  const n = 40;
  const o = benchOptions({ nodes: n, liveness7: true, seed: 6, gateHoldMs: 0 });
  const sim = new SimCluster(simConfig(o, o.seed));
  const log: Logged[] = [];
  sim.onEvent((obs, e, t) => log.push({ obs, t, e }));
  for (let i = 0; i < n; i++) sim.start(i, { idx: String(i) });
  assert.ok(sim.runUntilTrue(() => converged(sim), 30_000));
  sim.runUntil(sim.now + 10_000);
  const forger = 3;
  const victim = 17;
  const refOf = (i: number) =>
    identityRef({ id: `node-${i}`, generation: sim.generations[i] as number, address: simAddress(i) });
  // Every node's view is the whole cluster here, so every node assigns the victim the same observers.
  const assignment = ObserverAssignment.of(
    [...Array(n).keys()].map((i) => refOf(i)),
    DEFAULT_OBSERVERS,
  );
  const observers = assignment.observersOf(refOf(victim)).filter((ref) => ref !== refOf(forger));
  assert.ok(observers.length >= 3, `the victim has a quorum of observers besides the forger (${observers.length})`);
  const signer = simReportSigner(o.seed, forger, sim.generations[forger] as number);
  const maxVersionOf = (ref: number) =>
    sim.cores[0]!.snapshot().live.find((v) => identityRef(v.node) === ref)?.maxVersion ?? 0;
  const nodes: NodeDelta7[] = observers.map((observer) => {
    // Incarnation 1: nobody refuted in this quiet cluster. A version far above any the observer wrote.
    const content = {
      version: 1000,
      censusEpoch: 0,
      records: [{ subject: refOf(victim), incarnation: 1, kind: REPORT_SILENT }],
    };
    const signature = signer.sign(reportSignedBytes('sim', observer, 1, content));
    const max = maxVersionOf(observer);
    return {
      ref: observer,
      identity: null,
      incarnation: 1,
      lastGcVersion: 0,
      fromVersion: max,
      maxVersion: max,
      values: [],
      reports: { ...content, signature },
    };
  });
  const forgedAt = sim.now;
  for (let i = 0; i < n; i++) {
    if (i === forger) continue;
    sim.cores[i]!.receive(simAddress(forger), { type: 'ack7', clusterId: 'sim', nodes }, sim.now);
  }
  sim.runUntil(forgedAt + 20_000);
  const refused = up(sim).reduce(
    (sum, i) => sum + (sim.cores[i]!.livenessStatus(sim.now)?.drops['forged-report'] ?? 0),
    0,
  );
  console.log(`# mode 7, 40 nodes: ${nodes.length} forged report sets sent to every node, ${refused} refused`);
  // Every node but the forger refuses every set, except an observer its own (a claim about itself).
  assert.equal(refused, (n - 2) * nodes.length, 'every forged set refused');
  assert.deepEqual(
    log.filter((l) => l.e.type === 'dead' && l.t >= forgedAt).map((l) => `${l.obs}:${l.e.node.id}`),
    [],
    'nobody convicted',
  );
});

test('mode 7: the first node to switch, crashed at once (before any neighbour in mode 7 hears it), is convicted by all', () => {
  const { sim, log } = boot({ liveness7: true, seed: 8 });
  assert.ok(sim.runUntilTrue(() => converged(sim), 30_000));
  // Its beats of that round reach neighbours still in mode 6, which drop them; they switch within the round and
  // stop judging it by heartbeats, so none of them ever opens a window on it (docs/design/liveness-7.md, "A
  // neighbour never heard").
  const first = () => up(sim).find((i) => sim.cores[i]!.livenessMode === 7);
  assert.ok(
    sim.runUntilTrue(() => first() !== undefined, 60_000),
    'a node switches',
  );
  const victim = first()!;
  const crashAt = sim.now;
  sim.crash(victim);
  const id = `node-${victim}`;
  const seen = () => up(sim).every((i) => sim.cores[i]!.snapshot().dead.some((v) => v.node.id === id));
  assert.ok(sim.runUntilTrue(seen, 60_000), 'every node convicts the node it never heard in mode 7');
  const detection = (sim.now - crashAt) / 1000;
  const heardInMode6 = log.filter((l) => l.e.type === 'dead' && l.e.node.id === id && l.t < crashAt + 4_000);
  console.log(
    `# mode 7, 40 nodes: node ${victim} crashed as it switched, convicted by all after ${detection.toFixed(2)} s ` +
      `(${heardInMode6.length} by mode 6's detector)`,
  );
  // The wait (3 detection delays, 13.7 s) from when the watcher is in mode 7, a census and its direct checks, the
  // watchers' reports spreading.
  assert.ok(detection <= 25, `convicted by all after ${detection.toFixed(2)} s`);
  sim.runUntil(sim.now + 20_000);
  assert.deepEqual(falseDeaths(log, 0, new Set([id])), [], 'no one else convicted');
});

const holdsLive = (sim: SimCluster, obs: number, id: string): boolean =>
  sim.cores[obs]!.snapshot().live.some((v) => v.node.id === id);

test('mode 7 switch: a member convicted by protocol 6 just before the switch, at one node, is back there within seconds', () => {
  // One node alone convicted it by protocol 6's detector: in mode 7 no heartbeat revives it there and no report
  // tells it, so only a BEAT_DEAD_HERE probe (core/heal-probes.ts) makes it refute.
  const watcher = 5;
  const victim = 23;
  const id = `node-${victim}`;
  // The instant the watcher switches, from the same seed without the conviction.
  const first = boot({ liveness7: true, seed: 3 }).sim;
  assert.ok(
    first.runUntilTrue(() => converged(first), 30_000),
    'the cluster forms',
  );
  assert.ok(
    first.runUntilTrue(() => first.cores[watcher]!.livenessMode === 7, 90_000),
    'the watcher switches',
  );
  const switchAt = first.now;

  const { sim, log } = boot({ liveness7: true, seed: 3 });
  assert.ok(
    sim.runUntilTrue(() => converged(sim), 30_000),
    'the cluster forms',
  );
  // Half a round before its switch the watcher's protocol-6 detector convicts the victim (as an overloaded host's
  // late heartbeats would): too soon for two fresh heartbeats to revive it in mode 6 (REVIVAL_HEARTBEATS).
  sim.runUntil(switchAt - 500);
  assert.equal(sim.cores[watcher]!.livenessMode, 6);
  const membership = membershipOf(sim, watcher);
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
    falseDeaths(log, 0, new Set())
      .filter((l) => !(l.obs === watcher && l.e.node.id === id))
      .map((l) => `${l.obs}:${l.e.node.id}@${l.t}`),
    [],
    'no other death',
  );
});

test('mode 7: member views show the neighbour detector: a period and a silence for neighbours, none for the rest', () => {
  const { sim, log } = boot({ liveness7: true, seed: 6, nodes: 20 });
  assert.ok(sim.runUntilTrue(() => converged(sim), 30_000));
  const switchedAt = untilMode7(sim);
  assert.ok(switchedAt > 0);
  sim.runUntil(switchedAt + 10_000);
  const core = sim.cores[0]!;
  const { self, live } = core.snapshot(sim.now);
  // Self is among the live.
  const assignment = ObserverAssignment.of(live.map((v) => identityRef(v.node)));
  const neighbours = new Set(assignment.observersOf(identityRef(self)));
  let watched = 0;
  for (const v of live) {
    if (v.node.id === self.id) continue;
    if (!neighbours.has(identityRef(v.node))) {
      // Its liveness here rests on its neighbours' reports: protocol 6's frozen heartbeat clock would show it silent
      // since the switch, past its deadline.
      assert.deepEqual([v.silence, v.detector], [undefined, undefined], `${v.node.id} is not watched here`);
      continue;
    }
    watched++;
    const { silence, detector } = v;
    assert.ok(silence && detector, `${v.node.id}, a neighbour, has a silence and a period`);
    assert.ok(silence.silentForMs >= 0 && silence.silentForMs < 1500, `${v.node.id} heard within a beat or so`);
    assert.ok(
      silence.convictAfterMs > 3000 && silence.convictAfterMs < 8000,
      `reported after ${silence.convictAfterMs}`,
    );
    assert.ok(silence.phi < 1, `phi ${silence.phi}`);
    assert.ok(Math.abs(detector.meanIntervalMs - 1000) < 250, `a beat a round: period ${JSON.stringify(detector)}`);
    assert.equal(detector.lagAllowanceMs, 0, 'direct beats: no gossip lag');
  }
  assert.equal(watched, neighbours.size);
  assert.ok(watched >= DEFAULT_OBSERVERS && watched < live.length - 1, `${watched} of ${live.length - 1} watched`);

  // The silence that convicted a crashed neighbour (the runtime's detection metric) is its silence here.
  const victim = live.find((v) => neighbours.has(identityRef(v.node)) && v.node.id !== self.id)!.node;
  const crashAt = sim.now;
  sim.crash(Number(victim.id.slice('node-'.length)));
  assert.ok(
    sim.runUntilTrue(() => log.some((l) => l.obs === 0 && l.e.type === 'dead'), 20_000),
    'convicted at node 0',
  );
  const silentFor = sim.now - core.heartbeatBornAt(victim)!;
  assert.ok(silentFor >= sim.now - crashAt && silentFor < sim.now - crashAt + 1500, `silent for ${silentFor} ms`);
});
