/**
 * The fault scenarios of the real-host test bed, one function each, run by faults.test.ts (protocol 6's liveness,
 * a bed per scenario) and faults7.test.ts (protocol 7's, scenarios sharing a bed). Each asserts the bounds the
 * scenario promises and returns what it measured, so both files print the same figures for both protocols.
 */
import assert from 'node:assert/strict';
import { waitFor, type NodeEvent, type NodeProc } from '../runtime/procs.js';
import { TestBed } from './testbed.js';

/**
 * Builds a bed of n hosts (kept in `beds` for the file's `after`), starts a node on each with `args` (and metadata
 * host: hI), and waits until all see all.
 */
export async function bootBed(beds: TestBed[], n: number, args: Record<string, unknown> = {}): Promise<TestBed> {
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

const proc = (bed: TestBed, i: number): NodeProc => bed.procs[i] as NodeProc;

/** The first `kind` event about `id` at or after `since`. */
const first = (p: NodeProc, kind: string, id: string, since: number): NodeEvent | undefined =>
  p.events.find((e) => e.event === kind && e.id === id && e.at >= since);

/** Milliseconds from `since` until the last of these (observer, subject) pairs saw `kind`. */
function lastSeen(bed: TestBed, pairs: [number, number][], kind: string, since: number): number {
  return Math.max(...pairs.map(([i, j]) => (first(proc(bed, i), kind, `h${j}`, since) as NodeEvent).at)) - since;
}

/**
 * Each host's count of events so far: deathsSince counts only events after it. A clock reading cannot mark the heal,
 * since the last conviction before it can arrive in the millisecond the wait for it ends.
 */
const marks = (bed: TestBed, hosts: number[]): Map<number, number> =>
  new Map(hosts.map((i) => [i, proc(bed, i).events.length]));

/**
 * Deaths seen at any of the hosts `mark` names after it was taken, as "hI->hJ" with the milliseconds since `since`.
 * After a heal there must be none: each side's reports about the other reach it with the refutations that revive
 * their observers, and counted at once they would convict healthy members for a round (docs/design/liveness-7.md,
 * "Heal").
 */
const deathsSince = (bed: TestBed, mark: Map<number, number>, since: number): string[] =>
  [...mark].flatMap(([i, from]) =>
    proc(bed, i)
      .events.slice(from)
      .filter((e) => e.event === 'dead')
      .map((e) => `h${i}->${e.id} ${e.at - since} ms after the heal`),
  );

/** Sleeps past the time a flap would take: a detection delay (about 2 s here) and a round or two of gossip. */
const AFTER_HEAL_MS = 3000;

/** Every (observer, subject) pair across the cut between a and b, both ways. */
const across = (a: number[], b: number[]): [number, number][] => [
  ...a.flatMap((i) => b.map((j): [number, number] => [i, j])),
  ...b.flatMap((j) => a.map((i): [number, number] => [j, i])),
];

/** SIGKILLs host `victim`; every host of `others` convicts it within 5 s. Returns the time until the last did. */
export async function crash(bed: TestBed, victim: number, others: number[]): Promise<number> {
  const t0 = Date.now();
  proc(bed, victim).kill('SIGKILL');
  const pairs = others.map((i): [number, number] => [i, victim]);
  await waitFor(
    () => pairs.every(([i, j]) => first(proc(bed, i), 'dead', `h${j}`, t0)),
    10_000,
    `h${victim} dead on every host`,
  );
  const took = lastSeen(bed, pairs, 'dead', t0);
  // 200 ms rounds, 1 s acceptable pause: the formula gives about 2 s, gossip spread adds a little.
  assert.ok(took < 5000, `convicted by all after ${took} ms`);
  return took;
}

/**
 * Writes a key and a key deleted again on h0, cuts the hosts into `a` and `b`, waits until each side convicts every
 * host of the other (15 s), heals, and waits until each side sees every host of the other live again (20 s); then
 * no host sees a death for 3 s after the heal, and every host holds h0's metadata with the deleted key not
 * resurrected. Returns both times.
 */
export async function partitionAndHeal(
  bed: TestBed,
  a: number[],
  b: number[],
): Promise<{ detectedMs: number; healedMs: number }> {
  proc(bed, 0).command({ cmd: 'set', key: 'kept', value: 'yes' });
  proc(bed, 0).command({ cmd: 'set', key: 'doomed', value: 'x' });
  await new Promise((r) => setTimeout(r, 1500));
  proc(bed, 0).command({ cmd: 'delete', key: 'doomed' });
  await new Promise((r) => setTimeout(r, 1500));
  const pairs = across(a, b);
  const t0 = Date.now();
  bed.partition(a, b);
  await waitFor(
    () => pairs.every(([i, j]) => first(proc(bed, i), 'dead', `h${j}`, t0)),
    15_000,
    'each side convicts the other',
  );
  const detectedMs = lastSeen(bed, pairs, 'dead', t0);
  const t1 = Date.now();
  const healed = marks(bed, [...a, ...b]);
  bed.heal();
  await waitFor(() => pairs.every(([i, j]) => first(proc(bed, i), 'live', `h${j}`, t1)), 20_000, 'one cluster again');
  const healedMs = lastSeen(bed, pairs, 'live', t1);
  await new Promise((r) => setTimeout(r, Math.max(0, t1 + AFTER_HEAL_MS - Date.now())));
  assert.deepEqual(deathsSince(bed, healed, t1), [], 'no death after the heal');
  for (const i of [...a, ...b]) {
    const h0 = (await proc(bed, i).query('state')).state!.live.find((m) => m.id === 'h0');
    assert.deepEqual(
      h0?.metadata,
      { host: 'h0', kept: 'yes' },
      `h${i} holds h0's metadata, the deleted key not resurrected`,
    );
  }
  return { detectedMs, healedMs };
}

/**
 * Cuts host `alone` from every host of `others`: the others convict it within 5 s (its watchers all sit on their
 * side: a crash to them); it convicts each of them within 15 s, its deafness hold (8 x (interval + pause) = 9.6 s
 * here: it hears nobody, so it convicts nobody before) plus protocol 6's deadlines or protocol 7's census. Then
 * heals: all live again at every host within 20 s, no host of `others` ever convicted another, and no host sees a
 * death for 3 s after the heal. Returns the times.
 */
export async function aloneAndBack(
  bed: TestBed,
  alone: number,
  others: number[],
): Promise<{ othersMs: number; aloneMs: number; healedMs: number }> {
  const pairs = across([alone], others);
  const t0 = Date.now();
  bed.partition(others, [alone]);
  const toAlone = others.map((i): [number, number] => [i, alone]);
  const fromAlone = others.map((i): [number, number] => [alone, i]);
  await waitFor(() => pairs.every(([i, j]) => first(proc(bed, i), 'dead', `h${j}`, t0)), 15_000, 'both sides convict');
  const othersMs = lastSeen(bed, toAlone, 'dead', t0);
  const aloneMs = lastSeen(bed, fromAlone, 'dead', t0);
  assert.ok(othersMs < 5000, `h${alone} convicted by the others after ${othersMs} ms`);
  assert.ok(aloneMs < 15_000, `the others convicted by h${alone} after ${aloneMs} ms`);
  const t1 = Date.now();
  const healed = marks(bed, [alone, ...others]);
  bed.heal();
  await waitFor(() => pairs.every(([i, j]) => first(proc(bed, i), 'live', `h${j}`, t1)), 20_000, 'one cluster again');
  const healedMs = lastSeen(bed, pairs, 'live', t1);
  const falseDeaths = others.flatMap((i) =>
    proc(bed, i)
      .events.filter((e) => e.event === 'dead' && e.at >= t0 && e.id !== `h${alone}`)
      .map((e) => `h${i}->${e.id} ${e.at - t0} ms after the cut`),
  );
  assert.deepEqual(falseDeaths, []);
  await new Promise((r) => setTimeout(r, Math.max(0, t1 + AFTER_HEAL_MS - Date.now())));
  assert.deepEqual(deathsSince(bed, healed, t1), [], 'no death after the heal');
  return { othersMs, aloneMs, healedMs };
}

/** Drops `percent` % of the packets arriving at each of `hosts` for `seconds`: no host of them sees a death. */
export async function lossWithoutFalseDeaths(
  bed: TestBed,
  hosts: number[],
  percent: number,
  seconds: number,
): Promise<void> {
  const t0 = Date.now();
  for (const i of hosts) bed.loss(i, percent);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const falseDeaths = hosts.flatMap((i) =>
    proc(bed, i)
      .events.filter((e) => e.event === 'dead' && e.at >= t0)
      .map((e) => `h${i}->${e.id}`),
  );
  bed.heal();
  assert.deepEqual(falseDeaths, []);
}

/**
 * SIGKILLs host i and starts it again at once with new metadata (`args` as the bed's nodes had): each of `others`
 * sees the new generation live (15 s) holding only the new metadata. Returns the time from the restarted node's
 * ready until the last of them saw it live.
 */
export async function restart(
  bed: TestBed,
  i: number,
  others: number[],
  args: Record<string, unknown> = {},
): Promise<number> {
  proc(bed, i).kill('SIGKILL');
  const restarted = bed.start(i, { metadata: { host: `h${i}`, boot: 'second' }, ...args });
  await waitFor(() => restarted.has((e) => e.event === 'ready'), 10_000, 'restart ready');
  const ready = restarted.events.find((e) => e.event === 'ready')!;
  const isNew = (e: NodeEvent) => e.event === 'live' && e.id === `h${i}` && e.generation === ready.generation;
  await waitFor(() => others.every((j) => proc(bed, j).has(isNew)), 15_000, 'new generation live');
  for (const j of others) {
    const seen = (await proc(bed, j).query('state')).state!.live.filter((m) => m.id === `h${i}`);
    assert.deepEqual(
      seen.map((m) => [m.generation, m.metadata]),
      [[ready.generation, { host: `h${i}`, boot: 'second' }]],
    );
  }
  return Math.max(...others.map((j) => proc(bed, j).events.find(isNew)!.at)) - ready.at;
}

/**
 * On a bed whose every host runs with `keys: [oldKey]`, under 10 % loss: rolls the key ring [old] -> [old, new] ->
 * [new, old] -> [new] host by host; a write after it reaches every host, no packet failed to decrypt and nobody
 * died. Then host `stale` restarted with the old key only is refused by h0 and learns nothing. `args` as the bed's.
 */
export async function keyRotation(
  bed: TestBed,
  oldKey: string,
  newKey: string,
  stale: number,
  args: Record<string, unknown> = {},
): Promise<void> {
  const hosts = bed.procs.map((_, i) => i);
  const t0 = Date.now();
  for (const i of hosts) bed.loss(i, 10);
  for (const ring of [[oldKey, newKey], [newKey, oldKey], [newKey]]) {
    for (const i of hosts) {
      proc(bed, i).command({ cmd: 'keys', keys: ring });
      await new Promise((r) => setTimeout(r, 300)); // rolling, host by host, with gossip in between
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  proc(bed, 1).command({ cmd: 'set', key: 'after', value: 'rotation' });
  await waitFor(
    async () =>
      (
        await Promise.all(
          hosts.map(
            async (i) => (await proc(bed, i).query('state')).state!.live.find((m) => m.id === 'h1')?.metadata['after'],
          ),
        )
      ).every((v) => v === 'rotation'),
    10_000,
    'an update after the rotation reaches every host',
  );
  for (const i of hosts) {
    const s = (await proc(bed, i).query('stats')).stats!;
    assert.equal(s.dropped['envelope:decrypt-failed'] ?? 0, 0, `h${i}: ${JSON.stringify(s.dropped)}`);
    assert.ok(!proc(bed, i).has((e) => e.event === 'dead' && e.at >= t0), `h${i} saw no false death`);
  }
  // The old key no longer opens anything: a host restarted with only the old key is refused.
  proc(bed, stale).kill('SIGKILL');
  const old = bed.start(stale, { ...args, metadata: { host: `h${stale}` }, keys: [oldKey] });
  await waitFor(() => old.has((e) => e.event === 'ready'), 10_000, 'old-key host ready');
  await waitFor(
    async () => ((await proc(bed, 0).query('stats')).stats!.dropped['envelope:decrypt-failed'] ?? 0) > 0,
    10_000,
    'old-key packets refused',
  );
  assert.ok(!(await old.query('state')).state!.live.some((m) => m.id === 'h0'), 'the old-key host learned nothing');
}
