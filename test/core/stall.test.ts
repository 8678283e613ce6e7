/**
 * A stall of the whole process (every node of it stopped at once: a host hiccup, a long GC) in a
 * fast configuration, where the detector convicts after well under a second: the stall must be
 * excused however short, as long as it is long enough to convict. Nodes are driven as the runtime
 * drives them: a round every interval, the detector every quarter round, and on resuming the timers
 * first (Node runs its timers phase before the I/O that queued up meanwhile).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ScuttlebuttCore } from '../../src/core/core.js';
import { seededRandom } from '../../src/core/random.js';
import type { CoreMessage, Outbound } from '../../src/core/types.js';
import { coreConfig } from './mini-cluster.js';

const INTERVAL = 100;
const STEP = INTERVAL / 4;
/** The hostile-peer suite's detector (test/adversary/cluster.ts): conviction after about 0.7 s of silence. */
const FAST = {
  phiThreshold: 8,
  acceptableHeartbeatPauseMs: 300,
  minStdDeviationMs: 50,
  firstHeartbeatEstimateMs: INTERVAL,
  samplingWindowSize: 100,
  deadNodeGracePeriodMs: 1500,
};

class Process {
  readonly nodes: ScuttlebuttCore[] = [];
  readonly dead: string[] = [];
  now = 0;
  private queue: { from: string; to: string; message: CoreMessage }[] = [];

  constructor(n: number) {
    for (let i = 1; i <= n; i++) {
      const core = new ScuttlebuttCore(
        coreConfig(i, { gossipIntervalMs: INTERVAL, failureDetector: FAST }),
        seededRandom(i),
        this.now,
      );
      core.setSeeds(i === 1 ? [] : [coreConfig(1).self.address]);
      this.nodes.push(core);
    }
  }

  /** Runs `ms` of time, a quarter round at a time: timers, then the messages they sent and the replies. */
  run(ms: number): void {
    for (const end = this.now + ms; this.now < end;) {
      this.now += STEP;
      this.timers();
      this.io();
    }
  }

  /** Nothing runs for `ms`: what was sent just before stays queued until the timers have run again. */
  stop(ms: number): void {
    this.now += ms;
  }

  /** A round for every node whose interval came, else the detector (the runtime's two timers). */
  timers(): void {
    this.nodes.forEach((core, i) => {
      const round = Math.floor(this.now / INTERVAL) !== Math.floor((this.now - STEP) / INTERVAL);
      this.send(core, round ? core.tick(this.now + i) : core.detect(this.now + i));
      for (const e of core.takeEvents()) if (e.type === 'dead') this.dead.push(`${core.self.id}->${e.node.id}`);
    });
  }

  /** Delivers every message due, and the replies they cause. */
  io(): void {
    while (this.queue.length > 0) {
      const due = this.queue;
      this.queue = [];
      for (const m of due) {
        const core = this.nodes.find((c) => c.self.address === m.to);
        if (core) this.send(core, core.receive(m.from, m.message, this.now));
      }
    }
  }

  private send(from: ScuttlebuttCore, out: Outbound[]): void {
    for (const o of out) this.queue.push({ from: from.self.address, to: o.to, message: o.message });
  }
}

test('a stall of every node at once, long enough to convict and shorter than 2 s, convicts nobody', () => {
  for (const stallMs of [900, 1500]) {
    const p = new Process(3);
    p.run(4000);
    assert.ok(
      p.nodes.every((core) => core.snapshot().live.length === 3),
      'the cluster formed',
    );
    assert.deepEqual(p.dead, [], 'nobody convicted before the stall');
    // Messages sent just before the stall are still queued: they are read after the timers have run.
    p.timers();
    p.stop(stallMs);
    p.run(3000);
    assert.deepEqual(p.dead, [], `a ${stallMs} ms stall convicted nobody`);
    for (const core of p.nodes) assert.equal(core.localStalls, 1, `${core.self.id} noticed the ${stallMs} ms stall`);
  }
});

test('a stall shorter than a round plus the acceptable pause is not one: the detector absorbs it', () => {
  const p = new Process(3);
  p.run(4000);
  p.timers();
  p.stop(250);
  p.run(3000);
  assert.deepEqual(p.dead, []);
  for (const core of p.nodes) assert.equal(core.localStalls, 0, `${core.self.id}: no stall counted`);
});

test('a starved process (stops each shorter than a stall, with slices too short to read its input) convicts nobody', () => {
  // An overloaded host: the process is descheduled again and again, each time for less than the stall
  // threshold, and between stops runs its timers but not the I/O queued meanwhile. The stops add up to
  // a silence past the conviction deadline that no single clock gap shows.
  for (const stopMs of [250, 350]) {
    const p = new Process(3);
    p.run(4000);
    assert.deepEqual(p.dead, [], 'nobody convicted before the starvation');
    for (let i = 0; i < 4; i++) {
      p.timers();
      p.stop(stopMs);
    }
    p.run(3000);
    assert.deepEqual(p.dead, [], `stops of ${stopMs} ms convicted nobody`);
    for (const core of p.nodes) assert.equal(core.localStalls, 0, `${core.self.id}: no stall counted`);
  }
});
