/** The public API. */
export { createScuttlebutt, Scuttlebutt, type ScuttlebuttEvents } from './runtime/scuttlebutt.js';
export { ConfigError, defaultFailureDetectorConfig, defaultLanConfig, defaultWanConfig, type ConfigOverrides } from './runtime/config.js';
export { DiscoveryError, parseSeed, SeedDiscovery, SeedError, systemResolver, type DiscoveryErrorReason, type DiscoveryOptions, type DiscoveryResult, type DnsResolver, type Seed, type SrvAnswer, type SystemResolverOptions } from './runtime/discovery.js';
export { ForceLeaveError } from './runtime/api.js';
export type { ClusterState, Health, Logger, MemberFilter, MemberInfo, MembershipEvent, NotifyEvents, ScuttlebuttConfig, SilenceView, Stats } from './runtime/api.js';
export type { FailureDetectorConfig, DetectorView, NodeIdentity } from './core/types.js';
export type { FlowControlConfig, FlowControlStats } from './core/flow-control.js';
export { channels as diagnosticsChannels, type DiagnosticsNode, type DropMessage, type MemberMessage, type NodeMessage, type PacketMessage, type StallMessage, type ThrottleMessage } from './runtime/diagnostics.js';

// The pure core and the wire format, for simulators, custom transports and tests.
export { ScuttlebuttCore } from './core/core.js';
export { seededRandom } from './core/random.js';
export type { ClusterSnapshot, CoreConfig, CoreEvent, MembershipEventOf, MembershipOf, NodeStatus, NodeView, Outbound, Random, RejectReason, Sender } from './core/types.js';
export { DecodeError, decodeMessage, encodeMessage, messageSize, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, type ProtocolVersion } from './wire/codec.js';
export type {
  AckMessage, Column, Delta, Digest, HeartbeatBumps, LeaveMessage, Message, MessageType, NodeDelta, RateState, SynAckMessage, SynMessage, VersionedValue, WrongClusterMessage,
} from './wire/messages.js';
export type { DecodeErrorReason } from './wire/errors.js';
export { EnvelopeError, open as openEnvelope, openPacket, seal as sealEnvelope, type EnvelopeErrorReason, type EnvelopeOptions, type Opened, type ReplayGuard, type SealParams } from './transport/envelope.js';
export { NonceSequence, ReplayWindows, type ReplayVerdict, type ReplayWindowOptions } from './transport/replay.js';
