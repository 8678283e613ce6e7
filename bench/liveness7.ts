/**
 * `node dist/bench/liveness7.js [--nodes 100,1000] [--seed 1] [--quiet-s 30] [--crash-s 30]`: protocol 7's
 * composed liveness (src/core/liveness7.ts, one Liveness7 per node) at scale, over the seeded network of
 * test/core/liveness7-net.ts: every message through the real codec, 1 % loss, 0.5 to 5 ms latency. State transfer
 * (report sets, raised incarnations) is that network's model, not Scuttlebutt: each node that can exchange with
 * the writer learns it 0.5 to 1.5 s later, so detection times include that stand-in for dissemination.
 *
 * Per N, one JSON line: after a 10 s warm-up, the quiet bytes per node per second over --quiet-s (beats, body and
 * envelope, no IP/UDP; anything else sent while quiet is printed apart and should be 0) beside the mean degree x
 * 18 B the design predicts; then one node crashes and, over --crash-s, when the first, median and last live node
 * convicts it and how many do (false convictions are any other conviction); then the cost: wall seconds of the
 * whole run and of each phase (setup is N nodes each taking the view of N), process CPU per simulated
 * node-second in the quiet and crash phases, and peak RSS. With more than one N each runs in its own child
 * process, so that the peak RSS is that N's own.
 *
 * `node --expose-gc dist/bench/liveness7.js --one-node [--nodes 10000] [--samples 20]` measures instead what one
 * real node holds and spends at N members, which the whole-cluster run cannot show past the sizes it fits: the
 * time of setView over the N-member view (a full build of the assignment, paid once for a node's first view; later
 * changes update it, bench/observers.ts; min, median and max over --samples nodes), and the memory those nodes
 * retain, per node: V8 heap plus the typed arrays' backing stores (without --expose-gc the readings include
 * uncollected garbage).
 *
 * `node dist/bench/liveness7.js --per-change [--bulk] [--nodes 1000,10000] [--samples 300]` measures what one
 * membership change costs a node holding N members (see perChange below), and the census membership's own share:
 * one insert and one removal in its sorted refs (SortedRefs, census-bits.ts), in microseconds.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SortedRefs } from '../src/core/census-bits.js';
import { Liveness7 } from '../src/core/liveness7.js';
import { ObserverAssignment } from '../src/core/observers.js';
import { seededRandom } from '../src/core/random.js';
import { OwnReports } from '../src/core/reports.js';
import { DEFAULT_FAILURE_DETECTOR } from '../src/core/types.js';
import { simReportSigner } from '../src/sim/report-signer.js';
import { REPORT_SILENT } from '../src/wire/liveness-messages.js';
import { BEAT_BYTES } from '../src/wire/liveness-sizes.js';
import { ENVELOPE_HEADER_BYTES } from '../src/wire/protocol.js';
import { INTERVAL_MS, Liveness7Net } from '../test/core/liveness7-net.js';

const WARMUP_MS = 10_000;
const VICTIM = 3;

interface Phase {
  wallS: number;
  cpuS: number;
}

function measure(run: () => void): Phase {
  const w0 = performance.now();
  const c0 = process.cpuUsage();
  run();
  const c = process.cpuUsage(c0);
  return { wallS: (performance.now() - w0) / 1000, cpuS: (c.user + c.system) / 1e6 };
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

function meanDegree(refs: readonly number[]): number {
  const a = ObserverAssignment.of(refs);
  let sum = 0;
  for (const r of refs) sum += a.observersOf(r).length;
  return sum / refs.length;
}

function one(n: number, seed: number, quietS: number, crashS: number): Record<string, unknown> {
  let net: Liveness7Net | undefined;
  const setup = measure(() => {
    net = new Liveness7Net({ n, seed });
  });
  const s = net!;
  const warmup = measure(() => s.run(WARMUP_MS));
  const beats0 = Float64Array.from(s.beatBytes);
  const other0 = Float64Array.from(s.otherBytes);
  const quietConvictions0 = s.convictions.length;
  const quiet = measure(() => s.run(WARMUP_MS + quietS * 1000));
  let beatBytes = 0;
  let otherBytes = 0;
  for (let x = 0; x < n; x++) {
    beatBytes += s.beatBytes[x]! - beats0[x]!;
    otherBytes += s.otherBytes[x]! - other0[x]!;
  }
  const quietConvictions = s.convictions.length - quietConvictions0;
  const degree = meanDegree(s.refs);

  s.crash(VICTIM);
  const crashAt = s.now;
  const before = s.convictions.length;
  const crash = measure(() => s.run(crashAt + crashS * 1000));
  const byNode = new Map<number, number>();
  let falseConvictions = 0;
  for (const c of s.convictions.slice(before)) {
    if (c.subject !== VICTIM) falseConvictions++;
    else if (!byNode.has(c.node)) byNode.set(c.node, c.at - crashAt);
  }
  const times = [...byNode.values()].sort((a, b) => a - b);
  const at = (i: number): number | null => (times.length > 0 ? round(times[i]! / 1000, 2) : null);
  const wallS = setup.wallS + warmup.wallS + quiet.wallS + crash.wallS;
  return {
    nodes: n,
    seed,
    quietS,
    quietBeatBytesPerNodeS: round(beatBytes / n / quietS, 1),
    predictedBytesPerNodeS: round(degree * (BEAT_BYTES + ENVELOPE_HEADER_BYTES), 1),
    meanDegree: round(degree, 2),
    quietOtherBytes: otherBytes,
    quietConvictions,
    crashS,
    convictingNodes: byNode.size,
    liveNodes: n - 1,
    detectionS: { first: at(0), median: at(times.length >> 1), last: at(times.length - 1) },
    falseConvictions,
    wallS: round(wallS, 2),
    phaseWallS: {
      setup: round(setup.wallS, 2),
      warmup: round(warmup.wallS, 2),
      quiet: round(quiet.wallS, 2),
      crash: round(crash.wallS, 2),
    },
    cpuUsPerSimNodeS: {
      quiet: round((quiet.cpuS * 1e6) / (n * quietS), 1),
      crash: round((crash.cpuS * 1e6) / ((n - 1) * crashS), 1),
    },
    peakRssMB: round(process.resourceUsage().maxRSS / 1024, 1),
  };
}

function heapAfterGc(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

function oneNode(n: number, seed: number, samples: number): Record<string, unknown> {
  const rng = seededRandom(seed);
  const refSet = new Set<number>();
  while (refSet.size < n) refSet.add(Math.floor(rng.next() * 2 ** 48));
  const refs = [...refSet];
  const heap0 = heapAfterGc();
  const held: Liveness7[] = [];
  const ms: number[] = [];
  for (let i = 0; i < samples; i++) {
    const node = new Liveness7(
      {
        self: refs[i % n]!,
        clusterId: 'scale7',
        incarnation: 0,
        gossipIntervalMs: INTERVAL_MS,
        failureDetector: DEFAULT_FAILURE_DETECTOR,
        signer: simReportSigner(seed, i, 0),
      },
      0,
    );
    const t0 = performance.now();
    node.setView(refs, 0);
    ms.push(performance.now() - t0);
    held.push(node);
  }
  const perNode = (heapAfterGc() - heap0) / held.length;
  ms.sort((a, b) => a - b);
  return {
    oneNode: true,
    members: n,
    samples,
    setViewMs: { min: round(ms[0]!, 2), median: round(ms[ms.length >> 1]!, 2), max: round(ms[ms.length - 1]!, 2) },
    retainedPerNodeMB: round(perNode / 2 ** 20, 2),
    retainedPerMemberB: round(perNode / n, 0),
    gcExposed: typeof (globalThis as { gc?: unknown }).gc === 'function',
  };
}

/** One change's cost to a node: `run` timed once per sample, min, median and max in ms. */
interface ChangeCost {
  join: number[];
  leave: number[];
  removal: number[];
  death: number[];
  revival: number[];
}

const summary = (ms: number[]): { min: number; median: number; max: number } => {
  const s = [...ms].sort((a, b) => a - b);
  return { min: round(s[0]!, 3), median: round(s[s.length >> 1]!, 3), max: round(s[s.length - 1]!, 3) };
};

/**
 * `--per-change`: one node holding an N-member view takes one change at a time, each timed alone: a member
 * joining (at incarnation 1) and leaving the live view, a member removed from the membership, a death (the
 * quorum's report sets accepted untimed, then the takeVerdicts that convicts) and the revival that refutes it
 * (noteIncarnation; its observers then withdraw their records, untimed). `bulk`: each change as the whole view handed over (setView, setMembers); otherwise the
 * incremental calls (join, leave, remove). Deaths and revivals are Liveness7's own verdicts either way.
 */
function perChange(n: number, seed: number, samples: number, bulk: boolean): Record<string, unknown> {
  const rng = seededRandom(seed);
  const refSet = new Set<number>();
  while (refSet.size < n + samples) refSet.add(Math.floor(rng.next() * 2 ** 48));
  const all = [...refSet];
  const view = all.slice(0, n);
  const self = view[0]!;
  const signers = view.map((_, i) => simReportSigner(seed, i, 0));
  const index = new Map(view.map((r, i) => [r, i]));
  const node = new Liveness7(
    {
      self,
      clusterId: 'scale7',
      incarnation: 1,
      gossipIntervalMs: INTERVAL_MS,
      failureDetector: DEFAULT_FAILURE_DETECTOR,
      signer: signers[0]!,
    },
    0,
  );
  node.setView(view, 0);
  const assignment = ObserverAssignment.of(view);
  const own = new Map<number, OwnReports>();
  const cost: ChangeCost = { join: [], leave: [], removal: [], death: [], revival: [] };
  const time = (run: () => void): number => {
    const t0 = performance.now();
    run();
    return performance.now() - t0;
  };
  let now = 1000;
  let subjectAt = 1;
  for (let i = 0; i < samples; i++) {
    now += 10;
    const joiner = all[n + i]!;
    if (bulk) {
      cost.join.push(time(() => (node.setView([...view, joiner], now), node.noteIncarnation(joiner, 1, now))));
      cost.leave.push(time(() => node.setView(view, now)));
      node.setView([...view, joiner], now);
      cost.removal.push(time(() => node.setMembers(view, now)));
    } else {
      cost.join.push(time(() => node.join(joiner, 1, now)));
      cost.leave.push(time(() => node.leave(joiner, now)));
      node.join(joiner, 1, now);
      cost.removal.push(time(() => node.remove(joiner, now)));
    }
    // A member self does not watch, convicted by a quorum of its observers' silent records.
    while (assignment.areNeighbours(self, view[subjectAt]!)) subjectAt++;
    const subject = view[subjectAt++]!;
    for (const o of assignment.observersOf(subject)) {
      const x = index.get(o)!;
      let reports = own.get(o);
      if (!reports) own.set(o, (reports = new OwnReports('scale7', o, 0, signers[x]!, 4)));
      reports.set([{ subject, incarnation: 0, kind: REPORT_SILENT }], now, 0);
      node.acceptReportSet(o, 0, signers[x]!.publicKey, reports.current!, now);
    }
    let convicted = 0;
    cost.death.push(time(() => (convicted = node.takeVerdicts(now).convictions.length)));
    if (convicted !== 1) throw new Error(`expected one conviction, got ${convicted}`);
    cost.revival.push(time(() => (node.noteIncarnation(subject, 1, now), node.takeVerdicts(now))));
    // Its observers hear it again and withdraw their records, so they do not pile up over the samples.
    for (const o of assignment.observersOf(subject)) {
      const reports = own.get(o)!;
      reports.set([], now, 0);
      node.acceptReportSet(o, 0, signers[index.get(o)!]!.publicKey, reports.current!, now);
    }
    node.takeVerdicts(now);
  }
  const insertUs: number[] = [];
  const removeUs: number[] = [];
  const sorted = SortedRefs.of(view);
  for (let i = 0; i < samples; i++) {
    const ref = all[n + i]!;
    insertUs.push(time(() => sorted.insert(ref)) * 1000);
    removeUs.push(time(() => sorted.remove(ref)) * 1000);
  }
  return {
    perChange: true,
    members: n,
    samples,
    calls: bulk ? 'setView/setMembers' : 'join/leave/remove',
    sortedRefsUs: { insert: summary(insertUs).median, remove: summary(removeUs).median },
    ms: Object.fromEntries(Object.entries(cost).map(([k, v]: [string, number[]]) => [k, summary(v)])),
  };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      nodes: { type: 'string', default: '100,1000' },
      seed: { type: 'string', default: '1' },
      'quiet-s': { type: 'string', default: '30' },
      'crash-s': { type: 'string', default: '30' },
      'one-node': { type: 'boolean', default: false },
      samples: { type: 'string', default: '20' },
      'per-change': { type: 'boolean', default: false },
      bulk: { type: 'boolean', default: false },
    },
  });
  const sizes = values.nodes.split(',').map(Number);
  const seed = Number(values.seed);
  const quietS = Number(values['quiet-s']);
  const crashS = Number(values['crash-s']);
  if (sizes.some((n) => !Number.isInteger(n) || n <= VICTIM) || !(quietS > 0) || !(crashS > 0)) {
    throw new Error('--nodes takes integers above 3, --quiet-s and --crash-s positive seconds');
  }
  if (values['per-change']) {
    for (const n of sizes) console.log(JSON.stringify(perChange(n, seed, Number(values.samples), values.bulk)));
    return;
  }
  if (values['one-node']) {
    for (const n of sizes) console.log(JSON.stringify(oneNode(n, seed, Number(values.samples))));
    return;
  }
  if (sizes.length === 1) {
    console.log(JSON.stringify(one(sizes[0]!, seed, quietS, crashS)));
    return;
  }
  const self = fileURLToPath(import.meta.url);
  for (const n of sizes) {
    const args = [...process.execArgv, self, '--nodes', String(n), '--seed', String(seed)];
    args.push('--quiet-s', String(quietS), '--crash-s', String(crashS));
    const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
}

main();
