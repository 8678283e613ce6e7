/**
 * A leave only the leaver can say (docs/security.md): the member's own leave opens the commitment
 * it gossiped with its identity and is final; a leave with a wrong proof, or none, about a member
 * seen live is dropped and counted ('forged-leave'); one without a proof about a member seen dead
 * removes it now, not for good; a member that made no commitment is treated as before protocol 5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ScuttlebuttCore } from '../../src/core/core.js';
import { commit } from '../../src/core/leave-proof.js';
import { identityRef } from '../../src/core/identity.js';
import { NO_BUMPS } from '../../src/wire/codec.js';
import type { LeaveMessage, Message, NodeDelta } from '../../src/wire/messages.js';
import { coreConfig, leaveProof, MiniCluster, sha256 } from './mini-cluster.js';

const ADDR = (i: number): string => `10.0.0.${i}:9111`;
/** Where the forger sends from: an address nobody knows. */
const FORGER = '10.9.9.9:9111';

/** Four nodes that know each other; those in `committed` make a leave commitment. */
function cluster(committed: readonly number[] = [1, 2, 3, 4]): MiniCluster {
  const c = new MiniCluster(11);
  for (let i = 1; i <= 4; i++) c.add(coreConfig(i, committed.includes(i) ? leaveProof(i) : {}), [ADDR(1)]);
  c.run(8_000);
  for (const core of c.nodes.values()) assert.equal(core.snapshot().live.length, 4, `${core.self.id} sees everyone`);
  return c;
}

const node = (c: MiniCluster, i: number): ScuttlebuttCore => c.nodes.get(ADDR(i))!;
const status = (core: ScuttlebuttCore, id: string): 'live' | 'dead' | 'absent' => {
  const s = core.snapshot();
  return s.live.some((v) => v.node.id === id) ? 'live' : s.dead.some((v) => v.node.id === id) ? 'dead' : 'absent';
};
const leaveOf = (victim: ScuttlebuttCore, proof?: Uint8Array): LeaveMessage => {
  const self = victim.snapshot().live.find((v) => v.node.id === victim.self.id)!;
  return {
    type: 'leave',
    clusterId: 'test',
    identity: victim.self,
    heartbeat: self.heartbeat,
    ...(proof ? { proof } : {}),
  };
};
/** Delivers `m` from the forger to every node but the victim, through the codec. */
function forge(c: MiniCluster, victim: number, m: Message): void {
  c.send(
    FORGER,
    [1, 2, 3, 4].filter((i) => i !== victim).map((i) => ({ to: ADDR(i), message: m })),
  );
  c.run(50);
}

test("the commitment travels with the identity: every member holds every other one's, and the own leave opens it", () => {
  const c = cluster();
  const out = node(c, 2).leave(c.now);
  assert.equal(out.length, 3);
  const proof = out[0]!.message.type === 'leave' ? out[0]!.message.proof : undefined;
  assert.ok(proof && proof.length === 16, 'the own leave carries the secret');
  assert.deepEqual(proof, leaveProof(2).leaveSecret);
  c.send(ADDR(2), out);
  c.run(100);
  c.down.add(ADDR(2));
  for (const i of [1, 3, 4]) {
    assert.equal(status(node(c, i), 'n2'), 'dead', `n${i} took the proven leave`);
    assert.ok(
      c.events.some(
        (e) => e.at === ADDR(i) && e.event.type === 'dead' && e.event.node.id === 'n2' && e.event.reason === 'left',
      ),
    );
    assert.equal(node(c, i).rejections()['forged-leave'], 0);
  }
  // A replay (the secret is public now) changes nothing: that incarnation has left.
  const events = c.events.length;
  c.send(
    FORGER,
    out.map((o) => ({ to: o.to, message: o.message })),
  );
  c.run(100);
  assert.equal(c.events.length, events, 'no event from the replay');
  for (const i of [1, 3, 4]) assert.equal(node(c, i).rejections()['forged-leave'], 0);
});

test('a forged leave about a live committed member, without a proof or with a wrong one, is dropped and counted everywhere', () => {
  const c = cluster();
  const victim = node(c, 2);
  forge(c, 2, leaveOf(victim));
  forge(c, 2, leaveOf(victim, new Uint8Array(16).fill(7)));
  // A proof that opens another member's commitment is no proof for this one.
  forge(c, 2, leaveOf(victim, leaveProof(3).leaveSecret));
  for (const i of [1, 3, 4]) {
    assert.equal(status(node(c, i), 'n2'), 'live', `n${i} kept the victim live`);
    assert.equal(node(c, i).rejections()['forged-leave'], 3, `n${i} counted every forgery`);
  }
  assert.ok(
    !c.events.some((e) => e.event.type === 'dead' && e.event.node.id === 'n2'),
    'the victim was never marked dead',
  );
  c.run(10_000);
  for (const i of [1, 3, 4]) assert.equal(status(node(c, i), 'n2'), 'live');
});

test('a member that made no commitment (an older release) leaves on any leave, for good, as before protocol 5', () => {
  const c = cluster([1, 3, 4]);
  forge(c, 2, leaveOf(node(c, 2)));
  for (const i of [1, 3, 4]) {
    assert.equal(status(node(c, i), 'n2'), 'dead', `n${i}`);
    assert.equal(node(c, i).rejections()['forged-leave'], 0);
  }
  // It heartbeats on, but a left member is never revived while it is held.
  c.run(10_000);
  for (const i of [1, 3, 4]) assert.notEqual(status(node(c, i), 'n2'), 'live', `n${i} revived a left member`);
});

test('a leave without a proof about a committed member seen dead removes it now, and fresh heartbeats bring it back', () => {
  const c = cluster();
  c.down.add(ADDR(4));
  c.run(10_000);
  for (const i of [1, 2, 3]) assert.equal(status(node(c, i), 'n4'), 'dead', `n${i} convicted n4`);
  const n4 = node(c, 4);
  const before = node(c, 1).rejections()['forged-leave'];
  forge(c, 4, leaveOf(n4));
  for (const i of [1, 2, 3]) assert.equal(status(node(c, i), 'n4'), 'absent', `n${i} removed n4 at once`);
  assert.equal(node(c, 1).rejections()['forged-leave'], before, 'taken, not counted');
  // It was alive after all (a partition): once the removal records lapse (a grace period, 20 s
  // here; until then stale gossip is kept out), its fresh heartbeats re-admit it everywhere.
  c.down.delete(ADDR(4));
  c.run(30_000);
  for (const i of [1, 2, 3]) assert.equal(status(node(c, i), 'n4'), 'live', `n${i} has n4 back`);
});

test('the first commitment heard for an incarnation is kept: a later introduction with another one changes nothing', () => {
  const c = cluster();
  const n1 = node(c, 1);
  const victim = node(c, 2).self;
  const forgedSecret = new Uint8Array(16).fill(9);
  // The forger re-introduces the victim with a commitment of its own making, then opens that one.
  const intro: NodeDelta = {
    ref: identityRef(victim),
    identity: victim,
    heartbeat: 1,
    heartbeatAge: 0,
    lastGcVersion: 0,
    fromVersion: 0,
    maxVersion: 0,
    values: [],
    commitment: commit(forgedSecret, sha256),
  };
  c.send(FORGER, [
    { to: ADDR(1), message: { type: 'ack', clusterId: 'test', delta: { nodes: [intro], bumps: NO_BUMPS } } },
  ]);
  c.run(50);
  c.send(FORGER, [{ to: ADDR(1), message: leaveOf(node(c, 2), forgedSecret) }]);
  c.run(50);
  assert.equal(status(n1, 'n2'), 'live', "the forger's commitment was not taken");
  assert.equal(n1.rejections()['forged-leave'], 1);
});

test('a leave whose heartbeat leaps is refused before its proof is looked at (LEAVE_HEARTBEAT_SLACK stays)', () => {
  const c = cluster();
  const m = leaveOf(node(c, 2), leaveProof(2).leaveSecret);
  forge(c, 2, { ...m, heartbeat: m.heartbeat + 1000 });
  for (const i of [1, 3, 4]) {
    assert.equal(status(node(c, i), 'n2'), 'live');
    assert.equal(node(c, i).rejections()['implausible-heartbeat'], 1);
  }
});

test('mixed cluster: a node of protocol 4 never sees commitments and takes any leave as before; nodes of 5 refuse forgeries and unproven leaves about live members', () => {
  const c = new MiniCluster(13);
  // n4 speaks 4 (the previous release: no secret, no commitment); n1..n3 speak 5 and commit.
  c.versions.set(ADDR(4), 4);
  for (let i = 1; i <= 3; i++) c.add(coreConfig(i, leaveProof(i)), [ADDR(1)]);
  c.add(coreConfig(4), [ADDR(1)]);
  c.run(8_000);
  for (const core of c.nodes.values()) assert.equal(core.snapshot().live.length, 4, `${core.self.id} sees everyone`);
  // A forged leave about n2 (committed): the 5 nodes refuse it, the 4 node takes it, as it always did.
  const victim = leaveOf(node(c, 2));
  c.send(
    FORGER,
    [1, 3, 4].map((i) => ({ to: ADDR(i), message: victim })),
  );
  c.run(50);
  assert.equal(status(node(c, 1), 'n2'), 'live');
  assert.equal(status(node(c, 3), 'n2'), 'live');
  assert.equal(status(node(c, 4), 'n2'), 'dead', 'protocol 4: the leave is taken, as before');
  // n4's own leave (protocol 4: no proof, and it made no commitment): taken, for good, by every
  // member it goes to (n4 sees n2 dead now, so not n2).
  const out = node(c, 4).leave(c.now);
  assert.deepEqual(out.map((o) => o.to).sort(), [ADDR(1), ADDR(3)]);
  c.send(ADDR(4), out);
  c.run(50);
  for (const i of [1, 3]) assert.equal(status(node(c, i), 'n4'), 'dead', `n${i} took n4's leave`);
  // n2's own leave written in 4 (to a peer it takes for an older one) carries no proof: n1 sees n2 live and refuses it.
  const before = node(c, 1).rejections()['forged-leave'];
  c.versions.set(ADDR(2), 4);
  c.send(
    ADDR(2),
    node(c, 2)
      .leave(c.now)
      .filter((o) => o.to === ADDR(1)),
  );
  c.run(50);
  c.versions.delete(ADDR(2));
  assert.equal(status(node(c, 1), 'n2'), 'live', 'an unproven leave about a live committed member is refused');
  assert.equal(node(c, 1).rejections()['forged-leave'], before + 1);
});
