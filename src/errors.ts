/**
 * The one error shape. Every error the library and the `scuttlebutt` command throw on purpose is a
 * {@link ScuttlebuttError}: `name` is its class, `code` a stable string to branch on
 * (`err.code === 'SB_ERR_CLOSED'`), `message` a sentence for people that may change between releases,
 * and `cause` the underlying error where there is one (a socket's `EADDRINUSE`, a DNS lookup's
 * `ENOTFOUND`). Codes are `SB_ERR_` and an upper-snake name, one per class; a class whose failures
 * come in kinds says which in a `reason` field as well (`DecodeError`, `EnvelopeError`,
 * `DiscoveryError`, `ForceLeaveError`).
 *
 * This module imports nothing, so every layer (the wire format included) may throw these. The
 * classes that belong to one layer live there (`DecodeError` in wire/errors.ts, `ConfigError` in
 * runtime/config.ts, ...); the ones shared by several live here.
 */

/** Every code a {@link ScuttlebuttError} carries. */
export const ERROR_CODES = [
  'SB_ERR_CONFIG',
  'SB_ERR_SEED',
  'SB_ERR_DISCOVERY',
  'SB_ERR_BIND',
  'SB_ERR_CLOSED',
  'SB_ERR_FORCE_LEAVE',
  'SB_ERR_INVALID_ARG',
  'SB_ERR_VALUE_TOO_LARGE',
  'SB_ERR_VERSIONS_EXHAUSTED',
  'SB_ERR_DECODE',
  'SB_ERR_ENVELOPE',
  'SB_ERR_INTERNAL',
  'SB_ERR_USAGE',
  'SB_ERR_HTTP',
  'SB_ERR_AGENT',
  'SB_ERR_USER_EVENT',
  'SB_ERR_QUERY',
  'SB_ERR_STREAM',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** The base of every error thrown on purpose; branch on `code`, not on the message. */
export abstract class ScuttlebuttError extends Error {
  abstract readonly code: ErrorCode;

  constructor(message: string, options?: { readonly cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** `SB_ERR_CLOSED`: a method that needs a running node was called after shutdown() or leave(). */
export class ClosedError extends ScuttlebuttError {
  readonly code = 'SB_ERR_CLOSED';
  override readonly name = 'ClosedError';
}

/**
 * `SB_ERR_BIND`: a socket could not be bound (the gossip UDP port, or the agent's HTTP API). `cause`
 * is the socket's own error: `err.cause.code` is `EADDRINUSE`, `EADDRNOTAVAIL`, `EACCES`, ...
 */
export class BindError extends ScuttlebuttError {
  readonly code = 'SB_ERR_BIND';
  override readonly name = 'BindError';
  declare readonly cause: Error & { readonly code?: string };

  constructor(message: string, cause: Error & { readonly code?: string }) {
    super(message, { cause });
  }
}

/** `SB_ERR_INVALID_ARG`: an argument of the wrong type or out of range (the message names it). */
export class InvalidArgumentError extends ScuttlebuttError {
  readonly code = 'SB_ERR_INVALID_ARG';
  override readonly name = 'InvalidArgumentError';
}

/** `SB_ERR_VALUE_TOO_LARGE`: a key with its value does not fit in one packet's payload budget. */
export class ValueTooLargeError extends ScuttlebuttError {
  readonly code = 'SB_ERR_VALUE_TOO_LARGE';
  override readonly name = 'ValueTooLargeError';
}

/** `SB_ERR_VERSIONS_EXHAUSTED`: a node has written 2^32 versions in one generation; restarting it starts a new one. */
export class VersionsExhaustedError extends ScuttlebuttError {
  readonly code = 'SB_ERR_VERSIONS_EXHAUSTED';
  override readonly name = 'VersionsExhaustedError';
}

/** `SB_ERR_INTERNAL`: an invariant of this library broke. A bug: report it with the message. */
export class InternalError extends ScuttlebuttError {
  readonly code = 'SB_ERR_INTERNAL';
  override readonly name = 'InternalError';
}
