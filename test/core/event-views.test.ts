/** With eventViews, each event shows its member as it was when the event happened, not when the harness reads it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coreConfig, MiniCluster } from './mini-cluster.js';

test('events carry the member as of the event: each update its own values, a join its first values, a removal its last', () => {
  const net = new MiniCluster(5);
  net.add(coreConfig(1, { eventViews: true }));
  const b = net.add(coreConfig(2), ['10.0.0.1:9111'], { role: 'db' });
  net.run(3000);
  b.set('load', '1');
  net.run(3000);
  b.set('load', '2');
  net.run(3000);
  net.down.add('10.0.0.2:9111');
  net.run(40_000);
  const about = net.events.filter((e) => e.at === '10.0.0.1:9111' && e.event.node.id === 'n2').map((e) => e.event);
  const live = about.find((e) => e.type === 'live');
  assert.deepEqual(live?.view?.values, { role: 'db' }, 'the join shows the values it arrived with');
  const loads = about.filter((e) => e.type === 'update' && e.keys.includes('load')).map((e) => e.view?.values.load);
  assert.deepEqual(loads, ['1', '2'], 'each update shows its own value, not the latest');
  const dead = about.find((e) => e.type === 'dead');
  assert.equal(dead?.view?.status, 'dead');
  const removed = about.find((e) => e.type === 'removed');
  assert.deepEqual(removed?.view?.values, { role: 'db', load: '2' }, 'the removal still shows the last values');
  assert.equal(
    about.every((e) => e.view !== undefined),
    true,
  );
});

test('without eventViews, events carry no view (the simulator publishes millions)', () => {
  const net = new MiniCluster(6);
  net.add(coreConfig(1));
  net.add(coreConfig(2), ['10.0.0.1:9111'], { role: 'db' });
  net.run(3000);
  assert.ok(net.events.length > 0);
  assert.ok(net.events.every((e) => e.event.view === undefined));
});
