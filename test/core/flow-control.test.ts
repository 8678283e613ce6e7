/** The flow-control unit alone (property tests), and through the core (held writes, local view, TTL). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  DECREASE_FACTOR,
  fairShare,
  FlowControl,
  INCREASE_FRACTION,
  SHARE_ROUNDS,
  TRUST_FACTOR,
  USE_FLOOR,
  USE_HEADROOM,
  type FlowControlConfig,
} from '../../src/core/flow-control.js';
import { coreConfig, MiniCluster } from './mini-cluster.js';

const RUNS = { numRuns: 200, seed: 18 };
const CFG: FlowControlConfig = { enabled: true, initialRate: 5, minRate: 0.5, maxRate: 50 };

type Op =
  | { kind: 'write'; key: number; dt: number }
  | { kind: 'delta'; overflow: boolean; dt: number }
  | { kind: 'release'; dt: number };

const ops = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('write' as const), key: fc.nat(20), dt: fc.nat(300) }),
    fc.record({ kind: fc.constant('delta' as const), overflow: fc.boolean(), dt: fc.nat(300) }),
    fc.record({ kind: fc.constant('release' as const), dt: fc.nat(2000) }),
  ),
  { maxLength: 300 },
);

/** Runs ops against a FlowControl, publishing what it admits or releases into `published`. */
function drive(list: Op[]): {
  flow: FlowControl;
  published: Map<string, string>;
  latest: Map<string, string>;
  now: number;
  maxBacklog: number;
  distinct: Set<string>;
  rates: number[];
} {
  let now = 0;
  const flow = new FlowControl(CFG, 1000, now);
  const published = new Map<string, string>();
  const latest = new Map<string, string>();
  const distinct = new Set<string>();
  const rates: number[] = [];
  let maxBacklog = 0;
  let counter = 0;
  for (const op of list) {
    now += op.dt;
    if (op.kind === 'write') {
      const key = `k${op.key}`;
      const value = `v${counter++}`;
      latest.set(key, value);
      distinct.add(key);
      if (flow.admit(key, { value, tombstone: false, expiresAt: Infinity }, now)) published.set(key, value);
    } else if (op.kind === 'delta') {
      flow.noteDelta(op.overflow, now);
    } else {
      for (const [key, w] of flow.release(now)) published.set(key, w.value);
    }
    maxBacklog = Math.max(maxBacklog, flow.backlog);
    rates.push(flow.rate);
  }
  return { flow, published, latest, now, maxBacklog, distinct, rates };
}

test('flow control never drops the latest value of a key: once released, what is published is what was last written', () => {
  fc.assert(
    fc.property(ops, (list) => {
      const { flow, published, latest, now } = drive(list);
      // Enough time for every held key at the floor rate.
      const t = now + ((flow.backlog + 1) / CFG.minRate) * 1000 + 1000;
      for (const [key, w] of flow.release(t)) published.set(key, w.value);
      assert.equal(flow.backlog, 0);
      assert.deepEqual([...published].sort(), [...latest].sort());
    }),
    RUNS,
  );
});

test('the backlog is bounded by the number of distinct keys written, and the rate stays within [min, max]', () => {
  fc.assert(
    fc.property(ops, (list) => {
      const { maxBacklog, distinct, rates } = drive(list);
      assert.ok(maxBacklog <= distinct.size);
      for (const r of rates) assert.ok(r >= CFG.minRate && r <= CFG.maxRate, `rate ${r}`);
    }),
    RUNS,
  );
});

test('admit never blocks: a burst of 100,000 writes over 1,000 keys returns at once and holds at most 1,000 keys', () => {
  const flow = new FlowControl(CFG, 1000, 0);
  const started = performance.now();
  for (let i = 0; i < 100_000; i++)
    flow.admit(`k${i % 1000}`, { value: `${i}`, tombstone: false, expiresAt: Infinity }, i / 1000);
  assert.ok(flow.backlog <= 1000);
  // Generous: well under a millisecond per write on any machine, which a blocking admit could not be.
  assert.ok(performance.now() - started < 5000);
  assert.equal(flow.pending('k999')?.value, '99999', 'coalesced to the latest write');
});

test('release is paced by the allowed rate: a second at 5 versions/s lets out about 5, oldest-waiting first', () => {
  const flow = new FlowControl(CFG, 1000, 0);
  let admitted = 0;
  for (let i = 0; i < 50; i++)
    if (flow.admit(`k${i}`, { value: 'x', tombstone: false, expiresAt: Infinity }, 0)) admitted++;
  assert.equal(admitted, 5, 'the bucket holds one interval at the initial rate');
  const out = flow.release(1000);
  assert.equal(out.length, 5);
  assert.deepEqual(
    out.map(([k]) => k),
    ['k5', 'k6', 'k7', 'k8', 'k9'],
  );
});

test('AIMD: a run of overflows cuts the rate, at most once per hold period; underflows while held back raise it', () => {
  // A writer offering more than its allowance publishes at it, so each cut starts from the allowance.
  const flow = new FlowControl({ ...CFG, initialRate: 40 }, 1000, 0);
  let t = 0;
  const writeUntil = (end: number): void => {
    for (; t < end; t += 20) {
      flow.admit(`k${t}`, { value: 'x', tombstone: false, expiresAt: Infinity }, t);
      flow.release(t);
    }
  };
  writeUntil(5000);
  for (let i = 0; i < 8; i++) flow.noteDelta(true, t);
  assert.equal(flow.rate, 30, 'one cut of 0.75 in the hold period');
  writeUntil(8100);
  for (let i = 0; i < 4; i++) flow.noteDelta(true, t);
  assert.equal(flow.rate, 22.5);
  writeUntil(9000);
  for (let i = 0; i < 6; i++) flow.noteDelta(false, t);
  assert.equal(
    flow.rate,
    22.5 + INCREASE_FRACTION * 30,
    'an additive step of a fraction of the rate the last cut started from',
  );
  // A node that nothing held back does not grow (it would flood on its first burst).
  const idle = new FlowControl({ ...CFG, initialRate: 20 }, 1000, 0);
  for (let i = 0; i < 60; i++) idle.noteDelta(false, 4000);
  assert.equal(idle.rate, 20, 'no growth for a node that nothing held back');
});

test('a cut starts from the rate in use (at least a quarter of the start rate), not from an allowance never used', () => {
  const write = (flow: FlowControl, key: string, now: number): boolean =>
    flow.admit(key, { value: 'x', tombstone: false, expiresAt: Infinity }, now);
  const config = { ...CFG, initialRate: 100, maxRate: 1000 };
  // 100 versions/s allowed (the start rate), 20 published a second for 5 s: every write passes.
  const flood = new FlowControl(config, 1000, 0);
  for (let t = 0; t < 5000; t += 50) assert.ok(write(flood, `k${t}`, t));
  for (let i = 0; i < 4; i++) flood.noteDelta(true, 5000);
  assert.ok(
    Math.abs(flood.rate - DECREASE_FACTOR * USE_HEADROOM * 20) < 1,
    `cut from ${USE_HEADROOM} x the 20/s in use: ${flood.rate}`,
  );
  // Additive steps scale with where the cut started (2 x 20/s), not with the unused allowance.
  const cut = flood.rate;
  for (let i = 0; i < 50; i++) write(flood, `held${i}`, 5000);
  for (let i = 0; i < 6; i++) flood.noteDelta(false, 5100);
  assert.ok(
    Math.abs(flood.rate - (cut + (INCREASE_FRACTION * cut) / DECREASE_FACTOR)) < 1e-9,
    `one additive step of ${INCREASE_FRACTION} x where the cut started: ${cut} -> ${flood.rate}`,
  );
  // A node that never wrote, and one whose last write was an hour ago, keep room for a burst.
  const idle = new FlowControl(config, 1000, 0);
  for (let i = 0; i < 4; i++) idle.noteDelta(true, 5000);
  assert.equal(idle.rate, DECREASE_FACTOR * USE_FLOOR * 100);
  const once = new FlowControl(config, 1000, 0);
  write(once, 'status', 0);
  for (let i = 0; i < 4; i++) once.noteDelta(true, 3_600_000);
  assert.equal(once.rate, DECREASE_FACTOR * USE_FLOOR * 100);
  // A writer held to its allowance publishes at it, so the cut is the usual one.
  const held = new FlowControl({ ...CFG, initialRate: 10 }, 1000, 0);
  for (let t = 0; t <= 5000; t += 20) {
    write(held, `k${(t / 20) % 200}`, t);
    if (t % 100 === 0) held.release(t);
  }
  for (let i = 0; i < 4; i++) held.noteDelta(true, 5000);
  assert.equal(held.rate, 10 * DECREASE_FACTOR);
});

test('through the core: held writes show in the local view at once, gossip at the allowed rate, and all arrive', () => {
  const c = new MiniCluster(7);
  const flowControl: FlowControlConfig = { enabled: true, initialRate: 2, minRate: 1, maxRate: 2 };
  const a = c.add(coreConfig(1, { flowControl }));
  const b = c.add(coreConfig(2, { flowControl }), ['10.0.0.1:9111']);
  c.run(5000);
  for (let i = 0; i < 20; i++) a.set(`k${i}`, `v${i}`, c.now);
  a.setWithTtl('t', 'short', 1500, c.now);
  a.delete('k19', c.now);
  assert.equal(a.get('k18'), 'v18');
  assert.equal(a.get('k19'), undefined);
  assert.equal(a.snapshot().live.find((v) => v.node.id === a.self.id)!.values.k17, 'v17', 'local view at once');
  const stats = a.flowStats(c.now)!;
  assert.ok(stats.backlog >= 15, `held: ${stats.backlog}`);
  c.run(2000);
  const seen = (): Record<string, string> => b.snapshot().live.find((v) => v.node.id === a.self.id)!.values;
  const early = Object.keys(seen()).length;
  assert.ok(early < 12, `2 s at 2 versions/s lets few out, b holds ${early}`);
  c.run(20_000);
  const all = seen();
  assert.equal(Object.keys(all).length, 19, 'every key but the deleted one and the expired TTL key');
  assert.equal(all.k0, 'v0');
  assert.equal(all.t, undefined);
  assert.equal(a.flowStats(c.now)!.backlog, 0);
});

test('a write without a clock is dated by the last clock flow control saw', () => {
  const flow = new FlowControl({ ...CFG, initialRate: 1, minRate: 1, maxRate: 1 }, 1000, 500);
  flow.admit('a', { value: '1', tombstone: false, expiresAt: Infinity }, 500);
  flow.admit('b', { value: '2', tombstone: false, expiresAt: Infinity }, -Infinity);
  assert.equal(flow.stats(800).oldestWaitMs, 300);
});

test('fairShare: the pair keeps its sum; max-min fair by desire; each gets at least the floor', () => {
  fc.assert(
    fc.property(
      fc.double({ min: 0.5, max: 500, noNaN: true }),
      fc.double({ min: 0.5, max: 500, noNaN: true }),
      fc.double({ min: 0, max: 1000, noNaN: true }),
      fc.double({ min: 0, max: 1000, noNaN: true }),
      (pa, qa, pd, qd) => {
        const p = { allowed: pa, desired: pd };
        const q = { allowed: qa, desired: qd };
        const mine = fairShare(p, q, 0.5);
        const theirs = fairShare(q, p, 0.5);
        assert.ok(Math.abs(mine + theirs - (pa + qa)) < 1e-9 * (pa + qa), 'the sum is kept');
        assert.ok(mine >= Math.min(Math.max(0.5, pd), (pa + qa) / 2) - 1e-9, 'no less than its desire or half');
        if (Math.max(0.5, pd) + Math.max(0.5, qd) > pa + qa && pd >= (pa + qa) / 2 && qd >= (pa + qa) / 2)
          assert.ok(Math.abs(mine - theirs) < 1e-9 * (pa + qa), 'both want more than half: equal halves');
      },
    ),
    RUNS,
  );
});

test('rate sharing: only a node that held writes back lately shares; a stopped writer lends its share, a liar is capped', () => {
  const flow = new FlowControl({ ...CFG, initialRate: 2 }, 1000, 0);
  assert.equal(flow.advertised(0), null, 'never held back: nothing to share, the field stays off the wire');
  for (let i = 0; i < 10; i++) flow.admit(`k${i}`, { value: 'v', tombstone: false, expiresAt: Infinity }, 10 * i);
  const ad = flow.advertised(1000);
  assert.ok(ad && ad.allowed === 2 && ad.desired > 2, `held back, it shares: ${JSON.stringify(ad)}`);
  // A peer that wants nothing gives this writer its allowance (the sum is kept) ...
  flow.share({ allowed: 6, desired: 0 }, 1000);
  assert.equal(flow.rate, 8 - 0.5);
  // ... and one that claims an absurd allowance counts for at most TRUST_FACTOR times ours.
  flow.share({ allowed: 1e6, desired: 0 }, 1000);
  assert.ok(flow.rate <= (1 + TRUST_FACTOR) * 7.5, `rate ${flow.rate}`);
  // A writer that stopped and drained its backlog wants nothing: it lends what it has to a busy peer.
  flow.release(100_000);
  const idle = new FlowControl({ ...CFG, initialRate: 2 }, 1000, 0);
  for (let i = 0; i < 5; i++) idle.admit(`k${i}`, { value: 'v', tombstone: false, expiresAt: Infinity }, 0);
  idle.release(2000);
  idle.release(3000);
  assert.equal(idle.backlog, 0);
  idle.share({ allowed: 2, desired: 40 }, 5000);
  assert.equal(idle.rate, CFG.minRate, 'kept only the floor');
  assert.equal(
    idle.advertised(5000 + (SHARE_ROUNDS + 1) * 1000),
    null,
    'stops sharing SHARE_ROUNDS after it last held a write',
  );
  assert.equal(idle.stats(5000).shares, 1);
});
