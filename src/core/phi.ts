/**
 * Phi accrual arithmetic (Hayashibara et al.), normal-distribution model as in Akka, but with
 * the normal tail computed in log space instead of Akka's logistic approximation: the
 * approximation overstates phi in the tail, and exp() of a large argument overflows.
 */

const LN10 = Math.LN10;
const SQRT1_2 = Math.SQRT1_2;

/**
 * ln(erfc(x)) for x >= 0, from the Chebyshev fit erfc(x) = t * exp(-x^2 + P(t)), t = 1/(1 + x/2),
 * whose relative error is below 1.2e-7 everywhere. Taking the log of the fit term by term never
 * leaves the exponent, so it stays finite for any finite x (phi of 10^6 is fine).
 */
function lnErfcNonNegative(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  const p =
    -1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t *
                  (-0.18628806 +
                    t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return Math.log(t) - x * x + p;
}

/** ln P(X > y) for a standard normal X. */
export function lnNormalUpperTail(y: number): number {
  if (y >= 0) return Math.log(0.5) + lnErfcNonNegative(y * SQRT1_2);
  // P(X > y) = 1 - P(X > -y); log1p keeps precision when the subtracted tail is tiny.
  return Math.log1p(-0.5 * Math.exp(lnErfcNonNegative(-y * SQRT1_2)));
}

/**
 * phi = -log10 P(a heartbeat arrives later than `elapsedMs`), with arrivals ~ N(mean + pause, std).
 */
export function phi(elapsedMs: number, meanMs: number, stdMs: number, acceptablePauseMs: number): number {
  const y = (elapsedMs - meanMs - acceptablePauseMs) / stdMs;
  return -lnNormalUpperTail(y) / LN10;
}

/**
 * The standardized silence y at which phi reaches `threshold`: phi(y) is increasing, so bisection
 * converges; 200 halvings of [-40, 1e6] reach the last bit of a double.
 */
export function thresholdSigma(threshold: number): number {
  let lo = -40;
  let hi = 1e6;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (-lnNormalUpperTail(mid) / LN10 < threshold) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** Silence after the last heartbeat at which phi crosses `threshold`. */
export function convictionDelayMs(meanMs: number, stdMs: number, acceptablePauseMs: number, threshold: number): number {
  return meanMs + acceptablePauseMs + stdMs * thresholdSigma(threshold);
}

/** phi as member views show it: to a hundredth, an unbounded one as 1e9 (JSON has no Infinity). */
export function viewPhi(value: number): number {
  return Number.isFinite(value) ? Math.round(value * 100) / 100 : 1e9;
}

/** A period or spread as member views show it: to a tenth of a millisecond. */
export function roundToTenth(x: number): number {
  return Math.round(x * 10) / 10;
}
