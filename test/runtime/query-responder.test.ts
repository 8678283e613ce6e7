/**
 * The responder's side of queries alone (no socket, a hand-driven clock): who is answered, what a copy
 * or a replay gets, the per-querier rate, a new incarnation, the relay, and what a handler's result
 * becomes. The same guards over real UDP: test/adversary/queries.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ScuttlebuttCore } from '../../src/core/core.js';
import type { NodeIdentity } from '../../src/wire/messages.js';
import type { QueryMessage } from '../../src/wire/query-messages.js';
import type { QueryRequest } from '../../src/runtime/api.js';
import { MAX_RESENDS, QueryResponder, type QueryAnswerMessage } from '../../src/runtime/query-responder.js';
import { queryLimits } from '../../src/runtime/query-limits.js';

const self: NodeIdentity = { id: 'me', generation: 1, address: '10.0.0.1:9111' };
const alice: NodeIdentity = { id: 'alice', generation: 5, address: '10.0.0.2:9111' };
const bob: NodeIdentity = { id: 'bob', generation: 7, address: '10.0.0.3:9111' };

function setup(members: NodeIdentity[] = [self, alice, bob], tags: Record<string, string> = { role: 'db' }) {
  let now = 1000;
  const sent: { to: string; m: QueryAnswerMessage | QueryMessage }[] = [];
  const accepted: QueryRequest[] = [];
  const live = new Map(members.map((m) => [m.id, m]));
  const core = { liveIdentity: (id: string) => live.get(id), get: (k: string) => tags[k] };
  const responder = new QueryResponder(
    {
      core: core as unknown as ScuttlebuttCore,
      self,
      clusterId: 'c',
      now: () => now,
      send: (to, m) => void sent.push({ to, m }),
      relayCandidates: () => members.filter((m) => m.id !== self.id),
      random: () => 0,
    },
    queryLimits({ ratePerSecond: 1, burst: 2 }),
    { accepted: (q) => void accepted.push(q), refused: () => {}, capacity: 100 },
  );
  return { responder, sent, accepted, live, tick: (ms: number) => (now += ms) };
}

const query = (origin: NodeIdentity, ltime: number, o: Partial<QueryMessage> = {}): QueryMessage => ({
  type: 'query',
  clusterId: 'c',
  origin: origin.id,
  generation: origin.generation,
  ltime,
  ack: true,
  timeoutMs: 1000,
  relayFactor: 0,
  tags: {},
  name: 'q',
  payload: new Uint8Array(0),
  ...o,
});
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test('a query is accepted only from the live member it names, at its address, in its generation', () => {
  const { responder, sent, accepted, live } = setup();
  responder.receiveQuery('10.9.9.9:1', query(alice, 1)); // a stranger's address
  responder.receiveQuery(bob.address, query(alice, 2)); // another member's address
  responder.receiveQuery(alice.address, query({ ...alice, generation: 4 }, 3)); // an older incarnation
  responder.receiveQuery(alice.address, query(alice, 4, { clusterId: 'other' }));
  responder.receiveQuery(self.address, query(self, 5)); // this node's own name, from the network
  responder.receiveQuery(alice.address, query({ ...alice, id: 'ghost' }, 6)); // no such member
  assert.deepEqual([sent.length, accepted.length, responder.counts.refused], [0, 0, 6]);
  responder.receiveQuery(alice.address, query(alice, 7));
  assert.deepEqual(
    sent.map((s) => [s.to, s.m.type]),
    [[alice.address, 'queryAck']],
  );
  assert.equal(accepted[0]?.id, 'alice:5:7');
  live.delete('alice'); // dead now
  responder.receiveQuery(alice.address, query(alice, 8));
  assert.equal(accepted.length, 1);
});

test('a copy runs nothing and draws the answers again at most MAX_RESENDS times; past the timeout, older queries are refused', async () => {
  const { responder, sent, accepted, tick } = setup();
  let runs = 0;
  responder.handlers.set('q', () => `run ${++runs}`);
  responder.receiveQuery(alice.address, query(alice, 10));
  await turn();
  await turn();
  assert.deepEqual(
    sent.map((s) => s.m.type),
    ['queryAck', 'queryResponse'],
  );
  for (let i = 0; i < MAX_RESENDS + 3; i++) responder.receiveQuery(alice.address, query(alice, 10));
  await turn();
  assert.equal(runs, 1);
  assert.equal(sent.length, 2 + 2 * MAX_RESENDS, 'the ack and the response, MAX_RESENDS times, then nothing');
  tick(1001);
  responder.receiveQuery(alice.address, query(alice, 11)); // expires 10: the floor is 10 now
  const before = sent.length;
  responder.receiveQuery(alice.address, query(alice, 10));
  responder.receiveQuery(alice.address, query(alice, 9));
  assert.equal(sent.length, before, 'at or below an expired query: refused outright');
  assert.deepEqual(
    accepted.map((q) => q.ltime),
    [10, 11],
  );
  // A restarted querier (a new generation) starts its clock again: its queries are new.
  responder.receiveQuery(alice.address, query({ ...alice, generation: 6 }, 1));
  assert.equal(accepted.length, 2, 'not while the membership holds the old incarnation');
});

test("each querier is held to twice the responder's rate and burst; tags it does not carry are refused", () => {
  const { responder, accepted, tick } = setup();
  for (let i = 1; i <= 10; i++) responder.receiveQuery(alice.address, query(alice, i));
  assert.equal(accepted.length, 4, 'twice the burst of 2');
  tick(500); // twice 1 a second: one token back
  responder.receiveQuery(alice.address, query(alice, 11));
  responder.receiveQuery(alice.address, query(alice, 12));
  assert.equal(accepted.length, 5);
  responder.receiveQuery(bob.address, query(bob, 1));
  assert.equal(accepted.length, 6, 'another querier has its own allowance');
  responder.receiveQuery(bob.address, query(bob, 2, { tags: { role: 'web' } }));
  responder.receiveQuery(bob.address, query(bob, 3, { tags: { role: 'db' } }));
  assert.deepEqual(
    accepted.slice(6).map((q) => q.ltime),
    [3],
  );
});

test("a handler's result: bytes, nothing, a throw, too many bytes, too late", async () => {
  const { responder, sent, tick } = setup();
  const results: Record<string, () => unknown> = {
    text: () => 'ok',
    none: () => undefined,
    throws: () => {
      throw new Error('boom');
    },
    big: () => new Uint8Array(1025),
    number: () => 42,
  };
  for (const name of Object.keys(results)) responder.handlers.set(name, results[name] as () => string);
  let release!: () => void;
  responder.handlers.set('slow', () => new Promise<string>((r) => (release = () => r('late'))));
  const names = [...Object.keys(results), 'slow'];
  // Three queries from each of two members: within each one's burst (twice 2).
  names.forEach((name, i) => {
    const from = i % 2 === 0 ? alice : bob;
    responder.receiveQuery(from.address, query(from, i + 1, { name, ack: false }));
  });
  await turn();
  await turn();
  tick(2000);
  release();
  await turn();
  await turn();
  const answers = sent.map((s) => s.m as QueryAnswerMessage & { error?: boolean; payload?: Uint8Array });
  const text = (a: (typeof answers)[number]) =>
    `${a.ltime} ${a.error ? 'error' : 'ok'} ${new TextDecoder().decode(a.payload)}`;
  // Nothing for 'none' (2), and nothing past the timeout for 'slow' (6).
  assert.deepEqual(answers.map(text).sort(), [
    '1 ok ok',
    '3 error boom',
    '4 error the response of "big" is 1025 bytes, over the limit of 1024',
    '5 error the handler of "number" returned a number, not a string or bytes',
  ]);
});

test('a relay forwards an answer once, to the querier, and only when the responder itself sent it', () => {
  const { responder, sent } = setup();
  const ack: QueryAnswerMessage = {
    type: 'queryAck',
    clusterId: 'c',
    origin: alice.id,
    ltime: 3,
    from: bob.id,
    relay: true,
    responds: false,
  };
  responder.relay('10.9.9.9:1', ack); // not from bob
  responder.relay(bob.address, { ...ack, origin: 'ghost' }); // no such querier
  assert.equal(sent.length, 0);
  responder.relay(bob.address, ack);
  responder.relay(bob.address, ack); // a copy
  assert.deepEqual(sent, [{ to: alice.address, m: { ...ack, relay: false } }]);
  assert.deepEqual([responder.counts.relayed, responder.counts.stray], [1, 3]);
});

test('with a relay factor, each answer also goes through that many other members, never the querier', () => {
  const carol = { id: 'carol', generation: 1, address: '10.0.0.4:9111' };
  const { responder, sent } = setup([self, alice, bob, carol]);
  responder.receiveQuery(alice.address, query(alice, 1, { relayFactor: 2 }));
  assert.deepEqual(sent.map((s) => `${s.to} ${(s.m as QueryAnswerMessage).relay}`).sort(), [
    `${alice.address} false`,
    `${bob.address} true`,
    `${carol.address} true`,
  ]);
});
