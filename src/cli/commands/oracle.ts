// `bpe oracle`: the CapacityOracle service (docs/oracle.md).
import { CliError } from '../errors.ts';
import { runServiceCommand } from '../serviceCommand.ts';
import { oracleSchema } from '../../services/oracle/config.ts';

export async function run(args: string[]): Promise<void> {
  // A key on the command line would sit in shell history and `ps`: environment only.
  if (args.some((a) => a === '--privateKey' || a.startsWith('--privateKey='))) {
    throw new CliError(`privateKey is read from the environment only: set ${oracleSchema.privateKey.env}`);
  }
  await runServiceCommand(
    {
      name: 'oracle',
      summary:
        'CapacityOracle: receives signed capacity attestations (POST /v1/attestations), checks them as the\n' +
        'OffchainAggregator would, stores them durably in SQLite and relays them in batches. See docs/oracle.md.',
      schema: oracleSchema,
      start: async (config) => {
        const { startOracle } = await import('../../services/oracle/service.ts');
        try {
          return await startOracle(config);
        } catch (err) {
          // A bad deployment file, a missing key, an unreachable RPC: one line, no stack.
          throw new CliError(`cannot start: ${(err as Error).message.split('\n')[0]}`);
        }
      },
    },
    args,
  );
}
