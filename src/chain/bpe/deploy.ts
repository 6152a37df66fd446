// Deploys the eight BPE contracts onto any EVM endpoint where Superfluid runs.
// Their constructors reference each other (registry <-> stake manager <-> pool <-> buffer <->
// pricing <-> tracker), so each address is predicted from the deployer's nonce and passed in:
// no setters to attack.
import { getContractAddress, type Address } from 'viem';
import type { ChainClients } from '../clients.ts';
import { deployBytecode } from '../deploy.ts';
import {
  BackpressurePool,
  CapacityRegistry,
  CompletionTracker,
  EscrowBuffer,
  OffchainAggregator,
  Pipeline,
  PricingCurve,
  StakeManager,
} from './artifacts.generated.ts';

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
  /** gamma of the queue premium: price = base fee * (1 + gamma * backlog / capacity). */
  queuePremiumBps: bigint;
  /** Utilisation (demanded tasks / capacity) the base fee steers toward. */
  targetUtilizationBps: bigint;
  /** Largest base fee change per epoch. */
  maxFeeStepBps: bigint;
  /** Base fee floor and ceiling, as fractions of the task type's creation price. */
  feeFloorBps: bigint;
  feeCeilingBps: bigint;
  /** Oldest (seconds) an attestation may be when relayed, and how far ahead a signer's clock may run. */
  attestationMaxAge: bigint;
  attestationMaxSkew: bigint;
  /** Seconds after an epoch ends during which its completion receipts may still be submitted. */
  receiptGrace: bigint;
  /** How the CompletionTracker judges a window: 0 = shortfall penalty (default: every task short of
   * 94 % of expected costs the stake behind one task/epoch), 1 = the seeds' three-strike rule. */
  verificationRule: 0 | 1;
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
  queuePremiumBps: 10_000n,
  targetUtilizationBps: 8_000n,
  maxFeeStepBps: 1_250n,
  feeFloorBps: 1_000n,
  feeCeilingBps: 100_000n,
  attestationMaxAge: 600n,
  attestationMaxSkew: 30n,
  receiptGrace: 60n,
  verificationRule: 0,
};

export interface BpeDeployOptions {
  /** The Superfluid host every payment token must belong to (fixed for good at deployment). */
  superfluidHost: Address;
  /** ERC-20 that sinks stake. */
  stakeToken: Address;
  /** Where slashed stake goes (the CompletionTracker is the only slasher). */
  slashRecipient: Address;
  params?: Partial<BpeParams>;
}

export interface BpeDeployment {
  stakeManager: Address;
  capacityRegistry: Address;
  backpressurePool: Address;
  escrowBuffer: Address;
  pipeline: Address;
  pricingCurve: Address;
  offchainAggregator: Address;
  completionTracker: Address;
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
    pricingCurve: at(5),
    offchainAggregator: at(6),
    completionTracker: at(7),
  };

  const deployed = {
    stakeManager: await deployBytecode(clients, 'StakeManager', StakeManager.bytecode, StakeManager.abi, [
      opts.stakeToken,
      predicted.capacityRegistry,
      predicted.completionTracker,
      opts.slashRecipient,
      p.stakeUnit,
      p.minSinkStake,
      p.unbondingPeriod,
    ]),
    capacityRegistry: await deployBytecode(clients, 'CapacityRegistry', CapacityRegistry.bytecode, CapacityRegistry.abi, [
      predicted.stakeManager,
      predicted.backpressurePool,
      predicted.offchainAggregator,
      {
        ewmaAlphaBps: p.ewmaAlphaBps,
        commitTimeout: p.commitTimeout,
        minUpdateInterval: p.minUpdateInterval,
        maxTaskTypesPerSink: p.maxTaskTypesPerSink,
        queuePremiumBps: p.queuePremiumBps,
        rebalanceThresholdBps: p.rebalanceThresholdBps,
      },
    ]),
    backpressurePool: await deployBytecode(clients, 'BackpressurePool', BackpressurePool.bytecode, BackpressurePool.abi, [
      opts.superfluidHost,
      predicted.capacityRegistry,
      predicted.escrowBuffer,
      predicted.pipeline,
      predicted.pricingCurve,
      p.unitScale,
      p.epochSeconds,
    ]),
    escrowBuffer: await deployBytecode(clients, 'EscrowBuffer', EscrowBuffer.bytecode, EscrowBuffer.abi, [
      opts.superfluidHost,
      predicted.capacityRegistry,
      predicted.backpressurePool,
      p.drainWindow,
    ]),
    pipeline: await deployBytecode(clients, 'Pipeline', Pipeline.bytecode, Pipeline.abi, [
      predicted.capacityRegistry,
      predicted.backpressurePool,
    ]),
    pricingCurve: await deployBytecode(clients, 'PricingCurve', PricingCurve.bytecode, PricingCurve.abi, [
      predicted.capacityRegistry,
      predicted.backpressurePool,
      p.epochSeconds,
      p.targetUtilizationBps,
      p.maxFeeStepBps,
      p.feeFloorBps,
      p.feeCeilingBps,
    ]),
    offchainAggregator: await deployBytecode(
      clients, 'OffchainAggregator', OffchainAggregator.bytecode, OffchainAggregator.abi,
      [predicted.capacityRegistry, p.attestationMaxAge, p.attestationMaxSkew],
    ),
    completionTracker: await deployBytecode(
      clients, 'CompletionTracker', CompletionTracker.bytecode, CompletionTracker.abi,
      [
        opts.superfluidHost,
        predicted.capacityRegistry,
        predicted.backpressurePool,
        predicted.stakeManager,
        predicted.escrowBuffer,
        predicted.pricingCurve,
        p.epochSeconds,
        p.receiptGrace,
        p.verificationRule,
      ],
    ),
  };
  for (const [name, address] of Object.entries(deployed)) {
    const expected = predicted[name as keyof typeof predicted];
    if (address !== expected) {
      throw new Error(`${name} landed at ${address}, not ${expected}: another transaction from ${from} interleaved`);
    }
  }
  return { ...deployed, params: p };
}
