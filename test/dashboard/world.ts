// A small live BPE world for the dashboard's tests and screenshot: anvil + Superfluid + BPE
// (startLocalStack), one task type, two sinks with declared capacity connected to the pool, and a
// source streaming half of what they can absorb.
import type { Address, Hex, HDAccount } from 'viem';
import { anvilAccount } from '../../src/chain/clients.ts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { localDeployment, startLocalStack, type LocalStack } from '../../src/chain/bpe/localStack.ts';
import type { DeploymentFile } from '../../src/chain/bpe/deploymentFile.ts';

export const E18 = 10n ** 18n;
export const PRICE = 10n ** 15n; // 0.001 TUSD per task
export const BUFFER_MAX = 10n * E18; // 10 TUSD

export interface World {
  stack: LocalStack;
  deployment: DeploymentFile;
  taskTypeId: Hex;
  pool: Address;
  sinks: { account: HDAccount; capacity: bigint }[];
  source: HDAccount;
  /** wei/s the source streams at the start. */
  rate: bigint;
}

export async function startWorld(): Promise<World> {
  const stack = await startLocalStack({ fundedAccounts: [4] });
  try {
    const creator = stack.deployer;
    const { minSinkStake, epochSeconds } = stack.bpe.params;
    await stack.mintStakeTokens(creator.address, minSinkStake);
    await bpe.stake(stack, creator, minSinkStake);
    const { taskTypeId, pool } = await bpe.registerTaskType(stack, creator, {
      name: 'summarize', token: stack.token, pricePerTask: PRICE, bufferMax: BUFFER_MAX,
    });
    const sinks = [
      { account: anvilAccount(1), stake: 400n * E18, capacity: 10n },
      { account: anvilAccount(2), stake: 900n * E18, capacity: 20n },
    ];
    for (const s of sinks) {
      await stack.mintStakeTokens(s.account.address, s.stake);
      await bpe.stake(stack, s.account, s.stake);
      await bpe.registerSink(stack, s.account, taskTypeId);
      await bpe.connectPool(stack, s.account, pool);
      await bpe.declareCapacity(stack, s.account, taskTypeId, s.capacity);
    }
    const source = anvilAccount(4);
    const absorbable = await stack.clients.publicClient.readContract({
      address: stack.bpe.backpressurePool,
      abi: (await import('../../src/chain/bpe/artifacts.generated.ts')).BackpressurePool.abi,
      functionName: 'absorbableRate',
      args: [taskTypeId],
    });
    const rate = absorbable > 0n ? absorbable / 2n : (30n * PRICE) / epochSeconds / 2n;
    await bpe.setStream(stack, source, stack.token, pool, rate);
    await bpe.updateOverflow(stack, source, taskTypeId);
    const deployment = { ...localDeployment(stack, [{ id: taskTypeId, name: 'summarize', pool }]), startBlock: 1n };
    return { stack, deployment, taskTypeId, pool, sinks: sinks.map(({ account, capacity }) => ({ account, capacity })), source, rate };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}
