/**
 * Property tests of the core through the in-memory cluster (every message through the real codec, every
 * packet checked against its sender's byte budget): random cluster shapes, operation schedules and faults.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { coreConfig, MiniCluster } from './mini-cluster.js';

const addr = (i: number): string => `10.0.0.${i}:9111`;
const RUNS = { numRuns: 25, seed: 424242 };

/** Values every node holds for every live node, keyed by node id: equal everywhere once converged. */
function views(c: MiniCluster): string[] {
  return [...c.nodes.entries()]
    .filter(([a]) => !c.down.has(a))
    .map(([, core]) =>
      JSON.stringify(
        core
          .snapshot()
          .live.map((v) => [v.node.id, v.node.generation, v.maxVersion, v.values])
          .sort(),
      ),
    );
}

test('the byte budget is never exceeded, and clusters still converge', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 30 }),
      fc.integer({ min: 600, max: 8000 }),
      fc.integer({ min: 0, max: 400 }),
      fc.nat(1000),
      (n, budget, valueBytes, seed) => {
        const c = new MiniCluster(seed);
        for (let i = 1; i <= n; i++)
          c.add(coreConfig(i, { payloadBudget: budget }), [addr(1)], { a: 'x'.repeat(valueBytes), b: `${i}` });
        c.run(60_000); // MiniCluster throws on any packet over its sender's budget
        assert.ok(c.maxPacket <= budget);
        const v = views(c);
        assert.ok(
          v.every((x) => x === v[0]),
          'converged',
        );
        assert.equal(c.nodes.get(addr(1))!.snapshot().live.length, n);
      },
    ),
    RUNS,
  );
});

test('a key-value that cannot fit any packet is refused at set()', () => {
  const c = new MiniCluster(1);
  const core = c.add(coreConfig(1, { payloadBudget: 600 }));
  assert.throws(() => core.set('big', 'x'.repeat(600), 0), {
    name: 'ValueTooLargeError',
    code: 'SB_ERR_VALUE_TOO_LARGE',
    message: /the payload budget is 600 bytes/,
  });
});

test('under loss, duplication and reordering, random writes converge to the same state everywhere', () => {
  const op = fc.record({
    node: fc.integer({ min: 1, max: 8 }),
    kind: fc.constantFrom('set', 'delete', 'ttl'),
    key: fc.constantFrom('a', 'b', 'c', 'd'),
    value: fc.string({ maxLength: 8 }),
    at: fc.nat(20_000),
  });
  fc.assert(
    fc.property(
      fc.array(op, { minLength: 1, maxLength: 40 }),
      fc.double({ min: 0, max: 0.3, noNaN: true }),
      fc.double({ min: 0, max: 0.2, noNaN: true }),
      fc.nat(1000),
      (ops, loss, duplicate, seed) => {
        const c = new MiniCluster(seed, { loss, duplicate, jitterMs: 300 });
        for (let i = 1; i <= 8; i++) c.add(coreConfig(i), [addr(1)]);
        c.run(5000);
        for (const o of [...ops].sort((x, y) => x.at - y.at)) {
          c.run(Math.max(0, 5000 + o.at - c.now));
          const core = c.nodes.get(addr(o.node))!;
          if (o.kind === 'set') core.set(o.key, o.value, c.now);
          else if (o.kind === 'delete') core.delete(o.key, c.now);
          else core.setWithTtl(o.key, o.value, 3000, c.now);
        }
        c.faults = {}; // a quiet network: every view must settle on the same state
        c.run(30_000);
        const v = views(c);
        assert.ok(
          v.every((x) => x === v[0]),
          `diverged:\n${v.join('\n')}`,
        );
      },
    ),
    RUNS,
  );
});

test('deleted keys never come back after tombstone GC, even to a node cut off past it', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.constantFrom('k1', 'k2', 'k3', 'k4', 'k5'), { minLength: 1 }),
      fc.integer({ min: 6000, max: 30_000 }),
      fc.nat(1000),
      (deleted, cutMs, seed) => {
        const c = new MiniCluster(seed);
        for (let i = 1; i <= 5; i++) c.add(coreConfig(i, { tombstoneGracePeriodMs: 5000 }), [addr(1)]);
        const owner = c.nodes.get(addr(1))!;
        for (const k of ['k1', 'k2', 'k3', 'k4', 'k5']) owner.set(k, 'v', c.now);
        c.run(6000);
        c.partition([addr(4)], [1, 2, 3, 5].map(addr));
        for (const k of deleted) owner.delete(k, c.now);
        owner.set('after', 'cut', c.now);
        c.run(cutMs); // the tombstones are collected at 5 s
        c.heal();
        c.run(20_000);
        const resurrected = c.events.filter(
          (e) =>
            e.event.type === 'update' &&
            e.event.node.id === 'n1' &&
            e.event.keys.some((k) => (deleted as string[]).includes(k)) &&
            c.nodes
              .get(e.at)!
              .snapshot()
              .live.some((v) => v.node.id === 'n1' && deleted.some((d) => v.values[d] !== undefined)),
        );
        assert.deepEqual(
          resurrected.map((e) => e.at),
          [],
        );
        for (const core of c.nodes.values()) {
          const n1 = core.snapshot().live.find((v) => v.node.id === 'n1')!;
          for (const k of deleted) assert.equal(n1.values[k], undefined, `${core.self.id} still holds ${k}`);
          assert.equal(n1.values.after, 'cut');
        }
      },
    ),
    RUNS,
  );
});

test('a restart (new generation) supersedes the old one, even with stale gossip around', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 6 }),
      fc.integer({ min: 0, max: 8000 }),
      fc.nat(1000),
      (victim, downMs, seed) => {
        const c = new MiniCluster(seed);
        for (let i = 1; i <= 6; i++) c.add(coreConfig(i), [addr(1)], { gen: 'one' });
        c.run(6000);
        c.down.add(addr(victim));
        // A node cut off while the victim restarts keeps stale gossip about generation 1.
        const stale = victim === 6 ? 5 : 6;
        c.partition([addr(stale)], [1, 2, 3, 4, 5, 6].filter((i) => i !== stale).map(addr));
        c.run(downMs);
        c.add(coreConfig(victim, {}, 2), [addr(1)], { gen: 'two' });
        c.run(8000);
        c.heal();
        c.run(15_000);
        for (const core of c.nodes.values()) {
          const all = [...core.snapshot().live, ...core.snapshot().dead].filter((v) => v.node.id === `n${victim}`);
          if (core.self.id === `n${victim}`) continue;
          assert.deepEqual(
            all.map((v) => [v.node.generation, v.status, v.values.gen]),
            [[2, 'live', 'two']],
            `${core.self.id}`,
          );
        }
      },
    ),
    RUNS,
  );
});
