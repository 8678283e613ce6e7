import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScuttlebuttCore } from '../../src/core/core.js';
import { identityRef } from '../../src/core/identity.js';
import type { PeerTable } from '../../src/core/peer-table.js';
import { seededRandom } from '../../src/core/random.js';
import { NO_BUMPS } from '../../src/wire/codec.js';
import { groupChecks, lowHeartbeat } from '../../src/wire/low-heartbeats.js';
import type { AckMessage, Digest, NodeDelta, NodeIdentity, SynMessage } from '../../src/wire/messages.js';
import { coreConfig, MiniCluster } from './mini-cluster.js';

const addr = (i: number): string => `10.0.0.${i}:9111`;

function cluster(n: number, seed = 1): MiniCluster {
  const c = new MiniCluster(seed);
  for (let i = 1; i <= n; i++) c.add(coreConfig(i), [addr(1)], { role: `r${i}` });
  c.run(8000);
  for (const core of c.nodes.values()) assert.equal(core.snapshot().live.length, n, `${core.self.id} converged`);
  c.events.length = 0;
  return c;
}

const deadEvents = (c: MiniCluster, at?: string) =>
  c.events.filter((e) => e.event.type === 'dead' && (at === undefined || e.at === at));

test('a SYN with another cluster id gets a wrong-cluster reply and changes nothing', () => {
  const core = new ScuttlebuttCore(coreConfig(1), seededRandom(1), 0);
  const other = new ScuttlebuttCore(coreConfig(2, { clusterId: 'other' }), seededRandom(2), 0);
  other.setSeeds([core.self.address]);
  const [syn] = other.tick(1000);
  assert.ok(syn);
  const replies = core.receive(other.self.address, syn.message, 1000);
  assert.deepEqual(replies, [{ to: other.self.address, message: { type: 'wrongCluster', clusterId: 'test' } }]);
  assert.equal(core.snapshot().live.length, 1);
  assert.equal(other.receive(core.self.address, replies[0]!.message, 1001).length, 0);
});

test('a SYN from a sender the harness calls a stranger is answered with the responder alone; from a known sender, with every member, whatever the reply budget', () => {
  const c = cluster(5);
  const joiner = new ScuttlebuttCore(coreConfig(6), seededRandom(6), c.now);
  joiner.setSeeds([addr(1)]);
  const [syn] = joiner.tick(c.now);
  const seed = c.nodes.get(addr(1))!;
  const introduced = (out: ReturnType<ScuttlebuttCore['receive']>): string[] =>
    out
      .flatMap((o) => (o.message.type === 'synAck' ? o.message.delta.nodes.map((n) => n.identity?.id ?? '?') : []))
      .sort();
  assert.deepEqual(
    introduced(seed.receive(joiner.self.address, syn!.message, c.now, { stranger: true, replyBudget: 65_000 })),
    ['n1'],
    'a stranger with a large allowance',
  );
  assert.deepEqual(
    introduced(seed.receive(joiner.self.address, syn!.message, c.now, { stranger: false, replyBudget: 2_000 })),
    ['n1', 'n2', 'n3', 'n4', 'n5'],
    'a known sender with a small budget',
  );
});

test('a joiner introduces itself to every member it learns from its seed, once, one packet each', () => {
  const c = cluster(5);
  const joiner = new ScuttlebuttCore(coreConfig(6), seededRandom(6), c.now, { role: 'r6' });
  joiner.setSeeds([addr(1)]);
  const [syn] = joiner.tick(c.now);
  assert.equal(syn?.to, addr(1));
  const [synAck] = c.nodes.get(addr(1))!.receive(joiner.self.address, syn.message, c.now);
  assert.equal(synAck?.message.type, 'synAck');
  const out = joiner.receive(addr(1), synAck.message, c.now);
  const announced = out.filter((o) => o.to !== addr(1));
  assert.deepEqual(announced.map((o) => o.to).sort(), [addr(2), addr(3), addr(4), addr(5)]);
  for (const o of announced) {
    assert.equal(o.message.type, 'ack');
    const member = c.nodes.get(o.to)!;
    assert.deepEqual(member.receive(joiner.self.address, o.message, c.now), []);
    const view = member.snapshot().live.find((v) => v.node.id === 'n6');
    assert.deepEqual(view?.values, { role: 'r6' }, `${member.self.id} knows the joiner after one packet`);
  }
  // Only once per incarnation: the next exchange brings no more introductions.
  const next = joiner.gossip(c.now + 10)[0]!;
  const [again] = c.nodes.get(next.to)!.receive(joiner.self.address, next.message, c.now + 10);
  assert.ok(again);
  assert.ok(joiner.receive(next.to, again.message, c.now + 10).every((o) => o.to === next.to));
});

test('a push is answered only when there is more than a one-beat-newer heartbeat to say; a pull always is', () => {
  const c = cluster(5);
  const responder = c.nodes.get(addr(2))!;
  // The responder's own compact digest, sent back to it as if from n1: the two views are equal.
  const own = responder.gossip(c.now)[0]!.message as SynMessage;
  const withHeartbeat = (pos: number, delta: number, pull: boolean): SynMessage => {
    const heartbeats = Float64Array.from(own.digest.heartbeats);
    heartbeats[pos] = (heartbeats[pos] as number) + delta;
    return { ...own, pull, digest: { ...own.digest, heartbeats } as Digest };
  };
  const reply = (m: SynMessage) => responder.receive(addr(1), m, c.now);
  assert.deepEqual(reply(withHeartbeat(0, 0, false)), [], 'same view, push: no reply');
  assert.deepEqual(reply(withHeartbeat(0, -1, false)), [], 'one beat behind, push: no reply');
  for (const [delta, pull] of [
    [-2, false],
    [-1, true],
  ] as const) {
    const [r] = reply(withHeartbeat(0, delta, pull));
    assert.equal(r?.message.type, 'synAck', `${-delta} behind, pull ${pull}`);
    assert.equal(r.message.type === 'synAck' && r.message.delta.bumps.count, 1);
  }
});

test("a heartbeat whose age is only bounded is placed by the owner's rhythm, within one period of the lag allowance", () => {
  const a = new ScuttlebuttCore(coreConfig(1), seededRandom(1), 0);
  const b = new ScuttlebuttCore(coreConfig(2), seededRandom(2), 0);
  b.setSeeds([a.self.address]);
  // b joins a and sends a heartbeat a second for ten seconds: a learns its rhythm from exact ages.
  for (let t = 0; t <= 10_000; t += 1000) {
    for (const o of b.tick(t))
      for (const r of a.receive(b.self.address, o.message, t))
        for (const back of b.receive(a.self.address, r.message, t)) a.receive(b.self.address, back.message, t);
  }
  const heartbeat = a.member(b.self)!.heartbeat;
  const gossiped = (hb: number, ages: number): SynMessage => ({
    type: 'syn',
    clusterId: 'test',
    setHash: 0,
    setSize: 0,
    pull: false,
    digest: {
      mode: 'full',
      complete: false,
      offset: 0,
      count: 1,
      refs: Float64Array.of(identityRef(b.self)),
      heartbeats: Float64Array.of(hb),
      checks: null,
      ages: Float64Array.of(ages),
      ageLimit: 20,
      maxVersions: Float64Array.of(a.member(b.self)!.maxVersion),
      gcVersions: Float64Array.of(0),
    },
  });
  // a's rounds go on meanwhile (a round timer silent for over 1.25 rounds would be a late process, excused).
  for (const t of [11_000, 12_000]) a.tick(t);
  // At 12.5 s a third node says "heartbeat +1, at least a second old": the rhythm says born at 11 s.
  a.receive('10.0.0.9:9111', gossiped(heartbeat + 1, 20), 12_500);
  assert.equal(
    a.member(b.self)!.detector!.lagAllowanceMs,
    1500,
    'lag measured from the rhythm birth (11 s), not from 12.5 s − 1 s',
  );
  // The owner paused and the next heartbeat comes 20 s late: the rhythm guesses far too early (12 s),
  // but the lag allowance grows by one period at most (not to 20 s), and the node stays live.
  a.receive('10.0.0.9:9111', gossiped(heartbeat + 2, 20), 32_500);
  a.detect(32_600);
  assert.equal(a.member(b.self)!.status, 'live');
  assert.ok(
    a.member(b.self)!.detector!.lagAllowanceMs <= 2500,
    `lag allowance ${a.member(b.self)!.detector!.lagAllowanceMs}`,
  );
});

test('graceful leave: every peer reached marks the node dead at once, and it never comes back', () => {
  const c = cluster(5);
  const leaver = c.nodes.get(addr(3))!;
  c.send(addr(3), leaver.leave(c.now));
  c.run(50); // one delivery, far less than a round
  c.down.add(addr(3));
  const dead = deadEvents(c);
  assert.equal(dead.length, 4);
  for (const e of dead) assert.deepEqual([e.event.node.id, e.event.type === 'dead' && e.event.reason], ['n3', 'left']);
  c.run(30_000);
  assert.equal(c.events.filter((e) => e.event.type === 'live').length, 0);
  assert.equal(c.events.filter((e) => e.event.type === 'removed' && e.event.node.id === 'n3').length, 4);
});

test('a crashed node is convicted by all; a restart with a new generation supersedes it', () => {
  const c = cluster(5);
  c.nodes.get(addr(2))!.set('only-old', 'x', c.now);
  c.run(5000);
  c.down.add(addr(2));
  c.run(12_000);
  assert.equal(deadEvents(c).filter((e) => e.event.node.id === 'n2').length, 4);
  c.events.length = 0;
  c.add(coreConfig(2, {}, 2), [addr(1)], { role: 'fresh' });
  c.run(8000);
  for (const core of c.nodes.values()) {
    const n2 = core.snapshot().live.filter((v) => v.node.id === 'n2');
    assert.equal(n2.length, 1, `${core.self.id} sees one n2`);
    assert.equal(n2[0]!.node.generation, 2);
    assert.deepEqual(n2[0]!.values, { role: 'fresh' });
  }
  // The old generation is gone from every view (superseded at once), never live again.
  for (const core of c.nodes.values()) {
    const all = [...core.snapshot().live, ...core.snapshot().dead];
    assert.ok(!all.some((v) => v.node.id === 'n2' && v.node.generation === 1), `${core.self.id} forgot n2 gen 1`);
  }
  assert.ok(
    !c.events.some((e) => e.event.type === 'live' && e.event.node.id === 'n2' && e.event.node.generation === 1),
  );
});

test('a paused node does not convict the cluster when it resumes', () => {
  const c = cluster(5);
  c.down.add(addr(1)); // neither ticks nor hears: a SIGSTOP
  c.run(20_000);
  assert.equal(deadEvents(c).filter((e) => e.event.node.id === 'n1').length, 4, 'the others convict the paused node');
  c.down.delete(addr(1));
  c.events.length = 0;
  c.run(10_000);
  assert.deepEqual(
    deadEvents(c, addr(1)).map((e) => e.event.node.id),
    [],
    'the resumed node convicted nobody',
  );
  assert.equal(
    c.events.filter((e) => e.event.type === 'live' && e.event.node.id === 'n1').length,
    4,
    'and it is live again everywhere',
  );
  assert.equal(c.nodes.get(addr(1))!.localStalls, 1);
});

test('deletes propagate as tombstones; TTL keys expire everywhere', () => {
  const c = cluster(4);
  const n1 = c.nodes.get(addr(1))!;
  n1.set('a', '1', c.now);
  n1.setWithTtl('t', 'temp', 4000, c.now);
  c.run(3000);
  for (const core of c.nodes.values()) {
    const v = core.snapshot().live.find((x) => x.node.id === 'n1')!.values;
    assert.equal(v.a, '1');
    assert.equal(v.t, 'temp');
  }
  n1.delete('a', c.now);
  c.run(5000);
  for (const core of c.nodes.values()) {
    const v = core.snapshot().live.find((x) => x.node.id === 'n1')!.values;
    assert.equal(v.a, undefined, `${core.self.id} dropped a`);
    assert.equal(v.t, undefined, `${core.self.id} expired t`);
  }
});

test('inconsistent deltas are refused with a counted reason and change nothing', () => {
  const c = cluster(2);
  const n1 = c.nodes.get(addr(1))!;
  const n2id = { id: 'n2', generation: 1, address: addr(2) };
  const before = JSON.stringify(n1.snapshot());
  const ack = (nd: Partial<NodeDelta>): AckMessage => ({
    type: 'ack',
    clusterId: 'test',
    delta: {
      nodes: [
        {
          ref: identityRef(n2id),
          identity: null,
          heartbeat: 0,
          heartbeatAge: 0,
          lastGcVersion: 0,
          fromVersion: 0,
          maxVersion: 0,
          values: [],
          ...nd,
        },
      ],
      bumps: NO_BUMPS,
    },
  });
  const v = (key: string, version: number) => ({ key, value: 'x', version, tombstone: false });
  n1.receive(addr(2), ack({ values: [v('a', 5), v('b', 4)], maxVersion: 5 }), c.now);
  n1.receive(addr(2), ack({ fromVersion: 1000, values: [v('a', 1001)], maxVersion: 1001 }), c.now);
  n1.receive(addr(2), ack({ ref: 12345, values: [v('a', 1)], maxVersion: 1 }), c.now);
  n1.receive(addr(2), ack({ ref: 999, identity: { id: 'evil', generation: 1, address: 'x:1' }, maxVersion: 0 }), c.now);
  n1.receive(addr(2), ack({ lastGcVersion: 50, fromVersion: 1, values: [v('z', 60)], maxVersion: 60 }), c.now);
  assert.equal(JSON.stringify(n1.snapshot()), before);
  // A claim about n1 itself changes none of its values, but n1 refutes it: its versions go past the claim.
  n1.receive(addr(2), ack({ ref: identityRef(n1.self), values: [v('role', 99)], maxVersion: 99 }), c.now);
  assert.equal(n1.get('role'), 'r1');
  assert.ok(n1.snapshot().live.find((x) => x.node.id === 'n1')!.maxVersion > 99);
  assert.equal(n1.rejections()['refuted-version'], 1);
  const r = n1.rejections();
  assert.deepEqual(
    [r['not-ascending'], r.gap, r['unknown-node'], r['ref-mismatch'], r['about-self'], r['behind-gc']],
    [1, 1, 1, 1, 1, 1],
  );
});

test('same seed, same inputs: identical runs; another seed: another run', () => {
  const trace = (seed: number): string => {
    const c = new MiniCluster(seed, { loss: 0.1, jitterMs: 50 });
    for (let i = 1; i <= 6; i++) c.add(coreConfig(i), [addr(1)]);
    c.run(6000);
    c.down.add(addr(4));
    c.run(8000);
    return JSON.stringify(c.events);
  };
  assert.equal(trace(7), trace(7));
  assert.notEqual(trace(7), trace(8));
});

test('a small payload budget is never exceeded and the cluster still converges', () => {
  const c = new MiniCluster(3);
  for (let i = 1; i <= 30; i++) {
    c.add(coreConfig(i, { payloadBudget: 700 }), [addr(1)], { meta: 'm'.repeat(100 + i), zone: `z${i % 4}` });
  }
  c.run(60_000); // MiniCluster throws on any packet over its sender's budget
  assert.ok(c.maxPacket <= 700);
  for (const core of c.nodes.values()) {
    const live = core.snapshot().live;
    assert.equal(live.length, 30, `${core.self.id} sees ${live.length}`);
    for (const v of live) assert.equal(v.values.meta?.length, 100 + Number(v.node.id.slice(1)));
  }
});

test('a node that hears nobody holds its convictions; the others convict it; all is well after', () => {
  const c = cluster(6);
  const others = [2, 3, 4, 5, 6].map(addr);
  c.partition([addr(1)], others);
  c.run(9000);
  assert.deepEqual(
    deadEvents(c, addr(1)).map((e) => e.event.node.id),
    [],
    'the deaf node convicted nobody',
  );
  assert.equal(deadEvents(c).filter((e) => e.event.node.id === 'n1').length, 5, 'every other node convicted it');
  c.heal();
  c.events.length = 0;
  c.run(8000);
  assert.deepEqual(
    deadEvents(c).map((e) => e.event.node.id),
    [],
  );
  for (const core of c.nodes.values()) assert.equal(core.snapshot().live.length, 6);
  assert.ok(c.nodes.get(addr(1))!.localDeafSpells >= 1);
});

test('the deafness hold is bounded, and absent in a small cluster where silence is news', () => {
  const big = cluster(6);
  big.partition([addr(1)], [2, 3, 4, 5, 6].map(addr));
  big.run(45_000); // past 8 x (interval + pause): the isolated node finally convicts
  assert.equal(deadEvents(big, addr(1)).length, 5);
  const pair = cluster(2);
  pair.down.add(addr(2));
  pair.run(10_000);
  assert.deepEqual(
    deadEvents(pair, addr(1)).map((e) => e.event.node.id),
    ['n2'],
  );
});

test('a quiet round renumbers the table in ref order; the dead stay dead and are removed on time', () => {
  const c = cluster(8);
  c.down.add(addr(3));
  c.run(12_000);
  assert.equal(deadEvents(c).filter((e) => e.event.node.id === 'n3').length, 7);
  // A joiner disorders every table while n3 is dead, so the renumbering must carry n3's death along.
  c.events.length = 0;
  c.add(coreConfig(9), [addr(1)]);
  c.run(4000);
  for (const [address, core] of c.nodes) {
    if (address === addr(3)) continue;
    const table = (core as unknown as { membership: { table: PeerTable } }).membership.table;
    const refs = Array.from({ length: table.used - 1 }, (_, i) => table.ref(i + 1));
    assert.deepEqual(
      refs,
      [...refs].sort((a, b) => a - b),
      `${core.self.id}: slots in ref order`,
    );
    assert.equal(core.snapshot().live.length, 8, `${core.self.id} sees 8 live`);
  }
  c.run(20_000); // past the 20 s grace period
  const removed = c.events.filter((e) => e.event.type === 'removed');
  assert.deepEqual(
    removed.map((e) => e.event.node.id),
    Array(7).fill('n3'),
  );
  assert.equal(deadEvents(c).length, 0);
  for (const [address, core] of c.nodes) if (address !== addr(3)) assert.equal(core.snapshot().dead.length, 0);
});

/** The compact SYN a peer with membership `members` sends: heartbeats from `heartbeat`, versions as `a` holds them. */
function compactSyn(a: ScuttlebuttCore, members: NodeIdentity[], heartbeat: (m: NodeIdentity) => number): SynMessage {
  const sorted = members.map((m) => ({ m, ref: identityRef(m) })).sort((x, y) => x.ref - y.ref);
  const column = (f: (m: NodeIdentity) => number): number[] => sorted.map((e) => f(e.m));
  const full = column(heartbeat);
  return {
    type: 'syn',
    clusterId: 'test',
    setHash: sorted.reduce((h, e) => (h + e.ref) % 2 ** 48, 0),
    setSize: sorted.length,
    pull: true,
    digest: {
      mode: 'compact',
      complete: true,
      offset: 0,
      count: sorted.length,
      refs: null,
      heartbeats: full.map(lowHeartbeat),
      checks: groupChecks(full, full.length),
      ages: column(() => 0),
      ageLimit: 0,
      maxVersions: column((m) => a.member(m)?.maxVersion ?? 1),
      gcVersions: column(() => 0),
    },
  };
}

test("a compact digest from another membership is not read, but its sender's own heartbeat, sent in full, is", () => {
  // The sender lost its inbound link while two members joined elsewhere (or, as here, knows two we do not): its
  // positions mean nothing to us. For its first two rounds it has not noticed and sends compact digests; its
  // own heartbeat in them must still count, or it is convicted while it keeps sending (as one member was,
  // two rounds into a spell of 10 % bursty loss). Fails when the digest is dropped whole.
  const c = cluster(4);
  const [a, b] = [1, 2].map((i) => c.nodes.get(addr(i))!) as [ScuttlebuttCore, ScuttlebuttCore];
  const strangers: NodeIdentity[] = [50, 51].map((i) => ({ id: `x${i}`, generation: 1, address: addr(i) }));
  const theirs = [...[1, 2, 3, 4].map((i) => c.nodes.get(addr(i))!.self), ...strangers];
  const hb = (m: NodeIdentity): number => a.member(m)?.heartbeat ?? 1;
  const before = hb(b.self);
  const syn = compactSyn(a, theirs, (m) => hb(m) + (m === b.self ? 3 : 0));
  const sorted = theirs.map(identityRef).sort((x, y) => x - y);
  const own = { index: sorted.indexOf(identityRef(b.self)), heartbeat: before + 3 };
  const out = a.receive(b.self.address, { ...syn, digest: { ...syn.digest, own } }, c.now);
  assert.equal(hb(b.self), before + 3, "the sender's own heartbeat read");
  for (const m of strangers) assert.equal(a.member(m), undefined, 'nothing else taken from the digest');
  // The exchange is turned around as before: our whole membership as the request.
  const reply = out[0]?.message;
  assert.equal(reply?.type, 'synAck');
  if (reply?.type === 'synAck') assert.equal(reply.request.count, 4);
});

test('a compact digest from a membership one member apart from ours is still read', () => {
  const c = cluster(4);
  c.down.add(addr(4));
  c.run(40_000); // n4 convicted, then removed past the 20 s grace period
  const node = (i: number): ScuttlebuttCore => c.nodes.get(addr(i))!;
  const [a, b, n3] = [node(1), node(2), node(3)];
  const n4 = c.nodes.get(addr(4))!.self;
  const syn = (members: NodeIdentity[], bump: (id: NodeIdentity) => number): SynMessage =>
    compactSyn(a, members, (m) => (a.member(m)?.heartbeat ?? 7) + bump(m));
  const hb = (m: NodeIdentity): number => a.member(m)!.heartbeat;
  // b has not removed n4 yet: its positions have n4 among ours. Each member's own heartbeat + its slot number.
  const before = [b.self, n3.self].map(hb);
  a.receive(
    b.self.address,
    syn([a.self, b.self, n3.self, n4], (m) => (m === n4 ? 0 : 1 + Number(m.id.slice(1)))),
    c.now,
  );
  assert.deepEqual(
    [b.self, n3.self].map(hb),
    [before[0]! + 3, before[1]! + 4],
    'each heartbeat landed on its own member',
  );
  assert.equal(a.member(n4), undefined, 'the removed member stays removed');
  // b lacks n3 (it removed it first, say): positions past n3's shift the other way.
  const after = hb(b.self);
  a.receive(
    b.self.address,
    syn([a.self, b.self], (m) => (m === b.self ? 5 : 0)),
    c.now,
  );
  assert.equal(hb(b.self), after + 5);
  // Two members apart: positions mean nothing, and nothing is read.
  const stuck = hb(b.self);
  a.receive(
    b.self.address,
    syn([b.self], () => 9),
    c.now,
  );
  assert.equal(hb(b.self), stuck);
});

test('compact digest heartbeats are read exactly or not at all: a group that fits no reading is asked for instead', () => {
  const c = cluster(3);
  c.run(10_000);
  const [a, b, n3] = [1, 2, 3].map((i) => c.nodes.get(addr(i))!) as [ScuttlebuttCore, ScuttlebuttCore, ScuttlebuttCore];
  const members = [a.self, b.self, n3.self];
  const hb = (m: NodeIdentity): number => a.member(m)!.heartbeat;
  for (const [offB, off3] of [
    [20, -12],
    [-9, 25],
    [40, -20],
  ] as const) {
    // b and n3 both far from a's, in opposite directions: no 16-beat window holds them, nor does moving
    // one of them. Low bits alone would read -12 as +4: a heartbeat n3 never produced, which would make
    // every node ignore its next beats.
    const before = members.map(hb);
    const out = a.receive(
      b.self.address,
      compactSyn(a, members, (m) => hb(m) + (m === b.self ? offB : m === n3.self ? off3 : 0)),
      c.now,
    );
    assert.deepEqual(members.map(hb), before, `${offB}/${off3}: no heartbeat of the group read`);
    const reply = out[0]?.message;
    assert.equal(reply?.type, 'synAck');
    if (reply?.type !== 'synAck') return;
    // The whole group goes into the request, with a's heartbeats: b answers with what is newer. a itself too:
    // b may hold a claim about a above a's own heartbeat, which a can refute only once it hears it.
    assert.deepEqual(Array.from(reply.request.refs!).sort(), members.map(identityRef).sort());
    assert.deepEqual(Array.from(reply.request.heartbeats).sort(), members.map(hb).sort());
  }
  // One member far off while the rest agree (its beats reached some nodes and not others): read exactly.
  for (const off of [-12, -9, 8, 20, 30]) {
    const before = members.map(hb);
    a.receive(
      b.self.address,
      compactSyn(a, members, (m) => hb(m) + (m === a.self ? 0 : m === n3.self ? off : 1)),
      c.now,
    );
    assert.deepEqual(members.map(hb), [before[0]!, before[1]! + 1, before[2]! + Math.max(0, off)], `n3 ${off}`);
  }
  // Within -8..7 of ours, every heartbeat is read exactly.
  const before = members.map(hb);
  a.receive(
    b.self.address,
    compactSyn(a, members, (m) => hb(m) + (m === a.self ? 0 : m === n3.self ? 7 : 2)),
    c.now,
  );
  assert.deepEqual(members.map(hb), [before[0]!, before[1]! + 2, before[2]! + 7]);
  // a was deaf for ten seconds: behind on everyone by 10 to 12 beats. A window moved up fits them all.
  const behind = members.map(hb);
  a.receive(
    b.self.address,
    compactSyn(a, members, (m) => hb(m) + (m === a.self ? 0 : m === b.self ? 10 : 12)),
    c.now,
  );
  assert.deepEqual(members.map(hb), [behind[0]!, behind[1]! + 10, behind[2]! + 12]);
});

test('the stall excuse: a paused node in a cluster too small for the deafness hold convicts nobody when it resumes', () => {
  // Two live peers: no deafness hold (silence is news there), so only the stall itself excuses the silence.
  // Paused past the others' grace period: they have removed it and write to it no more, so the first
  // thing it does on resuming is run its own detector, before any news of its peers arrives.
  const c = cluster(3);
  c.down.add(addr(3)); // neither ticks nor hears: a SIGSTOP
  c.run(40_000);
  c.down.delete(addr(3));
  c.events.length = 0;
  c.run(10_000);
  assert.deepEqual(
    deadEvents(c, addr(3)).map((e) => e.event.node.id),
    [],
    'the resumed node convicted nobody',
  );
  assert.equal(c.nodes.get(addr(3))!.localStalls, 1);
  for (const core of c.nodes.values()) assert.equal(core.snapshot().live.length, 3, `${core.self.id} sees all three`);
});

test('the deafness excuse: the first packet after a spell of hearing nobody ends the hold, and the spell is excused', () => {
  const c = cluster(6);
  const deaf = c.nodes.get(addr(1))!;
  const n2 = c.nodes.get(addr(2))!;
  c.partition([addr(1)], [2, 3, 4, 5, 6].map(addr));
  c.run(9000);
  assert.deepEqual(deadEvents(c, addr(1)), [], 'held while deaf');
  // The first packet back carries news of its sender only; the others' heartbeats are still on their way.
  const ack: AckMessage = {
    type: 'ack',
    clusterId: 'test',
    delta: {
      nodes: [],
      bumps: {
        count: 1,
        positional: false,
        keys: [identityRef(n2.self)],
        heartbeats: [n2.member(n2.self)!.heartbeat],
        checks: null,
        ages: [0],
      },
    },
  };
  deaf.receive(addr(2), ack, c.now);
  deaf.detect(c.now + 250);
  assert.deepEqual(
    deaf
      .takeEvents()
      .filter((e) => e.type === 'dead')
      .map((e) => e.node.id),
    [],
    'nobody convicted for our own deafness',
  );
  assert.equal(deaf.localDeafSpells, 1);
});

test('revival takes fresh heartbeats: one beat past what we saw (stale gossip can carry it) neither revives a dead member nor readmits a removed one; two do', () => {
  const c = cluster(4);
  c.down.add(addr(4));
  c.run(12_000);
  const a = c.nodes.get(addr(1))!;
  const n4 = c.nodes.get(addr(4))!.self;
  assert.equal(a.member(n4)?.status, 'dead');
  const seen = a.member(n4)!.heartbeat;
  const bump = (heartbeat: number): AckMessage => ({
    type: 'ack',
    clusterId: 'test',
    delta: {
      nodes: [],
      bumps: { count: 1, positional: false, keys: [identityRef(n4)], heartbeats: [heartbeat], checks: null, ages: [0] },
    },
  });
  a.takeEvents();
  a.receive(addr(2), bump(seen + 1), c.now);
  assert.equal(a.member(n4)?.status, 'dead', 'one beat newer: stale gossip, still dead');
  a.receive(addr(2), bump(seen + 2), c.now);
  assert.equal(a.member(n4)?.status, 'live', 'two beats newer: back');
  assert.deepEqual(
    a.takeEvents().map((e) => [e.type, e.node.id]),
    [['live', 'n4']],
  );

  // Removed past the grace period (a, which now believes n4 back, is kept quiet so as not to tell):
  // an introduction one beat past the heartbeat held at removal is refused, two beats past admitted.
  c.down.add(addr(1));
  const b = c.nodes.get(addr(2))!;
  const held = b.member(n4)!.heartbeat;
  c.run(25_000);
  assert.equal(b.member(n4), undefined, 'removed');
  const intro = (heartbeat: number): AckMessage => ({
    type: 'ack',
    clusterId: 'test',
    delta: {
      nodes: [
        {
          ref: identityRef(n4),
          identity: n4,
          heartbeat,
          heartbeatAge: 0,
          lastGcVersion: 0,
          fromVersion: 0,
          maxVersion: 0,
          values: [],
        },
      ],
      bumps: NO_BUMPS,
    },
  });
  b.receive(addr(3), intro(held + 1), c.now);
  assert.equal(b.member(n4), undefined, 'one beat newer: stale, refused');
  assert.equal(b.rejections()['removed-node'], 1);
  b.receive(addr(3), intro(held + 2), c.now);
  assert.equal(b.member(n4)?.status, 'live', 'two beats newer: a live node again');
});

test('a full digest sent while we hear nobody starts with our own entry: a run cut by the budget still carries our heartbeat', () => {
  const c = new MiniCluster(5);
  for (let i = 1; i <= 40; i++) c.add(coreConfig(i, { payloadBudget: 300 }), [addr(1)]);
  c.run(20_000);
  const n1 = c.nodes.get(addr(1))!;
  assert.equal(n1.snapshot().live.length, 40);
  c.partition(
    [addr(1)],
    Array.from({ length: 39 }, (_, k) => addr(k + 2)),
  );
  c.run(3000);
  for (let round = 0; round < 4; round++) {
    for (const o of n1.gossip(c.now + round)) {
      const digest = (o.message as SynMessage).digest;
      assert.equal(digest.mode, 'full');
      assert.equal(digest.complete, false, 'a run: the budget cuts it');
      assert.equal(digest.refs?.[0], identityRef(n1.self), `round ${round}: own entry first`);
    }
  }
});
