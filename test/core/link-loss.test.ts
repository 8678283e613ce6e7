import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LinkLoss,
  LOSS_PRIOR_BEATS,
  LOSS_PRIOR_LOST,
  LOSS_RUN_ODDS,
  LOSS_WINDOW_BEATS,
  MAX_LOSS_RUN,
  lossRun,
} from '../../src/core/link-loss.js';
import { seededRandom } from '../../src/core/random.js';

test('the run loss explains: fewest m with p^m < 1e-4, capped', () => {
  assert.equal(LOSS_RUN_ODDS, 1e-4);
  assert.equal(lossRun(0), 1);
  assert.equal(lossRun(0.009), 2);
  assert.equal(lossRun(0.01), 3, '0.01^2 is not below 1e-4');
  assert.equal(lossRun(0.02), 3);
  // Under 10 % the run is no longer than the phi deadline's (its pause is 3 periods beyond the first).
  assert.equal(lossRun(0.05), 4);
  assert.equal(lossRun(0.099), 4);
  assert.equal(lossRun(0.1), 5);
  assert.equal(lossRun(0.2), 6);
  assert.equal(lossRun(0.3), 8);
  assert.equal(lossRun(0.5), 14);
  assert.equal(lossRun(0.7), MAX_LOSS_RUN);
  assert.equal(lossRun(0.999), MAX_LOSS_RUN);
  for (let p = 0.005; p < 0.55; p += 0.005) {
    const m = lossRun(p);
    assert.ok(p ** m < LOSS_RUN_ODDS && (m === 1 || p ** (m - 1) >= LOSS_RUN_ODDS * 0.999999), `p ${p}: ${m}`);
  }
});

test('a new window reads the prior, neither 0 % nor 100 %', () => {
  const loss = new LinkLoss();
  assert.equal(loss.rate, LOSS_PRIOR_LOST / LOSS_PRIOR_BEATS);
  assert.ok(loss.rate > 0 && loss.rate < 0.1, 'a new clean window keeps the phi deadline');
  assert.equal(loss.run, 4);
  // One beat after one lost: measured, but the prior still weighs in.
  loss.arrival(2);
  assert.ok(loss.rate > 1 / 16 && loss.rate < 0.5, `rate ${loss.rate}`);
  loss.reset();
  assert.equal(loss.rate, LOSS_PRIOR_LOST / LOSS_PRIOR_BEATS);
});

test('gaps measure the loss: 30 % lost reads 0.3 within the window’s spread, and runs of 8', () => {
  const rng = seededRandom(11);
  const loss = new LinkLoss();
  let steps = 1;
  const rates: number[] = [];
  for (let beat = 0; beat < 20 * LOSS_WINDOW_BEATS; beat++) {
    if (rng.next() < 0.3) {
      steps++;
      continue;
    }
    loss.arrival(steps);
    steps = 1;
    if (beat > 4 * LOSS_WINDOW_BEATS) rates.push(loss.rate);
  }
  const mean = rates.reduce((a, b) => a + b, 0) / rates.length;
  assert.ok(Math.abs(mean - 0.3) < 0.02, `mean ${mean}`);
  assert.ok(Math.min(...rates) > 0.2 && Math.max(...rates) < 0.4, `${Math.min(...rates)} to ${Math.max(...rates)}`);
  // The same as ageing beat by beat, the lost ones before the one that arrived.
  const keep = 1 - 1 / LOSS_WINDOW_BEATS;
  let lost = LOSS_PRIOR_LOST;
  let due = LOSS_PRIOR_BEATS;
  const check = new LinkLoss();
  for (const s of [1, 4, 1, 2, 1, 1, 9, 1, 3]) {
    check.arrival(s);
    for (let i = 0; i < s; i++) {
      lost = lost * keep + (i < s - 1 ? 1 : 0);
      due = due * keep + 1;
    }
    assert.ok(Math.abs(check.rate - lost / due) < 1e-12, `${check.rate} ${lost / due}`);
  }
});

test('the window is bounded: a lossy past fades within a few windows of clean beats', () => {
  const loss = new LinkLoss();
  for (let i = 0; i < 10 * LOSS_WINDOW_BEATS; i++) loss.arrival(2);
  assert.ok(Math.abs(loss.rate - 0.5) < 0.01, `rate ${loss.rate}`);
  assert.equal(loss.run, 14);
  let beats = 0;
  while (loss.run > 4) {
    loss.arrival(1);
    beats++;
  }
  // From 50 % to under 10 %: ln 5 windows.
  assert.ok(beats > LOSS_WINDOW_BEATS && beats < 2 * LOSS_WINDOW_BEATS, `${beats} beats`);
  for (let i = 0; i < 5 * LOSS_WINDOW_BEATS; i++) loss.arrival(1);
  assert.ok(loss.rate < 0.01, `rate ${loss.rate}`);
});
