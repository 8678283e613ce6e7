import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  CHECK_GROUP,
  checkCount,
  groupCheck,
  groupChecks,
  lowHeartbeat,
  restoreHeartbeat,
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
