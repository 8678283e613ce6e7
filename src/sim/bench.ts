/**
 * The bench behind `npm run sim` (arguments: sim/cli.ts). Per run: bootstrap (every node starts
 * knowing only the seeds), a steady-state traffic window, dissemination trials (one fresh key at a
 * random node), one crash, and an optional long steady stretch for false positives. The JSON shape
 * is a contract other tools read.
 */
import type { CoreEvent } from '../core/types.js';
import { SimCluster, UP } from './cluster.js';
import { simConfig, type BenchOptions } from './options.js';
import { summarize, type Summary } from './stats.js';

export interface BenchResult {
  nodes: number;
  fanout: number;
  runs: number;
  intervalMs: number;
  loss: number;
  burst: number;
  disseminationRounds: Summary;
  bootstrapRounds: Summary;
  detectionSeconds: Summary;
  falsePositivesPerNodeHour: number;
  falsePositives: number;
  observedNodeHours: number;
  /** On the wire: sealed as the runtime sends by default (compressed), over a sample of nodes. */
  bytesPerNodePerSecond: { mean: number; max: number };
  /** Encoded, before compression, over every node. */
  uncompressedBytesPerNodePerSecond: { mean: number; max: number };
  /** How many nodes the wire figure was measured on. */
  wireSampledNodes: number;
  /** Largest datagram before compression (what the payload budget bounds), envelope included. */
  maxPacketBytes: number;
  /**
   * The convergence curve: [rounds since the write, fraction of live nodes holding it], every 0.1
   * round, averaged over the dissemination trials.
   */
  convergence: [number, number][];
  samples: { dissemination: number; bootstrap: number; detection: number };
  incomplete: string[];
  wallSeconds: number;
  peakRssMB: number;
}

export function runBench(o: BenchOptions, progress: (line: string) => void = () => {}): BenchResult {
  const started = performance.now();
  const dissemination: number[] = [];
  const bootstrap: number[] = [];
  const detection: number[] = [];
  const traffic: ReturnType<SimCluster['traffic']>[] = [];
  const incomplete: string[] = [];
  let falsePositives = 0;
  let nodeHours = 0;
  let maxPacket = 0;
  /** Per dissemination trial: rounds after the write at which each node got it. */
  const arrivals: number[][] = [];
  for (let r = 0; r < o.runs; r++) {
    const sim = new SimCluster(simConfig(o, o.seed + r));
    const n = o.nodes;
    const I = o.intervalMs;
    sim.countBytes = n <= 2000;
    // About 200 nodes' messages are sealed and compressed, the rest only sized.
    sim.wireSampleEvery = Math.max(1, Math.ceil(n / 200));
    const liveSeen = new Uint32Array(n);
    let bootstrapped = 0;
    let crashed = -1;
    let watchKey = '';
    let watchNode = '';
    let updated = 0;
    let writtenAt = 0;
    let deadSeen = 0;
    let fpFrom = Infinity;
    sim.onEvent((obs: number, e: CoreEvent, t: number) => {
      if (e.type === 'live') {
        if (++liveSeen[obs]! === n - 1) bootstrapped++;
      } else if (e.type === 'update') {
        // The writer's own core reports its write too: not a delivery (it holds the update from round 0).
        if (e.node.id === watchNode && `node-${obs}` !== watchNode && e.keys.includes(watchKey)) {
          updated++;
          arrivals[arrivals.length - 1]?.push((t - writtenAt) / I);
        }
      } else if (e.type === 'dead') {
        if (crashed >= 0 && e.node.id === `node-${crashed}`) deadSeen++;
        else if (t >= fpFrom) falsePositives++;
      }
    });
    for (let i = 0; i < n; i++) sim.start(i);
    // In steps of 5 rounds, so a long bootstrap (10,000 nodes) shows its progress.
    let okBoot = false;
    for (let step = 0; step < 40 && !okBoot; step++) {
      okBoot = sim.runUntilTrue(() => bootstrapped === n, 5 * I);
      if (!okBoot) {
        let known = 0;
        for (let i = 0; i < n; i++) known += liveSeen[i] as number;
        progress(
          `run ${r}: bootstrap at ${(sim.now / I).toFixed(0)} rounds: ` +
            `${((100 * known) / (n * (n - 1))).toFixed(1)} % of views filled, ${bootstrapped} nodes complete`,
        );
      }
    }
    if (!okBoot) incomplete.push(`run ${r}: bootstrap not complete after 200 rounds (${bootstrapped}/${n})`);
    bootstrap.push(sim.now / I);
    progress(`run ${r}: bootstrap ${(sim.now / I).toFixed(1)} rounds`);
    fpFrom = sim.now;
    const fpStart = sim.now;

    sim.runUntil(sim.now + 5 * I); // windows fill a little before measuring
    const counting = sim.countBytes;
    sim.countBytes = true;
    sim.resetTraffic();
    sim.runUntil(sim.now + 10 * I);
    traffic.push(sim.traffic());
    maxPacket = Math.max(maxPacket, sim.maxPacketBytes);
    sim.countBytes = counting;
    progress(
      `run ${r}: ${Math.round(traffic[traffic.length - 1]!.wireMean)} B/node/s on the wire ` +
        `(${Math.round(traffic[traffic.length - 1]!.mean)} uncompressed)`,
    );

    for (let d = 0; d < o.disseminations; d++) {
      const u = sim.randomNode();
      watchNode = `node-${u}`;
      watchKey = `k${r}-${d}`;
      updated = 0;
      const t0 = sim.now;
      writtenAt = t0;
      arrivals.push([0]);
      sim.cores[u]!.set(watchKey, 'v', sim.now);
      const ok = sim.runUntilTrue(() => updated >= n - 1, 100 * I);
      if (!ok) incomplete.push(`run ${r}: dissemination ${d} reached ${updated}/${n - 1}`);
      dissemination.push((sim.now - t0) / I);
      sim.runUntil(sim.now + I);
    }
    progress(
      `run ${r}: dissemination ${dissemination
        .slice(-o.disseminations)
        .map((x) => x.toFixed(1))
        .join(' ')} rounds`,
    );

    const v = sim.randomNode((i) => sim.status[i] === UP && i >= 3);
    crashed = v;
    deadSeen = 0;
    const t0 = sim.now;
    sim.crash(v);
    const ok = sim.runUntilTrue(() => deadSeen >= n - 1, 120_000);
    if (!ok) incomplete.push(`run ${r}: crash seen by ${deadSeen}/${n - 1}`);
    detection.push((sim.now - t0) / 1000);
    progress(`run ${r}: detection ${((sim.now - t0) / 1000).toFixed(2)} s`);

    if (o.durationS > 0) sim.runUntil(sim.now + o.durationS * 1000);
    nodeHours += ((sim.now - fpStart) / 3_600_000) * (n - 1);
  }
  return {
    nodes: o.nodes,
    fanout: o.fanout,
    runs: o.runs,
    intervalMs: o.intervalMs,
    loss: o.loss,
    burst: o.burst,
    disseminationRounds: summarize(dissemination),
    bootstrapRounds: summarize(bootstrap),
    detectionSeconds: summarize(detection),
    falsePositivesPerNodeHour: nodeHours > 0 ? falsePositives / nodeHours : 0,
    falsePositives,
    observedNodeHours: nodeHours,
    bytesPerNodePerSecond: {
      mean: summarize(traffic.map((t) => t.wireMean)).mean,
      max: Math.max(...traffic.map((t) => t.wireMax)),
    },
    uncompressedBytesPerNodePerSecond: {
      mean: summarize(traffic.map((t) => t.mean)).mean,
      max: Math.max(...traffic.map((t) => t.max)),
    },
    wireSampledNodes: Math.min(...traffic.map((t) => t.wireSampled)),
    maxPacketBytes: maxPacket,
    convergence: convergenceCurve(arrivals, o.nodes),
    samples: { dissemination: dissemination.length, bootstrap: bootstrap.length, detection: detection.length },
    incomplete,
    wallSeconds: (performance.now() - started) / 1000,
    peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
  };
}

/**
 * Fraction of the `nodes` holding an update, every 0.1 round from the write until all do (or until
 * `lastRound`), averaged over trials; `trials` holds each trial's arrival times in rounds, the
 * writer's 0 included. The bench's JSON and the convergence plot both draw from it.
 */
export function convergenceCurve(trials: number[][], nodes: number, lastRound?: number): [number, number][] {
  if (trials.length === 0) return [];
  const last = lastRound ?? Math.max(...trials.map((a) => Math.max(0, ...a)));
  const steps = lastRound === undefined ? Math.ceil(last * 10) + 1 : Math.round(last * 10);
  const curve: [number, number][] = [];
  for (let k = 0; k <= steps; k++) {
    const r = k / 10;
    let sum = 0;
    for (const a of trials) sum += a.filter((x) => x <= r + 1e-9).length / nodes;
    curve.push([r, sum / trials.length]);
  }
  return curve;
}
