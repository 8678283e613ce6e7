/**
 * `node dist/bench/partition-model.js [--sizes 200,10000] [--loss 0,0.1] [--seed 1] [--sample 200] [--json]`:
 * a model of protocol 7's partition rule (docs/design/liveness-7.md, "The partition rule"), not the protocol.
 *
 * It keeps only who watches whom (src/core/observers.ts over one shared view) and what each side can learn:
 * beats stop crossing the cut, neighbours across it report at the phi deadline, reports spread within a side
 * by push gossip, and a census (pull-only, so a one-way path carries no presence) runs in quarter-interval
 * rounds. For each shape it prints, per side, the share of members with no neighbour across the cut, when the
 * first report and the last census completion happen, and when every sampled node of the side has convicted
 * every member across the cut, with false convictions (members of its own side) and misses. Then the heal:
 * from the instant the cut ends, when every node has seen a census with everyone present (revival).
 */
import { parseArgs } from 'node:util';
import { ObserverAssignment } from '../src/core/observers.js';
import { seededRandom } from '../src/core/random.js';
import type { Random } from '../src/core/types.js';

/** The phi deadline after the last beat with steady 1 s beats (docs/protocol.md, "Pinned figure"). */
const DEADLINE_S = 4.5612;
/** Census and eager rounds: a quarter interval. */
const ROUND_S = 0.25;
/** A report is left to settle (refutation, the quorum's other reports) this long before a census starts. */
const SETTLE_S = 0.5;
/** Pulls per census round: two to members known reachable, one uniform. */
const PULLS = 3;
/** Push gossip of news: fanout, and the rounds a node pushes an item after learning it. */
const FANOUT = 3;
const PUSH_ROUNDS = 2;
/** Simulated news epidemics per side, from which report delays are sampled. */
const PATTERNS = 16;
/** A census ends once its bitmap has not grown for this many rounds (after its minimum duration). */
const QUIET_ROUNDS = 4;
/** Pulls a round of a member that knows nobody reachable on its side yet. */
const ISOLATED_PULLS = 8;
/** Direct verification tries, a round apart, for an absent member no present neighbour vouches for. */
const VERIFY_TRIES = 3;
/**
 * A member the push missed learns the news from a neighbour's beat: its hash differs on two beats in a
 * row, then one drill-down (docs/design/liveness-7.md, "Quiet exchanges").
 */
const REPAIR_S = 2;

/** Census duration in rounds for a view of n members (the design's C(n)). */
export function censusRounds(n: number): number {
  return Math.ceil(Math.log2(Math.max(2, n))) + 4;
}

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

/** Fixed-size bitsets over member indices. */
class Bits {
  readonly words: Uint32Array;
  constructor(n: number) {
    this.words = new Uint32Array((n + 31) >>> 5);
  }
  set(i: number): void {
    this.words[i >>> 5] = (this.words[i >>> 5] as number) | (1 << (i & 31));
  }
  count(): number {
    let c = 0;
    for (const w of this.words) {
      // SWAR popcount of a 32-bit word.
      let v = w - ((w >>> 1) & 0x55555555);
      v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
      c += (Math.imul((v + (v >>> 4)) & 0x0f0f0f0f, 0x01010101) >>> 24) & 0xff;
    }
    return c;
  }
  clear(i: number): void {
    this.words[i >>> 5] = (this.words[i >>> 5] as number) & ~(1 << (i & 31));
  }
  has(i: number): boolean {
    return (((this.words[i >>> 5] as number) >>> (i & 31)) & 1) === 1;
  }
  or(o: Bits): void {
    for (let w = 0; w < this.words.length; w++) this.words[w] = (this.words[w] as number) | (o.words[w] as number);
  }
}

interface Census {
  joined: Float64Array;
  completed: Float64Array;
  /** When each participant's bitmap first held every member (Infinity: never). */
  saturated: Float64Array;
  /** Members present (two-way reachable through replies), and members some participant reports. */
  bits: (Bits | null)[];
  reported: (Bits | null)[];
}

/**
 * A pull-only census among members that join at the given times (Infinity: only when pulled). A pull succeeds
 * when both the request and the reply pass; a pulled member that has not joined joins then (its own bit only).
 */
function runCensus(
  n: number,
  startAt: Float64Array,
  delivers: (from: number, to: number) => boolean,
  neighbours: (x: number) => number[],
  reportsBy: (x: number) => number[],
  rng: Random,
): Census {
  const rounds = censusRounds(n);
  const joined = Float64Array.from(startAt);
  const completed = new Float64Array(n).fill(Infinity);
  const saturated = new Float64Array(n).fill(Infinity);
  const bits: (Bits | null)[] = new Array<Bits | null>(n).fill(null);
  const reported: (Bits | null)[] = new Array<Bits | null>(n).fill(null);
  const replied = new Uint8Array(n);
  const pullBack: number[][] = Array.from({ length: n }, () => []);
  const heardOf: Bits[] = Array.from({ length: n }, () => new Bits(n));
  const reachable: number[][] = Array.from({ length: n }, () => []);
  const lastGrowth = new Float64Array(n).fill(-Infinity);
  const join = (x: number, t: number): void => {
    joined[x] = Math.min(joined[x] as number, t);
    if (!bits[x]) {
      const b = new Bits(n);
      b.set(x);
      bits[x] = b;
      const r = new Bits(n);
      for (const f of reportsBy(x)) r.set(f);
      reported[x] = r;
      // Neighbours whose beats arrive and that echo ours: known reachable both ways.
      for (const y of neighbours(x)) if (delivers(x, y) && delivers(y, x)) reachable[x]?.push(y);
    }
  };
  let t = Math.min(...startAt);
  if (!Number.isFinite(t)) return { joined, completed, saturated, bits, reported };
  t = Math.ceil(t / ROUND_S) * ROUND_S;
  for (;;) {
    for (let x = 0; x < n; x++) if ((joined[x] as number) <= t && !bits[x]) join(x, joined[x] as number);
    let active = false;
    for (let x = 0; x < n; x++) {
      const mine = bits[x];
      if (!mine || Number.isFinite(completed[x] as number)) continue;
      // Done after the minimum duration, once the bitmap has stopped growing for QUIET_ROUNDS rounds that
      // had replies; a member that hears no replies at all (alone, or deaf) is done at twice the minimum.
      const age = t - (joined[x] as number);
      const quiet = t - (lastGrowth[x] as number) >= QUIET_ROUNDS * ROUND_S;
      if ((age >= rounds * ROUND_S && quiet) || age >= 2 * rounds * ROUND_S) {
        completed[x] = t;
        continue;
      }
      active = true;
      const known = reachable[x] as number[];
      const grew = mine.count();
      // A member with no neighbour reachable both ways has nobody on its side who knows it is there:
      // it pulls ISOLATED_PULLS a round until some reply arrives.
      const pulls = known.length === 0 && mine.count() === 1 ? ISOLATED_PULLS : PULLS;
      for (let p = 0; p < pulls; p++) {
        let y = -1;
        // First, pull back a member that pulled us and is not yet in our bitmap: pull-only gossip spreads
        // a member's bit only when somebody pulls from it.
        while (p === 0 && y < 0 && (pullBack[x] as number[]).length > 0) {
          const z = (pullBack[x] as number[]).pop() as number;
          if (!mine.has(z)) y = z;
        }
        if (y < 0 && p < PULLS - 1) {
          // Then a member some requester listed that has not reached our bitmap yet, else one that has.
          const heard = heardOf[x] as Bits;
          for (let k = 0; k < 16 && y < 0; k++) {
            const z = Math.floor(rng.next() * n);
            if (z !== x && heard.has(z) && !mine.has(z)) y = z;
          }
          for (let k = 0; k < 16 && y < 0; k++) {
            const z = Math.floor(rng.next() * n);
            if (z !== x && mine.has(z)) y = z;
          }
          if (y < 0 && known.length > 0) y = known[Math.floor(rng.next() * known.length)] as number;
        }
        if (y < 0) y = Math.floor(rng.next() * n);
        if (y === x) continue;
        if (!delivers(x, y)) {
          // A candidate that does not answer is tried once.
          (heardOf[x] as Bits).clear(y);
          continue;
        }
        // The request arrived: the target joins if it has not, and learns that the requester reaches it.
        join(y, t);
        if (!(bits[y] as Bits).has(x)) (pullBack[y] as number[]).push(x);
        // The request carries the requester's bitmap: candidates for the target's pulls, never presence,
        // and only from a requester already present there (one that has answered a pull-back): a requester
        // across a one-way cut would otherwise fill the target's rounds with members it cannot reach.
        if ((bits[y] as Bits).has(x)) (heardOf[y] as Bits).or(mine);
        const theirKnown = reachable[y] as number[];
        if (theirKnown.length < 64 && !theirKnown.includes(x)) theirKnown.push(x);
        if (!delivers(y, x)) {
          (heardOf[x] as Bits).clear(y);
          continue;
        }
        mine.or(bits[y] as Bits);
        (reported[x] as Bits).or(reported[y] as Bits);
        replied[x] = 1;
      }
      // A round counts as quiet only if some reply came and added nobody: pulls that all failed say nothing.
      const now = mine.count();
      if (now === n && !Number.isFinite(saturated[x] as number)) saturated[x] = t;
      if (now > grew || replied[x] === 0) lastGrowth[x] = t;
      replied[x] = 0;
    }
    if (!active && startAt.every((s, x) => !Number.isFinite(s) || Number.isFinite(completed[x] as number))) break;
    t += ROUND_S;
  }
  return { joined, completed, saturated, bits, reported };
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
  censusDoneS: number;
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
  const firstOwn = new Map<number, number>();
  for (const r of reports) firstOwn.set(r.observer, Math.min(firstOwn.get(r.observer) ?? Infinity, r.at));
  const startAt = new Float64Array(n).fill(Infinity);
  for (const [o, at] of firstOwn) {
    const delay = delayOf(o);
    for (let x = 0; x < n; x++) startAt[x] = Math.min(startAt[x] as number, at + (delay[x] as number) + SETTLE_S);
    startAt[o] = Math.min(startAt[o] as number, at + SETTLE_S);
  }
  const reportsBy: number[][] = Array.from({ length: n }, () => []);
  for (const r of reports) reportsBy[r.observer]?.push(r.subject);
  const census = runCensus(
    n,
    startAt,
    delivers,
    (x) => nbrs[x] as number[],
    (x) => reportsBy[x] as number[],
    rng,
  );
  const rows: SideRow[] = [];
  for (let s = 0; s < net.sides; s++) {
    const members = [...side.keys()].filter((x) => side[x] === s);
    const across = [...side.keys()].filter((x) => side[x] !== s);
    const noNeighbourAcross = members.filter((x) => (nbrs[x] as number[]).every((y) => side[y] === s)).length;
    const firstReport = Math.min(...reports.filter((r) => side[r.observer] === s).map((r) => r.at));
    let done = 0;
    let all = 0;
    let falseConvictions = 0;
    let missed = 0;
    const judged =
      members.length <= sample ? members : members.filter((_, i) => i % Math.ceil(members.length / sample) === 0);
    for (const u of judged) {
      const done_u = census.completed[u] as number;
      done = Math.max(done, done_u);
      const bits = census.bits[u];
      if (!bits) {
        missed += across.length;
        continue;
      }
      const reported = census.reported[u] as Bits;
      // Absent and reported: convicted. Absent, unreported, no neighbour present: verified directly first
      // (VERIFY_TRIES pulls; a reply makes it present), which costs a round after completion.
      const convicted = (f: number): boolean => {
        if (bits.has(f)) return false;
        if (reported.has(f)) return true;
        if (!(nbrs[f] as number[]).every((y) => !bits.has(y))) return false;
        for (let k = 0; k < VERIFY_TRIES; k++) if (delivers(u, f) && delivers(f, u)) return false;
        return true;
      };
      for (const x of members) if (x !== u && convicted(x)) falseConvictions++;
      for (const f of across) if (!convicted(f)) missed++;
      all = Math.max(all, done_u + VERIFY_TRIES * ROUND_S);
    }
    rows.push({
      shape,
      n,
      loss,
      side: s,
      members: members.length,
      noNeighbourAcross: noNeighbourAcross / members.length,
      firstReportS: firstReport,
      censusDoneS: done,
      allConvictedS: missed === 0 ? all : Infinity,
      falseConvictions,
      missed,
    });
  }
  // The heal, at 90 s: every node probes a convicted member each interval with probability
  // min(1, dead / (live + 1)); the first two-way contact starts a census of the whole view.
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
  const healed = runCensus(
    n,
    healStart,
    (x, y) => x !== y && rng.next() >= loss,
    (x) => nbrs[x] as number[],
    () => [],
    rng,
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
      '| shape | N | loss | side (members) | no neighbour across | first report s | census done s | every member across convicted s | false | missed | whole after heal s |',
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
              `${f(r.firstReportS)} | ${f(r.censusDoneS)} | ${f(r.allConvictedS)} | ${r.falseConvictions} | ${r.missed} | ` +
              `${r.side === 0 ? f(healS) : ''} |`,
          );
        }
      }
    }
  }
  if (values.json) console.log(JSON.stringify(out));
}

main();
