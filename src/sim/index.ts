/**
 * The cluster simulator: many protocol cores on a virtual clock and a simulated network (latency,
 * jitter, random or bursty loss, partitions), with crashes, pauses, restarts and leaves. Same seed,
 * same run, event for event. {@link runBench} and {@link runWorkload} are the experiments behind
 * `npm run sim`; {@link SimCluster} is the harness they drive, for experiments of your own.
 *
 * @module scuttlebutt-ts/sim
 */
export {
  CRASHED,
  PAUSED,
  SimCluster,
  simAddress,
  UP,
  type EventListener,
  type SendListener,
  type SimConfig,
} from './cluster.js';
export { SimNetwork, type NetworkConfig } from './network.js';
export { runBench, type BenchResult } from './bench.js';
export { simConfig, type BenchOptions } from './options.js';
export { runWorkload, type WorkloadOptions, type WorkloadResult } from './workload.js';
export type { Summary } from './stats.js';
