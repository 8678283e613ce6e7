/**
 * Real processes over real loopback UDP: each node is a child process (test/runtime/fixtures/node.ts)
 * gossiping every 200 ms; faults are real signals.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { converged, killAll, liveIds, type NodeEvent, NodeProc, startCluster, waitFor } from './procs.js';

const all: NodeProc[] = [];
after(() => killAll(all));

async function cluster(n: number, extra?: (i: number) => Record<string, unknown>): Promise<NodeProc[]> {
  const procs = await startCluster(n, extra);
  all.push(...procs);
  return procs;
}

const sawDead = (p: NodeProc, id: string, since = 0) =>
  p.has((e) => e.event === 'dead' && e.id === id && e.at >= since);

test('six nodes converge, and metadata set on one reaches all', async () => {
  const procs = await cluster(6);
  await converged(procs);
  procs[2]!.command({ cmd: 'set', key: 'color', value: 'green' });
  await waitFor(
    () =>
      procs.every(
        (p) => p === procs[2] || p.has((e) => e.event === 'update' && e.id === 'n2' && e.metadata?.color === 'green'),
      ),
    5000,
    'color=green everywhere',
  );
  killAll(procs);
});

test('SIGKILL: all others see it dead, then removed; a restart is live again with fresh metadata only', async () => {
  const procs = await cluster(5, (i) => ({ metadata: { idx: String(i), ...(i === 3 ? { stale: 'yes' } : {}) } }));
  await converged(procs);
  const victim = procs[3]!;
  const killedAt = Date.now();
  victim.kill('SIGKILL');
  const others = procs.filter((p) => p !== victim);
  await waitFor(() => others.every((p) => sawDead(p, 'n3')), 10_000, 'n3 dead everywhere');
  const detection =
    Math.max(...others.map((p) => (p.events.find((e) => e.event === 'dead' && e.id === 'n3') as NodeEvent).at)) -
    killedAt;
  await waitFor(
    () => others.every((p) => p.has((e) => e.event === 'removed' && e.id === 'n3')),
    10_000,
    'n3 removed everywhere',
  );
  const restarted = new NodeProc({ ...victim.args, metadata: { idx: '3', fresh: 'yes' } });
  all.push(restarted);
  await waitFor(() => restarted.has((e) => e.event === 'ready'), 10_000, 'restart ready');
  const gen2 = restarted.events.find((e) => e.event === 'ready')!.generation;
  await converged([...others, restarted]);
  for (const p of others) {
    const n3 = (await p.query('state')).state!.live.find((m) => m.id === 'n3')!;
    assert.equal(n3.generation, gen2, `${p.id} sees the new generation`);
    assert.deepEqual(n3.metadata, { idx: '3', fresh: 'yes' }, `${p.id} holds nothing stale`);
  }
  assert.ok(detection < 6000, `detected by all in ${detection} ms`);
  killAll([...procs, restarted]);
});

test('graceful shutdown: peers see it dead because it left, not because it went silent', async () => {
  const procs = await cluster(4);
  await converged(procs);
  const leaving = procs[1]!;
  leaving.command({ cmd: 'shutdown' });
  const others = procs.filter((p) => p !== leaving);
  await waitFor(
    () => others.every((p) => p.has((e) => e.event === 'dead' && e.id === 'n1')),
    10_000,
    'n1 dead everywhere',
  );
  for (const p of others)
    assert.deepEqual(
      p.events.filter((e) => e.event === 'dead' && e.id === 'n1').map((e) => e.reason),
      ['left'],
      `${p.id}: n1 left`,
    );
  await waitFor(() => leaving.exited, 3000, 'leaver exits');
  killAll(procs);
});

test('SIGSTOP past detection then SIGCONT: dead, then live again; the stopped node convicts nobody', async () => {
  const procs = await cluster(4);
  await converged(procs);
  const sleeper = procs[0]!;
  const stoppedAt = Date.now();
  sleeper.kill('SIGSTOP');
  const others = procs.filter((p) => p !== sleeper);
  await waitFor(() => others.every((p) => sawDead(p, 'n0', stoppedAt)), 10_000, 'n0 dead everywhere');
  await new Promise((r) => setTimeout(r, 1000));
  const resumedAt = Date.now();
  sleeper.kill('SIGCONT');
  await waitFor(
    () => others.every((p) => p.has((e) => e.event === 'live' && e.id === 'n0' && e.at >= resumedAt)),
    10_000,
    'n0 live again everywhere',
  );
  await new Promise((r) => setTimeout(r, 2000));
  const falseDeaths = sleeper.events.filter((e) => e.event === 'dead' && e.at >= stoppedAt);
  assert.deepEqual(
    falseDeaths.map((e) => e.id),
    [],
    'the resumed node declared nobody dead',
  );
  await converged(procs);
  killAll(procs);
});

test('two clusters on one host with different ids never merge, even sharing seeds', async () => {
  const a = await cluster(3, () => ({ cluster: 'alpha' }));
  const b = await cluster(3, (i) => ({ cluster: 'beta', id: `b${i}`, seeds: [`127.0.0.1:${a[0]!.args.port}`] }));
  await converged(a);
  // Each beta node keeps gossiping with its only seed, alpha's n0: once n0 has refused many of
  // their messages (several rounds of each), a merge would have happened if it could.
  const refused = async (): Promise<number> => (await a[0]!.query('stats')).stats!.rejected['wrong-cluster'] ?? 0;
  await waitFor(async () => (await refused()) >= 15, 10_000, 'the seed refused 15 messages from the other cluster');
  for (const p of a) assert.deepEqual(await liveIds(p), ['n0', 'n1', 'n2']);
  for (const p of b) assert.deepEqual(await liveIds(p), [p.id]);
  killAll([...a, b].flat());
});

test('a node with the wrong key receives no state, and its packets are counted as failed decryption', async () => {
  const good = 'a1'.repeat(16);
  const bad = 'b2'.repeat(16);
  const procs = await cluster(3, (i) => ({ keys: [i === 2 ? bad : good] }));
  await converged(procs.slice(0, 2));
  // n2's only seed is n0: once n0 has failed to decrypt several rounds of its packets, n2 has had
  // every chance to be heard, or to hear back.
  const failed = async (): Promise<number> =>
    (await procs[0]!.query('stats')).stats!.dropped['envelope:decrypt-failed'] ?? 0;
  await waitFor(async () => (await failed()) >= 10, 10_000, 'n0 failed to decrypt 10 packets from n2');
  assert.deepEqual(await liveIds(procs[0]!), ['n0', 'n1']);
  assert.deepEqual(await liveIds(procs[1]!), ['n0', 'n1']);
  assert.deepEqual(await liveIds(procs[2]!), ['n2']);
  killAll(procs);
});

test('live key rotation: [old] -> [old, new] -> [new, old] -> [new], node by node, drops no packet', async () => {
  const oldKey = 'c3'.repeat(24); // AES-192
  const newKey = 'd4'.repeat(32); // AES-256
  const procs = await cluster(4, () => ({ keys: [oldKey] }));
  await converged(procs);
  for (const ring of [[oldKey, newKey], [newKey, oldKey], [newKey]]) {
    for (const p of procs) {
      p.command({ cmd: 'keys', keys: ring });
      await new Promise((r) => setTimeout(r, 150)); // a rolling change: gossip goes on between nodes
    }
    await new Promise((r) => setTimeout(r, 600));
  }
  await converged(procs);
  for (const p of procs) {
    const s = (await p.query('stats')).stats!;
    assert.equal(s.dropped['envelope:decrypt-failed'] ?? 0, 0, `${p.id}: ${JSON.stringify(s.dropped)}`);
    assert.ok(!p.has((e) => e.event === 'dead'), `${p.id} saw no false death`);
  }
  killAll(procs);
});
