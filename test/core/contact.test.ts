/** core.contact(): a formed cluster meets a stranger (a pod that appeared only in DNS) in one exchange. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coreConfig, MiniCluster } from './mini-cluster.js';

test('contact(): a stranger that nobody seeds is met at once, in one exchange, and learns the whole cluster', () => {
  const net = new MiniCluster(7);
  for (let i = 1; i <= 5; i++) net.add(coreConfig(i), i === 1 ? [] : ['10.0.0.1:9111']);
  net.run(10_000);
  const stranger = net.add(coreConfig(9));
  net.run(5000);
  assert.equal(stranger.snapshot().live.length, 1, 'without contact nobody finds it');
  const a = net.nodes.get('10.0.0.1:9111')!;
  // Formed: its peers' memberships match, so its rounds send compact digests, which a stranger cannot read.
  const out = a.contact(['10.0.0.9:9111', '10.0.0.9:9111', '10.0.0.1:9111'], net.now);
  assert.deepEqual(
    out.map((o) => [o.to, o.message.type, o.message.type === 'syn' && o.message.digest.mode]),
    [['10.0.0.9:9111', 'syn', 'full']],
    'one SYN, a full digest; self skipped',
  );
  net.send('10.0.0.1:9111', out);
  net.run(50);
  assert.deepEqual(
    stranger
      .snapshot()
      .live.map((v) => v.node.id)
      .sort(),
    ['n1', 'n2', 'n3', 'n4', 'n5', 'n9'],
  );
  assert.ok(
    a.snapshot().live.some((v) => v.node.id === 'n9'),
    'and the contacting node knows it',
  );
  net.run(5000);
  for (const core of net.nodes.values()) assert.equal(core.snapshot().live.length, 6);
});
