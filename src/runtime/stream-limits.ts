/**
 * The TCP stream's bounds (runtime/stream.ts), the reasons it refuses by, and the error its client throws.
 * Each bound is a named default that the stream's options may override (tests shorten the timeouts).
 */
import { ScuttlebuttError } from '../errors.js';

/** Inbound streams open at a time: a third waits for the next round (the core retries), it is not queued. */
export const STREAM_MAX_INBOUND = 2;
/** Outbound streams open at a time: one sync at a time is enough to catch up, and bounds what this node sends. */
export const STREAM_MAX_OUTBOUND = 1;
/** A peer address gets one stream (each way) per this many ms: a stream is never periodic (the hash is). */
export const STREAM_PEER_INTERVAL_MS = 10_000;
/** No byte read or written for this long closes the stream: a stalled peer holds a slot no longer. */
export const STREAM_IDLE_MS = 5_000;
/** A stream lasts at most this long: a 10,000-member state takes tens of ms on a LAN, seconds on a slow link. */
export const STREAM_TOTAL_MS = 30_000;
/** Bytes a stream may carry each way, prefixes included. */
export const STREAM_MAX_BYTES = 64 * 1024 * 1024;
/**
 * Frames a stream may carry each way: a frame holds at least one node delta, so a state of `maxMembers`
 * members (the default 10,000) fits with the hello and the end. The runtime passes its own `maxMembers + 2`.
 */
export const STREAM_MAX_FRAMES = 10_002;

/** Why a stream was refused or cut; counted by this string (stable: dashboards and tests key on it). */
export type StreamRefusal =
  /** Inbound: `maxInbound` streams open already. Outbound: `maxOutbound` open already. */
  | 'stream-busy'
  /** A stream with this peer address began less than `peerIntervalMs` ago. */
  | 'stream-rate'
  /** Inbound: `admit` refused the address (a stranger whose SYN was not answered). */
  | 'stream-not-admitted'
  /** Nothing read or written for `idleMs`. */
  | 'stream-idle'
  /** Open longer than `totalMs`. */
  | 'stream-too-long'
  /** A length prefix above `maxPacketBytes` (or zero): closed after its 4 bytes, nothing allocated for it. */
  | 'stream-frame-too-big'
  /** A frame that does not open: wrong key, corrupt, replayed, or out of the stream's nonce sequence. */
  | 'stream-bad-frame'
  /** More than `maxFrames` frames one way. */
  | 'stream-too-many-frames'
  /** More than `maxBytes` bytes one way. */
  | 'stream-too-many-bytes'
  /** The peer closed its side in the middle of a frame, or the connection closed before both sides ended. */
  | 'stream-truncated'
  /** The socket failed (a reset, a write after the peer went). */
  | 'stream-socket-error'
  /** Outbound: the connection could not be made. */
  | 'stream-connect-failed'
  /** The handler threw on a body: the stream is cut, the handler's error goes to the log. */
  | 'stream-handler-failed';

/** The bounds; every one may be overridden (tests shorten the timeouts). */
export interface StreamLimits {
  readonly maxInbound: number;
  readonly maxOutbound: number;
  readonly peerIntervalMs: number;
  readonly idleMs: number;
  readonly totalMs: number;
  readonly maxFrames: number;
  readonly maxBytes: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxInbound: STREAM_MAX_INBOUND,
  maxOutbound: STREAM_MAX_OUTBOUND,
  peerIntervalMs: STREAM_PEER_INTERVAL_MS,
  idleMs: STREAM_IDLE_MS,
  totalMs: STREAM_TOTAL_MS,
  maxFrames: STREAM_MAX_FRAMES,
  maxBytes: STREAM_MAX_BYTES,
};

export type StreamErrorReason = 'stream-busy' | 'stream-rate' | 'stream-connect-failed';

/** `SB_ERR_STREAM`: an outbound stream could not be opened; `reason` is the refusal it was counted as. */
export class StreamError extends ScuttlebuttError {
  readonly code = 'SB_ERR_STREAM';
  override readonly name = 'StreamError';

  constructor(
    readonly reason: StreamErrorReason,
    detail: string,
    options?: { readonly cause?: unknown },
  ) {
    super(`${reason}: ${detail}`, options);
  }
}
