/**
 * Cluster membership for Node.js: a node joins through seeds, shares a little key-value metadata, and
 * learns who is live and who is dead by Scuttlebutt gossip over UDP and a phi accrual failure detector.
 *
 * This entry is what an application embedding a node needs: {@link createScuttlebutt}, the configuration
 * presets and types, the node's events, member views and stats, its errors, and the diagnostics channels.
 * The layers below it have entries of their own, for custom transports, simulators and tools:
 * `scuttlebutt-ts/core` (the pure protocol core), `scuttlebutt-ts/wire` (the message codec),
 * `scuttlebutt-ts/transport` (the packet envelope and replay windows), `scuttlebutt-ts/discovery` (seed
 * addresses and their DNS resolution) and `scuttlebutt-ts/sim` (the cluster simulator).
 *
 * @example Two nodes in one process
 * `b` joins through `a`; `a` prints `api-1 sees db-1, role db`, then
 * `db-1 changed role,load: { role: 'db', load: '0.3' }`.
 * ```js
 * import { createScuttlebutt, defaultLanConfig } from 'scuttlebutt-ts';
 *
 * const node = (id, address) =>
 *   defaultLanConfig({ node: { id, gossipPublicAddress: address }, listenAddress: address });
 * const a = await createScuttlebutt(node('api-1', '127.0.0.1:9111'), { role: 'api' });
 * const b = await createScuttlebutt(node('db-1', '127.0.0.1:9112'), { role: 'db' });
 * a.on('live', (m) => console.log(`api-1 sees ${m.id}, role ${m.metadata.role}`));
 * a.on('update', (m, keys) => console.log(`${m.id} changed ${keys.join()}:`, m.metadata));
 * await b.join(['127.0.0.1:9111']);
 * b.set('load', '0.3');
 * await new Promise((r) => setTimeout(r, 1500));
 * await Promise.all([a.shutdown(), b.shutdown()]);
 * ```
 *
 * @packageDocumentation
 * @module scuttlebutt-ts
 */

// The node.
export { createScuttlebutt, Scuttlebutt, type ScuttlebuttEvents } from './runtime/scuttlebutt.js';

// A consistent-hash ring: standalone over member ids, or following the node's members (node.ring()).
export {
  DEFAULT_REPLICAS,
  HashRing,
  MAX_REPLICAS,
  ringPosition,
  type HashRingEvents,
  type HashRingOptions,
  type RingChange,
  type RingOptions,
  type RingRange,
} from './ring/index.js';

// Its configuration: the presets and what they fill.
export {
  defaultFailureDetectorConfig,
  defaultLanConfig,
  defaultWanConfig,
  type ConfigOverrides,
} from './runtime/config.js';
export type {
  LivenessCensusStats,
  LivenessConfig,
  LivenessStats,
  Logger,
  NotifyEvents,
  ScuttlebuttConfig,
} from './runtime/api.js';
export type { FailureDetectorConfig, FlowControlConfig, NodeIdentity } from './core/types.js';

// What it reports: members, events, health and counters.
export type {
  ClusterState,
  EventsOptions,
  Health,
  IncludableEvent,
  IncludableEvents,
  MemberFilter,
  MemberInfo,
  MembershipEvent,
  QueryRecord,
  Stats,
  UserEvent,
  UserEventLimits,
  UserEventRecord,
  UserEventSent,
  UserEventStats,
} from './runtime/api.js';

// Queries: ask members matching a filter, collect their acks and answers (docs/building-on-membership.md).
export {
  QueryError,
  type QueriesConfig,
  type QueryAnswer,
  type QueryErrorReason,
  type QueryFilter,
  type QueryHandler,
  type QueryOptions,
  type QueryRequest,
  type QueryResponses,
  type QueryStats,
  type QuerySummary,
} from './runtime/api.js';
export type { DetectorView, FlowControlStats, SilenceView } from './core/types.js';

// What it throws: every error is a ScuttlebuttError with a stable `code` (the README's Errors table).
export {
  BindError,
  ClosedError,
  ERROR_CODES,
  InternalError,
  InvalidArgumentError,
  ScuttlebuttError,
  ValueTooLargeError,
  VersionsExhaustedError,
  type ErrorCode,
} from './errors.js';
export { ConfigError } from './runtime/config.js';
export { DiscoveryError, type DiscoveryErrorReason } from './runtime/dns.js';
export { SeedError } from './runtime/seeds.js';
export { ForceLeaveError, UserEventError } from './runtime/api.js';

// What it tells observability tools, over node:diagnostics_channel.
export {
  channels as diagnosticsChannels,
  type DiagnosticsNode,
  type DropMessage,
  type MemberMessage,
  type NodeMessage,
  type PacketMessage,
  type StallMessage,
  type ThrottleMessage,
} from './runtime/diagnostics.js';
