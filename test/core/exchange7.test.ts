import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt, seededRandom } from '../../src/core/random.js';
import { SELF } from '../../src/core/membership.js';
import type { Random } from '../../src/core/types.js';
import type { Outbound7Any } from '../../src/core/exchange7.js';
import { exchange, Node7, overWire } from './state7-node.js';

/** What a node holds about each member, by ref: the hashed fields and the live key-values. */
function holdings(n: Node7): Map<number, string> {
  const t = n.membership.table;
  const out = new Map<number, string>();
  for (const s of n.slots()) {
    const map = t.values.get(s);
    const values = map ? [...map].map(([k, v]) => `${k}=${v.tombstone ? '<deleted>' : v.value}@${v.version}`) : [];
    const e = n.state.entryOf(s);
    const key = n.state.publicKey(s)?.[0] ?? -1;
    out.set(
      e.ref,
      JSON.stringify([e.incarnation, e.maxVersion, e.gcVersion, e.reportVersion, e.left, key, values.sort()]),
    );
  }
  return out;
}

/** Random writes, deletes, GCs, incarnation bumps, report sets and leaves among owners; a and b hear different ones. */
function diverge(rng: Random, a: Node7, b: Node7, owners: Node7[], steps: number, now: { t: number }): void {
  const leftOwners = new Set<Node7>();
  for (let step = 0; step < steps; step++) {
    now.t += randomInt(rng, 400);
    const o = owners[randomInt(rng, owners.length)] as Node7;
    const writer = [o, a, b][randomInt(rng, 3)] as Node7;
    switch (randomInt(rng, 9)) {
      case 0:
      case 1:
        if (!leftOwners.has(writer)) writer.own.set(`k${randomInt(rng, 6)}`, `v${step}`, now.t);
        break;
      case 2:
        if (!leftOwners.has(writer)) writer.own.delete(`k${randomInt(rng, 6)}`, now.t);
        break;
      case 3:
        writer.own.expire(now.t);
        break;
      case 4:
        if (!leftOwners.has(writer)) writer.bumpIncarnation();
        break;
      case 5:
        if (!leftOwners.has(writer)) writer.publishReports();
        break;
      case 6:
        if (writer === o && leftOwners.size < 2 && !leftOwners.has(o)) {
          o.leave();
          leftOwners.add(o);
        }
        break;
      default: {
        // An owner's state (and whatever it learned) reaches a or b only.
        const to = randomInt(rng, 2) === 0 ? a : b;
        if (randomInt(rng, 2) === 0) exchange(o, to, now.t);
        else exchange(to, o, now.t);
      }
    }
  }
}

/** Exchanges between a and b, alternating who starts, until their hashes agree; the rounds it took. */
function reconcile(a: Node7, b: Node7, now: number, budget: number, maxRounds: number): number {
  for (let round = 1; round <= maxRounds; round++) {
    if (round % 2 === 1) exchange(a, b, now, budget, round * 7);
    else exchange(b, a, now, budget, round * 7);
    a.assertHashInStep();
    b.assertHashInStep();
    if (a.state.hash === b.state.hash) return round;
  }
  return -1;
}

for (const [name, budget, maxRounds] of [
  ['a packet of 60 KB', 60_000, 4],
  ['small packets (240 B: digests and deltas cut)', 240, 200],
] as const) {
  test(`diverged memberships converge by digest7 -> delta7 exchanges over the codec, ${name}`, () => {
    let rounds = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const rng = seededRandom(seed);
      const owners = Array.from({ length: 25 }, (_, i) => new Node7(i + 1));
      const a = new Node7(100);
      const b = new Node7(101);
      const now = { t: 1000 };
      diverge(rng, a, b, owners, 300, now);
      assert.notEqual(a.state.hash, b.state.hash, `seed ${seed}: diverged`);
      const took = reconcile(a, b, now.t, budget, maxRounds);
      assert.ok(took > 0, `seed ${seed}: converged within ${maxRounds} exchanges`);
      rounds = Math.max(rounds, took);
      assert.deepEqual(holdings(a), holdings(b), `seed ${seed}: equal hashes, equal state`);
      assert.equal(
        a.membership.table.left.filter((x) => x === 1).length,
        b.membership.table.left.filter((x) => x === 1).length,
      );
      // Equal hashes: an exchange either way finds nothing to send.
      for (const [x, y] of [
        [a, b],
        [b, a],
      ] as const) {
        const trace = exchange(x, y, now.t, budget, seed);
        assert.deepEqual({ ...trace, synEntries: 0 }, { synEntries: 0, requested: 0, synAckNodes: 0, ackNodes: 0 });
      }
      assert.equal(a.state.hash, b.state.hash);
      assert.equal(a.reports.claims.length + b.reports.claims.length, 0, 'no claim about either self');
      assert.ok(a.membership.slotOfRef(b.ref) > SELF);
    }
    assert.ok(rounds >= 1);
  });
}

test('news: a hot digest of the members changed lately carries a write to a converged peer in one exchange', () => {
  const owner = new Node7(1);
  const a = new Node7(100);
  const b = new Node7(101);
  exchange(owner, a, 0);
  exchange(a, b, 0);
  assert.equal(a.state.hash, b.state.hash);
  a.state.startRound();
  a.state.startRound();
  assert.deepEqual(a.state.hotSlots(), [], 'nothing changed lately');
  assert.deepEqual(a.exchange7().news([b.address], 10, 0), [], 'no news, no SYN7');
  owner.own.set('k', 'v', 10);
  exchange(owner, a, 10);
  const hot = a.state.hotSlots();
  assert.deepEqual(
    hot.map((s) => a.membership.table.ref(s)),
    [owner.ref],
  );
  const [syn, ...others] = a.exchange7(1400).news([b.address], 11, 0);
  assert.equal(others.length, 0);
  const atB = overWire(syn as Outbound7Any);
  assert.ok(atB.type === 'syn7' && atB.digest.hot && !atB.digest.complete && atB.digest.count === 1);
  const [synAck] = b.exchange7(1400).receive(a.address, atB, 11).map(overWire);
  assert.ok(synAck?.type === 'synAck7');
  assert.deepEqual(Array.from(synAck.request.refs), [owner.ref], 'b asks for the member it is behind on');
  assert.equal(synAck.nodes.length, 0, 'and has nothing a lacks');
  const [ack] = a.exchange7(1400).receive(b.address, synAck, 12).map(overWire);
  assert.ok(ack?.type === 'ack7');
  b.exchange7(1400).receive(a.address, ack, 12);
  assert.equal(b.state.hash, a.state.hash);
});
