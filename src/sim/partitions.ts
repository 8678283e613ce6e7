/**
 * Partitions of a simulated cluster: the shapes protocol 7's targets name (docs/design/liveness-7.md, "Pitfalls":
 * halves, 10/90, three ways, one node alone, one-way halves) and one cut of a formed cluster measured as those
 * targets are stated: when every node of each side holds every node across the cut dead, deaths inside a side,
 * and, after the heal, when every node sees every node live again. Shared by test/sim/mode7.test.ts and
 * bench/partitions7.ts, so the test's assertions and the documented figures measure the same thing.
 */
import { deafnessHoldMs } from '../core/local-health.js';
import { SimCluster, UP } from './cluster.js';

export const PARTITION_SHAPES = ['halves', '10/90', 'three ways', 'one alone', 'one-way halves'] as const;
export type PartitionShape = (typeof PARTITION_SHAPES)[number];

/** The up nodes' indices. */
export function upNodes(sim: SimCluster): number[] {
  return [...Array(sim.config.nodes).keys()].filter((i) => sim.status[i] === UP);
}

/** Every up node sees exactly the up nodes live, each with the values it holds itself. */
export function converged(sim: SimCluster): boolean {
  const nodes = upNodes(sim);
  const want = nodes.map((n) => `node-${n}`).sort();
  const own = new Map<string, string>();
  for (const i of nodes) {
    const live = sim.cores[i]!.snapshot().live;
    if (live.length !== nodes.length) return false;
    const ids = live.map((v) => v.node.id).sort();
    if (ids.join() !== want.join()) return false;
    for (const v of live) {
      const values = JSON.stringify(v.values);
      if ((own.get(v.node.id) ?? values) !== values) return false;
      own.set(v.node.id, values);
    }
  }
  return true;
}

/** Runs until every up node runs mode 7 (the gate opened everywhere); the instant, or -1 past `maxMs`. */
export function untilMode7(sim: SimCluster, maxMs = 60_000): number {
  const ok = sim.runUntilTrue(() => upNodes(sim).every((i) => sim.cores[i]!.livenessMode === 7), maxMs);
  return ok ? sim.now : -1;
}

/** Whether every node of `side` holds every node of `other` dead. */
export function allSeeDead(sim: SimCluster, side: readonly number[], other: readonly number[]): boolean {
  return side.every((i) => {
    const dead = new Set(sim.cores[i]!.snapshot().dead.map((v) => v.node.id));
    return other.every((j) => dead.has(`node-${j}`));
  });
}

/**
 * The sides of `shape` over nodes 0..n-1. Side 0 of `one-way halves` cannot reach side 1, which still reaches it;
 * the node of `one alone` is the last (not one of the seeds every node starts knowing).
 */
export function partitionSides(shape: PartitionShape, n: number): number[][] {
  const sideOf = (i: number): number => {
    switch (shape) {
      case 'halves':
      case 'one-way halves':
        return i < n / 2 ? 0 : 1;
      case '10/90':
        return i < n / 10 ? 0 : 1;
      case 'three ways':
        return i % 3;
      case 'one alone':
        return i === n - 1 ? 1 : 0;
    }
  };
  const sides: number[][] = [];
  for (let i = 0; i < n; i++) (sides[sideOf(i)] ??= []).push(i);
  return sides;
}

export interface PartitionRun {
  readonly shape: PartitionShape;
  /** Members of each side. */
  readonly sizes: readonly number[];
  /** Per side: seconds from the cut until every node of it held every node across dead (null: not before the heal). */
  readonly seenDeadS: readonly (number | null)[];
  /** Per side: seconds from the cut to its first `dead` event for a node across (null: none before the heal). */
  readonly firstDeathAcrossS: readonly (number | null)[];
  /** Whether every side still held every node across dead at the heal (none revived across a cut). */
  readonly stillDeadAtHeal: boolean;
  /** `dead` events from the cut to the heal for a member of the observer's own side. */
  readonly deathsInsideSides: number;
  /** Seconds from the heal until the cluster is whole again (converged; null: not within `wholeWithinMs`). */
  readonly wholeS: number | null;
  /** `dead` events from the heal to `settleMs` after the cluster was whole. */
  readonly deathsAfterHeal: number;
  /** The deafness hold of this configuration: the lone node's bound in `one alone`. */
  readonly deafnessHoldS: number;
}

/**
 * Cuts a formed cluster (every node up) into `shape` for `partitionMs`, heals, and runs until the cluster is whole
 * (at most `wholeWithinMs`), then `settleMs` more.
 */
export function runPartition(
  sim: SimCluster,
  shape: PartitionShape,
  {
    partitionMs,
    wholeWithinMs = 30_000,
    settleMs = 10_000,
  }: { partitionMs: number; wholeWithinMs?: number; settleMs?: number },
): PartitionRun {
  const n = sim.config.nodes;
  const sides = partitionSides(shape, n);
  const sideOf = new Int32Array(n);
  sides.forEach((side, s) => side.forEach((i) => (sideOf[i] = s)));
  const across = sides.map((_, s) => [...Array(n).keys()].filter((j) => sideOf[j] !== s));
  const cutAt = sim.now;
  const healAt = cutAt + partitionMs;
  let deathsInsideSides = 0;
  let deathsAfterHeal = 0;
  // A side can only come to hold everyone across dead on a `dead` event: check then, not after every event.
  let changed = false;
  const firstDeathAcrossS: (number | null)[] = sides.map(() => null);
  sim.onEvent((obs, e, t) => {
    if (e.type !== 'dead' || t < cutAt) return;
    changed = true;
    const s = sideOf[obs] as number;
    if (t >= healAt) deathsAfterHeal++;
    else if (s === sideOf[Number(e.node.id.slice('node-'.length))]) deathsInsideSides++;
    else firstDeathAcrossS[s] ??= (t - cutAt) / 1000;
  });
  if (shape === 'one-way halves') sim.network.cutInbound(sides[1]!, sides[1]);
  else sim.network.partition(sides);
  const seenDeadS: (number | null)[] = sides.map(() => null);
  sim.runUntilTrue(() => {
    if (!changed) return false;
    changed = false;
    sides.forEach((side, s) => {
      if (seenDeadS[s] === null && allSeeDead(sim, side, across[s]!)) seenDeadS[s] = (sim.now - cutAt) / 1000;
    });
    return seenDeadS.every((x) => x !== null);
  }, partitionMs);
  sim.runUntil(healAt);
  const stillDeadAtHeal = sides.every((side, s) => allSeeDead(sim, side, across[s]!));
  sim.network.heal();
  // Views change only with an event (live, update, dead, removed): check then, not after every packet.
  let viewsChanged = true;
  sim.onEvent(() => (viewsChanged = true));
  const whole = sim.runUntilTrue(() => {
    if (!viewsChanged) return false;
    viewsChanged = false;
    return converged(sim);
  }, wholeWithinMs);
  const wholeS = whole ? (sim.now - healAt) / 1000 : null;
  sim.runUntil(sim.now + settleMs);
  const fd = sim.config.failureDetector;
  return {
    shape,
    sizes: sides.map((side) => side.length),
    seenDeadS,
    firstDeathAcrossS,
    stillDeadAtHeal,
    deathsInsideSides,
    wholeS,
    deathsAfterHeal,
    deafnessHoldS: deafnessHoldMs(sim.config.intervalMs, fd.acceptableHeartbeatPauseMs) / 1000,
  };
}
