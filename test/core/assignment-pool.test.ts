import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AssignmentPool } from '../../src/core/assignment-pool.js';
import { MemberView7 } from '../../src/core/liveness7-view.js';
import { ObserverAssignment } from '../../src/core/observers.js';

const refs = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => (from + i) * 1_000_003);

test('assignment pool: views over the same members share one assignment, whatever order they were built in', () => {
  const pool = new AssignmentPool();
  const members = refs(50);
  const a = new MemberView7(members[0]!, 4, 1, pool);
  const b = new MemberView7(members[1]!, 4, 1, pool);
  for (const r of members) a.join(r);
  a.refresh();
  const reversed = [...members].reverse();
  for (let i = 0; i < reversed.length; i++) {
    b.join(reversed[i]!);
    if (i % 10 === 9) b.refresh(); // b passes through views a never held
  }
  assert.equal(a.assignment, b.assignment, 'the same members: one object');
  assert.deepEqual([...a.assignment.members()], [...ObserverAssignment.of(members).members()]);
  b.kill(members[9]!, 'failed');
  b.refresh();
  assert.notEqual(a.assignment, b.assignment, 'a different view: its own');
  assert.equal(b.assignment.size, 49);
  const alone = new MemberView7(members[0]!, 4, 1);
  for (const r of members) alone.join(r);
  alone.refresh();
  assert.notEqual(alone.assignment, a.assignment, 'a view without the pool keeps its own');
  assert.ok(alone.assignment.sameView(a.assignment));
});

test('assignment pool: views held once make way for newer ones, but not a view shared', () => {
  const pool = new AssignmentPool();
  const view = (from: number): ObserverAssignment => ObserverAssignment.of(refs(20, from));
  const popular = view(1);
  pool.share(popular);
  assert.equal(pool.share(view(1)), popular, 'a second node at the same view takes the kept one');
  const once = view(2);
  pool.share(once);
  for (let v = 1; v <= 32; v++) pool.share(view(100 * v)); // 32 views built once each
  const again = view(2);
  assert.equal(pool.share(again), again, 'a view held once was pushed out by 32 newer ones');
  assert.equal(pool.share(view(1)), popular, 'the shared view was not');
  assert.notEqual(pool.share(view(3200)), view(3200), 'a recent view is still kept');
});
