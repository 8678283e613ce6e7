/**
 * User events between real processes over loopback UDP (test/runtime/fixtures/node.ts, 200 ms
 * rounds): every member hears each event once, in Lamport order per origin, with the time its
 * origin stamped; a coalescing burst delivers its newest only; the rate limit refuses with its reason;
 * and, in one process, the API's edges (the clock floor, config limits, a closed node).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createScuttlebutt, type UserEvent } from '../../src/index.js';
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
  const sentAt = Math.min(...[...sent(procs[1]!, 'deploy'), ...sent(procs[3]!, 'reload')].map((e) => e.at));
  const lastAt = Math.max(...procs.flatMap((p) => [...users(p, 'deploy'), ...users(p, 'reload')].map((e) => e.at)));
  process.stdout.write(`# 5 events, 5 processes: the last delivery ${lastAt - sentAt} ms after the first send\n`);
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

test('in one process: the configured clock is a floor, limits are validated, and a closed node refuses', async () => {
  const node = await createScuttlebutt({
    clusterId: 'events-api',
    node: { id: 'solo', gossipPublicAddress: '127.0.0.1:0' },
    listenAddress: '127.0.0.1:0',
    lamportClocks: { event: 500 },
    userEvents: { maxPayloadBytes: 8 },
  });
  try {
    const heard: UserEvent[] = [];
    node.on('user', () => {
      throw new Error('a listener that throws');
    });
    node.on('user', (e) => heard.push(e));
    assert.deepEqual(node.broadcast('deploy', 'v1', { coalesce: false }), { name: 'deploy', ltime: 501 });
    assert.equal(node.lamportClocks().event, 501);
    assert.throws(() => node.broadcast('deploy', 'nine bytes'), { code: 'SB_ERR_USER_EVENT', reason: 'too-large' });
    assert.throws(() => node.broadcast(''), { name: 'UserEventError', reason: 'bad-name' });
    await waitFor(() => heard.length === 1, 2000, 'its own event delivered to it');
    assert.equal(new TextDecoder().decode(heard[0]!.payload), 'v1');
    assert.equal(heard[0]!.origin, 'solo');
    assert.equal(node.stats().errors.listener, 1, 'the thrower counted; the next listener still heard it');
    assert.deepEqual(
      { ...node.stats().userEvents },
      { sent: 1, delivered: 1, duplicates: 0, coalesced: 0, refused: 2, expired: 0, strangers: 0 },
    );
  } finally {
    await node.shutdown();
  }
  assert.throws(() => node.broadcast('late'), { code: 'SB_ERR_USER_EVENT', reason: 'closed' });
  await assert.rejects(
    createScuttlebutt({
      listenAddress: '127.0.0.1:0',
      userEvents: { maxPayloadBytes: 100_000, ratePerSecond: 0, burst: 0.5 },
      lamportClocks: { event: -1 },
    }),
    (err: { code?: string; problems?: string[] }) =>
      err.code === 'SB_ERR_CONFIG' &&
      ['userEvents.maxPayloadBytes', 'userEvents.ratePerSecond', 'userEvents.burst', 'lamportClocks.event'].every(
        (field) => err.problems!.some((p) => p.startsWith(field)),
      ),
  );
});
