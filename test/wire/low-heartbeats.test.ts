import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CHECK_GROUP,
  checkCount,
  checkStart,
  checkStep,
  groupCheck,
  groupChecks,
  lowHeartbeat,
  restoreHeartbeat,
  uncheckStep,
} from '../../src/wire/low-heartbeats.js';
import { restoreHeartbeats, UNREAD } from '../../src/core/heartbeat-restore.js';

const heartbeat = fc.oneof(fc.nat(100_000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }));

test('a heartbeat within -8..7 beats of ours is restored exactly from its low bits', () => {
  fc.assert(
    fc.property(heartbeat, fc.integer({ min: -8, max: 7 }), (mine, d) => {
      fc.pre(mine + d >= 0 && mine + d <= Number.MAX_SAFE_INTEGER);
      assert.equal(restoreHeartbeat(mine, lowHeartbeat(mine + d)), mine + d);
    }),
  );
});

test('a group check changes when any heartbeats of the group are off by multiples of 16 (what a wrong restore looks like)', () => {
  fc.assert(
    fc.property(
      fc.array(heartbeat, { minLength: 1, maxLength: CHECK_GROUP }),
      fc.array(
        fc.tuple(
          fc.nat(CHECK_GROUP - 1),
          fc.integer({ min: -4, max: 4 }).filter((k) => k !== 0),
        ),
        { minLength: 1, maxLength: 4 },
      ),
      (hbs, errors) => {
        const wrong = [...hbs];
        for (const [i, k] of errors) if (i < wrong.length) wrong[i] = (wrong[i] as number) + 16 * k;
        fc.pre(wrong.some((w, i) => w !== hbs[i]));
        assert.notEqual(groupCheck(wrong, 0, wrong.length), groupCheck(hbs, 0, hbs.length));
      },
    ),
  );
});

test('checks cover consecutive groups of CHECK_GROUP entries, the last one short', () => {
  const hbs = Array.from({ length: 2 * CHECK_GROUP + 5 }, (_, i) => 1000 + i);
  const checks = groupChecks(hbs, hbs.length);
  assert.equal(checks.length, checkCount(hbs.length));
  assert.equal(checks.length, 3);
  assert.equal(checks[2], groupCheck(hbs, 2 * CHECK_GROUP, hbs.length));
  assert.deepEqual(groupChecks(hbs, 0), []);
});

test('restored heartbeats are exact, or their whole group is UNREAD: never a wrong value', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(fc.nat(1_000_000), fc.oneof(fc.integer({ min: -8, max: 7 }), fc.integer({ min: -40, max: 40 }))),
        { minLength: 0, maxLength: 3 * CHECK_GROUP },
      ),
      (entries) => {
        const full = entries.map(([h]) => h);
        const mine = entries.map(([h, off]) => Math.max(0, h - off));
        const out = restoreHeartbeats(full.map(lowHeartbeat), groupChecks(full, full.length), full.length, mine);
        for (let g = 0; g < checkCount(full.length); g++) {
          const from = g * CHECK_GROUP;
          const to = Math.min(full.length, from + CHECK_GROUP);
          const group = out.slice(from, to);
          const nearest = mine.slice(from, to).every((m, k) => full[from + k]! - m >= -8 && full[from + k]! - m <= 7);
          if (nearest) assert.deepEqual(group, full.slice(from, to));
          else if (group[0] !== UNREAD) assert.deepEqual(group, full.slice(from, to), `group ${g}: read, so exactly`);
          else
            assert.ok(
              group.every((h) => h === UNREAD),
              `group ${g}`,
            );
        }
      },
    ),
  );
});

test('uncheckStep undoes checkStep, whatever the state and heartbeat (2^36 and beyond included)', () => {
  fc.assert(
    fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }), heartbeat, (h, hb) => {
      assert.equal(uncheckStep(checkStep(h, hb), hb) >>> 0, h >>> 0);
      assert.equal(uncheckStep(checkStep(h, hb) >>> 0, hb) >>> 0, h >>> 0);
    }),
  );
  // A group's check worked back to its start.
  const hbs = [5, 2 ** 40 + 3, 17, 2 ** 33, 99];
  let state = groupCheck(hbs, 0, hbs.length);
  for (let k = hbs.length - 1; k >= 0; k--) state = uncheckStep(state, hbs[k]!);
  assert.equal(state >>> 0, checkStart(0, hbs.length) >>> 0);
});

/**
 * restoreHeartbeats as written before its one-outlier retry worked back from the check: every candidate move
 * re-checks the whole group. The two must restore the same values (the same entry and move win).
 */
function restoreByWholeChecks(low: number[], checks: number[], count: number, mine: number[]): number[] {
  const out: number[] = [];
  const moves = [16, -16, 32, -32];
  const shifts = [8, 16, 24, 32, 48, 64];
  for (let from = 0; from < count; from += CHECK_GROUP) {
    const to = Math.min(count, from + CHECK_GROUP);
    const check = checks[from / CHECK_GROUP];
    const restore = (shift: number): boolean => {
      for (let i = from; i < to; i++) out[i] = restoreHeartbeat(mine[i]! + shift, low[i]!);
      return groupCheck(out, from, to) === check;
    };
    const outlier = (): boolean => {
      for (let i = from; i < to; i++) {
        const restored = out[i]!;
        for (const d of moves) {
          if (restored + d < 0) continue;
          out[i] = restored + d;
          if (groupCheck(out, from, to) === check) return true;
        }
        out[i] = restored;
      }
      return false;
    };
    if (restore(0) || outlier() || shifts.some(restore)) continue;
    for (let i = from; i < to; i++) out[i] = UNREAD;
  }
  return out.slice(0, count);
}

test('the one-outlier retry finds what re-checking the whole group for every move finds', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.tuple(
          fc.nat(1_000_000),
          fc.oneof(
            fc.integer({ min: -8, max: 7 }),
            fc.constantFrom(-40, -24, -20, 20, 24, 40),
            fc.integer({ min: -40, max: 40 }),
          ),
        ),
        { minLength: 1, maxLength: 2 * CHECK_GROUP + 5 },
      ),
      fc.nat(),
      (entries, pick) => {
        const full = entries.map(([h]) => h);
        // Mostly near (the retry's case: one or two entries far off), sometimes anything.
        const mine = entries.map(([h, off], i) =>
          Math.max(0, h - (i % 7 === pick % 7 ? off : Math.max(-8, Math.min(7, off)))),
        );
        const low = full.map(lowHeartbeat);
        const checks = groupChecks(full, full.length);
        assert.deepEqual(
          restoreHeartbeats(low, checks, full.length, mine).slice(0, full.length),
          restoreByWholeChecks(low, checks, full.length, mine),
        );
      },
    ),
    { numRuns: 300 },
  );
});
