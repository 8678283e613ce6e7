/**
 * A census pull reaching a protocol-7 node that still runs mode 6 (docs/design/liveness-7.md, "The gate"): while
 * the gate opens, a joiner that adopted it pulls members that still wait on another joiner. They answer
 * "membership differs", which a census's direct check takes for contact; unanswered, the puller convicted them
 * as a cut (100 real agents started at once: 452 convictions by 6 late joiners' censuses).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ScuttlebuttCore } from '../../src/core/core.js';
import type { Outbound } from '../../src/core/types.js';
import type { CensusPullMessage } from '../../src/wire/liveness-messages.js';
import { address7 as address, core7, INTERVAL } from './core7-node.js';

const node = (i: number, now: number, liveness7: boolean): ScuttlebuttCore =>
  core7(i, now, 'census6', liveness7 ? 30_000 : null, 23);

/** Two cores that know each other: a few rounds of every message delivered at once. */
function pair(liveness7: boolean): { a: ScuttlebuttCore; now: number } {
  let now = 1_000_000;
  const a = node(0, now, liveness7);
  const b = node(1, now, liveness7);
  b.setSeeds([address(0)]);
  const cores = [a, b];
  for (let round = 0; round < 4; round++) {
    now += INTERVAL;
    let queue: (Outbound & { from: number })[] = cores.flatMap((c, i) => c.tick(now).map((o) => ({ ...o, from: i })));
    while (queue.length > 0) {
      const next: (Outbound & { from: number })[] = [];
      for (const o of queue) {
        const to = o.to === address(0) ? 0 : 1;
        for (const r of (cores[to] as ScuttlebuttCore).receive(address(o.from), o.message, now))
          next.push({ ...r, from: to });
      }
      queue = next;
    }
  }
  assert.equal(a.snapshot().live.length, 2, 'the two know each other');
  return { a, now };
}

const pull = (verification: boolean): CensusPullMessage => ({
  type: 'censusPull',
  clusterId: 'census6',
  epoch: 42,
  membershipHash: 7,
  memberCount: 2,
  verification,
  present: verification ? new Uint8Array(0) : new Uint8Array(1),
});

test('a protocol-7 node in mode 6 answers a member\'s census pull "membership differs"; a stranger\'s, not', () => {
  const { a, now } = pair(true);
  assert.equal(a.livenessMode, 6, 'the gate holds for 30 s');
  for (const verification of [false, true]) {
    const out = a.receive(address(1), pull(verification), now);
    assert.equal(out.length, 1, 'one answer');
    const reply = out[0] as Outbound;
    assert.equal(reply.to, address(1));
    assert.deepEqual(reply.message, {
      type: 'census',
      clusterId: 'census6',
      epoch: 42,
      membershipHash: 0,
      memberCount: 0,
      differs: true,
      present: new Uint8Array(0),
      reported: new Uint8Array(0),
    });
  }
  assert.deepEqual(a.receive('10.0.0.9:7946', pull(true), now), [], 'a stranger gets nothing');
});

test('a node configured for protocol 6 drops a census pull', () => {
  const { a, now } = pair(false);
  assert.deepEqual(a.receive(address(1), pull(true), now), []);
});
