/**
 * Real hosts (network namespaces), real faults: SIGKILL, partitions and packet loss with nftables,
 * restarts. Skipped, saying why, where there is no root or no ip/nft; under CI=true that is a
 * failure instead, so a green CI means the faults were really injected.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { waitFor, type NodeProc } from '../runtime/procs.js';
import { TestBed, unavailable } from './testbed.js';

const unmet = unavailable();
const inCi = process.env.CI === 'true';
// In CI the tests run (and fail on an unmet need); elsewhere they are skipped, saying why.
const why = inCi ? null : unmet;

test('real hosts can be made here (root, ip, nft)', { skip: why ?? false }, () => {
  assert.equal(unmet, null, `CI=true, but the real-host tests cannot run: ${unmet}`);
});
const beds: TestBed[] = [];
after(() => beds.forEach((b) => b.close()));

async function bootBed(n: number, args: Record<string, unknown> = {}): Promise<TestBed> {
  const bed = new TestBed(n);
  beds.push(bed);
  for (let i = 0; i < n; i++) bed.start(i, { metadata: { host: `h${i}` }, ...args });
  await waitFor(() => bed.procs.every((p) => p!.has((e) => e.event === 'ready')), 15_000, 'nodes ready');
  await waitFor(
    () => bed.procs.every((p) => new Set(p!.events.filter((e) => e.event === 'live').map((e) => e.id)).size >= n - 1),
    15_000,
    'all see all',
  );
  return bed;
}

const saw = (p: NodeProc, kind: string, id: string, since: number) =>
  p.has((e) => e.event === kind && e.id === id && e.at >= since);

test(
  'crash on a real host: every other host convicts it within the expected time',
  { skip: why ?? false },
  async () => {
    const bed = await bootBed(5);
    const t0 = Date.now();
    bed.procs[3]!.kill('SIGKILL');
    const others = bed.procs.filter((_, i) => i !== 3) as NodeProc[];
    await waitFor(() => others.every((p) => saw(p, 'dead', 'h3', t0)), 10_000, 'h3 dead on every host');
    const took = Math.max(...others.map((p) => p.events.find((e) => e.event === 'dead' && e.id === 'h3')!.at)) - t0;
    // 200 ms rounds, 1 s acceptable pause: the formula gives about 2 s, gossip spread adds a little.
    assert.ok(took < 5000, `convicted by all after ${took} ms`);
    bed.close();
  },
);

test(
  'partition into halves, then heal: each side convicts the other, then one cluster with metadata intact',
  { skip: why ?? false },
  async () => {
    const bed = await bootBed(6);
    bed.procs[0]!.command({ cmd: 'set', key: 'kept', value: 'yes' });
    bed.procs[0]!.command({ cmd: 'set', key: 'doomed', value: 'x' });
    await new Promise((r) => setTimeout(r, 1500));
    bed.procs[0]!.command({ cmd: 'delete', key: 'doomed' });
    await new Promise((r) => setTimeout(r, 1500));
    const a = [0, 1, 2];
    const b = [3, 4, 5];
    const t0 = Date.now();
    bed.partition(a, b);
    await waitFor(
      () =>
        a.every((i) => b.every((j) => saw(bed.procs[i]!, 'dead', `h${j}`, t0))) &&
        b.every((j) => a.every((i) => saw(bed.procs[j]!, 'dead', `h${i}`, t0))),
      15_000,
      'each side convicts the other',
    );
    const t1 = Date.now();
    bed.heal();
    await waitFor(
      () =>
        a.every((i) => b.every((j) => saw(bed.procs[i]!, 'live', `h${j}`, t1))) &&
        b.every((j) => a.every((i) => saw(bed.procs[j]!, 'live', `h${i}`, t1))),
      20_000,
      'one cluster again',
    );
    for (const p of bed.procs) {
      const h0 = (await p!.query('state')).state!.live.find((m) => m.id === 'h0')!;
      assert.deepEqual(
        h0.metadata,
        { host: 'h0', kept: 'yes' },
        `${p!.id} holds h0's metadata, the deleted key not resurrected`,
      );
    }
    bed.close();
  },
);

/** `npm run soak` sets SOAK_S (default there: 600 s); the normal run keeps it to 40 s. */
const LOSS_S = Number(process.env.SOAK_S ?? 40);

test(
  `10% loss on every host for ${LOSS_S} s: no false dead events`,
  { skip: why ?? false, timeout: (LOSS_S + 60) * 1000 },
  async () => {
    const bed = await bootBed(5);
    const t0 = Date.now();
    for (let i = 0; i < 5; i++) bed.loss(i, 10);
    await new Promise((r) => setTimeout(r, LOSS_S * 1000));
    const falseDeaths = bed.procs.flatMap((p) =>
      p!.events.filter((e) => e.event === 'dead' && e.at >= t0).map((e) => `${p!.id}->${e.id}`),
    );
    assert.deepEqual(falseDeaths, []);
    bed.close();
  },
);

test(
  'restart on a real host: a new generation, live everywhere with fresh metadata only',
  { skip: why ?? false },
  async () => {
    const bed = await bootBed(4);
    bed.procs[2]!.kill('SIGKILL');
    const restarted = bed.start(2, { metadata: { host: 'h2', boot: 'second' } });
    await waitFor(() => restarted.has((e) => e.event === 'ready'), 10_000, 'restart ready');
    const gen = restarted.events.find((e) => e.event === 'ready')!.generation;
    await waitFor(
      () =>
        [0, 1, 3].every((i) => bed.procs[i]!.has((e) => e.event === 'live' && e.id === 'h2' && e.generation === gen)),
      15_000,
      'new generation live',
    );
    for (const i of [0, 1, 3]) {
      const h2 = (await bed.procs[i]!.query('state')).state!.live.filter((m) => m.id === 'h2');
      assert.deepEqual(
        h2.map((m) => [m.generation, m.metadata]),
        [[gen, { host: 'h2', boot: 'second' }]],
      );
    }
    bed.close();
  },
);

test(
  'key rotation across real hosts under 10% loss: [old] -> [old, new] -> [new, old] -> [new] drops no packet',
  { skip: why ?? false },
  async () => {
    const oldKey = 'f6'.repeat(16); // AES-128
    const newKey = '17'.repeat(32); // AES-256
    const bed = await bootBed(4, { keys: [oldKey] });
    const t0 = Date.now();
    for (let i = 0; i < 4; i++) bed.loss(i, 10);
    for (const ring of [[oldKey, newKey], [newKey, oldKey], [newKey]]) {
      for (const p of bed.procs) {
        p!.command({ cmd: 'keys', keys: ring });
        await new Promise((r) => setTimeout(r, 300)); // rolling, host by host, with gossip in between
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    bed.procs[1]!.command({ cmd: 'set', key: 'after', value: 'rotation' });
    await waitFor(
      async () =>
        (
          await Promise.all(
            bed.procs.map(
              async (p) => (await p!.query('state')).state!.live.find((m) => m.id === 'h1')?.metadata['after'],
            ),
          )
        ).every((v) => v === 'rotation'),
      10_000,
      'an update after the rotation reaches every host',
    );
    for (const p of bed.procs) {
      const s = (await p!.query('stats')).stats!;
      assert.equal(s.dropped['envelope:decrypt-failed'] ?? 0, 0, `${p!.id}: ${JSON.stringify(s.dropped)}`);
      assert.ok(!p!.has((e) => e.event === 'dead' && e.at >= t0), `${p!.id} saw no false death`);
    }
    // The old key no longer opens anything: a host restarted with only the old key is refused.
    bed.procs[3]!.kill('SIGKILL');
    const stale = bed.start(3, { metadata: { host: 'h3' }, keys: [oldKey] });
    await waitFor(() => stale.has((e) => e.event === 'ready'), 10_000, 'old-key host ready');
    await waitFor(
      async () => ((await bed.procs[0]!.query('stats')).stats!.dropped['envelope:decrypt-failed'] ?? 0) > 0,
      10_000,
      'old-key packets refused',
    );
    assert.ok(!(await stale.query('state')).state!.live.some((m) => m.id === 'h0'), 'the old-key host learned nothing');
    bed.close();
  },
);
