/**
 * The write workload: W writers each calling set() R times a second over K keys of B-byte values,
 * in packets of P bytes, flow control on or off. Measures what flow control is for: staleness
 * (from a write until every live node holds that version or a newer one), each writer's delivered
 * rate, fairness between writers, the backlog, and false positives under the load.
 *
 * Staleness is per write and key: a write of key k at version v is delivered once every live node
 * holds k at v or newer. A per-writer watermark (the least max version over live nodes) is a cheap
 * necessary condition, and not a sufficient one: a delta cut at max version m leaves a key the
 * sender already holds at a version above m at its older version on the receiver, so a write
 * overwritten while in flight can be behind the watermark for a round or more. Each write past the
 * watermark is then checked node by node, and the scan resumes where it stopped: in this workload a
 * receiver's version of a key only grows (no deletes, no crashes, so no member is removed and
 * re-admitted and no tombstone GC resets a map). Cost: writers x nodes look-ups per sample for the
 * watermarks, about nodes per write, and one more per sample for each write still waiting on a node.
 */
import type { CoreEvent } from '../core/types.js';
import { DEFAULT_FLOW_CONTROL } from '../core/flow-control.js';
import { ScuttlebuttCore } from '../core/core.js';
import { randomInt, seededRandom } from '../core/random.js';
import { MAX_ENVELOPE_OVERHEAD } from '../wire/envelope-sizes.js';
import { SimCluster, UP } from './cluster.js';
import { simConfig, type BenchOptions } from './options.js';
import { summarize, type Summary } from './stats.js';

export interface WorkloadOptions {
  nodes: number;
  writers: number;
  /** set() calls per second per writer. */
  writeRate: number;
  keys: number;
  valueBytes: number;
  maxPacketBytes: number;
  flowControl: boolean;
  /** Measured seconds of writing (after the bootstrap and a warm-up). */
  durationS: number;
  seed: number;
  fanout: number;
  intervalMs: number;
  loss: number;
  /** Seconds of writing before measurement starts (rates settle). Default 20. */
  warmupS?: number;
  /**
   * Extra nodes writing rarely (one key every 10 s) among the writers: how long an occasional
   * update, such as a status change, waits behind the load (reported as lightStaleness). Default 0.
   */
  lightWriters?: number;
  /** Protocol-5 rate sharing between throttled writers (off: local AIMD only). Default on. */
  rateSharing?: boolean;
  /**
   * This many heavy writers stop writing `idleAtS` seconds into the measured run (their share should go to the others).
   */
  idleWriters?: number;
  idleAtS?: number;
  /**
   * From `stepAtS` seconds into the measured run the heavy writers call set() `stepWriteRate` times
   * a second: a step in offered load against capacity, as the paper's cut of the MTU is one in
   * capacity against load.
   */
  stepAtS?: number;
  stepWriteRate?: number;
}

/** A result names the run it measured by the options that shape it. */
export interface WorkloadResult extends Pick<
  WorkloadOptions,
  | 'nodes'
  | 'writers'
  | 'writeRate'
  | 'keys'
  | 'valueBytes'
  | 'maxPacketBytes'
  | 'flowControl'
  | 'durationS'
  | 'stepAtS'
  | 'stepWriteRate'
> {
  warmupS: number;
  /**
   * ms from a set() until every live node holds that version or newer; undelivered writes count the rest of the run.
   */
  staleness: Summary;
  /** p99 staleness of the writes of each tenth of the run: flat when bounded, rising when not. */
  stalenessP99ByTenth: number[];
  /** The heavy writers' worst staleness of the writes made in each second of the measured run (the paper's plot). */
  maxStalenessBySecond: number[];
  /**
   * How fast each writer's watermark (least max version over live nodes) rose, versions/s: mean and min over writers.
   */
  achievedWriteRate: { mean: number; min: number };
  /** Jain's index over the writers' delivered rates (1: all equal). */
  fairness: number;
  /** Staleness of the light writers' writes (absent without --light-writers). */
  lightStaleness?: Summary;
  /** Most keys waiting in any writer's flow-control backlog at a sample (0 with flow control off). */
  backlog: number;
  /** Most versions of one writer published but not yet under its watermark, at a sample. */
  undeliveredVersions: number;
  /**
   * Writers' allowed rates at the end, and the lowest any writer had at a sample of the measured run (versions/s; null
   * with flow control off).
   */
  allowedRate: { mean: number; min: number; max: number; lowest: number } | null;
  rateSharing: boolean;
  /** With idle writers: the mean allowed rate of the writers that keep writing, each second of the measured run. */
  allowedRateBySecond?: number[];
  writes: number;
  deliveredWrites: number;
  falsePositivesPerNodeHour: number;
  falsePositives: number;
  observedNodeHours: number;
  /** Sampling period of the watermarks, ms (staleness is exact to within it). */
  sampleMs: number;
  wallSeconds: number;
}

/** Jain's fairness index: (sum x)^2 / (n sum x^2). */
export function jain(xs: readonly number[]): number {
  const s = xs.reduce((a, b) => a + b, 0);
  const s2 = xs.reduce((a, b) => a + b * b, 0);
  return s2 > 0 ? (s * s) / (xs.length * s2) : 1;
}

/** A growable Float64Array: a 10-minute overloaded run makes millions of staleness samples. */
class Samples {
  data = new Float64Array(1024);
  length = 0;
  push(x: number): void {
    if (this.length === this.data.length) {
      const next = new Float64Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = x;
  }
  /** Forgets the first `k` samples. */
  drop(k: number): void {
    this.data.copyWithin(0, k, this.length);
    this.length -= k;
  }
}

function summaryOf(xs: Float64Array): Summary {
  if (xs.length === 0) return { mean: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(xs).sort();
  let sum = 0;
  for (const x of sorted) sum += x;
  const rank = Math.max(0, Math.ceil(0.99 * sorted.length) - 1);
  return { mean: sum / sorted.length, p99: sorted[rank] as number, max: sorted[sorted.length - 1] as number };
}

interface Writer {
  node: number;
  id: string;
  /** Write times not yet published, per key (a held key coalesces several). */
  held: Map<string, number[]>;
  /**
   * Published, not yet past the watermark: key, version and write time, ascending by version (parallel arrays read from
   * `head`).
   */
  keys: string[];
  versions: Samples;
  times: Samples;
  head: number;
  /** Past the watermark, not yet held at that version or newer by every live node; `scanned`: nodes checked. */
  passed: { key: string; version: number; time: number; scanned: number }[];
  /** Least max version of this writer over live nodes, at the last sample. */
  watermark: number;
  watermarkAtStart: number;
  nextWriteAt: number;
  counter: number;
  /** Writes once every LIGHT_PERIOD_MS, and is left out of the rates and fairness. */
  light: boolean;
}

const LIGHT_PERIOD_MS = 10_000;

export function runWorkload(o: WorkloadOptions, progress: (line: string) => void = () => {}): WorkloadResult {
  const started = performance.now();
  const bench: BenchOptions = {
    nodes: o.nodes,
    fanout: o.fanout,
    intervalMs: o.intervalMs,
    loss: o.loss,
    burst: 1,
    runs: 1,
    seed: o.seed,
    window: 100,
    disseminations: 1,
    durationS: 0,
    latencyMs: 1,
    jitterMs: 2,
  };
  // The runtime's budget for this packet size: the envelope header and room for encryption.
  const base = simConfig(bench, o.seed);
  const sim = new SimCluster({
    ...base,
    payloadBudget: o.maxPacketBytes - MAX_ENVELOPE_OVERHEAD,
    flowControl: o.flowControl ? { ...DEFAULT_FLOW_CONTROL, shareRates: o.rateSharing !== false } : undefined,
    onPublish: (node, key, version) => onPublish(node, key, version),
  });
  sim.countBytes = false;
  const n = o.nodes;
  const rng = seededRandom((o.seed * 2_654_435_761) >>> 0);
  const writers: Writer[] = [];
  const writerOf = new Int32Array(n).fill(-1);
  const light = o.lightWriters ?? 0;
  const stride = n / (o.writers + light);
  for (let w = 0; w < o.writers + light; w++) {
    const node = Math.floor(w * stride);
    writerOf[node] = w;
    writers.push({
      node,
      id: `node-${node}`,
      held: new Map(),
      keys: [],
      versions: new Samples(),
      times: new Samples(),
      head: 0,
      passed: [],
      watermark: 0,
      watermarkAtStart: 0,
      nextWriteAt: 0,
      counter: 0,
      light: w >= o.writers,
    });
  }
  const lightStaleness = new Samples();
  const staleness = new Samples();
  const writtenAt = new Samples();
  let writes = 0;
  let measureFrom = Infinity;

  function onPublish(node: number, key: string, version: number): void {
    const w = writerOf[node] as number;
    if (w < 0) return;
    const wr = writers[w] as Writer;
    const times = wr.held.get(key);
    if (!times) return;
    wr.held.delete(key);
    for (const t of times) {
      wr.keys.push(key);
      wr.versions.push(version);
      wr.times.push(t);
    }
  }

  let falsePositives = 0;
  let fpFrom = Infinity;
  let liveSeen = 0;
  sim.onEvent((_obs: number, e: CoreEvent, t: number) => {
    if (e.type === 'live') liveSeen++;
    else if (e.type === 'dead' && t >= fpFrom) falsePositives++;
  });
  for (let i = 0; i < n; i++) sim.start(i);
  const I = o.intervalMs;
  if (!sim.runUntilTrue(() => liveSeen >= n * (n - 1), 200 * I))
    throw new Error(`bootstrap incomplete after 200 rounds (${liveSeen}/${n * (n - 1)} live views)`);
  sim.runUntil(sim.now + 5 * I);
  fpFrom = sim.now;
  const fpStart = sim.now;

  const value = (w: Writer): string => {
    const c = String(w.counter++);
    return c.length >= o.valueBytes ? c : c + 'v'.repeat(o.valueBytes - c.length);
  };
  const sampleMs = Math.max(10, Math.min(50, I / 20));
  const period = 1000 / o.writeRate;
  const t0 = sim.now;
  for (const w of writers) w.nextWriteAt = t0 + rng.next() * (w.light ? LIGHT_PERIOD_MS : period);
  const warmup = (o.warmupS ?? 20) * 1000;
  measureFrom = t0 + warmup;
  const end = measureFrom + o.durationS * 1000;
  let backlog = 0;
  let lowestRate = Infinity;
  let undelivered = 0;
  let reported = t0;
  const idleAt = measureFrom + (o.idleAtS ?? 0) * 1000;
  const stepAt = o.stepWriteRate !== undefined ? measureFrom + (o.stepAtS ?? 0) * 1000 : Infinity;
  const periodAt = (w: Writer, t: number): number =>
    w.light ? LIGHT_PERIOD_MS : t >= stepAt ? 1000 / (o.stepWriteRate as number) : period;
  const goesIdle = (w: Writer): boolean => !w.light && w.node < (o.idleWriters ?? 0) * stride;
  const rateBySecond: number[] = [];
  let nextRateSample = measureFrom;

  const sample = (): void => {
    for (const wr of writers) {
      let least = Infinity;
      for (let i = 0; i < n; i++) {
        if (i === wr.node || sim.status[i] !== UP) continue;
        const m = (sim.cores[i] as ScuttlebuttCore).maxVersionOf(wr.id);
        if (m < least) least = m;
      }
      const own = sim.cores[wr.node] as ScuttlebuttCore;
      if (least === Infinity) least = own.maxVersionOf(wr.id);
      wr.watermark = least;
      while (wr.head < wr.versions.length && (wr.versions.data[wr.head] as number) <= least) {
        const k = wr.head++;
        wr.passed.push({
          key: wr.keys[k] as string,
          version: wr.versions.data[k] as number,
          time: wr.times.data[k] as number,
          scanned: 0,
        });
        wr.keys[k] = '';
      }
      if (wr.head > 4096 && wr.head * 2 > wr.keys.length) {
        wr.keys.splice(0, wr.head);
        wr.versions.drop(wr.head);
        wr.times.drop(wr.head);
        wr.head = 0;
      }
      let kept = 0;
      for (const p of wr.passed) {
        while (
          p.scanned < n &&
          (p.scanned === wr.node ||
            sim.status[p.scanned] !== UP ||
            (sim.cores[p.scanned] as ScuttlebuttCore).versionOf(wr.id, p.key) >= p.version)
        )
          p.scanned++;
        if (p.scanned < n) wr.passed[kept++] = p;
        else if (p.time >= measureFrom && wr.light) lightStaleness.push(sim.now - p.time);
        else if (p.time >= measureFrom) {
          staleness.push(sim.now - p.time);
          writtenAt.push(p.time);
        }
      }
      wr.passed.length = kept;
      if (sim.now >= measureFrom) {
        const flow = own.flowStats(sim.now);
        if (flow && flow.backlog > backlog) backlog = flow.backlog;
        if (flow && !wr.light && flow.rate < lowestRate) lowestRate = flow.rate;
        const u = own.maxVersionOf(wr.id) - least;
        if (u > undelivered) undelivered = u;
      }
    }
  };

  let nextSample = t0;
  let measuring = false;
  while (sim.now < end) {
    let next = Math.min(nextSample, end, (o.idleWriters ?? 0) > 0 ? nextRateSample : end);
    for (const w of writers) if (w.nextWriteAt < next) next = w.nextWriteAt;
    sim.runUntil(next);
    for (const w of writers) {
      if (goesIdle(w) && sim.now >= idleAt) w.nextWriteAt = end;
      while (w.nextWriteAt <= sim.now && w.nextWriteAt < end) {
        const key = `k${randomInt(rng, o.keys)}`;
        const times = w.held.get(key);
        if (times) times.push(sim.now);
        else w.held.set(key, [sim.now]);
        (sim.cores[w.node] as ScuttlebuttCore).set(key, value(w), sim.now);
        // Unchanged values publish nothing and hold nothing: values carry a counter, so never here.
        writes += sim.now >= measureFrom ? 1 : 0;
        w.nextWriteAt += periodAt(w, w.nextWriteAt);
      }
    }
    if (sim.now >= nextSample) {
      sample();
      nextSample += sampleMs;
    }
    if ((o.idleWriters ?? 0) > 0 && sim.now >= nextRateSample) {
      nextRateSample += 1000;
      const active = writers
        .filter((w) => !w.light && !goesIdle(w))
        .map((w) => (sim.cores[w.node] as ScuttlebuttCore).flowStats(sim.now)?.rate ?? 0);
      rateBySecond.push(active.reduce((a, b) => a + b, 0) / active.length);
    }
    if (!measuring && sim.now >= measureFrom) {
      measuring = true;
      for (const w of writers) w.watermarkAtStart = w.watermark;
    }
    if (sim.now - reported >= 60_000) {
      reported = sim.now;
      progress(
        `t=${((sim.now - t0) / 1000).toFixed(0)} s: ${staleness.length} writes delivered, ` +
          `backlog max ${backlog}, undelivered max ${undelivered}`,
      );
    }
  }
  sample();
  const deliveredWrites = staleness.length;
  // Writes never delivered count as the rest of the run.
  for (const w of writers) {
    const into = w.light ? lightStaleness : staleness;
    const undeliveredTimes = [
      ...w.passed.map((p) => p.time),
      ...Array.from(w.times.data.subarray(w.head, w.times.length)),
    ];
    for (const t of undeliveredTimes) {
      if (t >= measureFrom) {
        into.push(end - t);
        if (!w.light) writtenAt.push(t);
      }
    }
    for (const times of w.held.values()) {
      for (const t of times) {
        if (t < measureFrom) continue;
        into.push(end - t);
        if (!w.light) writtenAt.push(t);
      }
    }
  }
  const heavy = writers.filter((w) => !w.light);
  const delivered = heavy.map((w) => (w.watermark - w.watermarkAtStart) / o.durationS);
  const tenths: number[] = [];
  const span = end - measureFrom;
  for (let k = 0; k < 10; k++) {
    const lo = measureFrom + (span * k) / 10;
    const hi = measureFrom + (span * (k + 1)) / 10;
    const part: number[] = [];
    for (let j = 0; j < writtenAt.length; j++) {
      const t = writtenAt.data[j] as number;
      if (t >= lo && t < hi) part.push(staleness.data[j] as number);
    }
    tenths.push(summarize(part).p99);
  }
  const bySecond = new Array<number>(Math.ceil(span / 1000)).fill(0);
  for (let j = 0; j < writtenAt.length; j++) {
    const k = Math.floor(((writtenAt.data[j] as number) - measureFrom) / 1000);
    bySecond[k] = Math.max(bySecond[k] as number, staleness.data[j] as number);
  }
  const rates = heavy
    .map((w) => (sim.cores[w.node] as ScuttlebuttCore).flowStats(sim.now)?.rate)
    .filter((r): r is number => r !== undefined);
  const nodeHours = ((sim.now - fpStart) / 3_600_000) * n;
  return {
    nodes: n,
    writers: o.writers,
    writeRate: o.writeRate,
    keys: o.keys,
    valueBytes: o.valueBytes,
    maxPacketBytes: o.maxPacketBytes,
    flowControl: o.flowControl,
    durationS: o.durationS,
    warmupS: warmup / 1000,
    ...(o.stepWriteRate !== undefined ? { stepWriteRate: o.stepWriteRate, stepAtS: o.stepAtS ?? 0 } : {}),
    staleness: summaryOf(staleness.data.subarray(0, staleness.length)),
    ...(light > 0 ? { lightStaleness: summaryOf(lightStaleness.data.subarray(0, lightStaleness.length)) } : {}),
    stalenessP99ByTenth: tenths,
    maxStalenessBySecond: bySecond,
    achievedWriteRate: { mean: delivered.reduce((a, b) => a + b, 0) / delivered.length, min: Math.min(...delivered) },
    fairness: jain(delivered),
    backlog,
    undeliveredVersions: undelivered,
    allowedRate: rates.length
      ? {
          mean: rates.reduce((a, b) => a + b, 0) / rates.length,
          min: Math.min(...rates),
          max: Math.max(...rates),
          lowest: Math.min(lowestRate, ...rates),
        }
      : null,
    rateSharing: o.flowControl && o.rateSharing !== false,
    ...((o.idleWriters ?? 0) > 0 ? { allowedRateBySecond: rateBySecond } : {}),
    writes,
    deliveredWrites,
    falsePositivesPerNodeHour: nodeHours > 0 ? falsePositives / nodeHours : 0,
    falsePositives,
    observedNodeHours: nodeHours,
    sampleMs,
    wallSeconds: (performance.now() - started) / 1000,
  };
}
