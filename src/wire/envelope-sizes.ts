/**
 * The sizes a packet is budgeted by: what the envelope (transport/envelope.ts) adds around a body,
 * and the largest datagram. Here rather than in the transport so that the simulator, which runs
 * the core without the transport, budgets its packets by the same numbers.
 */
import { ENVELOPE_HEADER_BYTES } from './codec.js';

/** AES-GCM's nonce, written before the ciphertext of an encrypted packet (transport/envelope.ts). */
export const AES_GCM_NONCE_BYTES = 12;
/** AES-GCM's authentication tag, written after the ciphertext. */
export const AES_GCM_TAG_BYTES = 16;
/** What encryption adds to a packet: the nonce and the tag. */
export const ENCRYPTION_OVERHEAD = AES_GCM_NONCE_BYTES + AES_GCM_TAG_BYTES;
/** The most the envelope adds to a body: a payload budget of the packet size less this leaves room for encryption. */
export const MAX_ENVELOPE_OVERHEAD = ENVELOPE_HEADER_BYTES + ENCRYPTION_OVERHEAD;
/** The largest UDP datagram payload over IPv4: 65,535 less the IP (20) and UDP (8) headers. */
export const MAX_UDP_PAYLOAD = 65_507;
/** The envelope never tries to DEFLATE a body shorter than this: it would not pay. */
export const MIN_COMPRESS_BYTES = 64;
