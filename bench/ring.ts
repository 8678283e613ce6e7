/**
 * `node dist/bench/ring.js [--keys K] [--replicas R] [--runs N] [--sizes 10,100,1000]`: the hash ring
 * (src/ring) measured without a network, since its owners are a pure function of the members.
 * For each cluster size: the fraction of K keys whose owner changes when one member joins and when one
 * leaves (averaged over several joins and leaves, against the ideal 1/N), the ring's own account of it
 * (RingChange.moved), and balance as the largest share over the mean share. Then owner() and owners(key, 3)
 * throughput at the largest size (median of N runs over the K keys), the time to build the ring and to
 * apply one join, and, for comparison, rendezvous hashing's lookup throughput over the same members.
 */
import { parseArgs } from 'node:util';
import { HashRing } from '../src/index.js';
import { hashHi, hashLo, hashString } from '../src/ring/hash.js';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const ms = (t0: bigint): number => Number(process.hrtime.bigint() - t0) / 1e6;

function movedKeys(ring: HashRing, keys: readonly string[], before: readonly (string | undefined)[]): number {
  let moved = 0;
  for (let i = 0; i < keys.length; i++) if (ring.owner(keys[i] as string) !== before[i]) moved++;
  return moved / keys.length;
}

function sizeRow(n: number, keys: readonly string[], replicas: number, trials: number): Record<string, unknown> {
  const ids = Array.from({ length: n }, (_, i) => `node-${i}`);
  const ring = new HashRing(ids, { replicas });
  const shares = [...ring.shares().values()];
  const counts = new Map<string, number>();
  const before = keys.map((k) => {
    const o = ring.owner(k) as string;
    counts.set(o, (counts.get(o) ?? 0) + 1);
    return o;
  });
  const join: number[] = [];
  const joinReported: number[] = [];
  const leave: number[] = [];
  const leaveReported: number[] = [];
  for (let t = 0; t < trials; t++) {
    const joined = ring.add(`joiner-${t}`);
    join.push(movedKeys(ring, keys, before));
    joinReported.push(joined?.moved ?? 0);
    ring.remove(`joiner-${t}`);
    const leaver = ids[Math.floor(((t + 0.5) * n) / trials)] as string;
    const left = ring.remove(leaver);
    leave.push(movedKeys(ring, keys, before));
    leaveReported.push(left?.moved ?? 0);
    ring.add(leaver);
  }
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  const round = (x: number, d = 4): number => Number(x.toFixed(d));
  return {
    members: n,
    keys: keys.length,
    replicas,
    joinMovedKeys: round(mean(join)),
    joinIdeal: round(1 / (n + 1)),
    joinMovedSpace: round(mean(joinReported)),
    leaveMovedKeys: round(mean(leave)),
    leaveIdeal: round(1 / n),
    leaveMovedSpace: round(mean(leaveReported)),
    maxOverMeanShare: round(Math.max(...shares) * n, 3),
    minOverMeanShare: round(Math.min(...shares) * n, 3),
    maxOverMeanKeys: round((Math.max(...counts.values()) * n) / keys.length, 3),
  };
}

/** Rendezvous (highest random weight): one 32-bit mix per member per lookup, the cheapest it can be. */
function rendezvousOwner(key: string, memberHashes: Uint32Array): number {
  hashString(key);
  const k = (hashHi ^ hashLo) >>> 0;
  let best = -1;
  let at = 0;
  for (let i = 0; i < memberHashes.length; i++) {
    let x = (k ^ (memberHashes[i] as number)) >>> 0;
    x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
    x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
    x = (x ^ (x >>> 16)) >>> 0;
    if (x > best) [best, at] = [x, i];
  }
  return at;
}

function throughput(run: () => number, count: number, runs: number): number {
  const rates: number[] = [];
  let sink = 0;
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    sink += run();
    rates.push(count / (ms(t0) / 1000));
  }
  if (sink < 0) console.log(sink); // keeps the work observable
  return Math.round(median(rates));
}

function main(): void {
  const { values } = parseArgs({
    options: {
      keys: { type: 'string', default: '100000' },
      replicas: { type: 'string', default: '160' },
      runs: { type: 'string', default: '7' },
      sizes: { type: 'string', default: '10,100,1000' },
    },
  });
  const keyCount = Number(values.keys);
  const replicas = Number(values.replicas);
  const runs = Number(values.runs);
  const sizes = values.sizes.split(',').map(Number);
  const keys = Array.from({ length: keyCount }, (_, i) => `user:${i}`);
  for (const n of sizes) console.log(JSON.stringify(sizeRow(n, keys, replicas, 5)));

  const n = Math.max(...sizes);
  const ids = Array.from({ length: n }, (_, i) => `node-${i}`);
  let t0 = process.hrtime.bigint();
  const ring = new HashRing(ids, { replicas });
  const buildMs = ms(t0);
  t0 = process.hrtime.bigint();
  ring.add('joiner');
  const joinMs = ms(t0);
  ring.remove('joiner');
  const ownerOps = throughput(
    () => {
      let c = 0;
      for (const k of keys) c += (ring.owner(k) as string).length;
      return c;
    },
    keys.length,
    runs,
  );
  const owners3Ops = throughput(
    () => {
      let c = 0;
      for (const k of keys) c += ring.owners(k, 3).length;
      return c;
    },
    keys.length,
    runs,
  );
  const memberHashes = Uint32Array.from(ids, (id) => (hashString(id), hashHi ^ hashLo));
  const rendezvousKeys = keys.slice(0, Math.max(1000, Math.floor(keys.length / 10)));
  const rendezvousOps = throughput(
    () => {
      let c = 0;
      for (const k of rendezvousKeys) c += rendezvousOwner(k, memberHashes);
      return c;
    },
    rendezvousKeys.length,
    runs,
  );
  console.log(
    JSON.stringify({
      members: n,
      replicas,
      ownerOpsPerSec: ownerOps,
      owners3OpsPerSec: owners3Ops,
      rendezvousOpsPerSec: rendezvousOps,
      buildMs: Number(buildMs.toFixed(1)),
      joinMs: Number(joinMs.toFixed(1)),
      node: process.version,
    }),
  );
}

main();
