/**
 * Queries over real UDP: five library nodes on loopback in this process. A query filtered by tag gets
 * acks and answers from exactly the matching members within its timeout; ids narrow it further; a
 * handler's throw comes back as an 'error' answer; an abort or a break ends the iteration; relays
 * deliver each answer once; limits throw QueryError.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Scuttlebutt } from '../../src/index.js';
import { QueryError, type QueryAnswer, type QueryResponses } from '../../src/index.js';
import { CLUSTER, MODES, startCluster, stopAll } from '../adversary/cluster.js';
import { waitFor } from './procs.js';
import { ack, emptyDigest, HostilePeer, nodeDelta, syn } from '../adversary/peer.js';
import { decodeQueryMessage, encodeMessage, PROTOCOL_VERSION } from '../../src/wire/codec.js';
import type { Message } from '../../src/wire/messages.js';
import { open, seal } from '../../src/transport/envelope.js';
import { MAX_UDP_PAYLOAD } from '../../src/wire/envelope-sizes.js';

const ENVELOPE = { keys: [], compress: true, maxPacketBytes: MAX_UDP_PAYLOAD };

const ROLES = ['web', 'db', 'db', 'web', 'db'] as const;
const decoder = new TextDecoder();

async function collect(r: QueryResponses): Promise<{ answers: QueryAnswer[]; endedAfterMs: number }> {
  const start = performance.now();
  const answers: QueryAnswer[] = [];
  for await (const a of r) answers.push(a);
  return { answers, endedAfterMs: performance.now() - start };
}

const from = (answers: readonly QueryAnswer[], kind: QueryAnswer['kind']): string[] =>
  answers
    .filter((a) => a.kind === kind)
    .map((a) => a.from)
    .sort();

describe(`queries over UDP (cluster "${CLUSTER}", 5 nodes)`, () => {
  let nodes: Scuttlebutt[] = [];
  const handled = new Map<string, number>();

  before(async () => {
    nodes = await startCluster(5, MODES[0]!);
    nodes.forEach((node, i) => {
      node.set('role', ROLES[i]!);
      node.onQuery('whoami', (q) => {
        handled.set(node.self.id, (handled.get(node.self.id) ?? 0) + 1);
        return `${node.self.id}/${ROLES[i]} got ${decoder.decode(q.payload)} from ${q.origin}`;
      });
      node.onQuery('fail', () => Promise.reject(new Error(`no luck on ${node.self.id}`)));
      node.onQuery('silent', () => undefined);
      node.onQuery('huge', () => new Uint8Array(5000));
    });
    await waitFor(
      () => nodes.every((n) => n.state().live.every((m) => m.metadata['role'] !== undefined)),
      10_000,
      'every role known everywhere',
    );
    // Every node has heard every other in the newest protocol once each pair has gossiped directly: wait for it, so
    // none is left out as "not asked" by a node that has only heard of a member.
    await waitFor(
      () => nodes.every((n) => (n.stats().packetsInByVersion[PROTOCOL_VERSION] ?? 0) > 20),
      10_000,
      `gossip in protocol ${PROTOCOL_VERSION}`,
    );
  });

  after(() => stopAll(nodes));

  test('a query filtered by tag gets acks and answers from exactly the matching members, within its timeout', async () => {
    const timeoutMs = 1500;
    const receivedBefore = nodes.map((n) => n.stats().queries.received);
    const heard: string[] = [];
    for (const n of nodes) n.once('query', (q) => heard.push(`${n.self.id} ${q.name} ${q.origin}`));
    const r = nodes[0]!.query('whoami', 'ping', { filter: { tags: { role: 'db' } }, timeoutMs });
    const { answers, endedAfterMs } = await collect(r);
    const summary = await r.summary;
    const db = ['n1', 'n2', 'n4'];
    assert.deepEqual(from(answers, 'ack'), db, 'one ack from each db member, none from the others');
    assert.deepEqual(from(answers, 'response'), db, 'one response from each db member');
    for (const a of answers) {
      assert.ok(a.latencyMs >= 0 && a.latencyMs < timeoutMs, `${a.kind} from ${a.from} at ${a.latencyMs} ms`);
      if (a.kind === 'response')
        assert.equal(decoder.decode(a.payload), `${a.from}/db got ping from n0`, 'the handler saw the payload');
    }
    assert.ok(endedAfterMs >= timeoutMs - 20 && endedAfterMs < timeoutMs + 500, `ended after ${endedAfterMs} ms`);
    assert.deepEqual(
      { ...summary, elapsedMs: 0 },
      { asked: 3, notAsked: 0, acks: 3, responses: 3, errors: 0, elapsedMs: 0 },
    );
    assert.ok(summary.elapsedMs >= timeoutMs - 20 && summary.elapsedMs < timeoutMs + 500);
    const receivedNow = nodes.map((n, i) => n.stats().queries.received - receivedBefore[i]!);
    assert.deepEqual(receivedNow, [0, 1, 1, 0, 1], 'only the db members accepted it');
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(heard.sort(), ['n1 whoami n0', 'n2 whoami n0', 'n4 whoami n0'], "on('query') on each");
    assert.equal(nodes[0]!.stats().queries.sent >= 1, true);
  });

  test('ids narrow the filter, tags and ids must both hold, and the querier answers itself when it matches', async () => {
    const both = nodes[3]!.query('whoami', 'b', {
      filter: { tags: { role: 'db' }, ids: ['n1', 'n3', 'n4'] },
      timeoutMs: 600,
    });
    assert.deepEqual(from((await collect(both)).answers, 'response'), ['n1', 'n4']);
    const self = nodes[3]!.query('whoami', 's', { filter: { ids: ['n3', 'n0', 'nobody'] }, timeoutMs: 600 });
    const { answers } = await collect(self);
    assert.deepEqual(from(answers, 'ack'), ['n0', 'n3']);
    assert.deepEqual(from(answers, 'response'), ['n0', 'n3']);
    assert.equal((await self.summary).asked, 2);
    const none = nodes[3]!.query('whoami', 'n', { filter: { tags: { role: 'cache' } }, timeoutMs: 300 });
    assert.deepEqual((await collect(none)).answers, []);
    assert.equal((await none.summary).asked, 0);
    const all = nodes[2]!.query('whoami', 'a', { timeoutMs: 600 });
    assert.deepEqual(from((await collect(all)).answers, 'response'), ['n0', 'n1', 'n2', 'n3', 'n4']);
  });

  test("a handler's throw comes back as an 'error' answer; nothing returned is an ack alone; a handler over the size limit is an error", async () => {
    const failing = nodes[1]!.query('fail', '', { filter: { ids: ['n2', 'n3'] }, timeoutMs: 600 });
    const { answers } = await collect(failing);
    const errors = answers.filter((a) => a.kind === 'error');
    assert.deepEqual(errors.map((a) => `${a.from}: ${a.kind === 'error' ? a.message : ''}`).sort(), [
      'n2: no luck on n2',
      'n3: no luck on n3',
    ]);
    assert.deepEqual(await failing.summary.then((s) => [s.acks, s.responses, s.errors]), [2, 0, 2]);
    const silent = nodes[1]!.query('silent', '', { filter: { ids: ['n2'] }, timeoutMs: 400 });
    assert.deepEqual(
      (await collect(silent)).answers.map((a) => a.kind),
      ['ack'],
    );
    const unknown = nodes[1]!.query('nobody-answers-this', '', { filter: { ids: ['n2'] }, timeoutMs: 400 });
    assert.deepEqual(
      (await collect(unknown)).answers.map((a) => a.kind),
      ['ack'],
      'no handler: an ack only',
    );
    const noAck = nodes[1]!.query('whoami', '', { filter: { ids: ['n2'] }, timeoutMs: 400, ack: false });
    assert.deepEqual(
      (await collect(noAck)).answers.map((a) => a.kind),
      ['response'],
      'ack: false',
    );
    const huge = nodes[1]!.query('huge', '', { filter: { ids: ['n2'] }, timeoutMs: 400 });
    const big = (await collect(huge)).answers.find((a) => a.kind === 'error');
    assert.match(big && big.kind === 'error' ? big.message : '', /5000 bytes, over the limit of 1024/);
  });

  test('an abort ends the iteration at once, and so does a break; the summary resolves with the time it ran', async () => {
    const controller = new AbortController();
    const r = nodes[0]!.query('whoami', 'slow', { timeoutMs: 60_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const { answers, endedAfterMs } = await collect(r);
    assert.ok(endedAfterMs < 1000, `ended ${endedAfterMs} ms after the start, not at the 60 s timeout`);
    assert.equal(answers.filter((a) => a.kind === 'response').length, 5, 'the answers before the abort');
    const s = await r.summary;
    assert.ok(s.elapsedMs >= 280 && s.elapsedMs < 1000, `summary elapsed ${s.elapsedMs}`);
    const aborted = new AbortController();
    aborted.abort();
    const never = nodes[0]!.query('whoami', '', { signal: aborted.signal });
    assert.deepEqual((await collect(never)).answers, []);
    assert.equal((await never.summary).asked, 0, 'an aborted signal: nobody is asked');
    const broken = nodes[0]!.query('whoami', '', { timeoutMs: 60_000 });
    const t0 = performance.now();
    for await (const a of broken) if (a.kind === 'response') break;
    await broken.summary;
    assert.ok(performance.now() - t0 < 1000, 'a break ends the query');
  });

  test('with relays every answer still arrives once, and the relays forward', async () => {
    const relayedBefore = nodes.reduce((s, n) => s + n.stats().queries.relayed, 0);
    const r = nodes[4]!.query('whoami', 'r', { timeoutMs: 800, relayFactor: 2 });
    const { answers } = await collect(r);
    assert.deepEqual(from(answers, 'ack'), ['n0', 'n1', 'n2', 'n3', 'n4']);
    assert.deepEqual(from(answers, 'response'), ['n0', 'n1', 'n2', 'n3', 'n4']);
    const relayed = nodes.reduce((s, n) => s + n.stats().queries.relayed, 0) - relayedBefore;
    // Four remote responders, two answers each, each through two relays.
    assert.equal(relayed, 16, 'every answer forwarded by each of its relays');
  });

  test('query() refuses a bad name, a payload over the limit, a flood, and a closed node', async () => {
    const n = nodes[2]!;
    const reason = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        return e instanceof QueryError ? e.reason : `other: ${String(e)}`;
      }
      return 'accepted';
    };
    assert.equal(
      reason(() => n.query('', 'x')),
      'bad-name',
    );
    assert.equal(
      reason(() => n.query('x'.repeat(129))),
      'bad-name',
    );
    assert.equal(
      reason(() => n.query('whoami', new Uint8Array(1025))),
      'too-large',
    );
    assert.throws(() => n.query('whoami', '', { timeoutMs: 0 }), { code: 'SB_ERR_INVALID_ARG' });
    assert.throws(() => n.query('whoami', '', { relayFactor: 9 }), { code: 'SB_ERR_INVALID_ARG' });
    const results: string[] = [];
    const started: QueryResponses[] = [];
    for (let i = 0; i < 25; i++)
      results.push(reason(() => started.push(n.query('whoami', '', { filter: { ids: ['n2'] }, timeoutMs: 50 }))));
    // The burst (20) minus what this node already asked in this second or so.
    assert.ok(results.includes('rate-limited'), results.join(','));
    assert.ok(results.filter((r) => r === 'accepted').length <= 20);
    await Promise.all(started.map((s) => s.summary));
    assert.throws(
      () => n.onQuery('', () => 'x'),
      (e: unknown) => e instanceof QueryError && e.reason === 'bad-name',
    );
  });

  test('a member heard only in protocol 5 is not asked, and the summary counts it', async () => {
    // A process of the previous release, as the network sees it: a member whose gossip comes in protocol 5.
    const old = await HostilePeer.open(CLUSTER);
    const identity = { id: 'old-release', generation: Date.now(), address: old.address };
    let heartbeat = 1;
    const v5 = (m: Message): Uint8Array => seal(encodeMessage(m, 5), ENVELOPE, { version: 5 });
    const beat = async (): Promise<void> => {
      heartbeat++;
      for (const n of nodes) {
        await old.sendRaw(n.self.address, v5(ack(CLUSTER, [nodeDelta(identity, { heartbeat })])));
        await old.sendRaw(n.self.address, v5(syn(CLUSTER, emptyDigest())));
      }
    };
    await beat();
    const timer = setInterval(() => void beat(), 100);
    try {
      await waitFor(
        () => nodes.every((n) => n.state().live.some((m) => m.id === identity.id)),
        5000,
        'old member live',
      );
      const since = Date.now();
      const r = nodes[0]!.query('whoami', '', { timeoutMs: 500 });
      const { answers } = await collect(r);
      const s = await r.summary;
      assert.deepEqual([s.asked, s.notAsked], [5, 1]);
      assert.deepEqual(from(answers, 'response'), ['n0', 'n1', 'n2', 'n3', 'n4']);
      const queriesToOld = old.received.filter((x) => {
        if (x.at < since) return false;
        try {
          return decodeQueryMessage(open(x.packet, ENVELOPE)).type === 'query';
        } catch {
          return false;
        }
      }).length;
      assert.equal(queriesToOld, 0, 'nothing it could not read was sent to it');
      const tagged = nodes[0]!.query('whoami', '', { filter: { tags: { role: 'db' } }, timeoutMs: 200 });
      await collect(tagged);
      assert.equal((await tagged.summary).notAsked, 0, 'only matching members are counted');
    } finally {
      clearInterval(timer);
      await old.close();
    }
  });

  test('a member heard only in protocol 6 is asked in 6, which it reads, not in the newest', async () => {
    const six = await HostilePeer.open(CLUSTER);
    const identity = { id: 'protocol-6', generation: Date.now(), address: six.address };
    let heartbeat = 1;
    const v6 = (m: Message): Uint8Array => seal(encodeMessage(m, 6), ENVELOPE, { version: 6 });
    const beat = async (): Promise<void> => {
      heartbeat++;
      for (const n of nodes) {
        await six.sendRaw(n.self.address, v6(ack(CLUSTER, [nodeDelta(identity, { heartbeat })])));
        await six.sendRaw(n.self.address, v6(syn(CLUSTER, emptyDigest())));
      }
    };
    await beat();
    const timer = setInterval(() => void beat(), 100);
    try {
      await waitFor(
        () => nodes.every((n) => n.state().live.some((m) => m.id === identity.id)),
        5000,
        'the protocol-6 member live',
      );
      const since = Date.now();
      const r = nodes[0]!.query('whoami', '', { timeoutMs: 500 });
      await collect(r);
      // The five nodes and this member (the previous test's protocol-5 member, not asked, may still be live).
      assert.equal((await r.summary).asked, 6);
      const versions = six.received
        .filter((x) => {
          if (x.at < since) return false;
          try {
            return decodeQueryMessage(open(x.packet, ENVELOPE), 6).type === 'query';
          } catch {
            return false;
          }
        })
        .map((x) => x.packet[2]);
      assert.ok(versions.length > 0, 'it was asked');
      assert.deepEqual(new Set(versions), new Set([6]), 'every copy in protocol 6');
    } finally {
      clearInterval(timer);
      await six.close();
    }
  });

  test('shutdown ends running queries; a closed node refuses new ones', async () => {
    const extra = await startCluster(2, MODES[0]!);
    try {
      const r = extra[0]!.query('whoami', '', { timeoutMs: 60_000 });
      setTimeout(() => void extra[0]!.shutdown(), 200);
      const { endedAfterMs } = await collect(r);
      assert.ok(endedAfterMs < 2000, `ended ${endedAfterMs} ms after`);
      assert.throws(
        () => extra[0]!.query('whoami'),
        (e: unknown) => e instanceof QueryError && e.reason === 'closed',
      );
    } finally {
      await stopAll(extra);
    }
  });
});
