/**
 * node.ring() over real loopback UDP, nodes in this process: rings on every node agree on every owner once
 * the members converge, a tag change moves a member in or out of a filtered ring, and a crash (a node gone
 * silent, convicted by the failure detector) fires 'change' on every survivor with the dead node's ranges,
 * the same ranges everywhere.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScuttlebutt, ringPosition, type HashRing, type RingChange, type Scuttlebutt } from '../../src/index.js';
import { freePorts, loopbackConfig } from './procs.js';

const cfg = loopbackConfig;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}
const KEYS = Array.from({ length: 2000 }, (_, i) => `session:${i}`);
const ownersOf = (ring: HashRing): string => KEYS.map((k) => ring.owners(k, 2).join('+')).join(',');
const inRange = (r: RingChange['ranges'][number], pos: string): boolean =>
  r.start < r.end ? pos >= r.start && pos < r.end : r.start === r.end || pos >= r.start || pos < r.end;

test('rings agree across 4 nodes, follow tags, and a death fires change with the dead node’s ranges', async () => {
  const ports = freePorts(4);
  const nodes: Scuttlebutt[] = [];
  try {
    for (const [i, port] of ports.entries())
      nodes.push(await createScuttlebutt(cfg(`n${i}`, port), { role: i < 3 ? 'cache' : 'db' }));
    const caches = nodes.map((n) => n.ring({ filter: { tags: { role: 'cache' } }, replicas: 64 }));
    const everyone = nodes.map((n) => n.ring());
    await Promise.all(nodes.slice(1).map((n) => n.join([`127.0.0.1:${ports[0]}`])));
    await until(
      'every ring to hold its members',
      () =>
        caches.every((r) => r.members.join() === 'n0,n1,n2') &&
        everyone.every((r) => r.members.join() === 'n0,n1,n2,n3'),
      10_000,
    );
    const want = ownersOf(caches[0]!);
    for (const r of caches) assert.equal(ownersOf(r), want, 'every node computes the same owners');
    for (const r of everyone) assert.equal(ownersOf(r), ownersOf(everyone[0]!));
    assert.notEqual(ownersOf(everyone[0]!), want, 'the filter makes a different ring');

    // n3 takes the tag: it enters the filtered ring everywhere, its own node included.
    const joined = caches.map(() => [] as RingChange[]);
    caches.forEach((r, i) => r.on('change', (c) => joined[i]!.push(c)));
    nodes[3]!.set('role', 'cache');
    await until('n3 in every cache ring', () => caches.every((r) => r.members.join() === 'n0,n1,n2,n3'), 10_000);
    for (const changes of joined) assert.deepEqual(changes.at(-1)?.added, ['n3']);
    for (const r of caches) assert.equal(ownersOf(r), ownersOf(caches[0]!));
    caches.forEach((r) => r.removeAllListeners('change'));

    // n2 crashes: no leave is sent, the survivors convict it.
    const survivors = [0, 1, 3];
    const before = KEYS.map((k) => caches[0]!.owner(k));
    const share = caches[0]!.shares().get('n2') as number;
    const deaths: (RingChange | undefined)[] = [undefined, undefined, undefined, undefined];
    for (const i of survivors) caches[i]!.on('change', (c) => void (c.removed.includes('n2') && (deaths[i] = c)));
    caches[1]!.on('change', () => {
      throw new Error('a broken ring listener');
    });
    const listenerErrors = nodes[1]!.stats().errors.listener;
    await nodes[2]!.shutdown({ leave: false });
    await until('n2 dead in every survivor’s ring', () => survivors.every((i) => deaths[i] !== undefined), 20_000);
    const death = deaths[0] as RingChange;
    for (const i of survivors) assert.deepEqual(deaths[i], death, 'the same ranges moved on every survivor');
    assert.deepEqual([death.added, death.removed], [[], ['n2']]);
    assert.equal(nodes[1]!.stats().errors.listener, listenerErrors + 1, 'the throwing change listener was counted');
    assert.ok(Math.abs(death.moved - share) < 1e-9, `moved ${death.moved}, n2 owned ${share}`);
    assert.ok(death.ranges.length > 0 && death.ranges.every((r) => r.from === 'n2' && r.to !== 'n2'));
    KEYS.forEach((k, i) => {
      const range = death.ranges.find((r) => inRange(r, ringPosition(k)));
      if (before[i] === 'n2') assert.equal(range?.to, caches[0]!.owner(k), `${k} moved to its new owner`);
      else assert.equal(range, undefined, `${k} was not n2's and did not move`);
    });
    for (const i of survivors) caches[i]!.close();
    nodes[0]!.set('role', 'db');
    const tagged = (m: { id: string }): boolean => m.id === 'n0';
    await until(
      'n1 to see n0 leave the tag',
      () => !nodes[1]!.members({ tags: { role: 'cache' } }).some(tagged),
      10_000,
    );
    assert.deepEqual(caches[1]!.members, ['n0', 'n1', 'n3'], 'a closed ring no longer follows');
    assert.deepEqual(everyone[1]!.members, ['n0', 'n1', 'n3'], 'an open ring without a filter keeps n0');
  } finally {
    await Promise.all(nodes.map((n) => n.shutdown({ leave: false })));
  }
});
