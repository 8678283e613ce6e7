/** A wrong command line: the CLI prints the message (and the command's usage) and exits 2. */
export class UsageError extends Error {
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
