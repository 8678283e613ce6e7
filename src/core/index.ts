/**
 * The protocol core, pure: one node's view of the cluster, the Scuttlebutt exchange and the failure
 * detector, with no sockets, timers or clock of its own. A harness (the UDP runtime, the simulator, a
 * custom transport) calls `tick`, `receive` and `detect` with the time, sends the messages they return
 * and collects membership events with `takeEvents`. Messages are plain data, which
 * `scuttlebutt-ts/wire` turns into bytes.
 *
 * @module scuttlebutt-ts/core
 */
export { ScuttlebuttCore } from './core.js';
export { seededRandom } from './random.js';
export {
  DEATH_REASONS,
  DEFAULT_FAILURE_DETECTOR,
  DEFAULT_TOMBSTONE_GRACE_PERIOD_MS,
  REJECT_REASONS,
  type DeathReason,
} from './types.js';
export type { GateMode, GateStatus } from './gate.js';
export type { LivenessStatus } from './liveness-switch.js';
export type { CensusCounts } from './liveness7-parts.js';
export type { ReportSigner } from './report-set.js';
export type {
  ClusterSnapshot,
  CoreConfig,
  CoreEvent,
  CoreMessage,
  DetectorView,
  FailureDetectorConfig,
  FlowControlConfig,
  FlowControlStats,
  Liveness7Options,
  MembershipEventOf,
  MembershipOf,
  NodeIdentity,
  NodeStatus,
  NodeView,
  Outbound,
  Random,
  RejectReason,
  Sender,
} from './types.js';
