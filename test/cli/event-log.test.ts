/** The /events resume buffer on its own: frames rebuilt from kept changes, the count and byte bounds, gaps. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventLog } from '../../src/cli/event-log.js';
import { seededRandom } from '../../src/core/random.js';
import type { MemberInfo, MembershipEvent } from '../../src/runtime/api.js';

const member = (id: string, metadata: Record<string, string>, heartbeat = 1): MemberInfo => ({
  id,
  generation: 7,
  address: `10.0.0.1:${id.length}`,
  status: 'live',
  heartbeat,
  metadata,
});

/** A log with a listener that records every frame as a connected client receives it. */
function recorded(capacity: number, maxBytes: number): { log: EventLog; live: string[] } {
  const log = new EventLog(42, { capacity, maxBytes });
  const live: string[] = [];
  log.listeners.add((f) => live.push(f));
  return { log, live };
}

test('replayed frames are the frames sent live, byte for byte, after evictions of sets in place and moved to the end, deletes, re-adds, reorders and index keys', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const rng = seededRandom(seed);
    const pick = (n: number): number => Math.floor(rng.next() * n);
    const { log, live } = recorded(1 + pick(40), 2_000 + pick(20_000));
    // The runtime's metadata objects are plain objects, built afresh for each event.
    const views = new Map<string, Record<string, string>>();
    const keys = ['a', 'b', 'c', '7', '12', '__proto__', 'long'];
    for (let step = 0; step < 400; step++) {
      const id = `n${pick(4)}`;
      const prev = views.get(id) ?? {};
      const next: Record<string, string> = {};
      const roll = rng.next();
      if (roll < 0.05) {
        // Reordered keys: the log must notice and keep the whole metadata.
        for (const k of Object.keys(prev).reverse())
          Object.defineProperty(next, k, { value: prev[k], enumerable: true, writable: true, configurable: true });
      } else {
        for (const k of Object.keys(prev))
          Object.defineProperty(next, k, { value: prev[k], enumerable: true, writable: true, configurable: true });
        // One or two keys changed; members n0 and n1 list keys by write order, as the node's own
        // view does (a key written moves to the end); n2 and n3 mostly change keys where they are,
        // and now and then move one as well (neither way rebuilds that: the whole metadata is kept).
        for (let c = pick(2); c >= 0; c--) {
          const k = keys[pick(keys.length)] as string;
          if (roll < 0.25) delete next[k];
          else {
            if (id < 'n2' || rng.next() < 0.1) delete next[k];
            Object.defineProperty(next, k, {
              value: k === 'long' ? 'x'.repeat(pick(3000)) : `v${step}.${c}`,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          }
        }
      }
      views.set(id, next);
      const e: MembershipEvent =
        roll > 0.97
          ? { type: 'removed', node: member(id, next, step) }
          : { type: 'update', node: member(id, next, step), keys: ['a'] };
      if (e.type === 'removed') views.delete(id);
      if (roll > 0.9 && roll < 0.92) log.addOther('throttled', { rate: step, backlog: 1 });
      else log.add(e);
      if (step % 37 === 0 || step === 399) {
        const kept = log.size.events;
        const replay = log.since('start');
        const expected = live.slice(live.length - kept);
        const frames = replay[0]?.startsWith('event: gap') ? replay.slice(1) : replay;
        assert.deepEqual(frames, expected, `seed ${seed}, step ${step}`);
        // Resuming from any kept id gives exactly the frames after it.
        if (kept > 1) {
          const from = live.length - kept + pick(kept - 1);
          const id = /^id: (\S+)/.exec(live[from] as string)?.[1] as string;
          assert.deepEqual(log.since(id), live.slice(from + 1), `seed ${seed}, resume after ${id}`);
        }
      }
    }
  }
});

test('the byte bound holds what the changes cost, not each event times the whole metadata', () => {
  // 50 keys of 200 B: 10 KB of metadata, one key changed an event (the workload).
  const metadata: Record<string, string> = {};
  for (let k = 0; k < 50; k++) metadata[`key${k}`] = 'v'.repeat(200);
  const { log, live } = recorded(1000, 1 << 30);
  for (let i = 0; i < 1000; i++) {
    const next = { ...metadata, [`key${i % 50}`]: `${i}`.padEnd(200, 'w') };
    Object.assign(metadata, next);
    log.add({ type: 'update', node: member('writer', next, i), keys: [`key${i % 50}`] });
  }
  const framed = live.reduce((n, f) => n + f.length, 0);
  assert.equal(log.size.events, 1000);
  assert.ok(framed > 10_000_000, `the frames themselves are over 10 MB (${framed})`);
  // The first entry holds the whole metadata (10 KB), every other one its changed key: well under a tenth.
  assert.ok(log.size.bytes < framed / 10, `held ${log.size.bytes} B for ${framed} B of frames`);
  assert.ok(log.size.bytes > 1000 * 200, 'each entry still holds its changed value');
});

test('the oldest events leave first when the bytes are reached, the newest stays whatever its size, and the count bound still holds', () => {
  const { log, live } = recorded(1000, 4096);
  for (let i = 0; i < 100; i++)
    log.add({ type: 'update', node: member('m', { k: `${i}`.padEnd(300, '.') }, i), keys: ['k'] });
  assert.ok(log.size.bytes <= 4096, `held ${log.size.bytes}`);
  assert.ok(log.size.events >= 5 && log.size.events < 100, `kept ${log.size.events}`);
  log.add({ type: 'update', node: member('m', { k: 'x'.repeat(10_000) }, 100), keys: ['k'] });
  assert.equal(log.size.events, 1);
  assert.deepEqual(log.since('start').slice(1), [live.at(-1)]);
  const counted = recorded(3, 1 << 30).log;
  for (let i = 0; i < 10; i++) counted.addOther('throttled', { rate: i, backlog: 0 });
  assert.equal(counted.size.events, 3);
});

test('a resume from an evicted id gets a gap with the count missed, then every kept event rebuilt', () => {
  const { log, live } = recorded(1000, 8192);
  const md: Record<string, string> = { role: 'db' };
  for (let i = 1; i <= 60; i++) {
    md[`k${i % 7}`] = `${i}`.padEnd(150, '-');
    log.add({ type: 'update', node: member('w', { ...md }, i), keys: [`k${i % 7}`] });
  }
  const kept = log.size.events;
  assert.ok(kept < 60);
  const oldest = 60 - kept + 1;
  const replay = log.since('42-3');
  assert.match(replay[0] as string, /^event: gap\n/);
  const gap = JSON.parse((replay[0] as string).split('data: ')[1] as string) as {
    reason: string;
    missed: number;
    lastEventId: string;
  };
  assert.deepEqual([gap.reason, gap.missed, gap.lastEventId], ['expired', oldest - 1 - 3, '42-3']);
  assert.deepEqual(replay.slice(1), live.slice(oldest - 1));
  // The last id evicted resumes without a gap: nothing after it is missing.
  assert.deepEqual(log.since(`42-${oldest - 1}`), live.slice(oldest - 1));
  assert.match(log.since('41-70')[0] as string, /"reason":"restarted"/);
  assert.match(log.since('42-61')[0] as string, /"reason":"unrecognised"/);
});
