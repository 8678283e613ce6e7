import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt, seededRandom } from '../../src/core/random.js';
import { SELF } from '../../src/core/membership.js';
import { DEAD, FREE, LIVE } from '../../src/core/peer-table.js';
import { entryHash } from '../../src/core/state-hash.js';
import { State7 } from '../../src/core/state7.js';
import { identityOf, introductions, Node7 } from './state7-node.js';

test('the state hash follows every change made through Membership, OwnValues and the table (random sequences)', () => {
  for (let seed = 1; seed <= 20; seed++) {
    const rng = seededRandom(seed);
    const owners = Array.from({ length: 40 }, (_, i) => new Node7(i + 1));
    const n = new Node7(0);
    let now = 1000;
    for (let step = 0; step < 400; step++) {
      now += randomInt(rng, 300);
      const t = n.membership.table;
      const others = n.slots().filter((s) => s !== SELF);
      const pick = (): number => others[randomInt(rng, others.length)] as number;
      const owner = owners[randomInt(rng, owners.length)] as Node7;
      const op = randomInt(rng, 16);
      switch (op > 10 ? 0 : op) {
        case 0: // (most often) an owner's news (admission, values, GC, incarnation, report version, leave) reaches n
          n.deltas.apply(introductions(owner), now, owner.membership.self.address);
          break;
        case 1:
          owner.own.set(`k${randomInt(rng, 5)}`, `v${step}`, now);
          break;
        case 2:
          owner.own.delete(`k${randomInt(rng, 5)}`, now);
          break;
        case 3:
          owner.own.expire(now); // tombstone GC raises the owner's GC version
          break;
        case 4:
          owner.bumpIncarnation();
          break;
        case 5:
          owner.publishReports();
          break;
        case 6:
          n.own.set(`mine${randomInt(rng, 3)}`, `v${step}`, now);
          n.own.expire(now);
          break;
        case 7:
          if (others.length > 0) {
            const s = pick();
            if (t.status[s] === LIVE) n.membership.convict(s, 'suspected', now);
            else if (t.status[s] === DEAD) n.membership.removeIfDue(s, now + 120_000);
          }
          break;
        case 8:
          if (others.length > 0) {
            const s = pick();
            if (t.status[s] !== FREE && t.left[s] === 0 && randomInt(rng, 2) === 0) n.membership.markLeft(s, now, 0);
            else if (t.status[s] === DEAD) n.membership.forceLeave(s, now, { final: randomInt(rng, 2) === 0 });
          }
          break;
        case 9:
          if (others.length > 0) {
            const s = pick();
            if (t.status[s] === DEAD && t.left[s] === 0) n.membership.revive(s);
          }
          break;
        case 10:
          n.membership.keepSlotsInRefOrder(); // renumbers the table once membership held still for a round
          n.membership.keepSlotsInRefOrder();
          break;
      }
      n.assertHashInStep();
    }
    assert.ok(n.membership.table.capacity > 16, 'the table grew past its first capacity');
  }
});

test('each hashed field moves H; a field protocol 7 does not hash (heartbeat, status) does not', () => {
  const n = new Node7(0);
  const a = new Node7(1);
  n.deltas.apply(introductions(a), 0, a.membership.self.address);
  const s = n.membership.slotOfRef(a.ref);
  assert.ok(s > SELF);
  const t = n.membership.table;
  const seen = new Set<number>([n.state.hash]);
  const expectNew = (what: string): void => {
    assert.ok(!seen.has(n.state.hash), `${what} changes H`);
    seen.add(n.state.hash);
    n.assertHashInStep();
  };
  t.setIncarnation(s, 5);
  expectNew('incarnation');
  t.setMaxVersion(s, 3);
  expectNew('max version');
  t.setGcVersion(s, 2);
  expectNew('GC version');
  t.setReportVersion(s, 1);
  expectNew('report version');
  t.setLeft(s, 1);
  expectNew('left');
  const before = n.state.hash;
  t.setHeartbeat(s, 99);
  n.membership.convict(s, 'suspected', 10);
  assert.equal(n.state.hash, before, 'local verdicts and heartbeats are not state');
  n.membership.removeIfDue(s, 1e9);
  n.assertHashInStep();
  assert.equal(n.state.stateHash.size, 1);
  assert.equal(n.state.hash, entryHash(n.state.entryOf(SELF)));
  assert.equal(n.state.publicKey(s), undefined, 'a removed member leaves no key behind');
});

test('State7 attached to a membership that already holds members sums them', () => {
  const n = new Node7(0);
  for (let i = 1; i <= 30; i++) n.membership.admit(identityOf(i), new Node7(i).ref, 1, 0);
  n.membership.table.setIncarnation(7, 3);
  const late = new State7(n.membership);
  assert.equal(late.hash, n.state.hash);
  assert.equal(late.stateHash.size, 31);
  n.membership.table.setMaxVersion(7, 4); // the late one is the table's observer now
  assert.equal(late.hash, late.recomputed().hash);
  assert.notEqual(late.hash, n.state.hash);
});

test('a State7 attached anew (after a fallback to mode 6) holds no key an earlier one noted', () => {
  const n = new Node7(0);
  const a = new Node7(1);
  n.deltas.apply(introductions(a), 0, a.membership.self.address);
  const s = n.membership.slotOfRef(a.ref);
  assert.ok(n.state.publicKey(s) !== undefined, 'the introduction carried the key');
  const ownKey = Uint8Array.from([5]);
  const again = new State7(n.membership, { ownPublicKey: ownKey });
  assert.equal(again.publicKey(s), undefined);
  assert.equal(again.publicKey(SELF), ownKey);
});

test('hot members: those changed in this round or the last, whatever changed them', () => {
  const n = new Node7(0);
  const owners = [1, 2, 3].map((i) => new Node7(i));
  for (const o of owners) n.deltas.apply(introductions(o), 0, o.membership.self.address);
  const refsOf = (slots: number[]): number[] => slots.map((s) => n.membership.table.ref(s)).sort();
  const [o1, o2, o3] = owners as [Node7, Node7, Node7];
  assert.deepEqual(refsOf(n.state.hotSlots()), [n.ref, o1.ref, o2.ref, o3.ref].sort(), 'admissions are news');
  n.state.startRound();
  o2.own.set('k', 'v', 1);
  n.deltas.apply(introductions(o2), 1, 'x:1');
  assert.equal(n.state.hotSlots().length, 4, 'still hot a round later');
  n.state.startRound();
  assert.deepEqual(refsOf(n.state.hotSlots()), [o2.ref]);
  n.membership.table.setIncarnation(n.membership.slotOfRef(o3.ref), 4);
  n.state.startRound();
  assert.deepEqual(refsOf(n.state.hotSlots()), [o3.ref]);
  n.state.startRound();
  assert.deepEqual(n.state.hotSlots(), []);
});
