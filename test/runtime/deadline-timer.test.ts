/**
 * The runtime's only detector timer between rounds (runtime/extra-rounds.ts): it fires at the earliest conviction
 * deadline however far out, keeps the earliest of several, and backs off a period while the node is deaf.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DeadlineTimer } from '../../src/runtime/extra-rounds.js';
import { monotonicNow } from '../../src/runtime/clock.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const PERIOD_MS = 250;

function timer(deaf: () => boolean = () => false): { t: DeadlineTimer; fired: number[] } {
  const fired: number[] = [];
  const t = new DeadlineTimer({ detect: () => void fired.push(monotonicNow()), deaf }, { periodMs: PERIOD_MS });
  return { t, fired };
}

test('a deadline further out than a detector period is still kept: no periodic detect stands in for it', async () => {
  const { t, fired } = timer();
  const deadline = monotonicNow() + 2 * PERIOD_MS;
  t.arm(deadline);
  await sleep(3 * PERIOD_MS);
  assert.equal(fired.length, 1);
  // Timers run on the event loop's cached clock, so one may fire a little early (the node then just re-arms).
  const late = (fired[0] as number) - deadline;
  assert.ok(late > -20 && late < 150, `at the deadline: ${late.toFixed(1)} ms late`);
});

test('the earliest deadline wins; a later one does not move the timer', async () => {
  const { t, fired } = timer();
  const now = monotonicNow();
  t.arm(now + 200);
  t.arm(now + 60);
  t.arm(now + 400);
  await sleep(500);
  assert.equal(fired.length, 1);
  assert.ok((fired[0] as number) - now < 200, 'fired at the earliest deadline');
});

test('no deadline (Infinity) arms nothing; cancel() drops an armed one', async () => {
  const { t, fired } = timer();
  t.arm(Infinity);
  t.arm(monotonicNow() + 30);
  t.cancel();
  await sleep(100);
  assert.deepEqual(fired, []);
});

test('deaf: a deadline already due is looked at a period later, not at once', async () => {
  const { t, fired } = timer(() => true);
  const now = monotonicNow();
  t.arm(now - 5);
  await sleep(PERIOD_MS / 2);
  const atOnce = fired.length;
  assert.equal(atOnce, 0, 'not at once');
  await sleep(PERIOD_MS);
  assert.equal(fired.length, 1);
  const after = (fired[0] as number) - now;
  assert.ok(after > PERIOD_MS - 20, `looked again ${after.toFixed(0)} ms later`);
});
