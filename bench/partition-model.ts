/**
 * `node dist/bench/partition-model.js [--sizes 200,10000] [--loss 0,0.1] [--seed 1] [--sample 200] [--json]`:
 * a model of protocol 7's partition rule (docs/design/liveness-7.md, "The partition rule"), not the protocol.
 *
 * It keeps only who watches whom (src/core/observers.ts over one shared view) and what each side can learn:
 * beats stop crossing the cut, neighbours across it report at the phi deadline, reports spread within a side
 * by push gossip, and the census itself (src/core/census.ts, one participant per node: start rule, pulls, end,
 * verdict and direct checks) runs in quarter-interval rounds, pulls and replies delivered at once. For each
 * shape it prints, per side, the share of members with no neighbour across the cut, when the first report is
 * written and when the last sampled node joins the census, and when every sampled node of the side has
 * convicted every member across the cut, with false convictions (members of its own side) and misses. Then the
 * heal: from the instant the cut ends, when every node has seen a census with everyone present (revival).
 */
import { parseArgs } from 'node:util';
import { Census, type CensusVerdict } from '../src/core/census.js';
import { indexOfRef } from '../src/core/census-bits.js';
import { ObserverAssignment } from '../src/core/observers.js';
import { seededRandom } from '../src/core/random.js';
import type { Random } from '../src/core/types.js';

/** The phi deadline after the last beat with steady 1 s beats (docs/protocol.md, "Pinned figure"). */
const DEADLINE_S = 4.5612;
/** Census and eager rounds: a quarter interval (the census's own rules are src/core/census.ts's). */
const ROUND_S = 0.25;
/** Push gossip of news: fanout, and the rounds a node pushes an item after learning it. */
const FANOUT = 3;
const PUSH_ROUNDS = 2;
/** Simulated news epidemics per side, from which report delays are sampled. */
const PATTERNS = 16;
/**
 * A member the push missed learns the news from a neighbour's beat: its hash differs on two beats in a
 * row, then one drill-down (docs/design/liveness-7.md, "Quiet exchanges").
 */
const REPAIR_S = 2;

type Shape = 'halves' | '10/90' | 'three-way' | 'one-way halves' | 'alone';

interface Network {
  /** Side of each member. */
  side: Int32Array;
  sides: number;
  /** Whether a packet from side a reaches side b (loss aside). */
  passes(a: number, b: number): boolean;
}

function network(shape: Shape, n: number, rng: Random): Network {
  const side = new Int32Array(n);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  const cutAt = (fractions: number[]): void => {
    let start = 0;
    fractions.forEach((f, s) => {
      const end = s === fractions.length - 1 ? n : start + Math.round(f * n);
      for (let p = start; p < end; p++) side[order[p] as number] = s;
      start = end;
    });
  };
  switch (shape) {
    case 'halves':
      cutAt([0.5, 0.5]);
      return { side, sides: 2, passes: (a, b) => a === b };
    case '10/90':
      cutAt([0.1, 0.9]);
      return { side, sides: 2, passes: (a, b) => a === b };
    case 'three-way':
      cutAt([1 / 3, 1 / 3, 1 / 3]);
      return { side, sides: 3, passes: (a, b) => a === b };
    case 'one-way halves':
      // Side 0 cannot reach side 1; side 1 still reaches side 0.
      cutAt([0.5, 0.5]);
      return { side, sides: 2, passes: (a, b) => a === b || (a === 1 && b === 0) };
    case 'alone':
      cutAt([1 / n, 1 - 1 / n]);
      return { side, sides: 2, passes: (a, b) => a === b };
  }
}

/** The census's membership hash in the model: every node holds the same view. */
const MEMBERSHIP_HASH = 0x5eed_c0ff_ee00;

interface Rounds {
  /** Per node: when its present bitmap first held every member (Infinity: never). */
  saturated: Float64Array;
}

/**
 * Runs real `Census` participants (src/core/census.ts) in lockstep quarter-interval rounds from `from`, nodes in
 * index order, each pull and its reply delivered at once when `delivers` lets them through. `begin(x, t)` is
 * asked of every node not in a census: it may start one, and says whether it may still (the run ends when no
 * census runs and nobody may start). Verdicts go to `verdict`.
 */
function runRounds(
  census: Census[],
  refs: Float64Array,
  from: number,
  begin: (x: number, t: number) => boolean,
  delivers: (from: number, to: number) => boolean,
  verdict: (x: number, v: CensusVerdict, t: number) => void,
  rng: Random,
  tick: (t: number) => void,
): Rounds {
  const n = census.length;
  const saturated = new Float64Array(n).fill(Infinity);
  const index = (ref: number): number => indexOfRef(refs, ref);
  const drain = (x: number, t: number): void => {
    for (const v of (census[x] as Census).takeVerdicts()) verdict(x, v, t);
  };
  for (let t = Math.ceil(from / ROUND_S) * ROUND_S; t < from + 120; t += ROUND_S) {
    let active = false;
    tick(t);
    for (let x = 0; x < n; x++) {
      const c = census[x] as Census;
      if (!c.running && begin(x, t)) active = true;
      if (!c.running) continue;
      active = true;
      for (const p of c.pulls(t * 1000, rng)) {
        const y = index(p.to);
        if (!delivers(x, y)) continue;
        const reply = (census[y] as Census).onPull(refs[x] as number, p.message, t * 1000);
        drain(y, t);
        if (delivers(y, x)) c.onReply(refs[y] as number, reply, t * 1000);
      }
      drain(x, t);
      if (c.presentMembers === n && !Number.isFinite(saturated[x] as number)) saturated[x] = t;
    }
    if (!active) break;
  }
  return { saturated };
}

/**
 * When each member holds reports about one subject, and about two: the start rule's inputs. Its own reports
 * count at once; an observer's set reaches the rest of its side along the observer's news epidemic.
 */
function reportClocks(
  n: number,
  reports: { observer: number; subject: number; at: number }[],
  delayOf: (observer: number) => number,
  patternOf: (observer: number) => Float64Array,
): { one: Float64Array; two: Float64Array } {
  const one = new Float64Array(n).fill(Infinity);
  const two = new Float64Array(n).fill(Infinity);
  const firstSubject = new Float64Array(n).fill(-1);
  // Events (time, subject) per node; only the first two distinct subjects matter, so per epidemic only its
  // earliest report and its earliest about another subject do.
  const byPattern = new Map<number, { observer: number; subject: number; at: number }[]>();
  for (const r of [...reports].sort((a, b) => a.at - b.at)) {
    const key = delayOf(r.observer);
    const list = byPattern.get(key) ?? [];
    if (list.length === 0 || (list.length === 1 && list[0]?.subject !== r.subject)) list.push(r);
    byPattern.set(key, list);
  }
  const events: { x: number; subject: number; at: number }[] = [];
  for (const list of byPattern.values()) {
    const delays = patternOf((list[0] as { observer: number }).observer);
    for (let x = 0; x < n; x++) {
      if (!Number.isFinite(delays[x] as number)) continue;
      for (const r of list) events.push({ x, subject: r.subject, at: r.at + (delays[x] as number) });
    }
  }
  for (const r of reports) events.push({ x: r.observer, subject: r.subject, at: r.at });
  events.sort((a, b) => a.at - b.at);
  for (const e of events) {
    if (!Number.isFinite(one[e.x] as number)) {
      one[e.x] = e.at;
      firstSubject[e.x] = e.subject;
    } else if (!Number.isFinite(two[e.x] as number) && e.subject !== firstSubject[e.x]) {
      two[e.x] = e.at;
    }
  }
  return { one, two };
}

/** Push gossip of one item from `sources` (learned at their times): when each member learns it. */
function spread(
  n: number,
  learned: Float64Array,
  delivers: (a: number, b: number) => boolean,
  neighbours: (x: number) => number[],
  rng: Random,
): void {
  const heap = [...learned.keys()].filter((x) => Number.isFinite(learned[x] as number));
  heap.sort((a, b) => (learned[a] as number) - (learned[b] as number));
  for (let h = 0; h < heap.length; h++) {
    const x = heap[h] as number;
    const t0 = learned[x] as number;
    for (let r = 1; r <= PUSH_ROUNDS; r++) {
      for (let f = 0; f < FANOUT; f++) {
        const y = Math.floor(rng.next() * n);
        const t = t0 + r * ROUND_S;
        if (y !== x && delivers(x, y) && t < (learned[y] as number)) {
          if (!Number.isFinite(learned[y] as number)) heap.push(y);
          learned[y] = t;
        }
      }
    }
    // Keep processing in time order: the tail is short, an insertion sort suffices.
    for (
      let k = heap.length - 1;
      k > h + 1 && (learned[heap[k] as number] as number) < (learned[heap[k - 1] as number] as number);
      k--
    ) {
      [heap[k], heap[k - 1]] = [heap[k - 1] as number, heap[k] as number];
    }
  }
  // Repair along neighbour edges whose beats pass both ways (a shortest-path pass: a few sweeps suffice,
  // each sweep extends the repaired region by one hop).
  for (let sweep = 0; sweep < 8; sweep++) {
    let changed = false;
    for (let x = 0; x < n; x++) {
      for (const y of neighbours(x)) {
        const t = (learned[y] as number) + REPAIR_S;
        if (t < (learned[x] as number) && delivers(y, x) && delivers(x, y)) {
          learned[x] = t;
          changed = true;
        }
      }
    }
    if (!changed) break;
  }
}

interface SideRow {
  shape: Shape;
  n: number;
  loss: number;
  side: number;
  members: number;
  noNeighbourAcross: number;
  firstReportS: number;
  /** The latest instant a sampled node of the side joined the census (started it, or was pulled into it). */
  joinedS: number;
  allConvictedS: number;
  falseConvictions: number;
  missed: number;
}

function model(
  shape: Shape,
  n: number,
  loss: number,
  seed: number,
  sample: number,
): { rows: SideRow[]; healS: number } {
  const rng = seededRandom(seed);
  const refs = new Set<number>();
  while (refs.size < n) refs.add(Math.floor(rng.next() * 2 ** 48));
  const refList = [...refs].sort((a, b) => a - b);
  const a = ObserverAssignment.of(refList);
  const index = new Map(refList.map((r, i) => [r, i]));
  const nbrs = refList.map((r) => a.observersOf(r).map((o) => index.get(o) as number));
  const net = network(shape, n, rng);
  const side = net.side;
  const passes = (x: number, y: number): boolean => net.passes(side[x] as number, side[y] as number);
  const delivers = (x: number, y: number): boolean => passes(x, y) && rng.next() >= loss;
  const phase = Float64Array.from({ length: n }, () => rng.next());
  // Reports: o about s when beats s -> o stop (silent), or o's beats stop reaching s while s's reach o (echo).
  const reports: { observer: number; subject: number; at: number }[] = [];
  for (let o = 0; o < n; o++) {
    for (const s of nbrs[o] as number[]) {
      if (!passes(s, o)) reports.push({ observer: o, subject: s, at: DEADLINE_S - (phase[s] as number) });
      else if (!passes(o, s))
        reports.push({ observer: o, subject: s, at: DEADLINE_S - (phase[o] as number) + rng.next() });
    }
  }
  // News spreads within a side by push gossip. Delays are sampled from PATTERNS simulated epidemics per
  // side, each from a random source of that side; an observer's report set follows one of them (its
  // records leave together). A member starts a census SETTLE_S after the first unresolved report it holds.
  const patterns: Float64Array[][] = [];
  for (let s = 0; s < net.sides; s++) {
    const members = [...side.keys()].filter((x) => side[x] === s);
    patterns.push(
      Array.from({ length: PATTERNS }, () => {
        const learned = new Float64Array(n).fill(Infinity);
        learned[members[Math.floor(rng.next() * members.length)] as number] = 0;
        spread(n, learned, delivers, (x) => nbrs[x] as number[], rng);
        return learned;
      }),
    );
  }
  const delayOf = (observer: number): Float64Array =>
    (patterns[side[observer] as number] as Float64Array[])[observer % PATTERNS] as Float64Array;
  const { one, two } = reportClocks(n, reports, (o) => (side[o] as number) * PATTERNS + (o % PATTERNS), delayOf);
  const refArray = Float64Array.from(refList);
  // The records each node holds, in the order it gets them: its own as it writes them, an observer's set as the
  // observer's epidemic reaches it. One sorted list per epidemic and a cursor per (node, list): `reported`
  // hands the census only what arrived since its last call, which it ORs into the census it runs (a node runs
  // one census here, so nothing is lost).
  const groups = Array.from({ length: net.sides * PATTERNS + 1 }, () => [] as { subject: number; at: number }[]);
  for (const r of [...reports].sort((p, q) => p.at - q.at)) {
    groups[(side[r.observer] as number) * PATTERNS + (r.observer % PATTERNS)]?.push(r);
  }
  const ownReports: { subject: number; at: number }[][] = Array.from({ length: n }, () => []);
  for (const r of [...reports].sort((p, q) => p.at - q.at)) ownReports[r.observer]?.push(r);
  const cursors = new Int32Array(n * groups.length);
  const heldSince = (x: number, now: number): number[] => {
    const out: number[] = [];
    for (let k = 0; k < groups.length; k++) {
      const own = k === groups.length - 1;
      const list = (own ? ownReports[x] : groups[k]) as { subject: number; at: number }[];
      const pattern = own ? null : (patterns[Math.floor(k / PATTERNS)] as Float64Array[])[k % PATTERNS];
      const delay = pattern ? (pattern[x] as number) : 0;
      if (!Number.isFinite(delay)) continue;
      let c = cursors[x * groups.length + k] as number;
      for (let r = list[c]; r && r.at + delay <= now; r = list[++c]) out.push(refArray[r.subject] as number);
      cursors[x * groups.length + k] = c;
    }
    return out;
  };
  // The real census, one participant per node over the shared view (bit i = member i). Its clock is in ms.
  const nbrRefs = nbrs.map((row) => row.map((y) => refArray[y] as number));
  const reachable = nbrs.map((row, x) =>
    row.filter((y) => passes(x, y) && passes(y, x)).map((y) => refArray[y] as number),
  );
  let clock = 0;
  let healing = false;
  const census = refList.map((ref, x) => {
    const c = new Census(ref, { clusterId: 'model', intervalMs: 1000 });
    c.setMembership({
      refs: refArray,
      hash: MEMBERSHIP_HASH,
      neighbours: (r) => nbrRefs[index.get(r) as number] as number[],
      reachable: () => (healing ? [] : (reachable[x] as number[])),
      isLive: () => true,
      isUnreachable: (r) => healing && side[index.get(r) as number] !== side[x],
      reported: () => (healing ? [] : heldSince(x, clock)),
    });
    return c;
  });
  const judgedBySide = Array.from({ length: net.sides }, (_, s) => {
    const members = [...side.keys()].filter((x) => side[x] === s);
    return members.length <= sample ? members : members.filter((_, i) => i % Math.ceil(members.length / sample) === 0);
  });
  const convicted = new Map<number, Uint8Array>();
  for (const u of judgedBySide.flat()) convicted.set(u, new Uint8Array(n));
  const lastConviction = new Float64Array(n).fill(-Infinity);
  // One census per node: the reports it holds are about members it then convicts (the protocol's start rule
  // counts only unresolved ones), so a node that has joined one never starts another here.
  runRounds(
    census,
    refArray,
    Math.min(...one),
    (x, t) => {
      const c = census[x] as Census;
      if (c.epoch > 0 || !Number.isFinite(one[x] as number)) return false;
      clock = t;
      const held = (t >= (one[x] as number) ? 1 : 0) + (t >= (two[x] as number) ? 1 : 0);
      if (c.shouldStart(held, t * 1000)) c.start(c.nextEpoch, MEMBERSHIP_HASH, t * 1000);
      return true;
    },
    delivers,
    (x, v, t) => {
      const row = convicted.get(x);
      if (!row || v.kind !== 'unreachable') return;
      row[index.get(v.ref) as number] = 1;
      lastConviction[x] = t;
    },
    rng,
    (t) => (clock = t),
  );
  const rows: SideRow[] = [];
  for (let s = 0; s < net.sides; s++) {
    const members = [...side.keys()].filter((x) => side[x] === s);
    const noNeighbourAcross = members.filter((x) => (nbrs[x] as number[]).every((y) => side[y] === s)).length;
    const firstReport = Math.min(...reports.filter((r) => side[r.observer] === s).map((r) => r.at));
    let joined = 0;
    let all = 0;
    let falseConvictions = 0;
    let missed = 0;
    for (const u of judgedBySide[s] as number[]) {
      joined = Math.max(joined, (census[u] as Census).joinedAt / 1000);
      all = Math.max(all, lastConviction[u] as number);
      const row = convicted.get(u) as Uint8Array;
      for (let f = 0; f < n; f++) {
        if (f === u) continue;
        if (side[f] === s && row[f] === 1) falseConvictions++;
        if (side[f] !== s && row[f] === 0) missed++;
      }
    }
    rows.push({
      shape,
      n,
      loss,
      side: s,
      members: members.length,
      noNeighbourAcross: noNeighbourAcross / members.length,
      firstReportS: firstReport,
      joinedS: joined,
      allConvictedS: missed === 0 ? all : Infinity,
      falseConvictions,
      missed,
    });
  }
  // The heal, at 90 s: every node probes a convicted member each interval with probability
  // min(1, dead / (live + 1)); the first two-way contact starts a census (the next epoch) of the whole view.
  const healAt = 90;
  const healStart = new Float64Array(n).fill(Infinity);
  for (let x = 0; x < n; x++) {
    const live = n - [...side.keys()].filter((y) => side[y] !== side[x]).length;
    const p = Math.min(1, (n - live) / (live + 1));
    for (let k = 0; k < 20; k++) {
      const t = healAt + k + (phase[x] as number);
      if (rng.next() < p && rng.next() >= loss && rng.next() >= loss) {
        healStart[x] = t;
        break;
      }
    }
  }
  healing = true;
  const epochBefore = census.map((c) => c.epoch);
  const healed = runRounds(
    census,
    refArray,
    Math.min(...healStart),
    (x, t) => {
      const c = census[x] as Census;
      if (c.epoch > (epochBefore[x] as number) || !Number.isFinite(healStart[x] as number)) return false;
      if (t >= (healStart[x] as number)) c.start(c.nextEpoch, MEMBERSHIP_HASH, t * 1000);
      return true;
    },
    (x, y) => x !== y && rng.next() >= loss,
    () => undefined,
    rng,
    (t) => (clock = t),
  );
  // A member present in a node's bitmap is revived there at once (two-way evidence): the cluster is whole
  // when every node's bitmap holds everyone.
  let whole = 0;
  for (let x = 0; x < n; x++) whole = Math.max(whole, (healed.saturated[x] as number) - healAt);
  return { rows, healS: whole };
}

function main(): void {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '200,10000' },
      loss: { type: 'string', default: '0,0.1' },
      seed: { type: 'string', default: '1' },
      sample: { type: 'string', default: '200' },
      json: { type: 'boolean', default: false },
    },
  });
  const sizes = values.sizes.split(',').map(Number);
  const losses = values.loss.split(',').map(Number);
  const seed = Number(values.seed);
  const sample = Number(values.sample);
  const shapes: Shape[] = ['halves', '10/90', 'three-way', 'one-way halves', 'alone'];
  const out: unknown[] = [];
  if (!values.json) {
    console.log(
      '| shape | N | loss | side (members) | no neighbour across | first report s | census joined s | every member across convicted s | false | missed | whole after heal s |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  }
  for (const n of sizes) {
    for (const loss of losses) {
      for (const shape of shapes) {
        const { rows, healS } = model(shape, n, loss, seed, sample);
        out.push({ rows, healS });
        if (values.json) continue;
        for (const r of rows) {
          const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : 'never');
          console.log(
            `| ${r.shape} | ${r.n} | ${r.loss * 100} % | ${r.side} (${r.members}) | ${(r.noNeighbourAcross * 100).toFixed(1)} % | ` +
              `${f(r.firstReportS)} | ${f(r.joinedS)} | ${f(r.allConvictedS)} | ${r.falseConvictions} | ${r.missed} | ` +
              `${r.side === 0 ? f(healS) : ''} |`,
          );
        }
      }
    }
  }
  if (values.json) console.log(JSON.stringify(out));
}

main();
