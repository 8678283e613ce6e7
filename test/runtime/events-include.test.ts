/**
 * events({ include }) over real UDP: an iterator that includes user events and queries yields them
 * among the membership events in exactly the order listeners hear them, one without never yields
 * them, the overflow rule covers them, `include` is validated, and (checked by tsc when the tests are
 * built) the iterator's item type follows the include list.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createScuttlebutt,
  defaultLanConfig,
  type MembershipEvent,
  type QueryRecord,
  type Scuttlebutt,
  type UserEventRecord,
} from '../../src/index.js';
import { freePorts } from './procs.js';
import { waitFor } from './procs.js';

const cfg = (id: string, port: number) =>
  defaultLanConfig({
    clusterId: 'events-include',
    node: { id, gossipPublicAddress: `127.0.0.1:${port}` },
    listenAddress: `127.0.0.1:${port}`,
    gossipIntervalMs: 100,
  });

type Item = MembershipEvent | UserEventRecord | QueryRecord;
const text = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

/** One line per event, the same whether a listener or an iterator saw it. */
function label(e: Item): string {
  switch (e.type) {
    case 'user':
      return `user ${e.event.name} ${e.event.origin} ${e.event.ltime} ${text(e.event.payload)}`;
    case 'query':
      return `query ${e.query.name} ${e.query.origin} ${e.query.ltime}`;
    case 'update':
      return `update ${e.node.id} ${e.keys.join(',')}`;
    default:
      return `${e.type} ${e.node.id}`;
  }
}

/** Reads an iterator to its end into `into`. */
async function drain(it: AsyncIterable<Item>, into: string[]): Promise<void> {
  for await (const e of it) into.push(label(e));
}

/** Every event `node` tells its on() listeners, labelled as the iterators' are, in the order heard. */
function listen(node: Scuttlebutt): string[] {
  const heard: string[] = [];
  node.on('live', (m) => heard.push(label({ type: 'live', node: m })));
  node.on('dead', (m, reason) => heard.push(label({ type: 'dead', node: m, reason })));
  node.on('update', (m, keys) => heard.push(label({ type: 'update', node: m, keys })));
  node.on('removed', (m) => heard.push(label({ type: 'removed', node: m })));
  node.on('user', (event) => heard.push(label({ type: 'user', event })));
  node.on('query', (query) => heard.push(label({ type: 'query', query })));
  return heard;
}

test('an iterator with include yields user events and queries among membership events in listener order; one without never does', async () => {
  const [pa, pb, pc] = freePorts(3) as [number, number, number];
  const a = await createScuttlebutt(cfg('a', pa));
  const b = await createScuttlebutt(cfg('b', pb));
  const c = await createScuttlebutt(cfg('c', pc));
  try {
    const heard = listen(a);
    const stop = new AbortController();
    const [plain, users, both]: [string[], string[], string[]] = [[], [], []];
    const reading = Promise.all([
      drain(a.events({ signal: stop.signal }), plain),
      drain(a.events({ signal: stop.signal, include: ['user'] }), users),
      drain(a.events({ signal: stop.signal, include: ['query', 'user'] }), both),
    ]);
    await Promise.all([b.join([`127.0.0.1:${pa}`]), c.join([`127.0.0.1:${pa}`])]);
    await waitFor(() => a.state().live.length === 3 && b.state().live.length === 3, 10_000, 'all see all');
    b.broadcast('deploy', 'one', { coalesce: false });
    b.broadcast('deploy', 'two', { coalesce: false });
    a.broadcast('own', 'mine', { coalesce: false });
    c.set('role', 'db');
    await b.query('whoami', '', { timeoutMs: 1000 }).summary;
    await waitFor(
      () => heard.filter((l) => l.startsWith('user ')).length === 3 && heard.some((l) => l.startsWith('query ')),
      10_000,
      'a heard the three events and the query',
    );
    await b.leave();
    await waitFor(() => heard.includes('dead b'), 10_000, 'a saw b leave');
    // Listeners and iterators are handed each event on the same turn: stopping both in one turn compares like with like.
    stop.abort();
    const all = [...heard];
    await reading;

    const isUser = (l: string): boolean => l.startsWith('user ');
    const isQuery = (l: string): boolean => l.startsWith('query ');
    assert.deepEqual(both, all, 'user events and queries included: every event, in listener order');
    assert.deepEqual(
      users,
      all.filter((l) => !isQuery(l)),
      "include ['user']: no queries, the rest in order",
    );
    assert.deepEqual(
      plain,
      all.filter((l) => !isUser(l) && !isQuery(l)),
      'no include: membership events only',
    );
    assert.equal(users.filter(isUser).length, 3);
    // A user event from b is accepted only once a knows b: b's live comes first, and b's events come in its order.
    const at = (l: string | undefined): number => users.indexOf(l ?? 'missing');
    const fromB = users.filter((l) => l.startsWith('user deploy b '));
    assert.deepEqual(
      fromB.map((l) => l.split(' ')[4]),
      ['one', 'two'],
    );
    assert.ok(at('live b') < at(fromB[0]), users.join('\n'));
    assert.ok(at(fromB[1]) < at('dead b'), users.join('\n'));
    assert.ok(
      users.some((l) => /^user own a \d+ mine$/.test(l)),
      'its own broadcast too',
    );
    assert.equal(a.stats().eventsOverflowed, 0);
  } finally {
    await Promise.all([a.shutdown(), b.shutdown(), c.shutdown()]);
  }
});

test('in one process: the buffer bounds included events as it does membership events, and include is validated', async () => {
  const node = await createScuttlebutt({
    clusterId: 'events-include',
    node: { id: 'solo', gossipPublicAddress: '127.0.0.1:0' },
    listenAddress: '127.0.0.1:0',
  });
  try {
    const stop = new AbortController();
    const small = node.events({ signal: stop.signal, buffer: 2, include: ['user'] });
    // Never read, one event of room: only membership events could overflow it, and this node makes none.
    node.events({ signal: stop.signal, buffer: 1 });
    const delivered: number[] = [];
    node.on('user', (e) => delivered.push(e.ltime));
    for (let i = 0; i < 5; i++) node.broadcast('tick', String(i), { coalesce: false });
    await waitFor(() => delivered.length === 5, 5000, 'its five events delivered to it');
    assert.equal(node.stats().eventsOverflowed, 3, 'the three oldest lost by the reader two behind, and no more');
    const kept = [(await small.next()).value, (await small.next()).value];
    assert.deepEqual(
      kept.map((e) => (e?.type === 'user' ? text(e.event.payload) : e?.type)),
      ['3', '4'],
      'the newest two kept',
    );
    stop.abort();
    assert.equal((await small.next()).done, true);

    for (const include of [['users'], ['user', 'live'], 'user', [undefined]])
      assert.throws(
        () => node.events({ include: include as never }),
        (err: Error & { code?: string }) =>
          err.name === 'InvalidArgumentError' &&
          err.code === 'SB_ERR_INVALID_ARG' &&
          err.message.includes("allowed: 'user', 'query'"),
        JSON.stringify(include),
      );
    // Compile-time checks (tsc fails the build if a line below stops being an error).
    // @ts-expect-error: 'users' is not an includable event name
    assert.throws(() => node.events({ include: ['users'] }));
    // @ts-expect-error: membership events always come, so they are not includable
    assert.throws(() => node.events({ include: ['live'] }));
  } finally {
    await node.shutdown();
  }
});

/** `true` only when A and B are the same type (not merely assignable either way). */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type ItemOf<It> = It extends AsyncIterableIterator<infer T> ? T : never;

test('the item type follows the include list (checked by tsc)', async () => {
  const node = await createScuttlebutt({
    node: { id: 't', gossipPublicAddress: '127.0.0.1:0' },
    listenAddress: '127.0.0.1:0',
  });
  try {
    const plain = node.events();
    const none = node.events({ include: [] });
    const users = node.events({ include: ['user'] });
    const queries = node.events({ include: ['query'] });
    const both = node.events({ include: ['user', 'query'] });
    const checks: [
      Equal<ItemOf<typeof plain>, MembershipEvent>,
      Equal<ItemOf<typeof none>, MembershipEvent>,
      Equal<ItemOf<typeof users>, MembershipEvent | UserEventRecord>,
      Equal<ItemOf<typeof queries>, MembershipEvent | QueryRecord>,
      Equal<ItemOf<typeof both>, MembershipEvent | UserEventRecord | QueryRecord>,
    ] = [true, true, true, true, true];
    assert.deepEqual(checks, [true, true, true, true, true]);
    for (const it of [none, queries, both]) await it.return?.();
    // Existing callers that name the old type still compile.
    const old: AsyncIterableIterator<MembershipEvent> = plain;
    void old;
    const narrowed = async (): Promise<string | undefined> => {
      for await (const e of users) if (e.type === 'user') return e.event.name; // e narrowed to UserEventRecord
      for await (const e of plain) {
        // @ts-expect-error: an iterator without include yields no user events, so the comparison cannot hold
        if (e.type === 'user') return 'impossible';
      }
      return undefined;
    };
    void narrowed;
  } finally {
    await node.shutdown();
  }
});
