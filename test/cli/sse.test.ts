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
