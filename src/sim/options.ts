/**
 * What a simulated run is asked for (cluster size, fanout, network, detector settings) and the
 * SimConfig it makes: shared by the bench, the write workload, the plots and the golden test, so a
 * scenario means the same cluster in each.
 */
import { DETECTS_PER_ROUND } from '../core/detector.js';
import { DEFAULT_FAILURE_DETECTOR, DEFAULT_TOMBSTONE_GRACE_PERIOD_MS } from '../core/types.js';
import { MAX_ENVELOPE_OVERHEAD, MAX_UDP_PAYLOAD } from '../wire/envelope-sizes.js';
import type { SimConfig } from './cluster.js';

export interface BenchOptions {
  nodes: number;
  fanout: number;
  intervalMs: number;
  loss: number;
  burst: number;
  runs: number;
  seed: number;
  window: number;
  disseminations: number;
  /** Extra steady-state simulated seconds per run, for false positives. */
  durationS: number;
  latencyMs: number;
  jitterMs: number;
  /** Probability a delivered packet is delivered twice (default 0). */
  duplicate?: number;
  /** Members start as if up for 0 to this many seconds (see SimConfig.uptimeSpreadS; default 0). */
  uptimeSpreadS?: number;
  /** Failure detector overrides (defaults: the LAN preset). */
  pauseMs?: number;
  threshold?: number;
  /** Protocol 7's liveness (CoreConfig.liveness7) on every node (default: protocol 6). */
  liveness7?: boolean;
  /** With liveness7: the gate's hold (Liveness7Options.gateHoldMs; default 30 s). 0: a new cluster starts in mode 7. */
  gateHoldMs?: number;
}

/**
 * A loss-free cluster of 100 nodes, one run from seed 1, one fresh-key trial: the base that scenarios, plots and
 * benchmarks vary, each naming only what it changes.
 */
export function benchOptions(overrides: Partial<BenchOptions> = {}): BenchOptions {
  return {
    nodes: 100,
    fanout: 3,
    intervalMs: 1000,
    loss: 0,
    burst: 1,
    runs: 1,
    seed: 1,
    window: 100,
    disseminations: 1,
    durationS: 0,
    latencyMs: 1,
    jitterMs: 2,
    ...overrides,
  };
}

export function simConfig(o: BenchOptions, seed: number): SimConfig {
  return {
    nodes: o.nodes,
    fanout: o.fanout,
    intervalMs: o.intervalMs,
    seed,
    network: {
      latencyMs: o.latencyMs,
      jitterMs: o.jitterMs,
      loss: o.loss,
      burst: o.burst,
      duplicate: o.duplicate ?? 0,
    },
    failureDetector: {
      ...DEFAULT_FAILURE_DETECTOR,
      phiThreshold: o.threshold ?? DEFAULT_FAILURE_DETECTOR.phiThreshold,
      samplingWindowSize: o.window,
      acceptableHeartbeatPauseMs: o.pauseMs ?? DEFAULT_FAILURE_DETECTOR.acceptableHeartbeatPauseMs,
      firstHeartbeatEstimateMs: o.intervalMs,
    },
    payloadBudget: MAX_UDP_PAYLOAD - MAX_ENVELOPE_OVERHEAD,
    tombstoneGracePeriodMs: DEFAULT_TOMBSTONE_GRACE_PERIOD_MS,
    seeds: 3,
    tickJitterMs: 2,
    detectsPerRound: DETECTS_PER_ROUND,
    uptimeSpreadS: o.uptimeSpreadS ?? 0,
    ...(o.liveness7 ? { liveness7: o.gateHoldMs !== undefined ? { gateHoldMs: o.gateHoldMs } : {} } : {}),
  };
}
