// `bpe verifier`: the VerificationService (receipts in over HTTP, counted on chain, slashes reported).
import { CliError } from '../errors.ts';
import { runServiceCommand } from '../serviceCommand.ts';
import { shortError } from '../../services/common/revert.ts';
import { startVerifier, verifierSchema } from '../../services/verifier/index.ts';

export async function run(args: string[]): Promise<void> {
  await runServiceCommand(
    {
      name: 'verifier',
      summary:
        'Accepts dual-signed completion receipts (POST /v1/receipts), checks both EIP-712 signatures, stores them in SQLite, ' +
        'submits them with recordCompletion and reports slashes (GET /v1/slashes). Serves /health and /metrics.',
      schema: verifierSchema,
      start: async (config) => {
        try {
          return await startVerifier(config);
        } catch (err) {
          throw new CliError(`cannot start: ${shortError(err)}`);
        }
      },
    },
    args,
  );
}
