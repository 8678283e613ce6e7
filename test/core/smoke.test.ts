import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coreConfig, MiniCluster } from './mini-cluster.js';

test('smoke: 5 nodes converge, a crash is detected', () => {
  const c = new MiniCluster(1);
  for (let i = 1; i <= 5; i++) c.add(coreConfig(i), ['10.0.0.1:9111'], { role: `r${i}` });
  c.run(10_000);
  for (const core of c.nodes.values()) {
    const snap = core.snapshot();
    assert.equal(snap.live.length, 5, `${core.self.id} sees ${snap.live.map((v) => v.node.id)}`);
    for (const v of snap.live) assert.equal(v.values.role, `r${v.node.id.slice(1)}`);
  }
  c.down.add('10.0.0.3:9111');
  const t0 = c.now;
  c.run(10_000);
  const deads = c.events.filter((e) => e.event.type === 'dead');
  console.log(
    deads.map((d) => `${d.at} ${d.event.node.id}`),
    'maxPacket',
    c.maxPacket,
    't0',
    t0,
  );
  assert.equal(deads.length, 4);
});
