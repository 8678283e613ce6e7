/**
 * Every guard the core already has, proven against a hostile peer over real UDP: each test sends
 * well-formed messages (they decode, and in keyring mode they are sealed with the cluster's key)
 * that lie, and checks that the lie changed nothing. Each was checked to fail with its guard
 * removed (see the commit that added it). Where a guard refuses only some messages, a control
 * shows the same message without the lie is applied: the test is not passing for another reason.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import type { Scuttlebutt } from '../../src/index.js';
import type { NodeIdentity } from '../../src/wire/messages.js';
import { waitFor } from '../runtime/procs.js';
import { ack, emptyDigest, HostilePeer, leave, nodeDelta, syn, synAck, value } from './peer.js';
import { CLUSTER, INTERVAL_MS, isKnown, isLive, MODES, sleep, startCluster, stopAll } from './cluster.js';

/** Long enough for a packet over loopback to be handled and its effect gossiped on (several rounds). */
const SETTLE_MS = 400;

const rejected = (node: Scuttlebutt, reason: string): number => node.stats().rejected[reason] ?? 0;

for (const mode of MODES) {
  describe(`existing guards, ${mode.name}`, () => {
    let nodes: Scuttlebutt[] = [];
    let peer: HostilePeer;
    let target: Scuttlebutt;
    const fake = (id: string, generation = 1): NodeIdentity => ({ id, generation, address: peer.address });
    before(async () => {
      nodes = await startCluster(3, mode);
      target = nodes[0]!;
      peer = await HostilePeer.open(CLUSTER, mode.keys);
    });
    after(async () => {
      await peer.close();
      await stopAll(nodes);
    });

    test('the cluster id is checked on every message type: a foreign ACK, SYN-ACK or leave is not applied', async () => {
      const foreign = await HostilePeer.open('another-cluster', mode.keys);
      // A member whose leave proof this test holds (its commitment made here, as any member makes
      // its own): a leave about it passes the proof check, so only the cluster id can refuse it.
      const secret = randomBytes(16);
      const leaver = fake('leaver');
      const commitment = createHash('sha256').update(secret).digest().subarray(0, 16);
      // It heartbeats every round while the test runs: it is live throughout, so only a leave can end it.
      let heartbeat = 5;
      await peer.send(target.self.address, ack(CLUSTER, [{ ...nodeDelta(leaver, { heartbeat }), commitment }]));
      const beating = setInterval(
        () =>
          void peer.send(
            target.self.address,
            ack(CLUSTER, [nodeDelta(leaver, { heartbeat: ++heartbeat, introduce: false })]),
          ),
        INTERVAL_MS,
      );
      const left: string[] = [];
      const onDead = (m: { id: string }, reason: string): void => void (m.id === leaver.id && left.push(reason));
      target.on('dead', onDead);
      try {
        await waitFor(() => isLive(target, leaver.id), 2000, 'the leaver admitted');
        const before = rejected(target, 'wrong-cluster');
        await foreign.send(
          target.self.address,
          ack('another-cluster', [nodeDelta(fake('ghost-ack'), { heartbeat: 5 })]),
        );
        await foreign.send(
          target.self.address,
          synAck('another-cluster', [nodeDelta(fake('ghost-synack'), { heartbeat: 5 })]),
        );
        await foreign.send(target.self.address, leave('another-cluster', leaver, heartbeat, secret));
        // A foreign SYN, sent after the rest from the same socket, is answered with our cluster id
        // only (nothing about the membership); its answer means the three before it were handled.
        const since = Date.now();
        await foreign.send(target.self.address, syn('another-cluster', emptyDigest()));
        const reply = await foreign.reply(target.self.address, () => true, 2000, since);
        assert.equal(reply?.type, 'wrongCluster');
        await sleep(SETTLE_MS); // what the target applied would be gossiped on by now
        for (const node of nodes) {
          assert.ok(!isKnown(node, 'ghost-ack'), `${node.self.id} admitted a member from a foreign ACK`);
          assert.ok(!isKnown(node, 'ghost-synack'), `${node.self.id} admitted a member from a foreign SYN-ACK`);
        }
        assert.ok(!left.includes('left'), `a foreign leave, with the right proof, was taken: ${JSON.stringify(left)}`);
        assert.ok(
          foreign.received.every((r) => r.message?.type === 'wrongCluster'),
          'no reply but wrongCluster',
        );
        assert.equal(rejected(target, 'wrong-cluster') - before, 4, 'each foreign message counted');
        // Controls: the same ACK and the same leave with our cluster id are applied.
        await peer.send(target.self.address, ack(CLUSTER, [nodeDelta(fake('ghost-control'), { heartbeat: 5 })]));
        await waitFor(() => isKnown(target, 'ghost-control'), 2000, 'the control ACK applied');
        assert.equal(left.length, 0, `the leaver, heartbeating, was never dead: ${JSON.stringify(left)}`);
        await peer.send(target.self.address, leave(CLUSTER, leaver, heartbeat, secret));
        await waitFor(() => left.includes('left'), 2000, 'the control leave taken');
      } finally {
        clearInterval(beating);
        target.off('dead', onDead);
        await foreign.close();
      }
    });

    test('an old incarnation returning after its successor was removed is refused (retired generation)', async () => {
      await peer.send(target.self.address, ack(CLUSTER, [nodeDelta(fake('x', 1000), { heartbeat: 10 })]));
      await waitFor(() => isLive(target, 'x', 1000), 2000, 'x@1000 admitted');
      await peer.send(target.self.address, ack(CLUSTER, [nodeDelta(fake('x', 2000), { heartbeat: 10 })]));
      await waitFor(() => isLive(target, 'x', 2000) && !isKnown(target, 'x', 1000), 2000, 'x@2000 supersedes x@1000');
      // x@2000 never heartbeats again: convicted, then removed after the grace period.
      await waitFor(() => !isKnown(target, 'x'), 10_000, 'x@2000 removed');
      const before = rejected(target, 'superseded-generation');
      // The old incarnation, with heartbeats far past anything seen: only its generation gives it away.
      await peer.send(target.self.address, ack(CLUSTER, [nodeDelta(fake('x', 1000), { heartbeat: 500 })]));
      await sleep(SETTLE_MS);
      assert.ok(
        !isKnown(target, 'x'),
        `the old incarnation came back: ${JSON.stringify(target.state().live.map((m) => [m.id, m.generation]))}`,
      );
      assert.equal(rejected(target, 'superseded-generation') - before, 1);
    });

    test('stale gossip does not re-introduce a removed member (removed node)', async () => {
      const y = fake('y');
      await peer.send(target.self.address, ack(CLUSTER, [nodeDelta(y, { heartbeat: 10 })]));
      await waitFor(() => isLive(target, 'y'), 2000, 'y admitted');
      await waitFor(() => !isKnown(target, 'y'), 10_000, 'y removed');
      const before = rejected(target, 'removed-node');
      // What another node that has not removed it yet might still gossip: the same heartbeat, or one more.
      await peer.send(target.self.address, ack(CLUSTER, [nodeDelta(y, { heartbeat: 10 })]));
      await peer.send(target.self.address, ack(CLUSTER, [nodeDelta(y, { heartbeat: 11 })]));
      await sleep(SETTLE_MS);
      assert.ok(!isKnown(target, 'y'), 'stale gossip re-introduced the removed member');
      assert.equal(rejected(target, 'removed-node') - before, 2);
      // Control: a member that really is alive again (fresh heartbeats) comes back.
      await peer.send(target.self.address, ack(CLUSTER, [nodeDelta(y, { heartbeat: 12 })]));
      await waitFor(() => isLive(target, 'y'), 2000, 'y back with fresh heartbeats');
    });

    test('a convicted member is not revived by a stale heartbeat', async () => {
      const z = fake('z');
      await peer.send(target.self.address, ack(CLUSTER, [nodeDelta(z, { heartbeat: 10 })]));
      await waitFor(() => isLive(target, 'z'), 2000, 'z admitted');
      await waitFor(() => target.state().dead.some((m) => m.id === 'z'), 5000, 'z convicted');
      await peer.send(target.self.address, ack(CLUSTER, [nodeDelta(z, { heartbeat: 11, introduce: false })]));
      await sleep(SETTLE_MS / 4);
      assert.ok(!isLive(target, 'z'), 'one heartbeat past the conviction revived z');
      await peer.send(target.self.address, ack(CLUSTER, [nodeDelta(z, { heartbeat: 12, introduce: false })]));
      await waitFor(() => isLive(target, 'z'), 1000, 'z revived by fresh heartbeats');
    });

    test('claims about the node itself are refused: its own id at another generation, its own keys', async () => {
      const self = target.self;
      const before = rejected(target, 'about-self');
      await peer.send(
        self.address,
        ack(CLUSTER, [
          nodeDelta({ ...self, generation: self.generation + 1, address: peer.address }, { heartbeat: 5 }),
        ]),
      );
      const known = await peer.learn(self.address);
      const mine = known.get(self.id)!;
      await peer.send(
        self.address,
        ack(CLUSTER, [
          nodeDelta(self, {
            heartbeat: mine.heartbeat,
            introduce: false,
            fromVersion: mine.maxVersion,
            values: [value('idx', 'forged', mine.maxVersion + 1)],
          }),
        ]),
      );
      await sleep(SETTLE_MS);
      const state = target.state();
      assert.equal(state.self.generation, self.generation);
      assert.equal(state.self.status, 'live');
      assert.deepEqual(
        state.live.filter((m) => m.id === self.id).map((m) => m.generation),
        [self.generation],
        'one incarnation of itself',
      );
      assert.equal(target.get('idx'), '0');
      assert.equal(state.self.metadata['idx'], '0');
      assert.equal(rejected(target, 'about-self') - before, 2);
    });

    test('an identity that does not hash to its ref is refused', async () => {
      const before = rejected(target, 'ref-mismatch');
      await peer.send(
        target.self.address,
        ack(CLUSTER, [nodeDelta(fake('mismatch'), { heartbeat: 5, ref: 123_456_789 })]),
      );
      await sleep(SETTLE_MS);
      assert.ok(!isKnown(target, 'mismatch'));
      assert.equal(rejected(target, 'ref-mismatch') - before, 1);
    });

    test('key-values with a gap or out of order are refused', async () => {
      const victim = nodes[1]!.self;
      const known = await peer.learn(target.self.address);
      const v = known.get(victim.id)!;
      const gapBefore = rejected(target, 'gap');
      const orderBefore = rejected(target, 'not-ascending');
      // A delta starting above what the target holds: the versions in between would be skipped.
      await peer.send(
        target.self.address,
        ack(CLUSTER, [
          nodeDelta(victim, {
            heartbeat: v.heartbeat,
            introduce: false,
            fromVersion: v.maxVersion + 5,
            values: [value('idx', 'gap', v.maxVersion + 6)],
          }),
        ]),
      );
      // Versions out of order.
      await peer.send(
        target.self.address,
        ack(CLUSTER, [
          nodeDelta(victim, {
            heartbeat: v.heartbeat,
            introduce: false,
            fromVersion: v.maxVersion,
            maxVersion: v.maxVersion + 2,
            values: [value('idx', 'late', v.maxVersion + 2), value('other', 'early', v.maxVersion + 1)],
          }),
        ]),
      );
      await sleep(SETTLE_MS);
      assert.deepEqual(target.state().live.find((m) => m.id === victim.id)?.metadata, { idx: '1' });
      assert.equal(rejected(target, 'gap') - gapBefore, 1);
      assert.equal(rejected(target, 'not-ascending') - orderBefore, 1);
    });

    if (mode.name === 'keyring') {
      test('keyring: a peer without the key changes nothing and gets no reply at all', async () => {
        const plain = await HostilePeer.open(CLUSTER, []);
        const wrongKey = await HostilePeer.open(CLUSTER, [randomBytes(32)]);
        try {
          const before = target.stats().dropped;
          for (const p of [plain, wrongKey]) {
            await p.send(
              target.self.address,
              ack(CLUSTER, [nodeDelta({ id: 'keyless', generation: 1, address: p.address }, { heartbeat: 5 })]),
            );
            await p.send(target.self.address, leave(CLUSTER, nodes[1]!.self, 1_000));
            await p.send(target.self.address, syn(CLUSTER, emptyDigest()));
          }
          await sleep(SETTLE_MS);
          assert.ok(!isKnown(target, 'keyless'));
          assert.ok(isLive(target, 'n1'));
          assert.equal(plain.received.length + wrongKey.received.length, 0, 'no reply to a peer without the key');
          const after = target.stats().dropped;
          const grew = (k: string): number => (after[k] ?? 0) - (before[k] ?? 0);
          assert.equal(grew('envelope:plaintext-rejected'), 3);
          assert.equal(grew('envelope:decrypt-failed'), 3);
        } finally {
          await plain.close();
          await wrongKey.close();
        }
      });
    }
  });
}
