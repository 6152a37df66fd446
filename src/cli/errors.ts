/** An error the CLI prints as one readable line (no stack) before exiting non-zero. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode = 2) {
    super(message);
    this.name = 'CliError';
  }
}
