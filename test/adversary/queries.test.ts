/**
 * Queries under attack, against real nodes over real UDP (docs/security.md, docs/building-on-membership.md
 * "Queries"): a stranger's query is never answered and draws no bytes (the 3x rule holds trivially: zero),
 * whoever it claims to be; a stranger cannot make members relay answers; a replayed query does not run its
 * handler again and draws a bounded number of copies of the answers already sent (none with a keyring, none
 * once the query has timed out); a member's query flood is held to the rate.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Scuttlebutt } from '../../src/index.js';
import type { NodeIdentity } from '../../src/wire/messages.js';
import { decodeQueryMessage, encodeQueryMessage } from '../../src/wire/codec.js';
import type { QueryMessage, QueryWireMessage } from '../../src/wire/query-messages.js';
import { open, seal, type EnvelopeOptions } from '../../src/transport/envelope.js';
import { MAX_UDP_PAYLOAD } from '../../src/wire/envelope-sizes.js';
import { DEFAULT_QUERY_BURST, RESPONDER_RATE_SLACK } from '../../src/runtime/query-limits.js';
import { MAX_RESENDS } from '../../src/runtime/query-responder.js';
import { waitFor } from '../runtime/procs.js';
import { ack, HostilePeer, nodeDelta } from './peer.js';
import { CLUSTER, INTERVAL_MS, isLive, MODES, sleep, startCluster, stopAll } from './cluster.js';

/** How long after the last packet an answer would have arrived on loopback. */
const SETTLE_MS = 300;

for (const mode of MODES) {
  describe(`queries under attack, ${mode.name} (the attacker ${mode.keys.length > 0 ? 'holds the key' : 'is on the network'})`, () => {
    let nodes: Scuttlebutt[] = [];
    const runs = new Map<string, number>();
    const envelope: EnvelopeOptions = { keys: mode.keys, compress: true, maxPacketBytes: MAX_UDP_PAYLOAD };
    const sealQuery = (m: QueryWireMessage): Uint8Array => seal(encodeQueryMessage(m), envelope);
    /** The query messages a peer received from `from` (since `since`), opened and decoded. */
    const answersAt = (peer: HostilePeer, from: string, since = 0): QueryWireMessage[] =>
      peer.received
        .filter((r) => r.from === from && r.at >= since)
        .flatMap((r) => {
          try {
            return [decodeQueryMessage(open(r.packet, envelope))];
          } catch {
            return [];
          }
        });
    const total = (f: (n: Scuttlebutt) => number): number => nodes.reduce((s, n) => s + f(n), 0);

    before(async () => {
      nodes = await startCluster(5, mode);
      for (const n of nodes)
        n.onQuery('exec', () => {
          runs.set(n.self.id, (runs.get(n.self.id) ?? 0) + 1);
          return 'done';
        });
    });
    after(() => stopAll(nodes));

    /**
     * A hostile peer made a member: it introduces itself at its own address and keeps beating, as any
     * process that joins can (with a keyring, only a key holder).
     */
    async function hostileMember(): Promise<{ peer: HostilePeer; identity: NodeIdentity; stop: () => Promise<void> }> {
      const peer = await HostilePeer.open(CLUSTER, mode.keys);
      const identity = { id: `spy-${peer.address}`, generation: Date.now(), address: peer.address };
      let heartbeat = 1;
      const beat = async (): Promise<void> => {
        heartbeat++;
        for (const n of nodes) await peer.send(n.self.address, ack(CLUSTER, [nodeDelta(identity, { heartbeat })]));
      };
      await beat();
      const timer = setInterval(() => void beat(), INTERVAL_MS);
      await waitFor(() => nodes.every((n) => isLive(n, identity.id, identity.generation)), 5000, 'the spy is a member');
      return {
        peer,
        identity,
        stop: async () => {
          clearInterval(timer);
          await peer.close();
        },
      };
    }

    const queryOf = (origin: NodeIdentity, ltime: number, timeoutMs = 1000): QueryMessage => ({
      type: 'query',
      clusterId: CLUSTER,
      origin: origin.id,
      generation: origin.generation,
      ltime,
      ack: true,
      timeoutMs,
      relayFactor: 2,
      tags: {},
      name: 'exec',
      payload: new Uint8Array(0),
    });

    test("a stranger's query is never answered, whoever it claims to be, and draws no bytes back (3x rule: 0x)", async (t) => {
      const stranger = await HostilePeer.open(CLUSTER, mode.keys);
      try {
        const victim = nodes[0]!;
        const runsBefore = total((n) => runs.get(n.self.id) ?? 0);
        const refusedBefore = total((n) => n.stats().queries.refused);
        const strayBefore = victim.stats().queries.stray;
        const made = { id: 'made-up', generation: 1, address: stranger.address };
        let sent = 0;
        for (const n of nodes.slice(1)) {
          // Claiming to be the victim (answers would go to it: a reflection), and claiming a name nobody has.
          sent += await stranger.sendRaw(n.self.address, sealQuery(queryOf(victim.self, 1_000_000)));
          sent += await stranger.sendRaw(n.self.address, sealQuery(queryOf(made, 1)));
          // An answer "for relay" in a member's name: a relay forwards only what the responder itself sent it.
          sent += await stranger.sendRaw(
            n.self.address,
            sealQuery({
              type: 'queryResponse',
              clusterId: CLUSTER,
              origin: victim.self.id,
              ltime: 1,
              from: nodes[2]!.self.id,
              relay: true,
              error: false,
              payload: new Uint8Array(900),
            }),
          );
        }
        await sleep(SETTLE_MS);
        const back = nodes.reduce((s, n) => s + stranger.bytesFrom(n.self.address), 0);
        t.diagnostic(`stranger sent ${sent} B of queries, got ${back} B back`);
        assert.ok(back <= 3 * sent, `${back} B back for ${sent} B`);
        assert.equal(back, 0, 'not a byte back to a stranger');
        assert.equal(
          total((n) => runs.get(n.self.id) ?? 0),
          runsBefore,
          'no handler ran',
        );
        assert.ok(total((n) => n.stats().queries.refused) - refusedBefore >= 8, 'each query refused and counted');
        assert.equal(victim.stats().queries.stray, strayBefore, 'nothing reached the victim, directly or relayed');
      } finally {
        await stranger.close();
      }
    });

    test('a replayed query is refused: its handler runs once; a copy draws a bounded re-send, none once timed out', async () => {
      const spy = await hostileMember();
      try {
        const target = nodes[1]!;
        const to = target.self.address;
        const before = runs.get(target.self.id) ?? 0;
        const q = queryOf(spy.identity, 7, 1000);
        const recorded = sealQuery(q);
        const start = Date.now();
        await spy.peer.sendRaw(to, recorded);
        await waitFor(() => answersAt(spy.peer, to, start).some((m) => m.type === 'queryResponse'), 2000, 'answered');
        assert.equal(runs.get(target.self.id), before + 1);
        const refused = target.stats().queries.refused;
        const replayed = target.stats().dropped['envelope:replayed'] ?? 0;
        const since = Date.now();
        for (let i = 0; i < 10; i++) await spy.peer.sendRaw(to, recorded);
        await sleep(SETTLE_MS);
        assert.equal(runs.get(target.self.id), before + 1, 'the handler did not run again');
        const resent = answersAt(spy.peer, to, since).length;
        if (mode.keys.length > 0) {
          // The envelope's replay window drops the very bytes again before they are decoded.
          assert.equal((target.stats().dropped['envelope:replayed'] ?? 0) - replayed, 10);
          assert.equal(resent, 0);
        } else {
          assert.equal(target.stats().queries.refused - refused, 10, 'each copy refused and counted');
          // The ack and the response, again, at most MAX_RESENDS times: what a lost answer needs, no more.
          assert.ok(resent <= 2 * MAX_RESENDS, `${resent} answers re-sent for 10 copies`);
        }
        // Past the query's timeout, even a freshly sealed copy (new nonce) gets nothing: it is older than what expired.
        await sleep(Math.max(0, start + q.timeoutMs + 100 - Date.now()));
        await spy.peer.sendRaw(to, sealQuery({ ...q, ltime: 8, timeoutMs: 1 }));
        await sleep(50);
        const late = Date.now();
        const refusedLate = target.stats().queries.refused;
        await spy.peer.sendRaw(to, sealQuery(q));
        await sleep(SETTLE_MS);
        assert.equal(answersAt(spy.peer, to, late).length, 0, 'a replay after the timeout draws nothing');
        assert.equal(target.stats().queries.refused - refusedLate, 1);
        assert.equal(runs.get(target.self.id), before + 2, 'the only other run is query 8');
      } finally {
        await spy.stop();
      }
    });

    test("a member's query flood is held to the rate: handlers run at most the responder's burst, the rest refused", async (t) => {
      const spy = await hostileMember();
      try {
        const target = nodes[2]!;
        const to = target.self.address;
        const before = runs.get(target.self.id) ?? 0;
        const refused = target.stats().queries.refused;
        const flood = 300;
        const start = Date.now();
        for (let i = 0; i < flood; i++)
          await spy.peer.sendRaw(to, sealQuery({ ...queryOf(spy.identity, 100 + i), relayFactor: 0 }));
        const elapsedS = (Date.now() - start) / 1000;
        await sleep(SETTLE_MS);
        const ran = (runs.get(target.self.id) ?? 0) - before;
        const cap = RESPONDER_RATE_SLACK * (DEFAULT_QUERY_BURST + 10 * (elapsedS + SETTLE_MS / 1000));
        t.diagnostic(`${flood} queries in ${elapsedS.toFixed(2)} s: ${ran} ran, cap ${cap.toFixed(0)}`);
        assert.ok(ran >= RESPONDER_RATE_SLACK * DEFAULT_QUERY_BURST, `the burst is served (${ran})`);
        assert.ok(ran <= cap, `${ran} handler runs for ${flood} queries`);
        assert.equal(target.stats().queries.refused - refused, flood - ran, 'every other one refused and counted');
      } finally {
        await spy.stop();
      }
    });
  });
}
