/**
 * `nice -n 10 node dist/bench/state-hash.js [--members 10000] [--rounds 200]`: the cost of protocol 7's state hash
 * (src/core/state-hash.ts) and of a drill-down's computations (src/core/drill-down.ts) at one node.
 *
 * Prints ns per entryHash, per StateHash.replace (a member's state changed: new hash minus old added to three sums),
 * per StateHash.add while building the whole hash, and per drill-down (SUMS, its reply and the plan of the SYN7 for
 * one differing member). Each figure is the best of five runs, to keep other processes' noise out.
 */
import { parseArgs } from 'node:util';
import { entryHash, StateHash, type StateEntry } from '../src/core/state-hash.js';
import { planSyn7, sumsReply, sumsRequest } from '../src/core/drill-down.js';
import { randomInt, seededRandom } from '../src/core/random.js';

const { values } = parseArgs({
  options: { members: { type: 'string', default: '10000' }, rounds: { type: 'string', default: '200' } },
});
const members = Number(values.members);
const rounds = Number(values.rounds);

const rng = seededRandom(1);
const entries: StateEntry[] = [];
const changed: StateEntry[] = [];
for (let i = 0; i < members; i++) {
  const e: StateEntry = {
    ref: randomInt(rng, 2 ** 16) * 2 ** 32 + randomInt(rng, 2 ** 32),
    incarnation: 1,
    maxVersion: randomInt(rng, 50),
    gcVersion: 0,
    reportVersion: randomInt(rng, 3),
    left: false,
  };
  entries.push(e);
  // The same literal shape as `e` (a spread would give another hidden class, and polymorphic property reads).
  changed.push({
    ref: e.ref,
    incarnation: e.incarnation,
    maxVersion: e.maxVersion + 1,
    gcVersion: e.gcVersion,
    reportVersion: e.reportVersion,
    left: e.left,
  });
}

/** The best of five timings of `run`, in ns per operation (`ops` operations a run). */
function best(ops: number, run: () => number): number {
  let bestNs = Infinity;
  let sink = 0;
  for (let k = 0; k < 5; k++) {
    const t0 = process.hrtime.bigint();
    sink += run();
    bestNs = Math.min(bestNs, Number(process.hrtime.bigint() - t0) / ops);
  }
  if (sink === -1) console.log('unreachable');
  return bestNs;
}

const hashNs = best(members * rounds, () => {
  let x = 0;
  for (let r = 0; r < rounds; r++) for (let i = 0; i < members; i++) x += entryHash(entries[i] as StateEntry);
  return x;
});

const state = StateHash.of(entries);
const replaceNs = best(members * rounds, () => {
  for (let r = 0; r < rounds; r++) {
    // Forth on even rounds, back on odd ones: each replace names the entry the member holds now.
    const [from, to] = r % 2 === 0 ? [entries, changed] : [changed, entries];
    for (let i = 0; i < members; i++) state.replace(from[i] as StateEntry, to[i] as StateEntry);
  }
  return state.hash;
});

const buildNs = best(members * 10, () => {
  let x = 0;
  for (let r = 0; r < 10; r++) x += StateHash.of(entries).hash;
  return x;
});

// A drill-down for one differing member: A's state and B's, B holding a newer state of one member.
const a = StateHash.of(entries);
const b = StateHash.of(entries);
b.replace(entries[0] as StateEntry, changed[0] as StateEntry);
const budget = { entryBytes: 10, budgetBytes: 1300 };
let leaves = 0;
const drillNs = best(10_000, () => {
  let x = 0;
  for (let k = 0; k < 10_000; k++) {
    const reply = sumsReply('default', b, sumsRequest('default', a), budget);
    const plan = reply === null ? null : planSyn7(a, reply, budget);
    x += plan?.entries ?? 0;
    leaves = plan?.leaves.length ?? 0;
  }
  return x;
});

console.log(`members ${members}, rounds ${rounds} (best of 5, ns per operation)`);
console.log(`entryHash             ${hashNs.toFixed(1)} ns`);
console.log(`StateHash.replace     ${replaceNs.toFixed(1)} ns (two entry hashes, three sums)`);
console.log(`StateHash.add (build) ${buildNs.toFixed(1)} ns (${((buildNs * members) / 1e6).toFixed(2)} ms for all)`);
console.log(`drill-down plan       ${drillNs.toFixed(0)} ns (SUMS, reply, plan; ${leaves} leaf)`);
