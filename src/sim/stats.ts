export interface Summary {
  mean: number;
  p99: number;
  max: number;
}

/** Mean, 99th percentile (nearest rank) and max of a sample. */
export function summarize(xs: readonly number[]): Summary {
  if (xs.length === 0) return { mean: 0, p99: 0, max: 0 };
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.max(0, Math.ceil(0.99 * sorted.length) - 1);
  return {
    mean: xs.reduce((a, b) => a + b, 0) / xs.length,
    p99: sorted[rank] as number,
    max: sorted[sorted.length - 1] as number,
  };
}
