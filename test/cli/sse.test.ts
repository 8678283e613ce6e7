/**
 * The /events stream in-process: events outside the membership stream (flow control's) are framed and resumable too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createScuttlebutt, defaultLanConfig } from '../../src/index.js';
import { startHttpApi } from '../../src/cli/http-api.js';
import { EventStream, waitFor } from './agents.js';

test('/events carries throttled and unthrottled with their fields, ids and resume', async () => {
  const node = await createScuttlebutt(
    defaultLanConfig({ node: { id: 's0' }, listenAddress: '127.0.0.1:0', gossipIntervalMs: 100 }),
  );
  const api = await startHttpApi(node, '127.0.0.1:0', { eventBuffer: 10 });
  const streams: EventStream[] = [];
  try {
    const s = new EventStream(api.address);
    streams.push(s);
    assert.equal(await s.status, 200);
    await new Promise((r) => setTimeout(r, 100));
    node.emit('throttled', { rate: 12.5, backlog: 7 });
    node.emit('unthrottled', { rate: 20 });
    await waitFor(() => s.events.length >= 2, 2_000, 'two events');
    assert.deepEqual(
      s.events.map((e) => e.event),
      ['throttled', 'unthrottled'],
    );
    assert.equal(s.events[0]!.data.rate, 12.5);
    assert.equal(s.events[0]!.data.backlog, 7);
    assert.equal(s.events[0]!.data.type, 'throttled');
    assert.equal(s.events[0]!.data.id, s.events[0]!.id);
    const resumed = new EventStream(api.address, '/events', { 'last-event-id': s.events[0]!.id! });
    streams.push(resumed);
    await waitFor(() => resumed.events.length >= 1, 2_000, 'resumed');
    assert.deepEqual(
      resumed.events.map((e) => e.event),
      ['unthrottled'],
    );
  } finally {
    for (const s of streams) s.close();
    await api.close();
    await node.shutdown();
  }
});

test('/events within --event-buffer-bytes: updates of a large metadata are kept as their changes, and resume after eviction gaps then replays them as sent', async () => {
  // Flow control off: its throttled and unthrottled events would come and go between the checks.
  const node = await createScuttlebutt(
    defaultLanConfig({
      node: { id: 's1' },
      listenAddress: '127.0.0.1:0',
      gossipIntervalMs: 100,
      flowControl: { enabled: false },
    }),
  );
  // 20 keys of 500 B: each update's frame carries 10 KB of metadata; the buffer holds 16 KiB.
  for (let k = 0; k < 20; k++) node.set(`k${k}`, 'x'.repeat(500));
  const api = await startHttpApi(node, '127.0.0.1:0', { eventBuffer: 1000, eventBufferBytes: 16 * 1024 });
  const streams: EventStream[] = [];
  try {
    const s = new EventStream(api.address);
    streams.push(s);
    assert.equal(await s.status, 200);
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 60; i++) node.set(`k${i % 20}`, `${i}`.padEnd(500, '-'));
    await waitFor(() => s.events.length >= 60, 5_000, 'sixty updates');
    const updates = s.events.filter((e) => e.event === 'update');
    assert.equal(s.events.length, 60);
    assert.equal(
      Object.keys((updates[59]!.data.node as { metadata: object }).metadata).length,
      20,
      'live frames carry the whole metadata',
    );
    // Far fewer than 60 full frames fit in 16 KiB, and far more than one would if frames were kept whole.
    const all = new EventStream(api.address, '/events?since=start');
    streams.push(all);
    await waitFor(() => all.events.length >= 2, 2_000, 'the replay');
    await new Promise((r) => setTimeout(r, 200));
    const kept = all.events.length - 1;
    assert.equal(all.events[0]!.event, 'gap');
    assert.ok(kept > 3 && kept < 60, `kept ${kept} of 60 updates`);
    assert.deepEqual(all.events.slice(1), s.events.slice(-kept), 'the replay is the events as sent live');

    const resumed = new EventStream(api.address, '/events', { 'last-event-id': s.events[0]!.id! });
    streams.push(resumed);
    await waitFor(() => resumed.events.length >= kept + 1, 2_000, 'the resumed replay');
    assert.equal(resumed.events[0]!.event, 'gap');
    assert.equal(resumed.events[0]!.data.reason, 'expired');
    assert.equal(resumed.events[0]!.data.missed, 60 - kept - 1);
    assert.deepEqual(resumed.events.slice(1), s.events.slice(-kept));

    // From a kept id: no gap, exactly the events after it.
    const from = s.events.at(-3)!.id!;
    const tail = new EventStream(api.address, `/events?lastEventId=${from}`);
    streams.push(tail);
    await waitFor(() => tail.events.length >= 2, 2_000, 'the events after a kept id');
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(tail.events, s.events.slice(-2));
  } finally {
    for (const s of streams) s.close();
    await api.close();
    await node.shutdown();
  }
});
