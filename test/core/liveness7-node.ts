/** A Liveness7 for hand-driven tests: a round of INTERVAL_MS, the default detector, its view set at time 0. */
import { Liveness7 } from '../../src/core/liveness7.js';
import type { Liveness7Config } from '../../src/core/liveness7-parts.js';
import { DEFAULT_FAILURE_DETECTOR } from '../../src/core/types.js';

export const INTERVAL_MS = 1000;

/** What the tests vary; the rest of Liveness7Config is at its default (observers, mode7, assignmentPool). */
export interface Liveness7NodeOptions extends Pick<
  Liveness7Config,
  'self' | 'clusterId' | 'incarnation' | 'signer' | 'isReady'
> {
  /** The members it holds at start (setView at time 0). */
  readonly view: readonly number[];
}

export function liveness7Node({ view, ...config }: Liveness7NodeOptions): Liveness7 {
  const l = new Liveness7({ ...config, gossipIntervalMs: INTERVAL_MS, failureDetector: DEFAULT_FAILURE_DETECTOR }, 0);
  l.setView(view, 0);
  return l;
}
