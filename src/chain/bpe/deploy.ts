// Deploys the five BPE settlement contracts onto any EVM endpoint where Superfluid runs.
// Their constructors reference each other (registry <-> stake manager <-> pool <-> buffer),
// so each address is predicted from the deployer's nonce and passed in: no setters to attack.
import { getContractAddress, type Address } from 'viem';
import type { ChainClients } from '../clients.ts';
import { deployBytecode } from '../deploy.ts';
import { BackpressurePool, CapacityRegistry, EscrowBuffer, Pipeline, StakeManager } from './artifacts.generated.ts';

/** Mechanism parameters, fixed at deployment (SPEC.md section 1 defaults in DEFAULT_PARAMS). */
export interface BpeParams {
  stakeUnit: bigint;
  minSinkStake: bigint;
  /** Seconds between `unstake` and `withdraw`: must outlast any pending slash (3 epochs + margin). */
  unbondingPeriod: bigint;
  ewmaAlphaBps: bigint;
  /** Blocks a commitment stays revealable. */
  commitTimeout: bigint;
  /** Seconds between two EWMA steps of one sink (spamming cannot skip the smoothing). */
  minUpdateInterval: bigint;
  maxTaskTypesPerSink: bigint;
  /** Pool units per task/epoch of capacity: small, so GDA rounding stays far below flow rates. */
  unitScale: bigint;
  rebalanceThresholdBps: bigint;
  epochSeconds: bigint;
  /** Most seconds of spare capacity one drain pays out. */
  drainWindow: bigint;
}

export const DEFAULT_PARAMS: BpeParams = {
  stakeUnit: 10n ** 18n,
  minSinkStake: 100n * 10n ** 18n,
  unbondingPeriod: 86_400n,
  ewmaAlphaBps: 3000n,
  commitTimeout: 20n,
  minUpdateInterval: 60n,
  maxTaskTypesPerSink: 8n,
  unitScale: 1000n,
  rebalanceThresholdBps: 500n,
  epochSeconds: 300n,
  drainWindow: 300n,
};

export interface BpeDeployOptions {
  /** ERC-20 that sinks stake. */
  stakeToken: Address;
  /** The only address allowed to slash (the CompletionTracker once it exists). */
  slasher: Address;
  /** Where slashed stake goes. */
  slashRecipient: Address;
  params?: Partial<BpeParams>;
}

export interface BpeDeployment {
  stakeManager: Address;
  capacityRegistry: Address;
  backpressurePool: Address;
  escrowBuffer: Address;
  pipeline: Address;
  params: BpeParams;
}

export async function deployBpe(clients: ChainClients, opts: BpeDeployOptions): Promise<BpeDeployment> {
  const p = { ...DEFAULT_PARAMS, ...opts.params };
  const from = clients.account.address;
  const nonce = await clients.publicClient.getTransactionCount({ address: from, blockTag: 'pending' });
  const at = (offset: number) => getContractAddress({ from, nonce: BigInt(nonce + offset) });
  const predicted = {
    stakeManager: at(0),
    capacityRegistry: at(1),
    backpressurePool: at(2),
    escrowBuffer: at(3),
    pipeline: at(4),
  };

  const deployed = {
    stakeManager: await deployBytecode(clients, 'StakeManager', StakeManager.bytecode, StakeManager.abi, [
      opts.stakeToken,
      predicted.capacityRegistry,
      opts.slasher,
      opts.slashRecipient,
      p.stakeUnit,
      p.minSinkStake,
      p.unbondingPeriod,
    ]),
    capacityRegistry: await deployBytecode(clients, 'CapacityRegistry', CapacityRegistry.bytecode, CapacityRegistry.abi, [
      predicted.stakeManager,
      predicted.backpressurePool,
      p.ewmaAlphaBps,
      p.commitTimeout,
      p.minUpdateInterval,
      p.maxTaskTypesPerSink,
    ]),
    backpressurePool: await deployBytecode(clients, 'BackpressurePool', BackpressurePool.bytecode, BackpressurePool.abi, [
      predicted.capacityRegistry,
      predicted.escrowBuffer,
      predicted.pipeline,
      p.unitScale,
      p.rebalanceThresholdBps,
      p.epochSeconds,
    ]),
    escrowBuffer: await deployBytecode(clients, 'EscrowBuffer', EscrowBuffer.bytecode, EscrowBuffer.abi, [
      predicted.capacityRegistry,
      predicted.backpressurePool,
      p.drainWindow,
    ]),
    pipeline: await deployBytecode(clients, 'Pipeline', Pipeline.bytecode, Pipeline.abi, [
      predicted.capacityRegistry,
      predicted.backpressurePool,
    ]),
  };
  for (const [name, address] of Object.entries(deployed)) {
    const expected = predicted[name as keyof typeof predicted];
    if (address !== expected) {
      throw new Error(`${name} landed at ${address}, not ${expected}: another transaction from ${from} interleaved`);
    }
  }
  return { ...deployed, params: p };
}
