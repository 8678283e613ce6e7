/**
 * A small simulated network of census participants for test/core/census.test.ts: one shared view, neighbours from
 * ObserverAssignment, a cut at t = 0 (beats stop crossing it), reports made by the neighbours across at the phi
 * deadline and learned by the rest of a side after a per-node delay (a quarter late, as drill-down repairs
 * what push gossip missed), each node's round timer at its own phase, and pulls and replies delivered after a random latency,
 * each lost with probability `loss`. Optionally the cut heals and every node that convicted someone starts a
 * reunion census. Seeded: a run is reproducible.
 */
import { ObserverAssignment } from '../../src/core/observers.js';
import { Census, type CensusMembership } from '../../src/core/census.js';
import { seededRandom } from '../../src/core/random.js';
import { TimedCallbacks } from './timed-callbacks.js';

export type Shape = 'halves' | '10/90' | 'three-way' | 'one-way halves' | 'alone';

export interface NetOptions {
  shape: Shape;
  n: number;
  seed: number;
  loss?: number;
  /** The cut ends here (ms); every node that convicted someone then starts a census within an interval. */
  healAtMs?: number;
  horizonMs?: number;
}

export interface NetResult {
  side: Int32Array;
  /** Per node: 1 for each member it holds convicted at the end. */
  convicted: Uint8Array[];
  /** Per node: when its last conviction came (ms; -Infinity: none). */
  lastConvictionMs: Float64Array;
  /** Per node: when it last revived a member (ms; -Infinity: none). */
  lastRevivalMs: Float64Array;
  pulls: number;
  census: Census[];
}

const INTERVAL_MS = 1000;
const ROUND_MS = INTERVAL_MS / 4;
const DEADLINE_MS = 4561;
const HASH = 0x1234_5678_9abc;

function sides(shape: Shape, n: number, order: number[]): { side: Int32Array; count: number } {
  const side = new Int32Array(n);
  const fractions =
    shape === '10/90'
      ? [0.1, 0.9]
      : shape === 'three-way'
        ? [1 / 3, 1 / 3, 1 / 3]
        : shape === 'alone'
          ? [1 / n, 1]
          : [0.5, 0.5];
  let start = 0;
  fractions.forEach((f, s) => {
    const end = s === fractions.length - 1 ? n : start + Math.round(f * n);
    for (let p = start; p < end; p++) side[order[p]!] = s;
    start = end;
  });
  return { side, count: fractions.length };
}

export function runNetwork(o: NetOptions): NetResult {
  const { shape, n, seed } = o;
  const loss = o.loss ?? 0;
  const horizon = o.horizonMs ?? 30_000;
  const rng = seededRandom(seed);
  const refSet = new Set<number>();
  while (refSet.size < n) refSet.add(Math.floor(rng.next() * 2 ** 48));
  const refs = Float64Array.from(refSet).sort();
  const index = new Map<number, number>();
  refs.forEach((r, i) => index.set(r, i));
  const assignment = ObserverAssignment.of(refs);
  const nbrs = Array.from(refs, (r) => assignment.observersOf(r).map((y) => index.get(y)!));
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  const { side } = sides(shape, n, order);
  let healed = false;
  const passes = (x: number, y: number): boolean => {
    const a = side[x]!;
    const b = side[y]!;
    return healed || a === b || (shape === 'one-way halves' && a === 1 && b === 0);
  };
  // Reports: o about s when s's beats stop reaching o (silent), or o's stop reaching s while s's arrive (outbound).
  const beatPhase = Float64Array.from({ length: n }, () => rng.next() * INTERVAL_MS);
  const own: { at: number; subject: number }[][] = Array.from({ length: n }, () => []);
  const bySide = new Map<number, { at: number; subject: number }[]>();
  for (let x = 0; x < n; x++) {
    for (const s of nbrs[x]!) {
      let at = Infinity;
      if (!passes(s, x)) at = DEADLINE_MS - beatPhase[s]!;
      else if (!passes(x, s)) at = DEADLINE_MS - beatPhase[x]! + rng.next() * INTERVAL_MS;
      if (!Number.isFinite(at)) continue;
      own[x]!.push({ at, subject: s });
      const list = bySide.get(side[x]!) ?? [];
      list.push({ at, subject: s });
      bySide.set(side[x]!, list);
    }
  }
  // A quarter of the nodes hear the reports late (missed by the push, repaired by drill-down): they join when
  // pulled, or start their own census late and catch up from nodes that completed it.
  const learnDelay = Float64Array.from({ length: n }, () =>
    rng.next() < 0.25 ? 2500 + rng.next() * 5000 : 250 + rng.next() * 1250,
  );
  const convicted = Array.from({ length: n }, () => new Uint8Array(n));
  const lastConvictionMs = new Float64Array(n).fill(-Infinity);
  const lastRevivalMs = new Float64Array(n).fill(-Infinity);
  let now = 0;
  const heldReports = (x: number): Set<number> => {
    const out = new Set<number>();
    for (const r of own[x]!) if (r.at <= now) out.add(r.subject);
    for (const r of bySide.get(side[x]!) ?? []) if (r.at + learnDelay[x]! <= now) out.add(r.subject);
    return out;
  };
  const census: Census[] = [];
  for (let x = 0; x < n; x++) {
    const c = new Census(refs[x]!, { clusterId: 'test', intervalMs: INTERVAL_MS });
    const view: CensusMembership = {
      refs,
      hash: HASH,
      neighbours: (ref) => assignment.observersOf(ref),
      reachable: () => nbrs[x]!.filter((y) => passes(x, y) && passes(y, x)).map((y) => refs[y]!),
      isLive: (ref) => convicted[x]![index.get(ref)!] === 0,
      isUnreachable: (ref) => convicted[x]![index.get(ref)!] === 1,
      reported: () => [...heldReports(x)].filter((s) => convicted[x]![s] === 0).map((s) => refs[s]!),
    };
    c.setMembership(view);
    census.push(c);
  }
  const drain = (x: number): void => {
    for (const v of census[x]!.takeVerdicts()) {
      const i = index.get(v.ref)!;
      convicted[x]![i] = v.kind === 'unreachable' ? 1 : 0;
      if (v.kind === 'unreachable') lastConvictionMs[x] = now;
      else lastRevivalMs[x] = now;
    }
  };
  const events = new TimedCallbacks();
  const latency = (): number => 1 + rng.next() * 20;
  const lost = (): boolean => rng.next() < loss;
  let pulls = 0;
  const tick = (x: number): void => {
    const c = census[x]!;
    if (!c.running) {
      let unresolved = 0;
      for (const s of heldReports(x)) if (convicted[x]![s] === 0) unresolved++;
      if (c.shouldStart(unresolved, now)) c.start(c.nextEpoch, HASH, now);
    }
    for (const p of c.pulls(now, rng)) {
      pulls++;
      const y = index.get(p.to)!;
      if (!passes(x, y) || lost()) continue;
      events.push(now + latency(), () => {
        const reply = census[y]!.onPull(refs[x]!, p.message, now);
        drain(y);
        if (!passes(y, x) || lost()) return;
        events.push(now + latency(), () => {
          census[x]!.onReply(refs[y]!, reply, now);
          drain(x);
        });
      });
    }
    drain(x);
    events.push(now + ROUND_MS, () => tick(x));
  };
  for (let x = 0; x < n; x++) events.push(rng.next() * ROUND_MS, () => tick(x));
  if (o.healAtMs !== undefined) {
    const healAt = o.healAtMs;
    events.push(healAt, () => {
      healed = true;
      // A beat answered across the old cut is two-way contact with a member held unreachable: a reunion census.
      for (let x = 0; x < n; x++) {
        events.push(healAt + rng.next() * INTERVAL_MS, () => {
          const c = census[x]!;
          if (convicted[x]!.includes(1) && !c.running) c.start(c.nextEpoch, HASH, now);
        });
      }
    });
  }
  for (let e = events.pop(); e && e.at <= horizon; e = events.pop()) {
    now = e.at;
    e.run();
  }
  return { side, convicted, lastConvictionMs, lastRevivalMs, pulls, census };
}

/** Per side: (node, member) pairs across not convicted, and (node, member of its own side) convicted. */
export function judge(r: NetResult): { missed: number; falseConvictions: number }[] {
  const n = r.side.length;
  const count = Math.max(...r.side) + 1;
  const out = Array.from({ length: count }, () => ({ missed: 0, falseConvictions: 0 }));
  for (let u = 0; u < n; u++) {
    const row = out[r.side[u]!]!;
    for (let f = 0; f < n; f++) {
      if (f === u) continue;
      const across = r.side[f] !== r.side[u];
      if (across && r.convicted[u]![f] === 0) row.missed++;
      if (!across && r.convicted[u]![f] === 1) row.falseConvictions++;
    }
  }
  return out;
}
