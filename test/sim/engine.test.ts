/** The simulator's own machinery, without the core: event order, loss model, partitions, statistics. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EventHeap } from '../../src/sim/event-heap.js';
import { SimNetwork } from '../../src/sim/network.js';
import { summarize } from '../../src/sim/stats.js';
import { seededRandom } from '../../src/core/random.js';

test('the event heap pops by time, ties in insertion order', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
      const heap = new EventHeap<{ time: number; seq: number }>();
      times.forEach((time, seq) => heap.push({ time, seq }));
      const out: { time: number; seq: number }[] = [];
      for (let e = heap.pop(); e; e = heap.pop()) out.push(e);
      const expected = times.map((time, seq) => ({ time, seq })).sort((a, b) => a.time - b.time || a.seq - b.seq);
      assert.deepEqual(out, expected);
    }),
  );
});

/** Sends `packets` packets to one receiver and returns the loss rate and the mean length of loss runs. */
function lossProfile(loss: number, burst: number, packets: number): { rate: number; meanRun: number } {
  const net = new SimNetwork(2, { latencyMs: 1, jitterMs: 0, loss, burst }, seededRandom(42));
  let lost = 0;
  let runs = 0;
  let inRun = false;
  for (let k = 0; k < packets; k++) {
    const dropped = net.transmit(0, 1) < 0;
    if (dropped) {
      lost++;
      if (!inRun) runs++;
    }
    inRun = dropped;
  }
  return { rate: lost / packets, meanRun: runs ? lost / runs : 0 };
}

test('random loss: the long-run rate is P and losses come singly on average', () => {
  const { rate, meanRun } = lossProfile(0.1, 1, 200_000);
  assert.ok(Math.abs(rate - 0.1) < 0.005, `rate ${rate}`);
  assert.ok(meanRun < 1.2, `mean run ${meanRun}`);
});

test('Gilbert–Elliott loss: the long-run rate is P and bursts average B packets', () => {
  const { rate, meanRun } = lossProfile(0.05, 5, 400_000);
  assert.ok(Math.abs(rate - 0.05) < 0.007, `rate ${rate}`);
  assert.ok(Math.abs(meanRun - 5) < 0.6, `mean run ${meanRun}`);
});

test('partitions drop every packet across groups and none within; heal restores', () => {
  const net = new SimNetwork(4, { latencyMs: 3, jitterMs: 0, loss: 0, burst: 1 }, seededRandom(1));
  net.partition([
    [0, 1],
    [2, 3],
  ]);
  assert.equal(net.transmit(0, 2), -1);
  assert.equal(net.transmit(3, 1), -1);
  assert.equal(net.transmit(0, 1), 3);
  assert.equal(net.transmit(2, 3), 3);
  net.heal();
  assert.equal(net.transmit(0, 2), 3);
});

test('jitter stays within [latency, latency + jitter); duplication off draws no duplicate', () => {
  const net = new SimNetwork(2, { latencyMs: 5, jitterMs: 10, loss: 0, burst: 1 }, seededRandom(7));
  for (let k = 0; k < 1000; k++) {
    const d = net.transmit(0, 1);
    assert.ok(d >= 5 && d < 15, `delay ${d}`);
    assert.equal(net.duplicateDelay(), -1);
  }
  net.config.duplicate = 1;
  assert.ok(net.duplicateDelay() >= 5);
});

test('summary: mean, nearest-rank p99 and max', () => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.deepEqual(summarize(xs), { mean: 50.5, p99: 99, max: 100 });
  assert.deepEqual(summarize([]), { mean: 0, p99: 0, max: 0 });
});

test('the push-pull reference reproduces the limits in anchors.md', async () => {
  const { pushPull } = await import('../../src/sim/theory.js');
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  // anchors.md: N = 100 → 6.5 rounds at fanout 1, 3.9 at fanout 3; N = 1,000 fanout 3 → 5.1.
  assert.ok(Math.abs(mean(pushPull(100, 1, 200, 1).rounds) - 6.5) < 0.4);
  assert.ok(Math.abs(mean(pushPull(100, 3, 200, 2).rounds) - 3.9) < 0.4);
  const big = pushPull(1000, 3, 20, 3);
  assert.ok(Math.abs(mean(big.rounds) - 5.1) < 0.4);
  assert.equal(big.curve[big.curve.length - 1], 1);
  for (let r = 1; r < big.curve.length; r++) assert.ok((big.curve[r] as number) >= (big.curve[r - 1] as number));
});
