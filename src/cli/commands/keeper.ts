// `bpe keeper`: the RebalanceEngine, every permissionless upkeep of a BPE deployment when it is due.
import { CliError } from '../errors.ts';
import { runServiceCommand } from '../serviceCommand.ts';
import { shortError } from '../../services/common/revert.ts';
import { keeperSchema, startKeeper } from '../../services/keeper/index.ts';

export async function run(args: string[]): Promise<void> {
  await runServiceCommand(
    {
      name: 'keeper',
      summary:
        'Follows the chain and performs each upkeep only when due: updateOverflow, drain, rebalance, syncUnits, ' +
        'the sinks\' and the price curve\'s epochs, pipeline limits. Serves /health, /metrics and /v1/status.',
      schema: keeperSchema,
      start: async (config) => {
        try {
          return await startKeeper(config);
        } catch (err) {
          // A bad deployment file, an unreachable or wrong chain, a taken port: one line, exit 2.
          throw new CliError(`cannot start: ${shortError(err)}`);
        }
      },
    },
    args,
  );
}
