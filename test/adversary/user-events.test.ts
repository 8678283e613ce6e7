/**
 * User events against a hostile peer on the network, real nodes over real UDP: a stranger's event
 * (forged in a member's name) is delivered nowhere and its digest makes no node send it anything;
 * a member's lying and corrupt event packets (made-up origins among them) are dropped and counted,
 * and genuine events still flow; a member heard only in protocol 5 is sent none.
 */
import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Scuttlebutt, UserEvent } from '../../src/index.js';
import { encodeUserEventMessage, type UserEventMessage, type WireUserEvent } from '../../src/wire/user-events.js';
import { waitFor } from '../runtime/procs.js';
import { ack, emptyDigest, HostilePeer, nodeDelta, syn } from './peer.js';
import { CLUSTER, INTERVAL_MS, MODES, sleep, startCluster, stopAll } from './cluster.js';

const forged = (origin: string, ltime: number, name = 'deploy'): WireUserEvent => ({
  origin,
  generation: 1,
  ltime,
  age: 0,
  name,
  payload: new TextEncoder().encode('rm -rf'),
  coalesce: false,
});

for (const mode of MODES) {
  describe(`user events, ${mode.name} (the attacker ${mode.keys.length > 0 ? 'holds the key' : 'is on the network'})`, () => {
    let nodes: Scuttlebutt[] = [];
    let peer: HostilePeer;
    let heard: { at: string; event: UserEvent }[] = [];
    beforeEach(async () => {
      heard = [];
      nodes = await startCluster(5, mode);
      for (const node of nodes) node.on('user', (event) => heard.push({ at: node.self.id, event }));
      peer = await HostilePeer.open(CLUSTER, mode.keys);
    });
    afterEach(async () => {
      await peer.close();
      await stopAll(nodes);
    });

    test("a stranger's event is delivered nowhere, and its digest is answered with nothing", async () => {
      // In a live member's name, with every generation a node might hold for it.
      const victim = nodes[1]!.self;
      const events: UserEventMessage = {
        type: 'userEvents',
        clusterId: CLUSTER,
        events: [forged(victim.id, 5), { ...forged(victim.id, 6), generation: victim.generation }],
      };
      const digest: UserEventMessage = {
        type: 'eventDigest',
        clusterId: CLUSTER,
        reply: false,
        allOrigins: true,
        groups: [{ origin: victim.id, generation: victim.generation, from: 0, ltimes: [1, 2, 3] }],
      };
      const since = Date.now();
      for (const n of nodes) {
        await peer.sendAny(n.self.address, events);
        await peer.sendAny(n.self.address, digest);
      }
      // A genuine broadcast afterwards: it reaches all, and in all that time the forged one reached none.
      nodes[2]!.broadcast('genuine', 'ok', { coalesce: false });
      await waitFor(() => heard.filter((h) => h.event.name === 'genuine').length === 5, 5000, 'genuine everywhere');
      await sleep(10 * INTERVAL_MS);
      assert.deepEqual(
        heard.filter((h) => h.event.name !== 'genuine'),
        [],
        'no forged event delivered',
      );
      for (const n of nodes) {
        assert.equal(n.stats().userEvents.strangers, 2, `${n.self.id} dropped both packets as a stranger's`);
        assert.equal(peer.bytesFrom(n.self.address, since), 0, `${n.self.id} sent the stranger nothing`);
      }
    });

    test("a member's lying or corrupt event packets are dropped and counted; the node carries on", async () => {
      // learn() makes the peer's address a member's, as any key holder or plaintext peer can.
      await peer.learn(nodes[0]!.self.address);
      const target = nodes[0]!;
      // In n3's name (its real incarnation), and from origins no node knows.
      const n3 = { ...forged('n3', 0), generation: nodes[3]!.self.generation };
      const lies: UserEventMessage = {
        type: 'userEvents',
        clusterId: CLUSTER,
        events: [
          { ...n3, ltime: 2 ** 45 },
          { ...n3, ltime: 0 },
          { ...n3, ltime: 7, age: 1_000_000 },
          ...Array.from({ length: 300 }, (_, k) => forged(`made-up-${k}`, k + 1)),
        ],
      };
      await peer.sendAny(target.self.address, lies);
      const good = encodeUserEventMessage({ type: 'userEvents', clusterId: CLUSTER, events: [forged('n3', 9, 'x')] });
      for (const cut of [1, 5, good.length - 1])
        await peer.sendRaw(target.self.address, peer.sealBody(good.subarray(0, cut)));
      await waitFor(
        () => target.stats().userEvents.refused === 302 && target.stats().userEvents.expired === 1,
        3000,
        'the lies refused and counted',
      );
      await waitFor(
        () => Object.entries(target.stats().dropped).some(([k, v]) => k.startsWith('decode:') && v >= 3),
        3000,
        'the cut packets dropped as undecodable',
      );
      assert.equal(target.stats().errors.internal, 0);
      assert.ok(target.lamportClocks().event < 2 ** 32, 'the lying time did not move the clock');
      nodes[4]!.broadcast('after', 'still', { coalesce: false });
      await waitFor(() => heard.filter((h) => h.event.name === 'after').length === 5, 5000, 'events still flow');
      assert.deepEqual(
        heard.filter((h) => h.event.name === 'deploy'),
        [],
      );
    });

    test('a member heard only in protocol 5 is sent no user event; one heard in 6 is', async () => {
      const target = nodes[0]!;
      const old = await HostilePeer.open(CLUSTER, mode.keys);
      try {
        // Both join as members, and heartbeat to stay live; the old one speaks 5 only, the other 6.
        const members = ([old, peer] as const).map((p, i) => ({
          p,
          version: i === 0 ? (5 as const) : (6 as const),
          me: { id: `m-${p.address}`, generation: Date.now(), address: p.address },
        }));
        let beat = 1;
        const heartbeat = (): void => {
          beat++;
          for (const { p, version, me } of members) {
            void p.sendIn(target.self.address, ack(CLUSTER, [nodeDelta(me, { heartbeat: beat })]), version);
            void p.sendIn(target.self.address, syn(CLUSTER, emptyDigest()), version);
          }
        };
        heartbeat();
        const keepTalking = setInterval(heartbeat, INTERVAL_MS / 2);
        try {
          await waitFor(() => target.state().live.length === 7, 3000, 'both members live at the target');
          for (let k = 0; k < 5; k++) target.broadcast(`mixed${k}`, 'x', { coalesce: false });
          await sleep(5 * INTERVAL_MS);
          // Pushes pick 3 random peers: the member of protocol 6 asks outright, with an empty digest.
          const ask: UserEventMessage = {
            type: 'eventDigest',
            clusterId: CLUSTER,
            reply: false,
            allOrigins: true,
            groups: [],
          };
          await peer.sendAny(target.self.address, ask);
          await sleep(10 * INTERVAL_MS);
        } finally {
          clearInterval(keepTalking);
        }
        const toOld = old.typesFrom(target.self.address);
        const toNew = peer.typesFrom(target.self.address);
        assert.ok(toOld.length > 0, 'the old member was gossiped with');
        assert.equal(target.state().live.length, 7, 'both members were live throughout');
        assert.deepEqual(
          toOld.filter((t) => t.code === 7 || t.code === 8),
          [],
          'no user event to the protocol 5 member',
        );
        // Not even tried: a user event cannot be written in 5, and none was attempted.
        assert.equal(target.stats().dropped['encode-failed'] ?? 0, 0);
        // In 6 or 7: the peer's other packets (sendAny) are written in the newest, which the target then writes back in.
        assert.ok(
          toNew.some((t) => t.code === 7 && t.version >= 6),
          `user events to the protocol 6 member: ${JSON.stringify(toNew.slice(0, 5))}`,
        );
      } finally {
        await old.close();
      }
    });
  });
}
