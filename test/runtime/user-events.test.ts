/**
 * User events between real processes over loopback UDP (test/runtime/fixtures/node.ts, 200 ms
 * rounds): every member hears each event once, in Lamport order per origin, with the time its
 * origin stamped; a coalescing burst delivers its newest only; the rate limit refuses with its reason.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { killAll, startCluster, waitFor, type NodeEvent, type NodeProc } from './procs.js';

const all: NodeProc[] = [];
after(() => killAll(all));

/** Time left for a late duplicate to show itself after every member heard the events: ten rounds and a digest each. */
const SETTLE_MS = 2000;

async function converged(procs: NodeProc[]): Promise<void> {
  await waitFor(
    async () =>
      (await Promise.all(procs.map((p) => p.query('state')))).every((e) => e.state?.live.length === procs.length),
    15_000,
    'all see all',
  );
}

const users = (p: NodeProc, name: string): NodeEvent[] => p.events.filter((e) => e.event === 'user' && e.name === name);
const sent = (p: NodeProc, name: string): NodeEvent[] => p.events.filter((e) => e.event === 'sent' && e.name === name);

test('five processes: each event reaches every member once, with its Lamport time, in order per origin', async () => {
  const procs = await startCluster(5);
  all.push(...procs);
  await converged(procs);
  procs[1]!.command({ cmd: 'broadcast', key: 'deploy', value: 'd', count: 3, coalesce: false });
  procs[3]!.command({ cmd: 'broadcast', key: 'reload', value: 'r', count: 2, coalesce: false });
  await waitFor(
    () => procs.every((p) => users(p, 'deploy').length >= 3 && users(p, 'reload').length >= 2),
    10_000,
    'every event everywhere',
  );
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const stamped = [...sent(procs[1]!, 'deploy'), ...sent(procs[3]!, 'reload')].map((e) => e.ltime).sort();
  assert.equal(stamped.length, 5);
  for (const p of procs) {
    const heard = [...users(p, 'deploy'), ...users(p, 'reload')];
    assert.deepEqual(
      heard.map((e) => e.ltime).sort(),
      stamped,
      `${p.id}: each event once, with the time its origin stamped`,
    );
    for (const origin of ['n1', 'n3']) {
      const times = heard.filter((e) => e.origin === origin).map((e) => e.ltime as number);
      assert.deepEqual(
        times,
        [...times].sort((a, b) => a - b),
        `${p.id}: ${origin}'s events in Lamport order`,
      );
    }
    assert.deepEqual(
      users(p, 'deploy').map((e) => e.payload),
      ['d', 'd-1', 'd-2'],
      `${p.id}: the payloads, in order`,
    );
    const stats = (await p.query('stats')).stats as unknown as { userEvents: { delivered: number; refused: number } };
    assert.equal(stats.userEvents.delivered, 5, `${p.id}: stats count the deliveries`);
    assert.equal(stats.userEvents.refused, 0);
  }
  killAll(procs);
});

test('five processes: a coalescing burst of 100 delivers only its newest, everywhere; past the burst, the rate limit refuses', async () => {
  const procs = await startCluster(5, () => ({ userEvents: { burst: 100, ratePerSecond: 1 } }));
  all.push(...procs);
  await converged(procs);
  procs[2]!.command({ cmd: 'broadcast', key: 'burst', value: 'v', count: 103 });
  await waitFor(() => procs.every((p) => users(p, 'burst').length >= 1), 10_000, 'the burst everywhere');
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const stamps = sent(procs[2]!, 'burst');
  assert.equal(stamps.length, 100, 'the burst allowance');
  const refused = procs[2]!.events.filter((e) => e.event === 'refused' && e.name === 'burst');
  assert.deepEqual(
    refused.map((e) => [e.code, e.reason]),
    Array(3).fill(['SB_ERR_USER_EVENT', 'rate-limited']),
    'the three past it refused, with the reason',
  );
  const newest = Math.max(...stamps.map((e) => e.ltime as number));
  for (const p of procs) {
    const heard = users(p, 'burst');
    assert.deepEqual(
      heard.map((e) => [e.ltime, e.payload, e.coalesce]),
      [[newest, 'v-99', true]],
      `${p.id}: only the newest of the burst`,
    );
  }
  killAll(procs);
});
