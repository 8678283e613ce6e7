import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coreConfig, leaveProof, MiniCluster } from './mini-cluster.js';

test('forceLeave of a member that made no commitment (an older release): removed at once and marked left cluster-wide, for good; live, self and unknown ids are refused', () => {
  const c = new MiniCluster(3);
  for (let i = 1; i <= 4; i++) c.add(coreConfig(i), ['10.0.0.1:9111']);
  c.run(8_000);
  const n1 = c.nodes.get('10.0.0.1:9111')!;
  assert.equal(n1.forceLeave('n2', c.now), null, 'a live member is refused');
  assert.equal(n1.forceLeave('n1', c.now), null, 'self is refused');
  assert.equal(n1.forceLeave('nobody', c.now), null, 'an unknown id is refused');
  assert.equal(n1.snapshot().live.length, 4, 'a refusal changes nothing');
  // The runtime's forceLeave looks the member up by id (core.member), not through a whole snapshot.
  const live = (id: string) => n1.snapshot().live.find((v) => v.node.id === id);
  assert.deepEqual(n1.member('n2'), live('n2'), 'by id: the same view as by identity');
  assert.deepEqual(n1.member('n1'), live('n1'), 'self by id');
  assert.equal(n1.member('nobody'), undefined, 'an unknown id');

  c.down.add('10.0.0.4:9111');
  c.run(10_000);
  for (const core of c.nodes.values())
    if (core.self.id !== 'n4')
      assert.deepEqual(
        core.snapshot().dead.map((v) => v.node.id),
        ['n4'],
        core.self.id,
      );
  const n4 = n1.member('n4');
  assert.equal(n4?.status, 'dead');
  assert.deepEqual(n4, n1.snapshot(c.now).dead[0], "a dead member's view by id, as a snapshot holds it");
  const out = n1.forceLeave('n4', c.now);
  assert.ok(out, 'a dead member is accepted');
  assert.equal(n1.member('n4'), undefined, 'removed: no view by id');
  assert.deepEqual(out.map((o) => o.to).sort(), ['10.0.0.2:9111', '10.0.0.3:9111'], 'a leave goes to every live peer');
  for (const o of out) assert.equal(o.message.type === 'leave' && o.message.identity.id, 'n4');
  assert.equal(n1.snapshot().dead.length, 0, 'removed at once, not a grace period later');
  assert.ok(n1.takeEvents().some((e) => e.type === 'removed' && e.node.id === 'n4'));
  c.send('10.0.0.1:9111', out);
  // The crashed member comes back (same incarnation, its heartbeat far past the last one seen):
  // it was marked left everywhere, so it is not revived, and n1 does not re-admit it.
  c.down.delete('10.0.0.4:9111');
  c.run(10_000);
  for (const core of c.nodes.values()) {
    if (core.self.id === 'n4') continue;
    assert.ok(!core.snapshot().live.some((v) => v.node.id === 'n4'), `${core.self.id} revived a force-left member`);
  }
});

test('forceLeave of a committed member: removed at once everywhere, not for good (alive after all, it comes back); a receiver that sees it live refuses the leave', () => {
  const c = new MiniCluster(3);
  for (let i = 1; i <= 4; i++) c.add(coreConfig(i, leaveProof(i)), ['10.0.0.1:9111']);
  c.run(8_000);
  const n1 = c.nodes.get('10.0.0.1:9111')!;
  const n3 = c.nodes.get('10.0.0.3:9111')!;
  assert.equal(n1.forceLeave('n2', c.now), null, 'a live member is refused');
  c.down.add('10.0.0.4:9111');
  c.run(10_000);
  const out = n1.forceLeave('n4', c.now);
  assert.ok(out, 'a dead member is accepted');
  for (const o of out)
    assert.ok(
      o.message.type === 'leave' && o.message.identity.id === 'n4' && o.message.proof === undefined,
      'sent on its behalf: no proof',
    );
  assert.equal(n1.snapshot().dead.length, 0, 'removed at once where it was asked');
  c.send('10.0.0.1:9111', out);
  c.run(50);
  for (const core of c.nodes.values()) {
    if (core.self.id === 'n4') continue;
    assert.ok(
      ![...core.snapshot().live, ...core.snapshot().dead].some((v) => v.node.id === 'n4'),
      `${core.self.id} removed n4 at once`,
    );
    assert.equal(core.rejections()['forged-leave'], 0, core.self.id);
  }
  // A force-leave of n2 (live here) from a node that wrongly sees it dead carries no proof: refused.
  const leaveOfN2 = {
    type: 'leave' as const,
    clusterId: 'test',
    identity: c.nodes.get('10.0.0.2:9111')!.self,
    heartbeat: n3.snapshot().live.find((v) => v.node.id === 'n2')!.heartbeat,
  };
  c.send('10.0.0.1:9111', [{ to: '10.0.0.3:9111', message: leaveOfN2 }]);
  c.run(50);
  assert.ok(
    n3.snapshot().live.some((v) => v.node.id === 'n2'),
    'n2 stays live at n3',
  );
  assert.equal(n3.rejections()['forged-leave'], 1);
  // n4 was alive after all: stale gossip stays out while the removal records last (the grace
  // period, 20 s here), then its fresh heartbeats bring it back everywhere, as serf's force-leave.
  c.down.delete('10.0.0.4:9111');
  c.run(5_000);
  for (const core of c.nodes.values())
    if (core.self.id !== 'n4')
      assert.ok(
        !core.snapshot().live.some((v) => v.node.id === 'n4'),
        `${core.self.id}: not back within the removal record`,
      );
  c.run(30_000);
  for (const core of c.nodes.values())
    if (core.self.id !== 'n4')
      assert.ok(
        core.snapshot().live.some((v) => v.node.id === 'n4'),
        `${core.self.id} has n4 back`,
      );
});

test('silenceOf: grows with the silence of a live member and crosses its allowance at conviction', () => {
  const c = new MiniCluster(5);
  for (let i = 1; i <= 3; i++) c.add(coreConfig(i), ['10.0.0.1:9111']);
  c.run(8_000);
  const n1 = c.nodes.get('10.0.0.1:9111')!;
  const s = n1.silenceOf('n2', c.now);
  assert.ok(s && s.silentForMs >= 0 && s.silentForMs < s.convictAfterMs, JSON.stringify(s));
  assert.equal(n1.silenceOf('n1', c.now), undefined);
  assert.equal(n1.silenceOf('nobody', c.now), undefined);
  // A snapshot taken with a time carries the same view, rounded, on live peers only.
  const snap = n1.snapshot(c.now);
  assert.deepEqual(snap.live.find((v) => v.node.id === 'n2')?.silence, {
    silentForMs: Math.round(s.silentForMs),
    convictAfterMs: Math.round(s.convictAfterMs),
    phi: Math.round((n1.phiOf('n2', c.now) as number) * 100) / 100,
  });
  assert.equal(snap.live.find((v) => v.node.id === 'n1')?.silence, undefined, 'self has none');
  assert.ok(
    n1.snapshot().live.every((v) => v.silence === undefined),
    'nor a snapshot taken without a time',
  );
  c.down.add('10.0.0.3:9111');
  let last = 0;
  while (n1.snapshot().live.some((v) => v.node.id === 'n3')) {
    const v = n1.silenceOf('n3', c.now);
    assert.ok(v, 'a live member has a view');
    assert.ok(v.silentForMs >= last, 'the silence only grows');
    last = v.silentForMs;
    c.run(100);
  }
  assert.equal(n1.silenceOf('n3', c.now), undefined, 'a dead member has none');
  assert.equal(n1.snapshot(c.now).dead.find((v) => v.node.id === 'n3')?.silence, undefined);
  assert.ok(last > 2000, `convicted after ${last} ms of silence`);
});
