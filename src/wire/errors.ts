export type DecodeErrorReason =
  | 'truncated'
  | 'bad-type'
  | 'bad-varint'
  | 'bad-utf8'
  | 'too-large'
  | 'bad-value'
  | 'trailing-bytes';

/** The only error the decoder throws: a malformed, truncated or oversized input, with a reason to count by. */
export class DecodeError extends Error {
  constructor(
    readonly reason: DecodeErrorReason,
    detail: string,
  ) {
    super(`${reason}: ${detail}`);
    this.name = 'DecodeError';
  }
}
