/**
 * MemberEvents alone (no socket): delivery on a later turn to every kind of listener, a throwing
 * listener reported without stopping the others, bounded iterators, and their end; user events and
 * queries to their listeners and to the iterators that include them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MemberInfo, MembershipEvent, QueryRequest, UserEvent } from '../../src/runtime/api.js';
import { MemberEvents } from '../../src/runtime/member-events.js';

const member = (id: string): MemberInfo => ({
  id,
  generation: 1,
  address: `10.0.0.1:${id.length}`,
  status: 'live',
  heartbeat: 1,
  metadata: {},
});
const live = (id: string): MembershipEvent => ({ type: 'live', node: member(id) });
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('events reach on() listeners, callbacks and iterators on a later turn; a throwing listener is reported and the rest still run', async () => {
  const heard: string[] = [];
  const failures: string[] = [];
  const events = new MemberEvents({
    listeners: (type) =>
      type === 'live'
        ? [
            () => {
              throw new Error('boom');
            },
            (m) => void heard.push(`on ${(m as MemberInfo).id}`),
          ]
        : [],
    callbacks: { notifyLive: (m) => void heard.push(`notifyLive ${m.id}`) },
    onListenerError: (event, listener, err) => void failures.push(`${event} ${listener} ${(err as Error).message}`),
    onOverflow: () => assert.fail('no overflow expected'),
  });
  const stream = events.stream({});
  let after = false;
  events.deliverLater([live('a'), live('b')], () => (after = true));
  assert.deepEqual(heard, [], 'nothing on the publishing turn');
  await turn();
  assert.deepEqual(heard, ['on a', 'notifyLive a', 'on b', 'notifyLive b']);
  assert.deepEqual(failures, ['live on boom', 'live on boom']);
  assert.ok(after, 'then runs after the batch');
  assert.deepEqual((await stream.next()).value, live('a'));
  assert.deepEqual((await stream.next()).value, live('b'));
  events.end();
  assert.deepEqual(await stream.next(), { value: undefined, done: true });
});

test('a reader that falls behind loses the oldest events, counted; abort and end() close iterators', async () => {
  let overflows = 0;
  const events = new MemberEvents({
    listeners: () => [],
    callbacks: undefined,
    onListenerError: () => assert.fail('no listener'),
    onOverflow: () => void overflows++,
  });
  const small = events.stream({ buffer: 2 });
  const controller = new AbortController();
  const aborted = events.stream({ signal: controller.signal });
  controller.abort();
  events.deliverLater(['a', 'b', 'c', 'd'].map(live));
  await turn();
  assert.equal(overflows, 2);
  assert.deepEqual([(await small.next()).value, (await small.next()).value], [live('c'), live('d')]);
  assert.equal((await aborted.next()).done, true, 'an aborted iterator gets nothing more');
  const waiting = small.next();
  events.end();
  assert.deepEqual(await waiting, { value: undefined, done: true });
  assert.equal((await events.stream({ signal: AbortSignal.abort() }).next()).done, true);
});

test('user events and queries reach their on() listeners at once, and only the iterators that include them', async () => {
  const heard: string[] = [];
  const failures: string[] = [];
  const events = new MemberEvents({
    listeners: (type) =>
      type === 'user'
        ? [
            () => {
              throw new Error('boom');
            },
            (e) => void heard.push(`on user ${(e as UserEvent).name}`),
          ]
        : type === 'query'
          ? [(q) => void heard.push(`on query ${(q as QueryRequest).id}`)]
          : [],
    callbacks: undefined,
    onListenerError: (event, listener, err) => void failures.push(`${event} ${listener} ${(err as Error).message}`),
    onOverflow: () => assert.fail('no overflow expected'),
  });
  const user: UserEvent = { name: 'deploy', payload: new Uint8Array([1]), ltime: 3, origin: 'b', coalesce: false };
  const query: QueryRequest = { name: 'who', payload: new Uint8Array(), origin: 'c', ltime: 1, id: 'c-1-1' };
  const plain = events.stream({});
  const users = events.stream({ include: ['user'] });
  const both = events.stream({ include: ['user', 'query'] });
  events.deliverLater([live('b')]);
  await turn();
  events.deliverUser(user);
  events.deliverQuery(query);
  assert.deepEqual(heard, ['on user deploy', 'on query c-1-1'], 'on the calling turn, not a later one');
  assert.deepEqual(failures, ['user on boom']);
  events.end();
  const all = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
    const out: T[] = [];
    for await (const e of it) out.push(e);
    return out;
  };
  assert.deepEqual(await all(plain), [live('b')]);
  assert.deepEqual(await all(users), [live('b'), { type: 'user', event: user }]);
  assert.deepEqual(await all(both), [live('b'), { type: 'user', event: user }, { type: 'query', query }]);
});
