/**
 * The never-heard rule's bookkeeping alone (src/core/unheard.ts): when a neighbour never heard is due for a census,
 * how each census's outcome moves its wait, and which records it adds to the own report set. Its use inside
 * Liveness7 over a network is test/core/liveness7-cluster.test.ts ("a member dead before its first beat", "a live
 * member whose view lacks one of its neighbours").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { seededRandom } from '../../src/core/random.js';
import { UNHEARD_MAX_DOUBLINGS, UnheardNeighbours, type WatchedWindows } from '../../src/core/unheard.js';
import { simReportSigner } from '../../src/sim/report-signer.js';
import { REPORT_SILENT, type CensusPullMessage } from '../../src/wire/liveness-messages.js';
import type { CensusPull } from '../../src/core/census.js';
import { liveness7Node } from './liveness7-node.js';

const U = 10_000;
const X = 101;
const Y = 102;
const Z = 103;
const nobodyHeard: WatchedWindows = { silentDeadline: () => Number.NaN };
const heard = (...refs: number[]): WatchedWindows => ({
  silentDeadline: (ref) => (refs.includes(ref) ? 1 : Number.NaN),
});
const anyone = (): boolean => true;

/** A census as afterRound reads it, moved through pulling, its judging round and its end. */
class FakeCensus {
  epoch = 0;
  running = false;
  present = new Set<number>();
  isPresent(ref: number): boolean {
    return this.present.has(ref);
  }
}

const verification: CensusPull = {
  to: X,
  message: { type: 'censusPull', verification: true } as CensusPullMessage,
};

/** Runs one census over `u` at `now`: started, judged (asking about `asked`), then ended with `present`. */
function census(
  u: UnheardNeighbours,
  c: FakeCensus,
  now: number,
  asked: readonly number[],
  present: readonly number[],
  incarnations: ReadonlyMap<number, number>,
): void {
  c.epoch++;
  c.running = true;
  c.present = new Set();
  u.afterRound(c, [], now, incarnations);
  for (const ref of asked) assert.ok(u.unwitnessed(ref, now + 250), `${ref} is due when judged`);
  u.afterRound(c, [verification], now + 250, incarnations);
  c.running = false;
  c.present = new Set(present);
  u.afterRound(c, [], now + 1000, incarnations);
}

test('a neighbour is due once it has been unheard (live, ready, no window) for the first wait, counted afresh', () => {
  const u = new UnheardNeighbours(U);
  u.update(0, [X, Y], heard(Y), anyone);
  assert.deepEqual(u.due(U - 1), []);
  assert.deepEqual(u.due(U), [X], 'X never heard for U; Y beats us');
  // Not ready (or dead, or no longer a neighbour) stops the clock; it restarts when it is a candidate again.
  u.update(2000, [X, Y], heard(Y), (ref) => ref !== X);
  assert.deepEqual(u.due(U), []);
  u.update(3000, [X, Y], heard(Y), anyone);
  assert.deepEqual(u.due(3000 + U - 1), []);
  assert.deepEqual(u.due(3000 + U), [X]);
  assert.equal(u.unwitnessed(Y, 3000 + U), false, 'a neighbour heard is vouched for as before');
});

test('each census that finds it present doubles its wait, up to 32 times, and hearing it does not reset that', () => {
  const u = new UnheardNeighbours(U);
  const c = new FakeCensus();
  const inc = new Map([[X, 1]]);
  u.update(0, [X], nobodyHeard, anyone);
  let now = U;
  const waits: number[] = [];
  for (let i = 0; i < UNHEARD_MAX_DOUBLINGS + 2; i++) {
    assert.deepEqual(u.due(now), [X]);
    census(u, c, now, [X], [X], inc);
    const end = now + 1000;
    let next = end;
    while (u.due(next).length === 0) next += 1000;
    waits.push((next - end) / U);
    now = next;
  }
  assert.deepEqual(waits, [2, 4, 8, 16, 32, 32, 32]);
  assert.equal(u.censuses, UNHEARD_MAX_DOUBLINGS + 2);
  assert.equal(u.reported, 0);
  // Heard for a while, then unheard again: the wait stays at its cap.
  u.update(now, [X], heard(X), anyone);
  u.update(now + 1000, [X], nobodyHeard, anyone);
  assert.deepEqual(u.due(now + 1000 + U), []);
  assert.deepEqual(u.due(now + 1000 + 32 * U), [X]);
});

test('absent and silent to its direct checks: a silent record at its incarnation, until it refutes or beats us', () => {
  const u = new UnheardNeighbours(U);
  const c = new FakeCensus();
  const inc = new Map([
    [X, 3],
    [Y, 1],
    [Z, 1],
    [104, 1],
  ]);
  u.update(0, [X, Y, Z, 104], heard(Y, Z, 104), anyone);
  census(u, c, U, [X], [], inc);
  assert.deepEqual(u.records(U + 1000, inc), [{ subject: X, incarnation: 3, kind: REPORT_SILENT }]);
  assert.equal(u.reported, 1);
  assert.ok(u.reports(X));
  assert.deepEqual(u.due(10 * U), [], 'no census about a member already reported');
  // Hearing none of three or more neighbours: its own link is likelier at fault, the record is held back.
  u.update(U + 2000, [X, Y, Z, 104], nobodyHeard, anyone);
  assert.deepEqual(u.records(U + 2000, inc), []);
  u.update(U + 3000, [X, Y, Z, 104], heard(Y, Z, 104), anyone);
  assert.equal(u.records(U + 3000, inc).length, 1, 'back once it hears a neighbour');
  // A refutation (a higher incarnation) drops it, and counts as the member found alive: twice the wait.
  inc.set(X, 4);
  assert.deepEqual(u.records(U + 4000, inc), []);
  assert.deepEqual(u.due(U + 4000 + 2 * U - 1), []);
  assert.deepEqual(u.due(U + 4000 + 2 * U), [X]);
  // A census that finds it absent without asking about it (reported by others: the census convicts it itself)
  // adds no record and no doubling.
  census(u, c, 4 * U, [], [], inc);
  assert.deepEqual(u.records(5 * U, inc), []);
  assert.deepEqual(u.due(5 * U), [X]);
  // Reported again, then heard: the record goes.
  census(u, c, 5 * U, [X], [], inc);
  assert.equal(u.records(6 * U, inc).length, 1);
  u.update(6 * U, [X, Y], heard(X, Y), anyone);
  assert.deepEqual(u.records(6 * U, inc), []);
});

/**
 * The bookkeeping update keeps, written plainly: a member unheard this call (a neighbour, not heard, eligible) keeps
 * or starts its clock; any other stops it, and is forgotten unless a census found it alive before. A census that
 * finds every due member present doubles their waits.
 */
class PlainModel {
  readonly entries = new Map<number, { since: number; tries: number }>();
  update(now: number, neighbours: readonly number[], heardRefs: ReadonlySet<number>, ok: (r: number) => boolean): void {
    const current = new Set(neighbours.filter((r) => !heardRefs.has(r) && ok(r)));
    for (const ref of current) {
      const e = this.entries.get(ref);
      if (!e) this.entries.set(ref, { since: now, tries: 0 });
      else if (Number.isNaN(e.since)) e.since = now;
    }
    for (const [ref, e] of this.entries) {
      if (current.has(ref)) continue;
      e.since = Number.NaN;
      if (e.tries === 0) this.entries.delete(ref);
    }
  }
  due(now: number): number[] {
    const wait = (e: { since: number; tries: number }): number => U * 2 ** Math.min(e.tries, UNHEARD_MAX_DOUBLINGS);
    return [...this.entries].filter(([, e]) => now >= e.since + wait(e)).map(([ref]) => ref);
  }
  allPresent(now: number): void {
    for (const ref of this.due(now + 250)) {
      const e = this.entries.get(ref)!;
      e.tries++;
      if (!Number.isNaN(e.since)) e.since = now + 1000;
    }
  }
}

test('update, in any order of neighbour lists, heard and eligible members and censuses: as the plain model', () => {
  const ref = fc.integer({ min: 1, max: 6 });
  const step = fc.oneof(
    fc.record({
      kind: fc.constant('update' as const),
      dt: fc.integer({ min: 0, max: 3 * U }),
      // Repeats allowed: the list as given, whatever it holds.
      neighbours: fc.array(ref, { maxLength: 8 }),
      heard: fc.uniqueArray(ref, { maxLength: 6 }),
      ineligible: fc.uniqueArray(ref, { maxLength: 6 }),
    }),
    fc.record({ kind: fc.constant('census' as const), dt: fc.integer({ min: 0, max: 3 * U }) }),
  );
  fc.assert(
    fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
      const u = new UnheardNeighbours(U);
      const model = new PlainModel();
      const c = new FakeCensus();
      const inc = new Map([1, 2, 3, 4, 5, 6].map((r) => [r, 1]));
      let now = 0;
      for (const s of steps) {
        now += s.dt;
        if (s.kind === 'update') {
          const heardRefs = new Set(s.heard);
          const ok = (r: number): boolean => !s.ineligible.includes(r);
          u.update(now, s.neighbours, heard(...s.heard), ok);
          model.update(now, s.neighbours, heardRefs, ok);
        } else {
          census(u, c, now, [], [1, 2, 3, 4, 5, 6], inc);
          model.allPresent(now);
          now += 1000;
        }
        for (const later of [0, U, 4 * U, 40 * U]) assert.deepEqual(u.due(now + later), model.due(now + later));
      }
    }),
    { numRuns: 300 },
  );
});

test('Liveness7: a neighbour whose state does not say it is ready is never looked for', () => {
  const rng = seededRandom(11);
  const refs = Array.from({ length: 6 }, () => Math.floor(rng.next() * 2 ** 48));
  const run = (ready: boolean): number => {
    const l = liveness7Node({
      self: refs[0]!,
      clusterId: 'unheard',
      incarnation: 1,
      signer: simReportSigner(11, 0, 0),
      isReady: () => ready,
      view: refs,
    });
    // Nobody answers: no beat, no census reply.
    for (let t = 0; t <= 40_000; t += 250) l.tick(t, 0, rng);
    return l.censusStatus().neverHeard;
  };
  assert.equal(run(false), 0, 'members still in mode 6 (not ready) do not beat: no census about them');
  assert.ok(run(true) >= 1, 'ready members that never beat are looked for');
});
