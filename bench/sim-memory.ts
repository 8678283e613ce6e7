/**
 * `node --expose-gc dist/bench/sim-memory.js [--nodes 500,1000] [--rounds 20] [--json] [--breakdown] [--protocol 7]`: what one
 * (node, member) pair of the simulator costs. For each size N: the simulator with N nodes, all
 * started, run until every node has seen every other live, then `--rounds` more rounds (windows
 * fill, tables settle); the heap after a full collection, V8 heap plus typed-array backing stores
 * (`heapUsed + arrayBuffers`, the first also reported alone: V8's heap is capped), less the same figure before the cluster was built, divided by N^2.
 * Per-node costs (the core's fixed state, the simulator's own per-node arrays) are included, so
 * small N overstates the per-pair figure; the difference between two sizes divided by the
 * difference of their squares is the pure per-pair slope. `--breakdown`: also where node 0's bytes lie, per member
 * (see breakdown).
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

/**
 * Node 0's containers, largest first, in bytes per member: typed arrays by their byte length, JS arrays at 8 B an
 * element, Maps and Sets at about 28 B an entry (V8's ordered hash tables: three words an entry and the buckets),
 * each under the property path it was first reached by. What arrays hold (member records, identities, commitments)
 * is left out: the simulator shares those among nodes; so are strings.
 */
function breakdown(root: object, members: number): [string, number][] {
  const sizes = new Map<string, number>();
  const seen = new Set<object>();
  const add = (path: string, bytes: number): void => {
    sizes.set(path, (sizes.get(path) ?? 0) + bytes);
  };
  const walk = (o: unknown, path: string, depth: number): void => {
    if (o === null || typeof o !== 'object' || seen.has(o) || depth > 8) return;
    seen.add(o);
    if (ArrayBuffer.isView(o)) return add(path, o.byteLength);
    if (Array.isArray(o)) return add(path, o.length * 8);
    if (o instanceof Map || o instanceof Set) {
      add(path, o.size * 28);
      for (const e of o.values()) walk(e, `${path}{}`, depth + 1);
      return;
    }
    for (const [k, v] of Object.entries(o)) walk(v, `${path}.${k}`, depth + 1);
  };
  walk(root, 'core', 0);
  return [...sizes]
    .map(([path, bytes]): [string, number] => [path, bytes / members])
    .filter(([, perMember]) => perMember >= 0.5)
    .sort((a, b) => b[1] - a[1]);
}

interface SizeResult {
  nodes: number;
  bytes: number;
  bytesPerPair: number;
  /** Of bytesPerPair, what lies in the V8 heap (the rest is typed arrays): the heap is capped (--max-old-space-size). */
  heapBytesPerPair: number;
  bootstrapRounds: number;
  seconds: number;
  /** With --breakdown: node 0's containers, bytes per member (see breakdown). */
  breakdown?: [string, number][];
}

function measure(nodes: number, rounds: number, withBreakdown: boolean, protocol: 6 | 7): SizeResult {
  const started = performance.now();
  const base = heapBytes();
  // Protocol 7 as the simulator's rows measure it: a fresh cluster, no gate hold, so every node runs mode 7.
  const o = benchOptions({ nodes, ...(protocol === 7 ? { liveness7: true, gateHoldMs: 0 } : {}) });
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
  const parts = withBreakdown ? breakdown(sim.cores[0] as object, nodes) : undefined;
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
    ...(parts ? { breakdown: parts } : {}),
  };
}

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '500,1000' },
    rounds: { type: 'string', default: '20' },
    json: { type: 'boolean', default: false },
    breakdown: { type: 'boolean', default: false },
    protocol: { type: 'string', default: '6' },
  },
});
const sizes = values.nodes.split(',').map((s) => Number(s));
const rounds = Number(values.rounds);
const protocol = values.protocol === '7' ? 7 : 6;
const results = sizes.map((n) => measure(n, rounds, values.breakdown, protocol));
const slopes: number[] = [];
for (let k = 1; k < results.length; k++) {
  const a = results[k - 1]!;
  const b = results[k]!;
  slopes.push((b.bytes - a.bytes) / (b.nodes * b.nodes - a.nodes * a.nodes));
}
if (values.json) {
  process.stdout.write(JSON.stringify({ results, slopes }, null, 2) + '\n');
} else {
  for (const r of results) {
    process.stdout.write(
      `${r.nodes} nodes: ${(r.bytes / MB).toFixed(1)} MB, ${r.bytesPerPair.toFixed(1)} B per pair, ${r.heapBytesPerPair.toFixed(1)} of them ` +
        `in the V8 heap (bootstrap ${r.bootstrapRounds.toFixed(1)} rounds, ${r.seconds.toFixed(1)} s)\n`,
    );
    for (const [path, perMember] of r.breakdown ?? [])
      process.stdout.write(`  ${perMember.toFixed(1).padStart(7)} B per member  ${path}\n`);
  }
  slopes.forEach((s, k) =>
    process.stdout.write(`slope ${results[k]!.nodes} -> ${results[k + 1]!.nodes}: ${s.toFixed(1)} B per pair\n`),
  );
}
