import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Exchange7, Exchange7Message, Outbound7Any } from '../../src/core/exchange7.js';
import { EMPTY_DIGEST7 } from '../../src/core/digest7.js';
import { identityRef } from '../../src/core/identity.js';
import { SELF } from '../../src/core/membership.js';
import { leafOf } from '../../src/core/state-hash.js';
import { encodeLivenessMessage } from '../../src/wire/liveness-codec.js';
import type { LivenessMessage, NodeDelta7, Syn7Message, SynAck7Message } from '../../src/wire/liveness-messages.js';
import { livenessMessageBytes } from '../../src/wire/liveness-sizes.js';
import type { NodeIdentity } from '../../src/wire/messages.js';
import { CLUSTER, identityOf, introductions, Node7, overWire } from './state7-node.js';

const BUDGET = 1400;

/** A member nobody runs: its introduction, as its owner would send it. */
function memberDelta(identity: NodeIdentity, incarnation = 1): NodeDelta7 {
  return {
    ref: identityRef(identity),
    identity,
    incarnation,
    lastGcVersion: 0,
    fromVersion: 0,
    maxVersion: 0,
    values: [],
  };
}

/** Two nodes that know each other and the same `members` other members. */
function pair(members: number): { a: Node7; b: Node7; extra: NodeDelta7[] } {
  const a = new Node7(1);
  const b = new Node7(2);
  const extra = Array.from({ length: members }, (_, i) => memberDelta(identityOf(1000 + i)));
  for (const n of [a, b]) n.deltas.apply(extra, 0);
  a.deltas.apply(introductions(b), 0);
  b.deltas.apply(introductions(a), 0);
  assert.equal(a.state.hash, b.state.hash);
  return { a, b, extra };
}

/** What was sent, in order: type and encoded bytes. */
type Trace = { type: string; bytes: number }[];

/** Delivers `outs` (from `from`) and the replies they cause between the two nodes, through the codec. */
function converse(from: Node7, to: Node7, outs: Outbound7Any[], now: number, trace: Trace = []): Trace {
  let queue = outs.map((out) => ({ sender: from, out }));
  while (queue.length > 0) {
    const next: typeof queue = [];
    for (const { sender, out } of queue) {
      const receiver = sender === from ? to : from;
      assert.equal(out.to, receiver.address);
      trace.push({ type: out.message.type, bytes: encodeLivenessMessage(out.message as LivenessMessage).length });
      for (const reply of receiver.exchange7(BUDGET).receive(sender.address, overWire(out), now))
        next.push({ sender: receiver, out: reply });
    }
    queue = next;
  }
  return trace;
}

/** A's drill-down toward B: B's beats (its hash) twice, then the exchange they start. */
function drill(a: Node7, b: Node7, now: number): Trace {
  const xa = a.exchange7(BUDGET);
  const slot = a.membership.slotOfRef(b.ref);
  assert.deepEqual(xa.onBeatHash(slot, b.state.hash, now), [], 'one differing beat is left alone');
  const outs = xa.onBeatHash(slot, b.state.hash, now + 1);
  assert.equal(outs.length, 1, 'the second differing beat in a row starts a drill-down');
  return converse(a, b, outs, now + 1);
}

function bytesOf(trace: Trace): string {
  return trace.map((m) => `${m.type} ${m.bytes}`).join(', ');
}

test('drill-down finds one differing member among 10,000 in about 0.5 KB before the delta, either way round', () => {
  const { a, b, extra } = pair(10_000);
  const x = extra[4321] as NodeDelta7;
  // B holds the newer state: the SYN-ACK7 carries it to A.
  b.deltas.apply([{ ...x, identity: null, incarnation: 2 }], 10);
  const t1 = drill(a, b, 100);
  console.log(`B newer: ${bytesOf(t1)}`);
  assert.deepEqual(
    t1.map((m) => m.type),
    ['sums', 'sums', 'syn7', 'synAck7'],
  );
  assert.equal(a.state.hash, b.state.hash);
  const before = t1.slice(0, 3).reduce((k, m) => k + m.bytes, 0);
  assert.ok(before < 1000, `sums + reply + SYN7: ${before} B`);
  // A holds the newer state: B asks for it and A's ACK7 brings it.
  a.deltas.apply([{ ...x, identity: null, incarnation: 3 }], 20);
  const t2 = drill(a, b, 5000);
  console.log(`A newer: ${bytesOf(t2)}`);
  assert.deepEqual(
    t2.map((m) => m.type),
    ['sums', 'sums', 'syn7', 'synAck7', 'ack7'],
  );
  assert.equal(a.state.hash, b.state.hash);
  // Other members: the SYN7 holds their leaf's entries, so its size follows the leaf's count.
  const totals: number[] = [];
  for (const [k, i] of [17, 2500, 5000, 7500, 9999].entries()) {
    b.deltas.apply([{ ...(extra[i] as NodeDelta7), identity: null, incarnation: 2 }], 30);
    const t = drill(a, b, 10_000 * (k + 1));
    assert.equal(a.state.hash, b.state.hash);
    totals.push(t.slice(0, 3).reduce((sum, m) => sum + m.bytes, 0));
  }
  console.log(`sums + reply + SYN7 for five other members: ${totals.join(', ')} B`);
  assert.ok(Math.max(...totals) < 1000);
  a.assertHashInStep();
  b.assertHashInStep();
});

test('drill-down: a member only the peer holds, in a leaf where we hold others, is introduced by the peer', () => {
  const { a, b } = pair(10_000);
  const y = memberDelta(identityOf(99_999));
  b.deltas.apply([y], 10);
  assert.ok(a.state.stateHash.leafCount(leafOf(y.ref)) > 0);
  const trace = drill(a, b, 100);
  assert.ok(a.membership.slotOfRef(y.ref) > SELF, `A learned the member (${bytesOf(trace)})`);
  assert.equal(a.state.hash, b.state.hash);
});

test('drill-down: a differing leaf we hold nothing in is turned around, and the peer drills it to us', () => {
  const { a, b } = pair(300);
  // A new member in a leaf where A (and B) hold nobody yet.
  let id = 50_000;
  while (a.state.stateHash.leafCount(leafOf(identityRef(identityOf(id)))) > 0) id++;
  const y = memberDelta(identityOf(id));
  b.deltas.apply([y], 10);
  const trace = drill(a, b, 100);
  console.log(`empty leaf: ${bytesOf(trace)}`);
  assert.deepEqual(
    trace.map((m) => m.type),
    ['sums', 'sums', 'sums', 'syn7', 'synAck7', 'ack7'],
  );
  assert.ok(a.membership.slotOfRef(y.ref) > SELF);
  assert.equal(a.state.hash, b.state.hash);
});

test('drill-down: leaves holding more than a packet go to the stream, which carries the whole state in batches', () => {
  const { a, b } = pair(2000);
  const joined = Array.from({ length: 400 }, (_, i) => memberDelta(identityOf(70_000 + i)));
  b.deltas.apply(joined, 10);
  // One member with more values than one batch holds: its values continue in the next batches.
  for (let k = 0; k < 40; k++) b.own.set(`key${k}`, 'x'.repeat(100), 20 + k);
  const trace = drill(a, b, 100);
  assert.deepEqual(
    trace.map((m) => m.type),
    ['sums', 'sums'],
    'the reply says stream: no SYN7',
  );
  const xa = a.exchange7(BUDGET);
  const xb = b.exchange7(BUDGET);
  assert.deepEqual(xa.takeStreamRequests(), [b.address]);
  assert.deepEqual(xa.takeStreamRequests(), [], 'taken once');
  let batches = 0;
  for (const nodes of xb.streamOut()) {
    const ack = { type: 'ack7', clusterId: CLUSTER, nodes } as const;
    assert.ok(livenessMessageBytes(ack) <= BUDGET, 'a batch fits an ACK7');
    xa.streamIn(nodes, 200, b.address);
    if (++batches > 1000) assert.fail('the stream ends');
  }
  assert.ok(batches > 3, `${batches} batches`);
  assert.equal(a.state.hash, b.state.hash);
  a.assertHashInStep();
});

test("a stranger's SYN7 gets our own introduction only, within its reply budget; its SUMS get nothing", () => {
  const { a } = pair(50);
  const stranger = new Node7(7);
  const x = a.exchange7(BUDGET);
  // A complete digest naming only itself: everything we hold would be news to it.
  const syn = overWire(stranger.exchange7(BUDGET).synAll(a.address));
  const sender = { stranger: true, replyBudget: 300 };
  const [reply, ...rest] = x.receive(stranger.address, syn, 10, sender);
  assert.equal(rest.length, 0);
  assert.ok(reply?.message.type === 'synAck7');
  assert.ok(livenessMessageBytes(reply.message) <= 300);
  assert.deepEqual(
    reply.message.nodes.map((nd) => nd.ref),
    [a.ref],
  );
  assert.ok(reply.message.nodes[0]?.identity, 'introduced');
  assert.deepEqual(Array.from(reply.message.request.refs), [stranger.ref], 'asks for the stranger itself');
  const sums = { type: 'sums', clusterId: CLUSTER, reply: false, streamWanted: false } as const;
  const level1 = {
    ...sums,
    stateHash: 1,
    memberCount: 1,
    level: 1,
    mask: 0xffff,
    sums: new Array(16).fill(5),
  } as const;
  assert.deepEqual(x.receive(stranger.address, level1, 10, sender), []);
  assert.equal(x.receive(stranger.address, level1, 10).length, 1, 'a member asking the same is answered');
});

test("another cluster's SYN7 is answered WRONG-CLUSTER; its other messages are dropped unread", () => {
  const { a, b } = pair(10);
  const x = a.exchange7(BUDGET);
  b.own.set('k', 'v', 5);
  const syn = overWire(b.exchange7(BUDGET).synAll(a.address)) as Syn7Message;
  const foreign = { ...syn, clusterId: 'other' };
  assert.deepEqual(x.receive(b.address, foreign, 10), [
    { to: b.address, message: { type: 'wrongCluster', clusterId: CLUSTER } },
  ]);
  const nodes = introductions(b);
  const hash = a.state.hash;
  assert.deepEqual(x.receive(b.address, { type: 'ack7', clusterId: 'other', nodes }, 10), []);
  const synAck: SynAck7Message = {
    type: 'synAck7',
    clusterId: 'other',
    stateHash: 0,
    memberCount: 0,
    request: syn.digest,
    nodes,
  };
  assert.deepEqual(x.receive(b.address, synAck, 10), []);
  assert.equal(a.state.hash, hash, 'nothing applied');
  assert.equal(a.journal.rejections()['wrong-cluster'], 3);
  assert.equal(x.receive(b.address, { type: 'ack7', clusterId: CLUSTER, nodes }, 10).length, 0);
  assert.notEqual(a.state.hash, hash, 'the same ACK7 in our cluster is applied');
});

test('a SUMS reply is cut to the buckets that fit the reply budget', () => {
  const { a, b } = pair(2000);
  // Every level-1 bucket differs: B holds a newer incarnation of a member in each.
  const seen = new Set<number>();
  for (let i = 0; i < 2000 && seen.size < 16; i++) {
    const id = identityOf(1000 + i);
    const bucket = leafOf(identityRef(id)) >> 4;
    if (seen.has(bucket)) continue;
    seen.add(bucket);
    b.deltas.apply([{ ...memberDelta(id), identity: null, incarnation: 2 }], 5);
  }
  assert.deepEqual(a.exchange7(BUDGET).onBeatHash(a.membership.slotOfRef(b.ref), 1, 0), []);
  const request = overWire(a.exchange7(BUDGET).onBeatHash(a.membership.slotOfRef(b.ref), 1, 1)[0] as Outbound7Any);
  // 16 buckets of 16 sums (1.5 KB) exceed a 1,400-byte packet: a larger budget holds them all.
  const [full] = b.exchange7(4000).receive(a.address, request, 10);
  assert.ok(full?.message.type === 'sums' && full.message.mask === 0xffff);
  const [cut] = b.exchange7(4000).receive(a.address, request, 10, { stranger: false, replyBudget: 700 });
  assert.ok(cut?.message.type === 'sums');
  assert.ok(livenessMessageBytes(cut.message) <= 700, `${livenessMessageBytes(cut.message)} B`);
  assert.ok(cut.message.mask !== 0 && cut.message.mask !== 0xffff);
});

test('news: nothing hot, no SYN7; else a hot digest to each target, the first pulling; a push is answered only for a request', () => {
  const { a, b } = pair(10);
  const x = a.exchange7(BUDGET);
  for (const n of [a, b]) while (n.state.hotSlots().length > 0) n.state.startRound();
  assert.deepEqual(x.news([b.address], 0, 0), []);
  a.own.set('k', 'v', 5);
  const out = x.news([b.address, 'c:1', 'd:1'], 5, 3);
  assert.deepEqual(
    out.map((o) => [o.to, o.message.type === 'syn7' && o.message.pull]),
    [
      [b.address, true],
      ['c:1', false],
      ['d:1', false],
    ],
  );
  const syn = out[0]?.message as Syn7Message;
  assert.ok(syn.digest.hot && syn.digest.count === 1 && syn.censusEpoch === 3);
  // B lacks the write: it asks, even on a push.
  const push = { ...syn, pull: false };
  assert.equal(b.exchange7(BUDGET).receive(a.address, push, 6).length, 1);
  // B is ahead of A on a member A named, and lacks nothing: a push is not answered, a pull is.
  const ahead = { ...syn, digest: { ...syn.digest, maxVersions: [0] } };
  converse(a, b, [{ to: b.address, message: syn }], 6);
  assert.equal(a.state.hash, b.state.hash);
  assert.deepEqual(b.exchange7(BUDGET).receive(a.address, { ...ahead, pull: false }, 7), []);
  assert.equal(b.exchange7(BUDGET).receive(a.address, { ...ahead, pull: true }, 7).length, 1);
});

test('every SYN7, SYN-ACK7 and ACK7 received from a neighbour holds off its drill-down for an interval', () => {
  const { a, b } = pair(10);
  const x: Exchange7 = a.exchange7(BUDGET, 1000);
  const slot = a.membership.slotOfRef(b.ref);
  b.own.set('k', 'v', 5);
  const messages: Exchange7Message[] = [
    overWire(b.exchange7(BUDGET).synAll(a.address)),
    { type: 'synAck7', clusterId: CLUSTER, stateHash: 0, memberCount: 0, request: EMPTY_DIGEST7, nodes: [] },
    { type: 'ack7', clusterId: CLUSTER, nodes: [] },
  ];
  for (const [k, message] of messages.entries()) {
    const t = 10_000 * (k + 1);
    x.receive(b.address, message, t);
    assert.deepEqual(x.onBeatHash(slot, b.state.hash + 1, t + 1), []);
    assert.deepEqual(x.onBeatHash(slot, b.state.hash + 1, t + 2), [], `${message.type}: within an interval`);
    assert.equal(x.onBeatHash(slot, b.state.hash + 1, t + 1500).length, 1, `${message.type}: an interval later`);
  }
});

/** A deep copy with every numeric column a plain array (byte strings stay Uint8Array), so any number can be put in. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return v.slice();
  if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

const WILD = [-1, 0, 1, 1.5, 2 ** 31, 2 ** 48, 2 ** 48 + 1, 2 ** 53, Number.NaN, Infinity, 1e6];

/** One random lie in `msg`: a number replaced, an array shortened or lengthened, or a byte string cut. */
function lie(msg: unknown, pick: (n: number) => number): void {
  const spots: { holder: Record<string, unknown> | unknown[]; key: string | number }[] = [];
  const walk = (v: unknown): void => {
    if (v instanceof Uint8Array) return;
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        spots.push({ holder: v, key: i });
        walk(x);
      });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k !== 'type' && k !== 'clusterId') spots.push({ holder: v as Record<string, unknown>, key: k });
        walk(x);
      }
    }
  };
  walk(msg);
  const spot = spots[pick(spots.length)];
  if (!spot) return;
  const h = spot.holder as Record<string | number, unknown>;
  const old = h[spot.key];
  if (typeof old === 'number') h[spot.key] = WILD[pick(WILD.length)];
  else if (typeof old === 'boolean') h[spot.key] = !old;
  else if (old instanceof Uint8Array) h[spot.key] = old.subarray(0, pick(old.length + 1));
  else if (Array.isArray(old)) {
    // Shapes stay typed (a node delta stays an object): what a typed harness could build, if not the codec.
    if (pick(2) === 0) old.length = pick(old.length + 1);
    else if (old.length > 0) old.push(plain(old[pick(old.length)]));
  } else if (old === null) h[spot.key] = identityOf(4242);
}

test('garbage and lying messages (wrong counts, unknown refs, stale or leaping deltas) never throw nor break the hash', () => {
  const { a, b } = pair(300);
  b.own.set('k', 'v', 5);
  b.publishReports();
  b.deltas.apply([memberDelta(identityOf(88_888))], 5);
  const xa = a.exchange7(BUDGET);
  const xb = b.exchange7(BUDGET);
  // Real messages of every kind from B to A, to lie in.
  const seeds: Exchange7Message[] = [];
  const slotB = a.membership.slotOfRef(b.ref);
  xa.onBeatHash(slotB, b.state.hash, 0);
  const sums = overWire(xa.onBeatHash(slotB, b.state.hash, 1)[0] as Outbound7Any);
  seeds.push(sums);
  const reply = xb.receive(a.address, sums, 2).map(overWire);
  seeds.push(...reply);
  seeds.push(overWire(xb.synAll(a.address)), ...xb.news([a.address], 2, 1).map(overWire));
  a.own.set('mine', 'x', 2);
  const synOfA = overWire(xa.news([b.address], 2, 1)[0] as Outbound7Any);
  const synAck = xb.receive(a.address, synOfA, 2).map(overWire);
  seeds.push(...synAck);
  seeds.push({ type: 'ack7', clusterId: CLUSTER, nodes: introductions(b) });
  assert.deepEqual([...new Set(seeds.map((m) => m.type))].sort(), ['ack7', 'sums', 'syn7', 'synAck7']);
  let state = 12345;
  const pick = (n: number): number => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return n === 0 ? 0 : state % n;
  };
  let answered = 0;
  for (let k = 0; k < 2000; k++) {
    const msg = plain(seeds[k % seeds.length]) as Exchange7Message;
    for (let lies = 1 + pick(3); lies > 0; lies--) lie(msg, pick);
    const outs = xa.receive(b.address, msg, 10 + k, { stranger: pick(4) === 0 });
    answered += outs.length;
    for (const out of outs) assert.ok(livenessMessageBytes(out.message as LivenessMessage) <= BUDGET);
    const kept = a.state.stateHash;
    const again = a.state.recomputed();
    assert.equal(kept.hash, again.hash, `lie ${k}: H`);
    assert.deepEqual(kept.leafSumsOf(0xffff), again.leafSumsOf(0xffff), `lie ${k}: leaf sums`);
  }
  a.assertHashInStep();
  assert.ok(answered > 0, 'some lies still read as messages');
  // A stale delta (B's old state, replayed after newer news) changes nothing.
  const old = introductions(b);
  b.own.set('k', 'newer', 20);
  xa.receive(b.address, { type: 'ack7', clusterId: CLUSTER, nodes: introductions(b) }, 20);
  const hash = a.state.hash;
  xa.receive(b.address, { type: 'ack7', clusterId: CLUSTER, nodes: old }, 21);
  assert.equal(a.state.hash, hash, 'a stale delta is no news');
});
