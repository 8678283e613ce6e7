import type { Random } from './types.js';

/**
 * sfc32, a small fast generator with a 128-bit state: good statistical quality for
 * peer selection and simulation, and exactly reproducible from a 32-bit seed.
 */
export function seededRandom(seed: number): Random {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // Mix the seed through the state before the first output.
  for (let i = 0; i < 15; i++) next();
  return { next };
}

/** A uniform integer in [0, n). */
export function randomInt(rng: Random, n: number): number {
  return Math.floor(rng.next() * n);
}

/** Fisher-Yates, in place. */
export function shuffle<T>(a: T[], rng: Random): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = randomInt(rng, i + 1);
    const tmp = a[i] as T;
    a[i] = a[j] as T;
    a[j] = tmp;
  }
}

/** A random start for walking a list round: different peers get different first items when the budget cuts. */
export function rotationStart(length: number, rng: Random): number {
  return length < 2 ? 0 : randomInt(rng, length);
}
