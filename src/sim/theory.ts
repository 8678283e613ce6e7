/**
 * The ideal protocol the targets are measured against: synchronous push-pull rumor spreading on a
 * complete graph. Each round every node contacts `fanout` uniform random others; an exchange informs
 * both sides if either was informed at the start of the round. Monte Carlo, seeded, so the curve
 * beside our measurements is reproducible.
 */
import { randomInt, seededRandom } from '../core/random.js';

export interface PushPull {
  /** Mean fraction of nodes informed after r rounds, r = 0 .. curve.length − 1 (ends at 1). */
  curve: number[];
  /** Rounds until every node was informed, one per trial. */
  rounds: number[];
}

export function pushPull(nodes: number, fanout: number, trials: number, seed: number, loss = 0): PushPull {
  const rng = seededRandom(seed);
  const sums: number[] = [];
  const rounds: number[] = [];
  const informed = new Uint8Array(nodes);
  const next = new Uint8Array(nodes);
  for (let t = 0; t < trials; t++) {
    informed.fill(0);
    informed[randomInt(rng, nodes)] = 1;
    let count = 1;
    let r = 0;
    sums[0] = (sums[0] ?? 0) + count / nodes;
    while (count < nodes) {
      next.set(informed);
      for (let a = 0; a < nodes; a++) {
        for (let k = 0; k < fanout; k++) {
          let b = randomInt(rng, nodes - 1);
          if (b >= a) b++;
          // A lost exchange moves nothing either way (a conservative reading of loss on a round trip).
          if (loss > 0 && rng.next() < loss) continue;
          if (informed[a] === 1 || informed[b] === 1) next[a] = next[b] = 1;
        }
      }
      informed.set(next);
      count = 0;
      for (let i = 0; i < nodes; i++) count += informed[i] as number;
      r++;
      sums[r] = (sums[r] ?? 0) + count / nodes;
    }
    rounds.push(r);
  }
  // Trials that finished early count as fully informed in later rounds.
  const longest = Math.max(...rounds);
  const curve: number[] = [];
  for (let r = 0; r <= longest; r++) {
    const finishedBefore = rounds.filter((x) => x < r).length;
    curve.push(((sums[r] ?? 0) + finishedBefore) / trials);
  }
  return { curve, rounds };
}
