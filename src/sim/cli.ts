/**
 * `npm run sim -- --nodes N --fanout K --interval-ms I --loss P [--burst B] --runs R --seed S [--json]`,
 * or the write workload with `--writers W ...`: the arguments read and checked, the run, its report.
 */
import { parseArgs } from 'node:util';
import { runBench } from './bench.js';
import type { BenchOptions } from './options.js';
import { MAX_UDP_PAYLOAD } from '../wire/envelope-sizes.js';
import type { Summary } from './stats.js';
import { runWorkload, type WorkloadOptions } from './workload.js';

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
  --protocol 6|7     liveness: 6, heartbeats in every digest; 7, beats to K neighbours and reports (default 6)
  --gate-hold-ms H   with --protocol 7: how long every member must speak 7 before the cluster switches from
                     protocol 6's heartbeats to mode 7 (default 30000; 0: a new cluster starts in mode 7)
  --json             print one JSON object

The write workload (runs instead of the above when --writers is given):
npm run sim -- --nodes N --writers W --write-rate R --keys K --value-bytes B --max-packet-bytes P
               --flow-control on|off --duration-s D [--warmup-s U] [--json]
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
  if (!Number.isFinite(x) || x < min || x > max)
    throw new Error(`--${name} must be a number from ${min} to ${max} (got "${v}")`);
  return x;
}

function protocolOf(v: string | undefined): 6 | 7 {
  if (v === undefined || v === '6') return 6;
  if (v === '7') return 7;
  throw new Error(`--protocol must be 6 or 7 (got "${v}")`);
}

export function main(argv: string[]): void {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string' },
      fanout: { type: 'string' },
      'interval-ms': { type: 'string' },
      loss: { type: 'string' },
      burst: { type: 'string' },
      runs: { type: 'string' },
      seed: { type: 'string' },
      window: { type: 'string' },
      disseminations: { type: 'string' },
      'duration-s': { type: 'string' },
      'latency-ms': { type: 'string' },
      'jitter-ms': { type: 'string' },
      duplicate: { type: 'string' },
      'uptime-spread-s': { type: 'string' },
      'pause-ms': { type: 'string' },
      threshold: { type: 'string' },
      writers: { type: 'string' },
      'write-rate': { type: 'string' },
      keys: { type: 'string' },
      'value-bytes': { type: 'string' },
      'max-packet-bytes': { type: 'string' },
      'flow-control': { type: 'string' },
      'warmup-s': { type: 'string' },
      'light-writers': { type: 'string' },
      'rate-sharing': { type: 'string' },
      'idle-writers': { type: 'string' },
      'idle-at-s': { type: 'string' },
      'step-write-rate': { type: 'string' },
      'step-at-s': { type: 'string' },
      protocol: { type: 'string' },
      'gate-hold-ms': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
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
    liveness7: protocolOf(values.protocol) === 7,
    ...(values['gate-hold-ms'] !== undefined
      ? { gateHoldMs: num(values['gate-hold-ms'], 'gate-hold-ms', 30_000, 0, 3_600_000) }
      : {}),
  };
  const result = runBench(o, values.json ? () => {} : (line) => process.stderr.write(`${line}\n`));
  if (values.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  const f = (s: Summary): string => `mean ${s.mean.toFixed(2)}  p99 ${s.p99.toFixed(2)}  max ${s.max.toFixed(2)}`;
  process.stdout.write(
    [
      `nodes ${o.nodes}, fanout ${o.fanout}, interval ${o.intervalMs} ms, loss ${o.loss}` +
        `${o.burst > 1 ? ` (bursts of ${o.burst})` : ''}, ${o.runs} run(s)`,
      `dissemination rounds  ${f(result.disseminationRounds)}`,
      `bootstrap rounds      ${f(result.bootstrapRounds)}`,
      `detection seconds     ${f(result.detectionSeconds)}`,
      `false positives       ${result.falsePositives} (${result.falsePositivesPerNodeHour.toFixed(4)} per node-hour ` +
        `over ${result.observedNodeHours.toFixed(1)} node-hours)`,
      `bytes/node/s          mean ${Math.round(result.bytesPerNodePerSecond.mean)}  ` +
        `max ${Math.round(result.bytesPerNodePerSecond.max)} on the wire (${result.wireSampledNodes} nodes sampled); ` +
        `uncompressed mean ${Math.round(result.uncompressedBytesPerNodePerSecond.mean)}  ` +
        `max ${Math.round(result.uncompressedBytesPerNodePerSecond.max)}`,
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
    ...(str('step-write-rate') !== undefined
      ? {
          stepWriteRate: num(str('step-write-rate'), 'step-write-rate', 0, 0.001, 1e6),
          stepAtS: num(str('step-at-s'), 'step-at-s', 0, 0, 1e7),
        }
      : {}),
    seed: num(str('seed'), 'seed', 1, 0, 2 ** 31),
    fanout: num(str('fanout'), 'fanout', 3, 1, 64),
    intervalMs: num(str('interval-ms'), 'interval-ms', 1000, 10, 600_000),
    loss: num(str('loss'), 'loss', 0, 0, 0.99),
  };
  if (str('step-at-s') !== undefined && w.stepWriteRate === undefined)
    throw new Error('--step-at-s needs --step-write-rate (the rate the heavy writers switch to)');
  if (!Number.isInteger(w.writers)) throw new Error(`--writers must be a whole number (got ${w.writers})`);
  if (w.writers + (w.lightWriters ?? 0) > nodes)
    throw new Error(`--writers plus --light-writers must not exceed --nodes (${nodes})`);
  const r = runWorkload(w, values.json ? () => {} : (line) => process.stderr.write(`${line}\n`));
  if (values.json) {
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const ms = (s: Summary): string => `mean ${Math.round(s.mean)}  p99 ${Math.round(s.p99)}  max ${Math.round(s.max)}`;
  process.stdout.write(
    [
      `nodes ${r.nodes}, ${r.writers} writers x ${r.writeRate}/s over ${r.keys} keys of ${r.valueBytes} B, ` +
        `${r.maxPacketBytes}-byte packets, flow control ${r.flowControl ? 'on' : 'off'}` +
        `${r.flowControl ? `, rate sharing ${r.rateSharing ? 'on' : 'off'}` : ''}, ${r.durationS} s`,
      `staleness ms          ${ms(r.staleness)}`,
      `staleness p99 by 10th ${r.stalenessP99ByTenth.map((x) => Math.round(x)).join(' ')}`,
      `delivered rate /s     mean ${r.achievedWriteRate.mean.toFixed(2)}  min ${r.achievedWriteRate.min.toFixed(2)}  ` +
        `(fairness ${r.fairness.toFixed(3)})`,
      ...(r.lightStaleness ? [`light writers ms      ${ms(r.lightStaleness)}`] : []),
      `backlog               ${r.backlog} keys max; undelivered versions max ${r.undeliveredVersions}`,
      ...(r.allowedRate
        ? [
            `allowed rate /s       mean ${r.allowedRate.mean.toFixed(2)}  min ${r.allowedRate.min.toFixed(2)}  ` +
              `max ${r.allowedRate.max.toFixed(2)}`,
          ]
        : []),
      `false positives       ${r.falsePositives} (${r.falsePositivesPerNodeHour.toFixed(4)} per node-hour)`,
      `wall ${r.wallSeconds.toFixed(1)} s`,
    ].join('\n') + '\n',
  );
}
