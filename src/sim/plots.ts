/**
 * `npm run sim:plots`: renders docs/plots/*.svg from simulator runs. A small SVG line chart of our
 * own, so the figures need no plotting dependency.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { SimCluster } from './cluster.js';
import { convergenceCurve } from './bench.js';
import { benchOptions, simConfig, type BenchOptions } from './options.js';
import { pushPull } from './theory.js';
import type { WorkloadResult } from './workload.js';

interface Series {
  name: string;
  points: [number, number][];
  dashed?: boolean;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#17becf', '#9467bd', '#ff7f0e', '#8c564b'];

export function lineChart(
  title: string,
  xLabel: string,
  yLabel: string,
  series: Series[],
  opts: { logX?: boolean; yMax?: number; legendUpperLeft?: boolean } = {},
): string {
  const W = 640;
  const H = 400;
  const m = { l: 70, r: 20, t: 40, b: 50 };
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const fx = (x: number): number => (opts.logX ? Math.log10(x) : x);
  const x0 = Math.min(...xs.map(fx));
  const x1 = Math.max(...xs.map(fx));
  const y1 = opts.yMax ?? (Math.max(...ys) * 1.05 || 1);
  const px = (x: number): number => m.l + ((fx(x) - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const py = (y: number): number => H - m.b - (y / y1) * (H - m.t - m.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      `font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${title}</text>`,
    `<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="black"/>`,
    `<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="black"/>`,
    `<text x="${W / 2}" y="${H - 12}" text-anchor="middle">${xLabel}</text>`,
    `<text x="18" y="${H / 2}" text-anchor="middle" transform="rotate(-90 18 ${H / 2})">${yLabel}</text>`,
  ];
  for (let k = 0; k <= 5; k++) {
    const y = (y1 / 5) * k;
    out.push(`<line x1="${m.l - 4}" y1="${py(y)}" x2="${W - m.r}" y2="${py(y)}" stroke="#ddd"/>`);
    out.push(
      `<text x="${m.l - 8}" y="${py(y) + 4}" text-anchor="end">` +
        `${y >= 1000 ? `${Math.round(y / 1000)}k` : Number(y.toFixed(2))}</text>`,
    );
  }
  const ticks = opts.logX
    ? [...new Set(xs)].sort((a, b) => a - b)
    : Array.from({ length: 6 }, (_, k) => x0 + ((x1 - x0) / 5) * k);
  for (const x of ticks)
    out.push(`<text x="${px(x)}" y="${H - m.b + 18}" text-anchor="middle">${Number(x.toFixed(1))}</text>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const d = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ');
    out.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    for (const p of s.points)
      if (opts.logX) out.push(`<circle cx="${px(p[0])}" cy="${py(p[1])}" r="3" fill="${color}"/>`);
    // Legend at the lower right, clear of curves that rise early and flatten high; or at the upper
    // left, clear of curves that start low and rise late.
    const ly = opts.legendUpperLeft ? m.t + 15 + 18 * i : H - m.b - 20 - 18 * (series.length - 1 - i);
    const lx = opts.legendUpperLeft ? m.l + 15 : W - m.r - 180;
    out.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 25}" y2="${ly}" stroke="${color}" stroke-width="2"` +
        `${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${s.name}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

const OPTS: BenchOptions = benchOptions();

/** Fraction of nodes holding one fresh update, against rounds since it was written (mean of several trials). */
function convergence(nodes: number, loss: number, trials: number): [number, number][] {
  const sim = new SimCluster(simConfig({ ...OPTS, nodes, loss, window: nodes > 2000 ? 4 : 100 }, 7));
  let watch = '';
  let t0 = 0;
  let writer = -1;
  const arrivals: number[][] = [];
  sim.onEvent((obs, e, t) => {
    // The writer's own core reports its write too: not a delivery.
    if (obs !== writer && e.type === 'update' && e.keys.includes(watch))
      arrivals[arrivals.length - 1]?.push((t - t0) / 1000);
  });
  for (let i = 0; i < nodes; i++) sim.start(i);
  sim.runUntil(20_000);
  for (let trial = 0; trial < trials; trial++) {
    const u = sim.randomNode();
    writer = u;
    watch = `w${trial}`;
    arrivals.push([0]); // the writer holds it at once
    t0 = sim.now;
    sim.cores[u]!.set(watch, 'v', sim.now);
    sim.runUntil(sim.now + 5000);
  }
  return convergenceCurve(arrivals, nodes, 4);
}

/**
 * A curve saved by a benchmark run (`npm run sim -- --json` prints it as `convergence`): the 10,000-node
 * run takes many minutes, so the plot reads its saved output instead of redoing it.
 */
const SAVED_10K = 'docs/data/sim-10000.json';

function savedCurve(path: string): [number, number][] | null {
  if (!existsSync(path)) return null;
  const saved = JSON.parse(readFileSync(path, 'utf8')) as { convergence?: [number, number][] };
  return saved.convergence && saved.convergence.length > 0 ? saved.convergence : null;
}

function bandwidth(nodes: number, uptimeSpreadS = 0): { wire: number; encoded: number } {
  const sim = new SimCluster(simConfig({ ...OPTS, nodes, uptimeSpreadS }, 3));
  for (let i = 0; i < nodes; i++) sim.start(i);
  sim.runUntil(20_000);
  sim.resetTraffic();
  sim.runUntil(30_000);
  const t = sim.traffic();
  return { wire: t.wireMean, encoded: t.mean };
}

function main(): void {
  mkdirSync('docs/plots', { recursive: true });
  const saved10k = savedCurve(SAVED_10K);
  const curves: Series[] = [
    { name: 'N = 100', points: convergence(100, 0, 10) },
    { name: 'N = 1,000', points: convergence(1000, 0, 5) },
    { name: 'N = 1,000, 10% loss', points: convergence(1000, 0.1, 5), dashed: true },
    ...(saved10k ? [{ name: 'N = 10,000 (saved run)', points: saved10k }] : []),
    // The synchronous push-pull limit (fanout 3) from anchors.md, as a curve: the bar to beat.
    ...[100, 1000, 10_000].map((n): Series => ({
      name: `push-pull limit, N = ${n.toLocaleString('en-US')}`,
      points: pushPull(n, 3, n >= 10_000 ? 10 : 50, 11).curve.map((f, r): [number, number] => [r, f]),
      dashed: true,
    })),
  ];
  writeFileSync(
    'docs/plots/convergence.svg',
    lineChart(
      'One fresh update spreading (fanout 3, 1 s rounds)',
      'rounds since the write',
      'fraction of nodes holding it',
      curves,
      { yMax: 1 },
    ),
  );
  const sizes = [25, 50, 100, 200, 400, 1000];
  const measured = sizes.map((n) => [n, bandwidth(n)] as const);
  // A day's spread of uptimes: heartbeats differ member to member, as in a long-running cluster.
  const aged = sizes.map((n) => [n, bandwidth(n, 86_400)] as const);
  const bw: Series[] = [
    { name: 'on the wire, members up 0-24 h', points: aged.map(([n, b]): [number, number] => [n, b.wire]) },
    { name: 'on the wire, all started together', points: measured.map(([n, b]): [number, number] => [n, b.wire]) },
    {
      name: 'before compression, members up 0-24 h',
      points: aged.map(([n, b]): [number, number] => [n, b.encoded]),
      dashed: true,
    },
  ];
  writeFileSync(
    'docs/plots/bandwidth.svg',
    lineChart(
      'Steady-state traffic per node (LAN defaults)',
      'cluster size N (log scale)',
      'bytes per node per second',
      bw,
      { logX: true, legendUpperLeft: true },
    ),
  );
  process.stdout.write(
    `wrote docs/plots/convergence.svg and docs/plots/bandwidth.svg\n${JSON.stringify({ measured, aged })}\n`,
  );
}

const FLOW_DATA = 'docs/data/flow-control';

/**
 * `npm run sim:plots -- flow`: staleness against offered load, flow control with rates shared, with local AIMD only,
 * and off, from the
 * saved workload runs in docs/data/flow-control/ (`npm run sim -- --writers ... --json`, one file a
 * run; the commands are in docs/benchmarks.md). `capacity` is the measured saturation rate per writer.
 */
function flowPlot(capacity: number): void {
  const runs = readdirSync(FLOW_DATA)
    .filter((f) => /^(on|off|shared)-[\d.]+\.json$/.test(f))
    .map((f) => JSON.parse(readFileSync(`${FLOW_DATA}/${f}`, 'utf8')) as WorkloadResult)
    .sort((a, b) => a.writeRate - b.writeRate);
  // Runs saved before rate sharing existed carry no rateSharing field: they are local AIMD.
  type Mode = 'shared' | 'local' | 'off';
  const mode = (r: WorkloadResult): Mode => (!r.flowControl ? 'off' : r.rateSharing === true ? 'shared' : 'local');
  const pick = (m: Mode, y: (r: WorkloadResult) => number): [number, number][] =>
    runs.filter((r) => mode(r) === m).map((r): [number, number] => [r.writeRate / capacity, y(r) / 1000]);
  const series: Series[] = [
    { name: 'heavy writers p99, rates shared', points: pick('shared', (r) => r.staleness.p99) },
    { name: 'heavy writers p99, local AIMD', points: pick('local', (r) => r.staleness.p99) },
    { name: 'heavy writers p99, off', points: pick('off', (r) => r.staleness.p99), dashed: true },
    { name: 'rare writers mean, rates shared', points: pick('shared', (r) => r.lightStaleness?.mean ?? 0) },
    { name: 'rare writers mean, local AIMD', points: pick('local', (r) => r.lightStaleness?.mean ?? 0) },
    { name: 'rare writers mean, off', points: pick('off', (r) => r.lightStaleness?.mean ?? 0), dashed: true },
  ];
  writeFileSync(
    'docs/plots/flow-control.svg',
    lineChart(
      'Staleness against offered load (128 nodes, 1,400-byte packets)',
      'offered load, x measured capacity (log scale)',
      'staleness, s',
      series,
      { logX: true, legendUpperLeft: true },
    ),
  );
  process.stdout.write(`wrote docs/plots/flow-control.svg from ${runs.length} runs\n`);
  stepPlot();
}

/**
 * The paper's experiment as a step: the worst staleness of each second's writes, before and after
 * the offered load jumps past capacity (docs/data/flow-control/paper-on.json and paper-off.json).
 */
function stepPlot(): void {
  const run = (m: 'on' | 'off'): WorkloadResult =>
    JSON.parse(readFileSync(`${FLOW_DATA}/paper-${m}.json`, 'utf8')) as WorkloadResult;
  const curve = (r: WorkloadResult): [number, number][] => {
    // A write made s seconds before the end can show at most s: the seconds within the run's worst
    // staleness of the end are censored, so they are cut.
    const shown = r.maxStalenessBySecond.slice(0, r.maxStalenessBySecond.length - Math.ceil(r.staleness.max / 1000));
    return shown.map((ms, i): [number, number] => [r.warmupS + i, ms / 1000]);
  };
  const on = run('on');
  const off = run('off');
  const series: Series[] = [
    { name: 'flow control on (rates shared)', points: curve(on) },
    { name: 'flow control off', points: curve(off), dashed: true },
  ];
  const title =
    `Writes jump from ${on.writeRate}/s to ${on.stepWriteRate ?? '?'}/s at t = ${on.warmupS + (on.stepAtS ?? 0)} s ` +
    `(${on.nodes} nodes, ${on.keys} keys each)`;
  writeFileSync(
    'docs/plots/flow-control-step.svg',
    lineChart(title, 'seconds since writing started', "worst staleness of that second's writes, s", series, {
      legendUpperLeft: true,
    }),
  );
  process.stdout.write('wrote docs/plots/flow-control-step.svg\n');
}

if (process.argv[2] === 'flow') flowPlot(Number(process.argv[3] ?? 17));
else main();
