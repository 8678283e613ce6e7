import { ScuttlebuttError } from '../errors.js';

/** `SB_ERR_USAGE`: a wrong command line; the CLI prints the message (and the command's usage) and exits 2. */
export class UsageError extends ScuttlebuttError {
  readonly code = 'SB_ERR_USAGE';
  override readonly name = 'UsageError';

  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

export function fail(message: string, command?: string): never {
  throw new UsageError(message, command);
}
