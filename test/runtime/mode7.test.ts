/**
 * Protocol 7's liveness over real loopback UDP (ScuttlebuttConfig.liveness { protocol: 7 }): five processes form,
 * a write spreads, a SIGKILLed node is convicted by every other through its neighbours' reports (the beats only the
 * quarter-interval detect sends), a leave is seen; and the TCP stream carries one node's whole state to another.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { converged, freePorts, killAll, NodeProc, startCluster, waitFor } from './procs.js';
import { createScuttlebutt, type Scuttlebutt } from '../../src/index.js';
import { ConfigError, defaultLanConfig, validateConfig } from '../../src/runtime/config.js';

const all: NodeProc[] = [];
after(() => killAll(all));

const deadAt = (p: NodeProc, id: string): number | undefined =>
  p.events.find((e) => e.event === 'dead' && e.id === id)?.at;

test('mode 7 over UDP: five nodes form, a write spreads, a SIGKILL is convicted by all, a leave is seen', async (t) => {
  const procs = await startCluster(5, () => ({ protocol: 7, gateHoldMs: 0 }));
  all.push(...procs);
  try {
    await converged(procs);
    procs[1]!.command({ cmd: 'set', key: 'color', value: 'green' });
    await waitFor(
      () =>
        procs.every(
          (p) => p === procs[1] || p.has((e) => e.event === 'update' && e.id === 'n1' && e.metadata?.color === 'green'),
        ),
      5000,
      'color=green everywhere',
    );

    // The victim has beaten its watchers before it dies: this test times the crash path of a member the cluster
    // already watches (one that dies before its first beat reaches them is the next test's).
    await new Promise((r) => setTimeout(r, 1000));
    const victim = procs[3]!;
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    const others = procs.filter((p) => p !== victim);
    await waitFor(() => others.every((p) => deadAt(p, 'n3') !== undefined), 15_000, 'n3 convicted everywhere');
    const detection = Math.max(...others.map((p) => deadAt(p, 'n3') as number)) - killedAt;

    const leaver = procs[4]!;
    const leftAt = Date.now();
    leaver.command({ cmd: 'shutdown' });
    const stayers = others.filter((p) => p !== leaver);
    await waitFor(
      () => stayers.every((p) => p.has((e) => e.event === 'dead' && e.id === 'n4' && e.reason === 'left')),
      5000,
      'n4 seen leaving everywhere',
    );
    const leaveSeen = Math.max(...stayers.map((p) => deadAt(p, 'n4') as number)) - leftAt;

    for (const p of stayers) {
      const wrongly = p.events.filter((e) => e.event === 'dead' && e.id !== 'n3' && e.id !== 'n4');
      assert.deepEqual(wrongly, [], `${p.id} convicted nobody alive`);
      const stats = (await p.query('stats')).stats!;
      assert.equal(stats.errors.internal, 0, `${p.id} handled every packet`);
      const { protocol, mode, notSpeaking, switches, fallbacks } = stats.liveness;
      assert.deepEqual(
        { protocol, mode, notSpeaking, switches, fallbacks },
        { protocol: 7, mode: 7, notSpeaking: 0, switches: 1, fallbacks: 0 },
        `${p.id} reports running protocol 7`,
      );
      // Beats and news go to members this node was told of but never heard from: none may be held back as too new
      // for them (a joiner's pulling SYN7 to its seed, before it heard the seed, is the one kind allowed).
      assert.ok((stats.dropped['message-too-new'] ?? 0) <= 3, `${p.id} dropped ${JSON.stringify(stats.dropped)}`);
    }
    // A crash reaches every node within a few detector periods (200 ms rounds), a leave within about a round.
    t.diagnostic(`SIGKILL convicted by all in ${detection} ms, leave seen by all in ${leaveSeen} ms`);
    assert.ok(detection < 8000, `SIGKILL convicted by all in ${detection} ms`);
    assert.ok(leaveSeen < 2000, `leave seen by all in ${leaveSeen} ms`);
  } finally {
    killAll(procs);
  }
});

test('mode 7 over UDP: the first node to switch to mode 7, killed at once, is convicted by all', async (t) => {
  // The first node to switch sends its first beats to neighbours still in mode 6, which drop them; they switch
  // within about a round (every ready value is out) and no longer run mode 6's detector. Killed before its next
  // beat (200 ms rounds), it is a neighbour none of them ever heard in mode 7 (docs/design/liveness-7.md, "A
  // neighbour never heard").
  const procs = await startCluster(5, () => ({ protocol: 7, gateHoldMs: 2000 }));
  all.push(...procs);
  try {
    await converged(procs);
    // The hold (2 s from the last join) keeps every node in mode 6 until this loop watches.
    let first: NodeProc | undefined;
    // Polled without a pause: the victim must die before its next beat (200 ms rounds).
    const deadline = Date.now() + 20_000;
    while (!first) {
      if (Date.now() > deadline) throw new Error('no node switched to mode 7 within 20 s');
      const modes = await Promise.all(procs.map(async (p) => (await p.query('stats')).stats!.liveness.mode));
      first = procs[modes.indexOf(7)];
    }
    const victim: NodeProc = first;
    const killedAt = Date.now();
    victim.kill('SIGKILL');
    const others = procs.filter((p) => p !== victim);
    await waitFor(
      () => others.every((p) => deadAt(p, victim.id) !== undefined),
      20_000,
      `${victim.id} convicted everywhere`,
    );
    const detection = Math.max(...others.map((p) => deadAt(p, victim.id) as number)) - killedAt;
    let neverHeard = 0;
    let reported = 0;
    for (const p of others) {
      const { liveness } = (await p.query('stats')).stats!;
      assert.equal(liveness.mode, 7, `${p.id} runs mode 7`);
      neverHeard += liveness.census.neverHeard;
      reported += liveness.census.neverHeardReported;
      const wrongly = p.events.filter((e) => e.event === 'dead' && e.id !== victim.id);
      assert.deepEqual(wrongly, [], `${p.id} convicted nobody alive`);
    }
    const reasons = others
      .map((p) => p.events.find((e) => e.event === 'dead' && e.id === victim.id)?.reason)
      .join(', ');
    t.diagnostic(
      `killed as it switched: convicted by all in ${detection} ms (${reasons}); ${neverHeard} censuses judged it never heard, ` +
        `${reported} watchers reported it`,
    );
    // Never heard: 3 detection delays (4.4 s with 200 ms rounds and a 1 s pause), a census of about a second and the
    // reports' spread. Heard once (another node switched first, or a beat slipped out before the kill): the crash
    // path, faster.
    assert.ok(detection < 10_000, `convicted by all in ${detection} ms`);
  } finally {
    killAll(procs);
  }
});

test('mode 7: a stream carries one node state to a node that never gossiped with it', async () => {
  const [pa, pb] = freePorts(2);
  const opts = (id: string, port: number) => ({
    clusterId: 'streams',
    node: { id, gossipPublicAddress: `127.0.0.1:${port}` },
    listenAddress: `127.0.0.1:${port}`,
    liveness: { protocol: 7 as const, gateHoldMs: 0 },
  });
  const a: Scuttlebutt = await createScuttlebutt(opts('a', pa!), { role: 'source' });
  const b: Scuttlebutt = await createScuttlebutt(opts('b', pb!), {});
  try {
    a.set('payload', 'x'.repeat(2000));
    // What the runtime does for a peer listed by takeStreamRequests(): open a stream, hand its batches to streamIn.
    (b as unknown as { mode7: { pull(peer: string): void } }).mode7.pull(a.self.address);
    await waitFor(() => b.members().some((m) => m.id === 'a'), 5000, 'a known to b through the stream');
    const seen = b.members().find((m) => m.id === 'a')!;
    assert.equal(seen.metadata.role, 'source');
    assert.equal(seen.metadata.payload, 'x'.repeat(2000));
    assert.deepEqual(
      Object.keys(b.stats().dropped).filter((k) => k.startsWith('stream-')),
      [],
      'no stream refused',
    );
  } finally {
    await Promise.all([a.shutdown({ leave: false }), b.shutdown({ leave: false })]);
  }
});

test('mode 7: a node alone sends its seed one SYN7 and one SYN a round, no more', async () => {
  // A seed that hears and never answers: the joiner stays alone, and every packet it sends the seed is counted. A
  // seed answers each SYN and reads each answer's ACK, so with a hundred joiners at once a third SYN a round from
  // each (a re-contact beside the round's own two) filled its socket queue faster than it drained.
  const [seedPort, port] = freePorts(2);
  const seed = createSocket('udp4');
  let heard = 0;
  seed.on('message', () => heard++);
  await new Promise<void>((resolve) => seed.bind(seedPort, '127.0.0.1', resolve));
  const node = await createScuttlebutt(
    {
      clusterId: 'lone',
      node: { id: 'lone', gossipPublicAddress: `127.0.0.1:${port}` },
      listenAddress: `127.0.0.1:${port}`,
      gossipIntervalMs: 100,
      liveness: { protocol: 7, gateHoldMs: 0 },
    },
    {},
  );
  try {
    await node.join([`127.0.0.1:${seedPort}`]);
    await new Promise((r) => setTimeout(r, 300));
    const [heard0, rounds0] = [heard, node.stats().gossipRounds];
    await new Promise((r) => setTimeout(r, 1500));
    const rounds = node.stats().gossipRounds - rounds0;
    assert.equal(node.members().length, 1, 'still alone');
    assert.ok(rounds >= 5, `${rounds} rounds ran`);
    const perRound = (heard - heard0) / rounds;
    assert.ok(perRound >= 1.5 && perRound <= 2.2, `${heard - heard0} packets to the seed in ${rounds} rounds`);
  } finally {
    await node.shutdown({ leave: false });
    seed.close();
  }
});

test('mode 7: an idle node wakes about once a round, not every quarter interval', async () => {
  // The detector runs when the core says something is due (the round, a neighbour's deadline, ...): in a quiet
  // cluster that is the round alone. Four nodes in one process, 200 ms rounds.
  const ports = freePorts(4);
  const nodes: Scuttlebutt[] = [];
  type Wakes = { rounds: number; detects: number; idle: number };
  const wakes = (n: Scuttlebutt): Wakes => ({ ...(n as unknown as { mode7: { wakes: Wakes } }).mode7.wakes });
  try {
    for (const [i, port] of ports.entries()) {
      const node = await createScuttlebutt(
        {
          clusterId: 'idle',
          node: { id: `n${i}`, gossipPublicAddress: `127.0.0.1:${port}` },
          listenAddress: `127.0.0.1:${port}`,
          gossipIntervalMs: 200,
          liveness: { protocol: 7, gateHoldMs: 0 },
        },
        {},
      );
      nodes.push(node);
      if (i > 0) await node.join([`127.0.0.1:${ports[0]}`]);
    }
    await waitFor(
      () => nodes.every((n) => n.members().length === 4 && n.stats().liveness.mode === 7),
      10_000,
      'four nodes in mode 7',
    );
    // Past the first beats' windows and the switch's changes.
    await new Promise((r) => setTimeout(r, 2000));
    const before = nodes.map(wakes);
    const startedAt = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    const rounds = (performance.now() - startedAt) / 200;
    for (const [i, n] of nodes.entries()) {
      const [a, b] = [before[i]!, wakes(n)];
      const woke = b.rounds + b.detects + b.idle - (a.rounds + a.detects + a.idle);
      const ranRounds = b.rounds - a.rounds;
      // A loaded host delays timers (a round more than an interval late is skipped, not caught up): counted by the
      // rounds the node ran, not the wall clock's.
      assert.ok(ranRounds >= rounds / 2, `n${i} ran ${ranRounds} rounds in ${rounds.toFixed(1)}`);
      // Before: four wake-ups a round (a detect every quarter interval).
      assert.ok(woke <= 1.5 * ranRounds + 2, `n${i} woke ${woke} times in ${ranRounds} rounds: ${JSON.stringify(b)}`);
      assert.equal(n.members().filter((m) => m.status === 'live').length, 4, `n${i} convicted nobody`);
    }
  } finally {
    await Promise.all(nodes.map((n) => n.shutdown({ leave: false })));
  }
});

test('liveness: a wrong protocol or K is refused, naming the field and what to give', () => {
  const bad = (liveness: unknown): string[] => {
    try {
      validateConfig(defaultLanConfig({ liveness } as never));
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      return [...err.problems];
    }
    return [];
  };
  assert.deepEqual(bad({ protocol: 7 }), []);
  assert.deepEqual(bad({ protocol: 7, observers: 6 }), []);
  assert.deepEqual(bad({ protocol: 8 }), ['liveness.protocol must be 6 or 7 (got 8)']);
  assert.deepEqual(bad({ protocol: 7, observers: 5 }), [
    'liveness.observers must be an even integer from 2 to 32 (got 5)',
  ]);
  assert.deepEqual(bad({ protocol: 6, observers: 4 }), [
    'liveness.observers applies to protocol 7 only: remove it, or set protocol 7',
  ]);
  assert.deepEqual(bad('7'), ['liveness must be an object such as { protocol: 7 } (got "7")']);
});
