/** The public API. */
export { createScuttlebutt, Scuttlebutt, type ScuttlebuttEvents } from './runtime/scuttlebutt.js';
export { ConfigError, defaultFailureDetectorConfig, defaultLanConfig, defaultWanConfig, type ConfigOverrides } from './runtime/config.js';
export type { ClusterState, Logger, MemberInfo, MembershipEvent, NotifyEvents, ScuttlebuttConfig, Stats } from './runtime/api.js';
export type { FailureDetectorConfig, DetectorView, NodeIdentity } from './core/types.js';

// The pure core and the wire format, for simulators, custom transports and tests.
export { ScuttlebuttCore } from './core/core.js';
export { seededRandom } from './core/random.js';
export type { ClusterSnapshot, CoreConfig, CoreEvent, NodeView, Outbound, Random, RejectReason } from './core/types.js';
export { DecodeError, decodeMessage, encodeMessage, messageSize, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION, type ProtocolVersion } from './wire/codec.js';
export type { Message } from './wire/messages.js';
export { EnvelopeError, open as openEnvelope, openPacket, seal as sealEnvelope } from './transport/envelope.js';
