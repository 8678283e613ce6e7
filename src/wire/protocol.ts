/**
 * The protocol's marks on the wire: the envelope's magic and header length, the versions this code
 * speaks and what each version can carry.
 */

export const MAGIC_0 = 0x53; // 'S'
export const MAGIC_1 = 0x42; // 'B'
/** The newest protocol version this code speaks (and writes by default). */
export const PROTOCOL_VERSION = 7;
/**
 * The oldest version this code still speaks. Every version from here to PROTOCOL_VERSION is read and
 * written (docs/compatibility.md says how long one is kept); a drop of the oldest is a major release.
 */
export const MIN_PROTOCOL_VERSION = 3;
/**
 * What each version adds, for the encoder and decoder to refuse what a version cannot carry.
 * 3: columnar digests and bumps, compact digests, the push SYN code, bucket summaries, capped ages.
 * 4: heartbeats as their low bits plus checks, in compact digests and positional bumps (flag 8 of a
 *    digest, flag 2 of bumps), and the own entry of such a digest.
 * 5: advisory fields, each left out when a message is written in an older version (a reader of that
 *    version behaves as it always did): see docs/compatibility.md for the list. Among them the leave
 *    commitment of an introduced member (flag 2 of a node delta) and the leave's proof.
 * 6: new messages only, each sent solely to a peer heard in 6 (the messages of 5 are written byte for byte as in 5):
 *    user events (types 7 and 8) and queries and their answers (type codes 9, 10, 11; see wire/query-codec.ts).
 * 7: new messages only, each sent solely to a peer that speaks 7 (the messages of 6 are written byte for byte as in 6):
 *    liveness watched by neighbours, quiet exchanges by hash, the census and the TCP stream's frames (type codes 12 to
 *    21; see wire/liveness-codec.ts and docs/design/liveness-7.md).
 */
export type ProtocolVersion = 3 | 4 | 5 | 6 | 7;

export function isSupportedVersion(v: number): v is ProtocolVersion {
  return Number.isInteger(v) && v >= MIN_PROTOCOL_VERSION && v <= PROTOCOL_VERSION;
}

/** Whether heartbeats may travel as low bits (compact digests, positional bumps) in `version`. */
export function carriesLowHeartbeats(version: ProtocolVersion): boolean {
  return version >= 4;
}
/** Whether introductions carry leave commitments and leaves their proofs (protocol 5 on). */
export function carriesLeaveProofs(version: ProtocolVersion): boolean {
  return version >= 5;
}
/** Whether user events (types 7 and 8) may be sent in `version`: a reader of an older one drops them as unknown. */
export function carriesUserEvents(version: ProtocolVersion): boolean {
  return version >= 6;
}
/** Whether queries, their acks and their responses (type codes 9, 10, 11) exist in `version` (protocol 6 on). */
export function carriesQueries(version: ProtocolVersion): boolean {
  return version >= 6;
}
/**
 * Whether protocol 7's liveness messages (type codes 12 to 21, wire/liveness-codec.ts) exist in `version`: a reader
 * of an older one drops them as unknown types, so they go only to peers that speak 7 (runtime/packets.ts).
 */
export function carriesLiveness(version: ProtocolVersion): boolean {
  return version >= 7;
}
/** magic (2) + protocol version (1) + flags (1), written by transport/envelope.ts before the body. */
export const ENVELOPE_HEADER_BYTES = 4;
