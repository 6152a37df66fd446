// Deploys the eight BPE contracts onto any EVM endpoint where Superfluid runs.
// Their constructors reference each other (registry <-> stake manager <-> pool <-> buffer <->
// pricing <-> tracker), so each address is predicted from the deployer's nonce and passed in:
// no setters to attack.
import { getContractAddress, type Abi, type Address, type Hex } from 'viem';
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

/** One contract creation of a BPE deployment: what `deployBpe` sends, in order. */
export interface BpeCreation {
  key: keyof Omit<BpeDeployment, 'params'>;
  contract: string;
  abi: Abi;
  bytecode: Hex;
  args: readonly unknown[];
}

/** Addresses the eight contracts will have when `from` deploys them in order starting at `nonce`. */
export function predictBpeAddresses(from: Address, nonce: number): Omit<BpeDeployment, 'params'> {
  const at = (offset: number) => getContractAddress({ from, nonce: BigInt(nonce + offset) });
  return {
    stakeManager: at(0),
    capacityRegistry: at(1),
    backpressurePool: at(2),
    escrowBuffer: at(3),
    pipeline: at(4),
    pricingCurve: at(5),
    offchainAggregator: at(6),
    completionTracker: at(7),
  };
}

/** The eight creations (contract, constructor arguments) in deployment order, for `predicted`
 * addresses: `deployBpe` sends them; `bpe deploy --dry-run` prints and estimates them. */
export function bpeCreations(
  opts: BpeDeployOptions, predicted: Omit<BpeDeployment, 'params'>, p: BpeParams,
): BpeCreation[] {
  const c = (key: BpeCreation['key'], contract: string, art: { abi: Abi; bytecode: Hex }, args: readonly unknown[]): BpeCreation =>
    ({ key, contract, abi: art.abi, bytecode: art.bytecode, args });
  return [
    c('stakeManager', 'StakeManager', StakeManager, [
      opts.stakeToken,
      predicted.capacityRegistry,
      predicted.completionTracker,
      opts.slashRecipient,
      p.stakeUnit,
      p.minSinkStake,
      p.unbondingPeriod,
    ]),
    c('capacityRegistry', 'CapacityRegistry', CapacityRegistry, [
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
    c('backpressurePool', 'BackpressurePool', BackpressurePool, [
      opts.superfluidHost,
      predicted.capacityRegistry,
      predicted.escrowBuffer,
      predicted.pipeline,
      predicted.pricingCurve,
      p.unitScale,
      p.epochSeconds,
    ]),
    c('escrowBuffer', 'EscrowBuffer', EscrowBuffer, [
      opts.superfluidHost,
      predicted.capacityRegistry,
      predicted.backpressurePool,
      p.drainWindow,
    ]),
    c('pipeline', 'Pipeline', Pipeline, [predicted.capacityRegistry, predicted.backpressurePool]),
    c('pricingCurve', 'PricingCurve', PricingCurve, [
      predicted.capacityRegistry,
      predicted.backpressurePool,
      p.epochSeconds,
      p.targetUtilizationBps,
      p.maxFeeStepBps,
      p.feeFloorBps,
      p.feeCeilingBps,
    ]),
    c('offchainAggregator', 'OffchainAggregator', OffchainAggregator, [
      predicted.capacityRegistry, p.attestationMaxAge, p.attestationMaxSkew,
    ]),
    c('completionTracker', 'CompletionTracker', CompletionTracker, [
      opts.superfluidHost,
      predicted.capacityRegistry,
      predicted.backpressurePool,
      predicted.stakeManager,
      predicted.escrowBuffer,
      predicted.pricingCurve,
      p.epochSeconds,
      p.receiptGrace,
      p.verificationRule,
    ]),
  ];
}

export async function deployBpe(clients: ChainClients, opts: BpeDeployOptions): Promise<BpeDeployment> {
  const p = { ...DEFAULT_PARAMS, ...opts.params };
  const from = clients.account.address;
  const nonce = await clients.publicClient.getTransactionCount({ address: from, blockTag: 'pending' });
  const predicted = predictBpeAddresses(from, nonce);
  const deployed = {} as Omit<BpeDeployment, 'params'>;
  for (const c of bpeCreations(opts, predicted, p)) {
    const address = await deployBytecode(clients, c.contract, c.bytecode, c.abi, c.args);
    if (address !== predicted[c.key]) {
      throw new Error(`${c.key} landed at ${address}, not ${predicted[c.key]}: another transaction from ${from} interleaved`);
    }
    deployed[c.key] = address;
  }
  return { ...deployed, params: p };
}
