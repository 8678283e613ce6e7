import { ScuttlebuttError } from '../errors.js';

export type DecodeErrorReason =
  'truncated' | 'bad-type' | 'bad-varint' | 'bad-utf8' | 'too-large' | 'bad-value' | 'trailing-bytes';

/**
 * `SB_ERR_DECODE`, the only error the decoder throws: a malformed, truncated or oversized input,
 * with a reason to count by.
 */
export class DecodeError extends ScuttlebuttError {
  readonly code = 'SB_ERR_DECODE';
  override readonly name = 'DecodeError';

  constructor(
    readonly reason: DecodeErrorReason,
    detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}
