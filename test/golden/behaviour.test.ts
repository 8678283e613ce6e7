/**
 * The golden guard: seeded simulator scenarios whose event logs, every message's encoded bytes and
 * final views are pinned by hash. A refactor of the core or the codec must leave all of them
 * unchanged; a change of behaviour changes them, and goes in its own commit with re-measured figures
 * and the new hashes.
 *
 * On a mismatch the test prints the new digests; paste them only when the behaviour change is meant.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, type Hash } from 'node:crypto';
import { simConfig, type BenchOptions } from '../../src/sim/options.js';
import { SimCluster, type SimConfig } from '../../src/sim/cluster.js';
import { ScuttlebuttCore } from '../../src/core/core.js';
import { seededRandom } from '../../src/core/random.js';
import { encodeAny } from '../../src/wire/any.js';
import type { CoreConfig, CoreEvent, CoreMessage } from '../../src/core/types.js';
import { isLivenessMessage } from '../../src/wire/liveness-messages.js';
import { MAX_ENVELOPE_OVERHEAD } from '../../src/wire/envelope-sizes.js';

const BASE: BenchOptions = {
  nodes: 40,
  fanout: 3,
  intervalMs: 1000,
  loss: 0,
  burst: 1,
  runs: 1,
  seed: 7,
  window: 100,
  disseminations: 1,
  durationS: 0,
  latencyMs: 1,
  jitterMs: 2,
};

interface Fingerprint {
  events: string;
  /** Every message's bytes in the newest protocol version. */
  wire: string;
  /**
   * The same messages written in protocol 4, as a node of the previous release receives them: a
   * change that only adds protocol-5 fields leaves this hash alone. Protocol 7's liveness messages, which no
   * protocol-4 node is sent, are left out of it.
   */
  wire4: string;
  views: string;
  messages: number;
  bytes: number;
}

/** Hashes what a run shows the outside: events (who saw what, when), every message's bytes, and the final views. */
class Recorder {
  private readonly eventHash: Hash = createHash('sha256');
  private readonly wireHash: Hash = createHash('sha256');
  private readonly wire4Hash: Hash = createHash('sha256');
  messages = 0;
  bytes = 0;

  constructor(sim: SimCluster) {
    sim.onEvent((obs, e, t) => this.eventHash.update(`${obs} ${t.toFixed(3)} ${describe(e)}\n`));
    sim.onSend((from, to, message, t) => this.message(`${from}>${to}@${t.toFixed(3)}`, message));
  }

  message(label: string, message: CoreMessage): void {
    const bytes = encodeAny(message);
    this.wireHash.update(label);
    this.wireHash.update(bytes);
    if (!isLivenessMessage(message)) {
      this.wire4Hash.update(label);
      this.wire4Hash.update(encodeAny(message, 4));
    }
    this.messages++;
    this.bytes += bytes.length;
  }

  finish(sim: SimCluster): Fingerprint {
    const views = createHash('sha256');
    for (const core of sim.cores) {
      if (!core) continue;
      views.update(JSON.stringify(core.snapshot()));
      views.update(JSON.stringify(core.rejections()));
      views.update(`${core.localStalls} ${core.localDeafSpells} ${core.liveCount} ${core.memberCount}\n`);
    }
    return {
      events: short(this.eventHash),
      wire: short(this.wireHash),
      wire4: short(this.wire4Hash),
      views: short(views),
      messages: this.messages,
      bytes: this.bytes,
    };
  }
}

function describe(e: CoreEvent): string {
  const who = `${e.node.id}/${e.node.generation}`;
  if (e.type === 'dead') return `dead ${who} ${e.reason}`;
  if (e.type === 'update') return `update ${who} ${e.keys.join(',')}`;
  return `${e.type} ${who}`;
}

function short(h: Hash): string {
  return h.digest('hex').slice(0, 16);
}

function run(over: Partial<BenchOptions>, cfg: Partial<SimConfig>, script: (sim: SimCluster) => void): Fingerprint {
  const o = { ...BASE, ...over };
  const sim = new SimCluster({ ...simConfig(o, o.seed), ...cfg });
  const rec = new Recorder(sim);
  script(sim);
  return rec.finish(sim);
}

const value = (i: number, n: number): string => `v${i}-${'x'.repeat(n)}`;

/** Crash, pause, restart, graceful leave, TTL expiry, delete and tombstone GC, removal after the grace period. */
function lifecycle(sim: SimCluster): void {
  const n = sim.config.nodes;
  for (let i = 0; i < n; i++) sim.start(i, { idx: String(i), role: i % 3 === 0 ? 'db' : 'api' });
  sim.runUntil(12_000);
  for (let i = 0; i < 6; i++) sim.cores[i]!.set(`k${i}`, value(i, 40 * i), sim.now);
  sim.cores[3]!.setWithTtl('lease', 'held', 4000, sim.now);
  sim.runUntil(15_000);
  sim.crash(5);
  sim.pause(7, 6000);
  sim.cores[2]!.delete('k2', sim.now);
  sim.runUntil(30_000);
  sim.restart(5, { idx: '5', role: 'api', reborn: 'yes' });
  sim.runUntil(35_000);
  sim.leave(9);
  sim.runUntil(95_000);
}

/** Bursty loss with members up 0-24 h (low-bit heartbeats, restoration, retries), and a crash. */
function lossy(sim: SimCluster): void {
  for (let i = 0; i < sim.config.nodes; i++) sim.start(i, { idx: String(i) });
  sim.runUntil(20_000);
  sim.crash(11);
  for (let i = 0; i < 4; i++) sim.cores[i + 20]!.set('load', String(i / 10), sim.now);
  sim.runUntil(60_000);
}

/** 300 members on LAN-sized packets: runs from the cursor, bucket summaries, cut requests and deltas. */
function bootstrap(sim: SimCluster): void {
  for (let i = 0; i < sim.config.nodes; i++)
    sim.start(i, { idx: String(i), zone: `z${i % 4}`, blob: value(i, i % 50) });
  sim.runUntil(25_000);
}

const LAN_BUDGET = 1400 - MAX_ENVELOPE_OVERHEAD;

const PINNED: Record<string, Fingerprint> = {
  lifecycle: {
    events: 'c56afa2bb9dd8211',
    wire: '58d7004c5c5a0a3c',
    wire4: '2c88428ee266107b',
    views: 'c0f963c30a4ea7c9',
    messages: 19723,
    bytes: 3154782,
  },
  lossy: {
    events: '4c4156a3f6348b68',
    wire: 'e39275beda0fa0d2',
    wire4: '34c64d4a2c9688c0',
    views: 'f88c3d98f8e0da88',
    messages: 12984,
    bytes: 2172680,
  },
  bootstrap300: {
    events: '28b5f77f63d071cb',
    wire: '95f846613662c821',
    wire4: '9d130cdcb6f7d79c',
    views: '5f36a4305a17a6a4',
    messages: 70612,
    bytes: 61541175,
  },
  wrongCluster: {
    events: '643d5437104296e2',
    wire: 'fabd19c688c29bca',
    wire4: 'fabd19c688c29bca',
    views: '4ab961c9fd024aa8',
    messages: 2,
    bytes: 34,
  },
};

function check(name: string, got: Fingerprint): void {
  assert.deepEqual(got, PINNED[name], `${name} changed: ${JSON.stringify(got)}`);
}

test('golden: crash, pause, restart, leave, TTL and delete replay to the same events, bytes and views', () => {
  check('lifecycle', run({}, {}, lifecycle));
});

test('golden: bursty loss with members up 0-24 h replays to the same events, bytes and views', () => {
  check('lossy', run({ loss: 0.1, burst: 5, uptimeSpreadS: 86_400, seed: 31 }, {}, lossy));
});

test('golden: a 300-node bootstrap on 1,400-byte packets replays to the same events, bytes and views', () => {
  check('bootstrap300', run({ nodes: 300, uptimeSpreadS: 3600, seed: 3 }, { payloadBudget: LAN_BUDGET }, bootstrap));
});

test('golden: a foreign cluster is answered with wrongCluster, and nothing else changes', () => {
  const config = (clusterId: string, id: string, port: number): CoreConfig => ({
    clusterId,
    self: { id, generation: 1, address: `127.0.0.1:${port}` },
    fanout: 3,
    gossipIntervalMs: 1000,
    failureDetector: simConfig(BASE, 1).failureDetector,
    payloadBudget: LAN_BUDGET,
    tombstoneGracePeriodMs: 60_000,
  });
  const a = new ScuttlebuttCore(config('blue', 'a', 1), seededRandom(1), 0, { k: 'v' });
  const b = new ScuttlebuttCore(config('green', 'b', 2), seededRandom(2), 0);
  a.setSeeds(['127.0.0.1:2']);
  const rec = createHash('sha256');
  const rec4 = createHash('sha256');
  let messages = 0;
  let bytes = 0;
  const note = (m: CoreMessage): void => {
    const e = encodeAny(m);
    rec.update(e);
    if (!isLivenessMessage(m)) rec4.update(encodeAny(m, 4));
    messages++;
    bytes += e.length;
  };
  for (const syn of a.tick(1000)) {
    note(syn.message);
    for (const reply of b.receive('127.0.0.1:1', syn.message, 1001)) {
      note(reply.message);
      assert.deepEqual(a.receive('127.0.0.1:2', reply.message, 1002), []);
    }
  }
  for (const l of a.leave(1500)) note(l.message);
  const views = createHash('sha256').update(
    JSON.stringify([a.snapshot(), b.snapshot(), a.rejections(), b.rejections()]),
  );
  check('wrongCluster', {
    events: short(createHash('sha256').update(JSON.stringify([a.takeEvents(), b.takeEvents()]))),
    wire: short(rec),
    wire4: short(rec4),
    views: short(views),
    messages,
    bytes,
  });
});
