/**
 * `npm run sim -- --nodes N --fanout K --interval-ms I --loss P [--burst B] --runs R --seed S [--json]`
 *
 * Per run: bootstrap (every node starts knowing only the seeds), a steady-state traffic window,
 * dissemination trials (one fresh key at a random node), one crash, and an optional long steady
 * stretch for false positives. The JSON shape is a contract other tools read.
 */
import { parseArgs } from 'node:util';
import { DETECTS_PER_ROUND } from '../core/detector.js';
import { DEFAULT_FAILURE_DETECTOR, DEFAULT_TOMBSTONE_GRACE_PERIOD_MS, type CoreEvent } from '../core/types.js';
import { MAX_ENVELOPE_OVERHEAD, MAX_UDP_PAYLOAD } from '../wire/envelope-sizes.js';
import { SimCluster, UP, type SimConfig } from './cluster.js';
import { summarize, type Summary } from './stats.js';
import { runWorkload, type WorkloadOptions } from './workload.js';

export interface BenchOptions {
  nodes: number;
  fanout: number;
  intervalMs: number;
  loss: number;
  burst: number;
  runs: number;
  seed: number;
  window: number;
  disseminations: number;
  /** Extra steady-state simulated seconds per run, for false positives. */
  durationS: number;
  latencyMs: number;
  jitterMs: number;
  /** Probability a delivered packet is delivered twice (default 0). */
  duplicate?: number;
  /** Members start as if up for 0 to this many seconds (see SimConfig.uptimeSpreadS; default 0). */
  uptimeSpreadS?: number;
  /** Failure detector overrides (defaults: the LAN preset). */
  pauseMs?: number;
  threshold?: number;
}

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

export function simConfig(o: BenchOptions, seed: number): SimConfig {
  return {
    nodes: o.nodes,
    fanout: o.fanout,
    intervalMs: o.intervalMs,
    seed,
    network: { latencyMs: o.latencyMs, jitterMs: o.jitterMs, loss: o.loss, burst: o.burst, duplicate: o.duplicate ?? 0 },
    failureDetector: {
      ...DEFAULT_FAILURE_DETECTOR,
      phiThreshold: o.threshold ?? DEFAULT_FAILURE_DETECTOR.phiThreshold,
      samplingWindowSize: o.window,
      acceptableHeartbeatPauseMs: o.pauseMs ?? DEFAULT_FAILURE_DETECTOR.acceptableHeartbeatPauseMs,
      firstHeartbeatEstimateMs: o.intervalMs,
    },
    payloadBudget: MAX_UDP_PAYLOAD - MAX_ENVELOPE_OVERHEAD,
    tombstoneGracePeriodMs: DEFAULT_TOMBSTONE_GRACE_PERIOD_MS,
    seeds: 3,
    tickJitterMs: 2,
    detectsPerRound: DETECTS_PER_ROUND,
    uptimeSpreadS: o.uptimeSpreadS ?? 0,
  };
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
        progress(`run ${r}: bootstrap at ${(sim.now / I).toFixed(0)} rounds: ${((100 * known) / (n * (n - 1))).toFixed(1)} % of views filled, ${bootstrapped} nodes complete`);
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
    progress(`run ${r}: ${Math.round(traffic[traffic.length - 1]!.wireMean)} B/node/s on the wire (${Math.round(traffic[traffic.length - 1]!.mean)} uncompressed)`);

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
    progress(`run ${r}: dissemination ${dissemination.slice(-o.disseminations).map((x) => x.toFixed(1)).join(' ')} rounds`);

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
    bytesPerNodePerSecond: { mean: summarize(traffic.map((t) => t.wireMean)).mean, max: Math.max(...traffic.map((t) => t.wireMax)) },
    uncompressedBytesPerNodePerSecond: { mean: summarize(traffic.map((t) => t.mean)).mean, max: Math.max(...traffic.map((t) => t.max)) },
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

const HELP = `npm run sim -- --nodes N --fanout K --interval-ms I --loss P [--burst B] --runs R --seed S [--json]
  --nodes N          cluster size (default 100)
  --fanout K         live peers per round (default 3)
  --interval-ms I    gossip interval (default 1000)
  --loss P           long-run packet loss rate, 0..1 (default 0)
  --burst B          mean loss burst length in packets; > 1 makes loss bursty (Gilbert-Elliott) (default 1)
  --runs R           independent runs, seeds S, S+1, ... (default 1)
  --seed S           first seed (default 1)
  --window W         failure detector sampling window (default 200)
  --disseminations D fresh-key trials per run (default 5)
  --duration-s T     extra steady-state seconds per run, for false positives (default 0)
  --latency-ms L     one-way latency (default 1), --jitter-ms J uniform extra delay (default 2)
  --duplicate D      probability a delivered packet arrives twice (default 0)
  --uptime-spread-s U  members start as if up for 0..U seconds already, as in a long-running cluster:
                     their heartbeats differ, so digests are larger and compress worse (default 0)
  --pause-ms P       failure detector acceptable pause (default 3000), --threshold T phi threshold (default 8)
  --json             print one JSON object

The write workload (runs instead of the above when --writers is given):
npm run sim -- --nodes N --writers W --write-rate R --keys K --value-bytes B --max-packet-bytes P --flow-control on|off --duration-s D [--warmup-s U] [--json]
  --writers W        nodes calling set() (spread evenly over the cluster)
  --write-rate R     set() calls per second per writer (default 10)
  --keys K           keys per writer, chosen uniformly (default 100), --value-bytes B value size (default 100)
  --max-packet-bytes P  datagram size, as the runtime's maxPacketBytes (default 1400)
  --flow-control on|off  rate control of own writes (default on)
  --duration-s D     measured seconds of writing (default 60), after --warmup-s U seconds (default 20)
  --light-writers L  L more nodes each writing one key every 10 s: their staleness is reported apart
  --rate-sharing on|off  protocol-5 rate exchange between throttled writers (default on)
  --idle-writers N --idle-at-s T  N heavy writers stop T s into the measured run (allowedRateBySecond traces the rest)
  --step-write-rate R2 --step-at-s T  heavy writers switch to R2 set() calls a second T s into the measured run
  Prints staleness (ms from a write until every live node holds that version or newer), each
  writer's delivered rate, Jain's fairness over those rates, the backlog, false positives.`;

function num(v: string | undefined, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const x = Number(v);
  if (!Number.isFinite(x) || x < min || x > max) throw new Error(`--${name} must be a number from ${min} to ${max} (got "${v}")`);
  return x;
}

export function main(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string' }, fanout: { type: 'string' }, 'interval-ms': { type: 'string' }, loss: { type: 'string' }, burst: { type: 'string' },
      runs: { type: 'string' }, seed: { type: 'string' }, window: { type: 'string' }, disseminations: { type: 'string' }, 'duration-s': { type: 'string' },
      'latency-ms': { type: 'string' }, 'jitter-ms': { type: 'string' }, duplicate: { type: 'string' }, 'uptime-spread-s': { type: 'string' }, 'pause-ms': { type: 'string' }, threshold: { type: 'string' },
      writers: { type: 'string' }, 'write-rate': { type: 'string' }, keys: { type: 'string' }, 'value-bytes': { type: 'string' }, 'max-packet-bytes': { type: 'string' }, 'flow-control': { type: 'string' }, 'warmup-s': { type: 'string' }, 'light-writers': { type: 'string' }, 'rate-sharing': { type: 'string' }, 'idle-writers': { type: 'string' }, 'idle-at-s': { type: 'string' }, 'step-write-rate': { type: 'string' }, 'step-at-s': { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (values.writers !== undefined) {
    workloadMain(values);
    return;
  }
  const o: BenchOptions = {
    nodes: num(values.nodes, 'nodes', 100, 2, 100_000),
    fanout: num(values.fanout, 'fanout', 3, 1, 64),
    intervalMs: num(values['interval-ms'], 'interval-ms', 1000, 10, 600_000),
    loss: num(values.loss, 'loss', 0, 0, 0.99),
    burst: num(values.burst, 'burst', 1, 1, 1000),
    runs: num(values.runs, 'runs', 1, 1, 1000),
    seed: num(values.seed, 'seed', 1, 0, 2 ** 31),
    window: num(values.window, 'window', 200, 2, 10_000),
    disseminations: num(values.disseminations, 'disseminations', 5, 1, 1000),
    durationS: num(values['duration-s'], 'duration-s', 0, 0, 1e7),
    latencyMs: num(values['latency-ms'], 'latency-ms', 1, 0, 10_000),
    jitterMs: num(values['jitter-ms'], 'jitter-ms', 2, 0, 10_000),
    duplicate: num(values.duplicate, 'duplicate', 0, 0, 1),
    uptimeSpreadS: num(values['uptime-spread-s'], 'uptime-spread-s', 0, 0, 1e9),
    pauseMs: num(values['pause-ms'], 'pause-ms', 3000, 0, 600_000),
    threshold: num(values.threshold, 'threshold', 8, 0.1, 100),
  };
  const result = runBench(o, values.json ? () => {} : (line) => process.stderr.write(`${line}\n`));
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const f = (s: Summary): string => `mean ${s.mean.toFixed(2)}  p99 ${s.p99.toFixed(2)}  max ${s.max.toFixed(2)}`;
  process.stdout.write(
    [
      `nodes ${o.nodes}, fanout ${o.fanout}, interval ${o.intervalMs} ms, loss ${o.loss}${o.burst > 1 ? ` (bursts of ${o.burst})` : ''}, ${o.runs} run(s)`,
      `dissemination rounds  ${f(result.disseminationRounds)}`,
      `bootstrap rounds      ${f(result.bootstrapRounds)}`,
      `detection seconds     ${f(result.detectionSeconds)}`,
      `false positives       ${result.falsePositives} (${result.falsePositivesPerNodeHour.toFixed(4)} per node-hour over ${result.observedNodeHours.toFixed(1)} node-hours)`,
      `bytes/node/s          mean ${Math.round(result.bytesPerNodePerSecond.mean)}  max ${Math.round(result.bytesPerNodePerSecond.max)} on the wire (${result.wireSampledNodes} nodes sampled); uncompressed mean ${Math.round(result.uncompressedBytesPerNodePerSecond.mean)}  max ${Math.round(result.uncompressedBytesPerNodePerSecond.max)}`,
      `max packet bytes      ${result.maxPacketBytes}`,
      `wall ${result.wallSeconds.toFixed(1)} s, peak RSS ${result.peakRssMB} MB`,
      ...result.incomplete.map((x) => `INCOMPLETE: ${x}`),
    ].join('\n') + '\n',
  );
}

function workloadMain(values: Record<string, string | boolean | undefined>): void {
  const str = (k: string): string | undefined => values[k] as string | undefined;
  const onOff = (k: string): boolean => {
    const v = str(k) ?? 'on';
    if (v !== 'on' && v !== 'off') throw new Error(`--${k} must be on or off (got "${v}")`);
    return v === 'on';
  };
  const nodes = num(str('nodes'), 'nodes', 100, 2, 100_000);
  const w: WorkloadOptions = {
    nodes,
    writers: num(str('writers'), 'writers', 1, 1, nodes),
    writeRate: num(str('write-rate'), 'write-rate', 10, 0.001, 1e6),
    keys: num(str('keys'), 'keys', 100, 1, 1e7),
    valueBytes: num(str('value-bytes'), 'value-bytes', 100, 1, 60_000),
    maxPacketBytes: num(str('max-packet-bytes'), 'max-packet-bytes', 1400, 576, MAX_UDP_PAYLOAD),
    flowControl: onOff('flow-control'),
    durationS: num(str('duration-s'), 'duration-s', 60, 1, 1e7),
    warmupS: num(str('warmup-s'), 'warmup-s', 20, 0, 1e7),
    lightWriters: num(str('light-writers'), 'light-writers', 0, 0, nodes),
    rateSharing: onOff('rate-sharing'),
    idleWriters: num(str('idle-writers'), 'idle-writers', 0, 0, nodes),
    idleAtS: num(str('idle-at-s'), 'idle-at-s', 0, 0, 1e7),
    ...(str('step-write-rate') !== undefined ? { stepWriteRate: num(str('step-write-rate'), 'step-write-rate', 0, 0.001, 1e6), stepAtS: num(str('step-at-s'), 'step-at-s', 0, 0, 1e7) } : {}),
    seed: num(str('seed'), 'seed', 1, 0, 2 ** 31),
    fanout: num(str('fanout'), 'fanout', 3, 1, 64),
    intervalMs: num(str('interval-ms'), 'interval-ms', 1000, 10, 600_000),
    loss: num(str('loss'), 'loss', 0, 0, 0.99),
  };
  if (str('step-at-s') !== undefined && w.stepWriteRate === undefined) throw new Error('--step-at-s needs --step-write-rate (the rate the heavy writers switch to)');
  if (!Number.isInteger(w.writers)) throw new Error(`--writers must be a whole number (got ${w.writers})`);
  if (w.writers + (w.lightWriters ?? 0) > nodes) throw new Error(`--writers plus --light-writers must not exceed --nodes (${nodes})`);
  const r = runWorkload(w, values.json ? () => {} : (line) => process.stderr.write(`${line}\n`));
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const ms = (s: Summary): string => `mean ${Math.round(s.mean)}  p99 ${Math.round(s.p99)}  max ${Math.round(s.max)}`;
  process.stdout.write(
    [
      `nodes ${r.nodes}, ${r.writers} writers x ${r.writeRate}/s over ${r.keys} keys of ${r.valueBytes} B, ${r.maxPacketBytes}-byte packets, flow control ${r.flowControl ? 'on' : 'off'}${r.flowControl ? `, rate sharing ${r.rateSharing ? 'on' : 'off'}` : ''}, ${r.durationS} s`,
      `staleness ms          ${ms(r.staleness)}`,
      `staleness p99 by 10th ${r.stalenessP99ByTenth.map((x) => Math.round(x)).join(' ')}`,
      `delivered rate /s     mean ${r.achievedWriteRate.mean.toFixed(2)}  min ${r.achievedWriteRate.min.toFixed(2)}  (fairness ${r.fairness.toFixed(3)})`,
      ...(r.lightStaleness ? [`light writers ms      ${ms(r.lightStaleness)}`] : []),
      `backlog               ${r.backlog} keys max; undelivered versions max ${r.undeliveredVersions}`,
      ...(r.allowedRate ? [`allowed rate /s       mean ${r.allowedRate.mean.toFixed(2)}  min ${r.allowedRate.min.toFixed(2)}  max ${r.allowedRate.max.toFixed(2)}`] : []),
      `false positives       ${r.falsePositives} (${r.falsePositivesPerNodeHour.toFixed(4)} per node-hour)`,
      `wall ${r.wallSeconds.toFixed(1)} s`,
    ].join('\n') + '\n',
  );
}
