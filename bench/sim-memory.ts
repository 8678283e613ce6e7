/**
 * `node --expose-gc dist/bench/sim-memory.js [--nodes 500,1000] [--rounds 20] [--json]`: what one
 * (node, member) pair of the simulator costs. For each size N: the simulator with N nodes, all
 * started, run until every node has seen every other live, then `--rounds` more rounds (windows
 * fill, tables settle); the heap after a full collection, V8 heap plus typed-array backing stores
 * (`heapUsed + arrayBuffers`, the first also reported alone: V8's heap is capped), less the same figure before the cluster was built, divided by N^2.
 * Per-node costs (the core's fixed state, the simulator's own per-node arrays) are included, so
 * small N overstates the per-pair figure; the difference between two sizes divided by the
 * difference of their squares is the pure per-pair slope.
 */
import { parseArgs } from 'node:util';
import { SimCluster } from '../src/sim/cluster.js';
import { benchOptions, simConfig } from '../src/sim/options.js';

const MB = 1024 * 1024;

/** After a full collection: the V8 heap (objects, JS arrays, Maps) and typed-array backing stores. */
function heapBytes(): { heap: number; buffers: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run under node --expose-gc');
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

interface SizeResult {
  nodes: number;
  bytes: number;
  bytesPerPair: number;
  /** Of bytesPerPair, what lies in the V8 heap (the rest is typed arrays): the heap is capped (--max-old-space-size). */
  heapBytesPerPair: number;
  bootstrapRounds: number;
  seconds: number;
}

function measure(nodes: number, rounds: number): SizeResult {
  const started = performance.now();
  const base = heapBytes();
  const o = benchOptions({ nodes });
  let sim: SimCluster | null = new SimCluster(simConfig(o, o.seed));
  sim.countBytes = false;
  const liveSeen = new Uint32Array(nodes);
  let complete = 0;
  sim.onEvent((obs, e) => {
    if (e.type === 'live' && ++liveSeen[obs]! === nodes - 1) complete++;
  });
  for (let i = 0; i < nodes; i++) sim.start(i);
  const I = o.intervalMs;
  if (!sim.runUntilTrue(() => complete === nodes, 200 * I)) throw new Error(`${nodes} nodes: bootstrap incomplete`);
  const bootstrapRounds = sim.now / I;
  sim.runUntil(sim.now + rounds * I);
  const after = heapBytes();
  sim = null;
  const heap = after.heap - base.heap;
  const bytes = heap + after.buffers - base.buffers;
  return {
    nodes,
    bytes,
    bytesPerPair: bytes / (nodes * nodes),
    heapBytesPerPair: heap / (nodes * nodes),
    bootstrapRounds,
    seconds: (performance.now() - started) / 1000,
  };
}

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '500,1000' },
    rounds: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
  },
});
const sizes = values.nodes.split(',').map((s) => Number(s));
const rounds = Number(values.rounds);
const results = sizes.map((n) => measure(n, rounds));
const slopes: number[] = [];
for (let k = 1; k < results.length; k++) {
  const a = results[k - 1]!;
  const b = results[k]!;
  slopes.push((b.bytes - a.bytes) / (b.nodes * b.nodes - a.nodes * a.nodes));
}
if (values.json) {
  process.stdout.write(JSON.stringify({ results, slopes }, null, 2) + '\n');
} else {
  for (const r of results)
    process.stdout.write(
      `${r.nodes} nodes: ${(r.bytes / MB).toFixed(1)} MB, ${r.bytesPerPair.toFixed(1)} B per pair, ${r.heapBytesPerPair.toFixed(1)} of them ` +
        `in the V8 heap (bootstrap ${r.bootstrapRounds.toFixed(1)} rounds, ${r.seconds.toFixed(1)} s)\n`,
    );
  slopes.forEach((s, k) =>
    process.stdout.write(`slope ${results[k]!.nodes} -> ${results[k + 1]!.nodes}: ${s.toFixed(1)} B per pair\n`),
  );
}
