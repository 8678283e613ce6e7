/**
 * Liveness7.nextTickAt, the instant a harness that does not tick every quarter interval (the runtime) wakes for: it
 * is never later than anything tick() acts on at a deadline of its own (the next beats, a neighbour's silent or
 * echo deadline, a never-heard neighbour's wait, a returned member's or an accuser's hold), never more than a round
 * after the last tick, and a quarter interval after it while a census runs; and asking changes nothing. Checked over
 * random clusters with crashes, one-way and two-way cuts and loss (test/core/liveness7-net.ts), at every node, every
 * few ms of 14 s. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Liveness7 } from '../../src/core/liveness7.js';
import type { NeighbourWatch } from '../../src/core/neighbours.js';
import type { ReturnHold } from '../../src/core/returns.js';
import type { Census } from '../../src/core/census.js';
import { INTERVAL_MS, Liveness7Net } from './liveness7-net.js';

/** What nextTickAt reads, reached past `private` (a test of the schedule against the state it summarizes). */
interface Inside {
  lastTickAt: number;
  nextBeatAt: number;
  watch: NeighbourWatch;
  returns: ReturnHold;
  census: Census;
}

/** A returned member's hold and an accuser's (ReturnHold: its expiry makes the conviction rule look again). */
function holds(l: Liveness7): { since: Map<number, number>; accusedAt: Map<number, number>; holdMs: number } {
  return (l as unknown as Inside).returns as unknown as {
    since: Map<number, number>;
    accusedAt: Map<number, number>;
    holdMs: number;
  };
}

/** Every deadline of node `l` at or after its last tick that tick() acts on, and whether a census runs. */
function deadlines(l: Liveness7): { last: number; due: number[]; census: boolean } {
  const inside = l as unknown as Inside;
  const last = inside.lastTickAt;
  const due = [inside.nextBeatAt, last + INTERVAL_MS];
  for (const ref of inside.watch.beaten()) {
    for (const d of [inside.watch.silentDeadline(ref), inside.watch.echoDeadline(ref)]) if (d >= last) due.push(d);
  }
  const { since, accusedAt, holdMs } = holds(l);
  for (const at of [...since.values(), ...accusedAt.values()]) due.push(at + holdMs);
  return { last, due, census: inside.census.running };
}

test('nextTickAt is never later than a deadline tick() acts on, nor a round after the last tick', () => {
  fc.assert(
    fc.property(
      fc.record({
        n: fc.integer({ min: 4, max: 10 }),
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        loss: fc.double({ min: 0, max: 0.3, noNaN: true }),
        crashes: fc.integer({ min: 0, max: 3 }),
        crashAtMs: fc.integer({ min: 500, max: 6000 }),
        cut: fc.constantFrom('none', 'two-way', 'one-way'),
        stepMs: fc.integer({ min: 7, max: 61 }),
      }),
      ({ n, seed, loss, crashes, crashAtMs, cut, stepMs }) => {
        const net = new Liveness7Net({ n, seed, loss });
        for (let x = 0; x < n; x++) net.side[x] = x % 3 === 0 ? 1 : 0;
        let checked = 0;
        for (let now = 0; now <= 14_000; now += stepMs) {
          if (now >= crashAtMs && now - stepMs < crashAtMs) {
            for (let k = 0; k < crashes; k++) net.crash(n - 1 - k);
            net.cut = cut !== 'none';
            net.oneWay = cut === 'one-way';
          }
          net.run(now);
          for (let x = 0; x < n; x++) {
            if (net.crashed[x]) continue;
            const l = net.nodes[x]!;
            const accused = [...holds(l).accusedAt];
            const at = l.nextTickAt(net.now, false);
            // A query: an accusation is stamped with the tick's clock that lists it, not with an earlier one's.
            assert.deepEqual([...holds(l).accusedAt], accused, `node ${x} at ${net.now}: nextTickAt changed the holds`);
            const { last, due, census } = deadlines(l);
            const earliest = Math.min(...due);
            assert.ok(at <= earliest, `node ${x} at ${net.now}: next tick ${at} after a deadline at ${earliest}`);
            if (census) assert.ok(at <= last + INTERVAL_MS / 4, `node ${x}: a census waits ${at - last} ms`);
            assert.ok(l.nextTickAt(net.now, true) <= last + INTERVAL_MS / 4, 'pending changes tick a quarter on');
            checked++;
          }
        }
        assert.ok(checked > 0);
      },
    ),
    { numRuns: 25 },
  );
});
