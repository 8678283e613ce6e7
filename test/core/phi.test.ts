import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { PeerTable } from '../../src/core/peer-table.js';
import { convictionDelayMs, lnNormalUpperTail, phi, thresholdSigma } from '../../src/core/phi.js';
import { ScuttlebuttCore } from '../../src/core/core.js';
import { seededRandom } from '../../src/core/random.js';
import { DEFAULT_FAILURE_DETECTOR, type Outbound } from '../../src/core/types.js';
import { coreConfig } from './mini-cluster.js';
import { identityRef } from '../../src/core/identity.js';
import { HEARTBEAT_AGE_UNIT_MS } from '../../src/wire/messages.js';

// P(X > y) for a standard normal, from tables (15+ significant digits).
const TAIL: [number, number][] = [
  [0, 0.5],
  [1, 0.15865525393145707],
  [2, 0.022750131948179195],
  [3, 0.0013498980316300933],
  [5, 2.866515718791939e-7],
  [-1, 0.8413447460685429],
  [-3, 0.9986501019683699],
];

/** The asymptotic expansion of ln Q(y); its error at y >= 10 is below 1e-7. */
function lnTailAsymptotic(y: number): number {
  const y2 = y * y;
  const series = 1 - 1 / y2 + 3 / y2 ** 2 - 15 / y2 ** 3 + 105 / y2 ** 4;
  return -y2 / 2 - Math.log(y) - 0.5 * Math.log(2 * Math.PI) + Math.log(series);
}

test('normal tail matches tables to 2e-7 relative', () => {
  for (const [y, q] of TAIL) {
    const got = Math.exp(lnNormalUpperTail(y));
    assert.ok(Math.abs(got - q) / q < 2e-7, `Q(${y}) = ${got}, expected ${q}`);
  }
});

test('normal tail stays exact in log space far beyond double range', () => {
  for (const y of [10, 20, 40, 100, 1000, 1e5]) {
    const got = lnNormalUpperTail(y);
    const want = lnTailAsymptotic(y);
    assert.ok(Number.isFinite(got), `ln Q(${y}) is finite`);
    assert.ok(
      Math.abs(got - want) < 1e-6 * Math.max(1, Math.abs(want) * 1e-3),
      `ln Q(${y}) = ${got}, expected ${want}`,
    );
  }
  // Q(40) ~ 3.7e-350 underflows a double; phi does not.
  assert.ok(Math.abs(phi(1000 + 3000 + 40 * 100, 1000, 100, 3000) - 349.437) < 0.01);
});

test('phi is increasing in the silence and never NaN', () => {
  let prev = -Infinity;
  for (let elapsed = 0; elapsed < 20_000; elapsed += 7) {
    const p = phi(elapsed, 1000, 100, 3000);
    assert.ok(!Number.isNaN(p));
    assert.ok(p >= prev, `phi(${elapsed}) = ${p} < ${prev}`);
    prev = p;
  }
  assert.ok(Number.isFinite(phi(1e12, 1000, 100, 3000)));
});

test('conviction delay with 1 s heartbeats, threshold 8, pause 3 s, min std 100 ms is 4561.2 ms', () => {
  assert.ok(Math.abs(thresholdSigma(8) - 5.612) < 1e-3);
  assert.ok(Math.abs(convictionDelayMs(1000, 100, 3000, 8) - 4561.2) < 0.05);
  // WAN preset: threshold 12, pause 10 s, 3 s heartbeats.
  assert.ok(Math.abs(convictionDelayMs(3000, 100, 10_000, 12) - (13_000 + 100 * thresholdSigma(12))) < 1e-6);
});

/** Two cores; n1 heartbeats every second until `last`, delivered at once. Returns n2 (the observer) and `last`. */
function steadyPair(): { b: ScuttlebuttCore; last: number } {
  const fd = { ...DEFAULT_FAILURE_DETECTOR, samplingWindowSize: 50 };
  const a = new ScuttlebuttCore(coreConfig(1, { failureDetector: fd }), seededRandom(1), 0);
  const b = new ScuttlebuttCore(coreConfig(2, { failureDetector: fd }), seededRandom(2), 0);
  a.setSeeds([b.self.address]);
  const cores = new Map([
    [a.self.address, a],
    [b.self.address, b],
  ]);
  // Deliver synchronously at the same instant: arrival times are exactly the send times.
  const pump = (from: string, out: Outbound[], now: number): void => {
    for (const o of out) {
      const dst = cores.get(o.to);
      if (dst) pump(o.to, dst.receive(from, o.message, now), now);
    }
  };
  let last = 0;
  // Ten minutes: the lag allowance (1 s until lags are seen) decays to nothing on instant delivery.
  for (let t = 1000; t <= 600_000; t += 1000) {
    pump(a.self.address, a.tick(t), t);
    last = t;
    pump(b.self.address, b.tick(t + 500), t + 500);
  }
  return { b, last };
}

test('the core convicts exactly when the formula says, on a steady 1 s heartbeat', () => {
  const { b, last } = steadyPair();
  assert.equal(b.snapshot().live.length, 2);
  const delay = convictionDelayMs(1000, 100, 3000, 8);
  assert.ok((b.phiOf('n1', last + delay - 1) as number) < 8);
  assert.ok((b.phiOf('n1', last + delay + 1) as number) > 8);
  b.takeEvents();
  // After a detect pass the core names its earliest deadline, so a harness can convict on the dot.
  // (Detect every 250 ms, as the runtime does: longer gaps between readings would look like a local stall.)
  for (let t = last + 750; t < last + delay; t += 250) b.detect(t);
  assert.ok(
    Math.abs(b.nextDeadline - (last + delay)) < 0.05,
    `nextDeadline ${b.nextDeadline - last} ms after the last heartbeat`,
  );
  b.detect(b.nextDeadline);
  assert.deepEqual(
    b.takeEvents().filter((e) => e.type === 'dead'),
    [],
  );
  b.detect(last + delay + 0.1);
  assert.equal(b.takeEvents().filter((e) => e.type === 'dead').length, 1);
  assert.equal(b.nextDeadline, Infinity);
});

test('the core convicts on the tick after the deadline when only ticks run detection', () => {
  const { b, last } = steadyPair();
  b.takeEvents();
  // b ticks every second at +500: still alive at last+4500, convicted at the tick after last+4561.
  for (let t = last + 1500; t <= last + 4500; t += 1000) b.tick(t);
  assert.deepEqual(
    b.takeEvents().filter((e) => e.type === 'dead'),
    [],
  );
  b.tick(last + 5500);
  const dead = b.takeEvents().filter((e) => e.type === 'dead');
  assert.equal(dead.length, 1);
  assert.equal(dead[0]?.node.id, 'n1');
});

/** Population mean and standard deviation. */
function stats(xs: readonly number[]): { mean: number; std: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, std: Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / xs.length) };
}

test('period statistics: exact mean and deviation of the first `window` intervals, then each new one weighs 1/window', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 40 }),
      fc.array(fc.double({ min: 1, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 80 }),
      (window, xs) => {
        const t = new PeerTable(window, 1);
        const s = t.allocate({ id: 'n', generation: 1, address: 'h:1' });
        xs.forEach((x, i) => {
          t.addInterval(s, x);
          if (i < window) {
            const want = stats(xs.slice(0, i + 1));
            assert.ok(Math.abs(t.intervalMean(s) - want.mean) <= 1e-5 * want.mean, `mean after ${i + 1}`);
            assert.ok(
              Math.abs(t.intervalStd(s) - want.std) <= 1e-3 * want.mean + 1e-3,
              `std after ${i + 1}: ${t.intervalStd(s)} vs ${want.std}`,
            );
          }
        });
        if (xs.length > window) {
          // Past the window, one more interval moves the mean by 1/window of its distance from it.
          const before = t.intervalMean(s);
          t.addInterval(s, before + 1000);
          assert.ok(Math.abs(t.intervalMean(s) - (before + 1000 / window)) < 1e-2);
        }
      },
    ),
  );
});

test('period samples run between measured births: a placed birth is neither a sample nor the start of one', () => {
  const t = new PeerTable(10, 1);
  const s = t.allocate({ id: 'n', generation: 1, address: 'h:1' });
  t.sampleBirth(s, 5, 5000, 'measured'); // the first measured birth only anchors
  assert.equal(t.intervalCount(s), 0);
  t.sampleBirth(s, 6, 6000, 'measured');
  t.sampleBirth(s, 7, 7900, 'placed'); // placed (say by a rhythm that was wrong by 900 ms): ignored
  t.sampleBirth(s, 8, 8000, 'measured'); // measured again: (8000 - 6000) / 2 beats
  assert.equal(t.intervalCount(s), 2);
  assert.equal(t.intervalMean(s), 1000);
  assert.equal(t.intervalStd(s), 0);
});

/**
 * An observer (n0) learns 20 members by plain gossip for a minute; from then on it hears them only
 * through ACKs, each second the heartbeat member k had `lagAt(t, k)` ago, with its true age: gossip
 * bringing news that late. Member n1 falls silent at `n1SilentFrom` (66 s). Returns when n0 convicted
 * n1, and every other conviction, up to `until` (80 s).
 */
function convictionWithLag(
  lagAt: (t: number, member: number) => number,
  n1SilentFrom = 66_000,
  until = 80_000,
): { n1: number; others: string[] } {
  const o = new ScuttlebuttCore(coreConfig(0), seededRandom(1), 0);
  const members = Array.from({ length: 20 }, (_, k) => new ScuttlebuttCore(coreConfig(k + 1), seededRandom(k + 2), 0));
  for (const m of members) m.setSeeds([o.self.address]);
  const byAddress = new Map([o, ...members].map((c) => [c.self.address, c]));
  const pump = (from: string, out: Outbound[], now: number): void => {
    for (const x of out) {
      const dst = byAddress.get(x.to);
      if (dst) pump(x.to, dst.receive(from, x.message, now), now);
    }
  };
  let n1 = Infinity;
  const others: string[] = [];
  const born = members.map(() => [] as { at: number; heartbeat: number }[]);
  for (let now = 0; now <= until; now += 10) {
    const gossip = now < 60_000;
    members.forEach((m, k) => {
      if (now % 1000 !== k * 30 || (k === 0 && now >= n1SilentFrom)) return;
      const out = m.tick(now);
      born[k]?.push({ at: now, heartbeat: m.member(m.self)?.heartbeat as number });
      if (gossip) pump(m.self.address, out, now);
      else {
        const news = (born[k] ?? []).filter((b) => b.at <= now - lagAt(now, k)).pop() as {
          at: number;
          heartbeat: number;
        };
        const bumps = {
          count: 1,
          positional: false,
          keys: [identityRef(m.self)],
          heartbeats: [news.heartbeat],
          checks: null,
          ages: [Math.round((now - news.at) / HEARTBEAT_AGE_UNIT_MS)],
        };
        o.receive(m.self.address, { type: 'ack', clusterId: 'test', delta: { nodes: [], bumps } }, now);
      }
    });
    if (now % 1000 === 500) {
      const out = o.tick(now);
      if (gossip) pump(o.self.address, out, now);
    } else if (now % 250 === 0) o.detect(now);
    for (const e of o.takeEvents()) {
      if (e.type !== 'dead') continue;
      if (e.node.id === 'n1') n1 = Math.min(n1, now);
      else others.push(e.node.id);
    }
  }
  return { n1, others };
}

test('silence is judged against how late news runs now: when every heartbeat starts arriving later than learned, a silent member gets that much longer', () => {
  const onTime = convictionWithLag(() => 0);
  // From 66 s on, news arrives 0.6 s older for every second that passes, up to 3 s old.
  const slowing = convictionWithLag((t) => Math.min(3000, Math.max(0, 0.6 * (t - 66_000))));
  assert.deepEqual(onTime.others, []);
  assert.deepEqual(slowing.others, [], 'members whose news only runs late are not convicted');
  assert.ok(onTime.n1 < 72_000, `on time: n1 convicted at ${onTime.n1} ms`);
  assert.ok(
    slowing.n1 >= onTime.n1 + 500,
    `news running late: n1 convicted at ${slowing.n1} ms, on time at ${onTime.n1} ms`,
  );
});

test("a member whose lag allowance is far below the others' is held to the typical one: gossip carries every heartbeat alike, so the low allowance is a stale lesson", () => {
  const onTime = convictionWithLag(() => 0);
  // From 60 s on every member's news arrives 2 s old, except n1's, which stays fresh until n1 falls silent at 66 s.
  const lone = convictionWithLag((_, k) => (k === 0 ? 0 : 2000));
  assert.deepEqual(lone.others, [], 'members whose news runs 2 s late are not convicted');
  assert.ok(onTime.n1 < 72_000, `on time: n1 convicted at ${onTime.n1} ms`);
  assert.ok(
    lone.n1 >= onTime.n1 + 1000,
    `n1's fresh news among late news: convicted at ${lone.n1} ms, on time at ${onTime.n1} ms`,
  );
});

/** Lag `max` reached from 0 at `rate` ms per ms, starting at `from`. */
const ramp = (t: number, from: number, rate: number, max: number): number =>
  Math.min(max, Math.max(0, rate * (t - from)));

test('the lag allowance: news that steadily runs 5 s late is no silence, and a member that does fall silent is still convicted', () => {
  // From 60 s on every member's news grows 0.5 s older per second, up to 5 s: the silence since a
  // heartbeat's birth then reaches 6 s before the next one arrives, past the 4.6 s phi alone allows.
  // Each member's allowance learns how late its news runs.
  const late = convictionWithLag((t) => ramp(t, 60_000, 0.5, 5000));
  assert.deepEqual(late.others, [], 'members whose news runs 5 s late are not convicted');
  assert.ok(late.n1 < 80_000, `n1, silent from 66 s, convicted at ${late.n1} ms`);
});

test('the late-news slack: when news from everyone slows faster than the allowances learn, nobody is convicted for it', () => {
  // From 70 s on news grows 0.85 s older per second, up to 6 s: a member's next heartbeat then arrives
  // 6.7 s after the last one, more than its deadline allows on its learned allowance, and the typical
  // allowance has not risen far enough yet. The other members' lateness, seen meanwhile, says why.
  // No member falls silent here.
  const slowing = convictionWithLag((t) => ramp(t, 70_000, 0.85, 6000), Infinity, 90_000);
  assert.deepEqual(slowing.others, [], 'members whose news slows down are not convicted');
  assert.equal(slowing.n1, Infinity);
});
