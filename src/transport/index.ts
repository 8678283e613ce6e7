/**
 * What the UDP runtime puts around a message body, for custom transports and packet tools: the
 * envelope (magic, protocol version, raw DEFLATE when it helps, AES-GCM with a keyring) and the
 * replay windows that drop a keyring packet seen before, keyed by the sender's nonce stream.
 *
 * @module scuttlebutt-ts/transport
 */
export {
  EnvelopeError,
  envelopeOverhead,
  open as openEnvelope,
  openPacket,
  seal as sealEnvelope,
  type EnvelopeErrorReason,
  type EnvelopeOptions,
  type Opened,
  type ReplayGuard,
  type SealParams,
} from './envelope.js';
export { NonceSequence, ReplayWindows, type ReplayVerdict, type ReplayWindowOptions } from './replay.js';
