/**
 * The library's operator surface in-process: members(filter), health(), leave() vs shutdown({leave:false}),
 * forceLeave(), the plaintext warning.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createScuttlebutt,
  defaultLanConfig,
  ForceLeaveError,
  InvalidArgumentError,
  type Logger,
  type Scuttlebutt,
} from '../../src/index.js';

const cfg = (id: string, extra: Parameters<typeof defaultLanConfig>[0] = {}) =>
  defaultLanConfig({
    node: { id },
    listenAddress: '127.0.0.1:0',
    gossipIntervalMs: 100,
    failureDetector: { firstHeartbeatEstimateMs: 100, acceptableHeartbeatPauseMs: 300 },
    ...extra,
  });

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('members(filter), health(), forceLeave() and leave() vs shutdown({leave:false})', async () => {
  const nodes: Scuttlebutt[] = [];
  try {
    const a = await createScuttlebutt(cfg('a'), { role: 'db', zone: 'z1' });
    nodes.push(a);
    assert.deepEqual(
      { ready: a.health().ready, alive: a.health().alive },
      { ready: true, alive: true },
      'alone by configuration',
    );
    // Seeds that name only itself (the first pod of a Service): alone by configuration too.
    await a.join([a.self.address]);
    assert.equal(a.health().ready, true, a.health().reason);
    for (const [id, tags] of [
      ['b', { role: 'db', zone: 'z2' }],
      ['c', { role: 'web', zone: 'z1' }],
      ['d', { role: 'web', zone: 'z2' }],
    ] as const) {
      const n = await createScuttlebutt(cfg(id), tags);
      nodes.push(n);
      await n.join([a.self.address]);
    }
    await until(() => nodes.every((n) => n.members({ status: 'live' }).length === 4), 5_000, 'four live');
    const ids = (f: Parameters<Scuttlebutt['members']>[0]) =>
      a
        .members(f)
        .map((m) => m.id)
        .sort();
    assert.deepEqual(ids({ tags: { role: 'db' } }), ['a', 'b']);
    assert.deepEqual(ids({ tags: { role: 'web', zone: 'z2' } }), ['d']);
    assert.deepEqual(ids({ status: 'dead' }), []);
    assert.throws(
      () => a.members({ status: 'zombie' as 'live' }),
      (e: unknown) =>
        e instanceof InvalidArgumentError && e.code === 'SB_ERR_INVALID_ARG' && /filter\.status/.test(e.message),
    );
    const b = a.members().find((m) => m.id === 'b');
    assert.ok(b?.silence && b.silence.convictAfterMs > b.silence.silentForMs && b.silence.phi >= 0, JSON.stringify(b));
    assert.equal(a.members().find((m) => m.id === 'a')?.silence, undefined, 'self has no silence');
    assert.ok(a.state().live.find((m) => m.id === 'b')?.silence, 'state() carries it too');
    assert.equal(nodes[1]!.health().ready, true);

    const refused = (reason: string, message: RegExp) => (e: unknown) =>
      e instanceof ForceLeaveError && e.code === 'SB_ERR_FORCE_LEAVE' && e.reason === reason && message.test(e.message);
    assert.throws(() => a.forceLeave('a'), refused('self', /^"a" is this node: use leave\(\) to leave the cluster$/));
    assert.throws(
      () => a.forceLeave('b'),
      refused('live', /^member "b" is live: only a dead member can be forced out /),
    );
    const unknown = /^no member "zz" \(already removed, or never known here\)$/;
    assert.throws(() => a.forceLeave('zz'), refused('not-found', unknown));

    // shutdown({leave:false}) goes silent, like a crash: peers convict it ("suspected") after the detection time.
    const d = nodes[3]!;
    const t0 = Date.now();
    await d.shutdown({ leave: false });
    await until(() => ids({ status: 'dead' }).includes('d'), 5_000, 'd convicted');
    assert.ok(Date.now() - t0 > 300, 'not at once: by the detector');
    const removed: string[] = [];
    nodes[1]!.on('removed', (m) => removed.push(m.id));
    await until(() => nodes[1]!.members({ status: 'dead' }).some((m) => m.id === 'd'), 5_000, 'b sees d dead');
    const before = a.members({ status: 'dead' }).find((m) => m.id === 'd');
    assert.deepEqual(before?.metadata, { role: 'web', zone: 'z2' });
    assert.deepEqual(a.forceLeave('d'), before, 'the member as members() showed it');
    assert.ok(!a.members().some((m) => m.id === 'd'), 'removed from a at once');
    assert.throws(() => a.forceLeave('d'), refused('not-found', /^no member "d" \(already removed/));
    // d made a leave commitment: the leave sent on its behalf has no proof, and b, which sees d dead
    // too, removes it at once (not a grace period later) without counting it as forged.
    await until(() => removed.includes('d'), 2_000, 'b removed d at once too');
    assert.equal(nodes[1]!.stats().rejected['forged-leave'], 0);

    // leave(): peers hear the leave itself (reason "left"; the detector would say "suspected").
    const reasons: string[] = [];
    a.on('dead', (m, reason) => reasons.push(`${m.id}:${reason}`));
    await nodes[2]!.leave();
    await until(() => reasons.some((r) => r.startsWith('c:')), 5_000, 'c seen dead');
    assert.deepEqual(
      reasons.filter((r) => r.startsWith('c:')),
      ['c:left'],
    );
    assert.equal(nodes[2]!.health().alive, false);
    assert.throws(() => nodes[2]!.forceLeave('x'), { name: 'ClosedError', code: 'SB_ERR_CLOSED' });
  } finally {
    await Promise.all(nodes.map((n) => n.shutdown()));
  }
});

test('a node listening beyond loopback in plaintext warns; with a key or on loopback it does not', async () => {
  const warnings: string[] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (_o, msg) => warnings.push(msg ?? ''), error() {} };
  const open = await createScuttlebutt(
    cfg('p', { listenAddress: '0.0.0.0:0', node: { id: 'p', gossipPublicAddress: '127.0.0.1:1' }, logger }),
  );
  await open.shutdown();
  assert.equal(warnings.filter((w) => /plaintext/.test(w)).length, 1, warnings.join('\n'));
  warnings.length = 0;
  const keyed = await createScuttlebutt(
    cfg('k', {
      listenAddress: '0.0.0.0:0',
      node: { id: 'k', gossipPublicAddress: '127.0.0.1:1' },
      logger,
      secretKeys: [new Uint8Array(32)],
    }),
  );
  await keyed.shutdown();
  const loop = await createScuttlebutt(cfg('l', { logger }));
  await loop.shutdown();
  assert.deepEqual(
    warnings.filter((w) => /plaintext/.test(w)),
    [],
  );
});
