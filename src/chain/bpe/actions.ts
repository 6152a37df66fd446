// One typed function per BPE user action (sinks, sources, keepers), each sending its
// transactions from the given account and returning only once they are mined and succeeded.
// The demo, the gas benchmark and the SDK build on these.
import { encodeAbiParameters, keccak256, parseEventLogs, toHex, type Account, type Address, type Hex, type TransactionReceipt } from 'viem';
import { webcrypto } from 'node:crypto';
import type { AnvilClients, ChainClients } from '../clients.ts';
import { gdaForwarderAbi, superTokenAbi, superfluidPoolAbi, testTokenAbi } from '../abis.ts';
import type { SuperfluidFramework } from '../superfluid.ts';
import { BackpressurePool, CapacityRegistry, EscrowBuffer, StakeManager } from './artifacts.generated.ts';
import type { BpeDeployment } from './deploy.ts';
import { write } from '../deploy.ts';

/** Where BPE and Superfluid live on one chain. */
export interface BpeContext {
  clients: ChainClients;
  framework: Pick<SuperfluidFramework, 'gdaV1Forwarder'>;
  bpe: BpeDeployment;
}

// ---------------------------------------------------------------- sinks

/** Approves and stakes `amount` of the stake token. Returns the receipt of `stake`. */
export async function stake(ctx: BpeContext, account: Account, amount: bigint): Promise<TransactionReceipt> {
  const { walletClient, publicClient } = ctx.clients;
  const stakeToken = await publicClient.readContract({
    address: ctx.bpe.stakeManager,
    abi: StakeManager.abi,
    functionName: 'stakeToken',
  });
  await write(ctx, 'approving stake', {
    account, address: stakeToken, abi: testTokenAbi, functionName: 'approve', args: [ctx.bpe.stakeManager, amount],
  });
  return write(ctx, 'staking', {
    account, address: ctx.bpe.stakeManager, abi: StakeManager.abi, functionName: 'stake', args: [amount],
  });
}

export async function registerSink(ctx: BpeContext, account: Account, taskTypeId: Hex): Promise<TransactionReceipt> {
  return write(ctx, 'registering sink', {
    account, address: ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'registerSink', args: [taskTypeId],
  });
}

export async function deregisterSink(ctx: BpeContext, account: Account, taskTypeId: Hex): Promise<TransactionReceipt> {
  return write(ctx, 'deregistering sink', {
    account, address: ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'deregisterSink', args: [taskTypeId],
  });
}

/** Starts unbonding `amount` of the stake (the stake must back no registration any more); it
 * becomes withdrawable `unbondingPeriod` seconds later and stays slashable until then. */
export async function unstake(ctx: BpeContext, account: Account, amount: bigint): Promise<TransactionReceipt> {
  return write(ctx, 'unstaking', {
    account, address: ctx.bpe.stakeManager, abi: StakeManager.abi, functionName: 'unstake', args: [amount],
  });
}

/** Pays out the unbonded stake once the unbonding period has passed. */
export async function withdrawStake(ctx: BpeContext, account: Account): Promise<TransactionReceipt> {
  return write(ctx, 'withdrawing stake', {
    account, address: ctx.bpe.stakeManager, abi: StakeManager.abi, functionName: 'withdraw', args: [],
  });
}

/** Connects `account` to a GDA pool so that its share streams straight into its balance. */
export async function connectPool(ctx: BpeContext, account: Account, pool: Address): Promise<TransactionReceipt> {
  return write(ctx, 'connecting to pool', {
    account, address: ctx.framework.gdaV1Forwarder, abi: gdaForwarderAbi, functionName: 'connectPool', args: [pool, '0x'],
  });
}

/** A commitment to `capacity` with a fresh random nonce; keep the nonce to reveal. */
export function makeCommitment(sink: Address, taskTypeId: Hex, capacity: bigint): { hash: Hex; nonce: Hex } {
  const nonce = toHex(webcrypto.getRandomValues(new Uint8Array(32)));
  // Same encoding as CapacityRegistry.commitmentHash: abi.encode(sink, taskTypeId, capacity, nonce).
  const encoded = encodeAbiParameters(
    [{ type: 'address' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'bytes32' }],
    [sink, taskTypeId, capacity, nonce],
  );
  return { hash: keccak256(encoded), nonce };
}

export async function commitCapacity(ctx: BpeContext, account: Account, taskTypeId: Hex, hash: Hex): Promise<TransactionReceipt> {
  return write(ctx, 'committing capacity', {
    account, address: ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'commitCapacity', args: [taskTypeId, hash],
  });
}

export async function revealCapacity(
  ctx: BpeContext, account: Account, taskTypeId: Hex, capacity: bigint, nonce: Hex,
): Promise<TransactionReceipt> {
  return write(ctx, 'revealing capacity', {
    account, address: ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'revealCapacity', args: [taskTypeId, capacity, nonce],
  });
}

/** Commit, wait for the next block, reveal. Returns both receipts. */
export async function declareCapacity(
  ctx: BpeContext, account: Account, taskTypeId: Hex, capacity: bigint,
): Promise<{ commit: TransactionReceipt; reveal: TransactionReceipt }> {
  const { hash, nonce } = makeCommitment(account.address, taskTypeId, capacity);
  const commit = await commitCapacity(ctx, account, taskTypeId, hash);
  // Reveal needs a later block; on an automining chain the reveal itself is that block.
  const reveal = await revealCapacity(ctx, account, taskTypeId, capacity, nonce);
  return { commit, reveal };
}

// ---------------------------------------------------------------- task types and sources

export interface TaskTypeSpec {
  name: string;
  token: Address;
  /** Token wei per task. */
  pricePerTask: bigint;
  /** Token wei the buffer may hold. */
  bufferMax: bigint;
  /** Stake units (of the StakeManager's `stakeUnit`) that back one task/epoch of capacity; one
   * task of shortfall costs as much at verification, so worth a few times the task's price.
   * Default 20. */
  stakeUnitsPerTask?: bigint;
}

export const DEFAULT_STAKE_UNITS_PER_TASK = 20n;

/** Creates a task type and its GDA pool; returns its id and pool address with the receipt. */
export async function registerTaskType(
  ctx: BpeContext, account: Account, spec: TaskTypeSpec,
): Promise<{ taskTypeId: Hex; pool: Address; receipt: TransactionReceipt }> {
  const receipt = await write(ctx, `registering task type "${spec.name}"`, {
    account,
    address: ctx.bpe.capacityRegistry,
    abi: CapacityRegistry.abi,
    functionName: 'registerTaskType',
    args: [spec.name, spec.token, spec.pricePerTask, spec.bufferMax, spec.stakeUnitsPerTask ?? DEFAULT_STAKE_UNITS_PER_TASK],
  });
  const [event] = parseEventLogs({ abi: CapacityRegistry.abi, eventName: 'TaskTypeRegistered', logs: receipt.logs });
  if (!event) throw new Error(`registering task type "${spec.name}": no TaskTypeRegistered event`);
  return { taskTypeId: event.args.taskTypeId, pool: event.args.pool, receipt };
}

/** Starts, changes (or with 0, stops) `account`'s stream into a pool, in token wei per second. */
export async function setStream(
  ctx: BpeContext, account: Account, token: Address, pool: Address, flowRate: bigint,
): Promise<TransactionReceipt> {
  return write(ctx, `streaming ${flowRate} wei/s`, {
    account,
    address: ctx.framework.gdaV1Forwarder,
    abi: gdaForwarderAbi,
    functionName: 'distributeFlow',
    args: [token, account.address, pool, flowRate, '0x'],
  });
}

/** Deposits a lump sum into the task type's escrow buffer (approve + deposit). */
export async function depositToBuffer(
  ctx: BpeContext, account: Account, token: Address, taskTypeId: Hex, amount: bigint,
): Promise<TransactionReceipt> {
  return intoBuffer(ctx, account, token, 'depositing into buffer', 'deposit', taskTypeId, amount);
}

/** A sink hands back pay it cannot earn (no task requested, or beyond its capacity): the money
 * joins the buffer and the CompletionTracker stops expecting work for it. */
export async function returnPayment(
  ctx: BpeContext, sink: Account, token: Address, taskTypeId: Hex, amount: bigint,
): Promise<TransactionReceipt> {
  return intoBuffer(ctx, sink, token, 'returning payment', 'returnPayment', taskTypeId, amount);
}

async function intoBuffer(
  ctx: BpeContext, account: Account, token: Address, what: string,
  functionName: 'deposit' | 'returnPayment', taskTypeId: Hex, amount: bigint,
): Promise<TransactionReceipt> {
  await write(ctx, `approving (${what})`, {
    account, address: token, abi: superTokenAbi, functionName: 'approve', args: [ctx.bpe.escrowBuffer, amount],
  });
  return write(ctx, what, {
    account, address: ctx.bpe.escrowBuffer, abi: EscrowBuffer.abi, functionName, args: [taskTypeId, amount],
  });
}

// ---------------------------------------------------------------- keepers (anyone)

/** One bounded piece of a rebalance (at most REBALANCE_BATCH sinks from the pool's cursor). */
export async function rebalance(ctx: BpeContext, account: Account, taskTypeId: Hex): Promise<TransactionReceipt> {
  return write(ctx, 'rebalancing', {
    account, address: ctx.bpe.backpressurePool, abi: BackpressurePool.abi, functionName: 'rebalance', args: [taskTypeId],
  });
}

/** Calls `rebalance` until a pass reaches the end of the sink list (its `Rebalanced` event);
 * returns every piece's receipt. At most `maxCalls` calls, then throws. */
export async function rebalanceFully(
  ctx: BpeContext, account: Account, taskTypeId: Hex, maxCalls = 1000,
): Promise<TransactionReceipt[]> {
  const receipts: TransactionReceipt[] = [];
  for (let i = 0; i < maxCalls; i++) {
    const receipt = await rebalance(ctx, account, taskTypeId);
    receipts.push(receipt);
    if (parseEventLogs({ abi: BackpressurePool.abi, eventName: 'Rebalanced', logs: receipt.logs }).length > 0) return receipts;
  }
  throw new Error(`rebalance of ${taskTypeId} did not complete a pass in ${maxCalls} calls`);
}

export async function updateOverflow(ctx: BpeContext, account: Account, taskTypeId: Hex): Promise<TransactionReceipt> {
  return write(ctx, 'updating overflow', {
    account, address: ctx.bpe.backpressurePool, abi: BackpressurePool.abi, functionName: 'updateOverflow', args: [taskTypeId],
  });
}

export async function drain(ctx: BpeContext, account: Account, taskTypeId: Hex): Promise<TransactionReceipt> {
  return write(ctx, 'draining buffer', {
    account, address: ctx.bpe.escrowBuffer, abi: EscrowBuffer.abi, functionName: 'drain', args: [taskTypeId],
  });
}

// ---------------------------------------------------------------- reads

export async function smoothedCapacity(ctx: BpeContext, taskTypeId: Hex, sink: Address): Promise<bigint> {
  return ctx.clients.publicClient.readContract({
    address: ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'getSmoothedCapacity', args: [taskTypeId, sink],
  });
}

/** Reads at this block (all of one snapshot at one block) rather than the latest. */
export interface AtBlock {
  blockNumber?: bigint;
}

export async function bufferLevel(ctx: BpeContext, taskTypeId: Hex, at: AtBlock = {}): Promise<bigint> {
  return ctx.clients.publicClient.readContract({
    address: ctx.bpe.escrowBuffer, abi: EscrowBuffer.abi, functionName: 'bufferLevel', args: [taskTypeId], ...at,
  });
}

/** A sink's stake account: active stake (counts toward the cap), unbonding stake and its release
 * time, and how many registrations the stake backs. */
export async function stakeAccount(
  ctx: BpeContext, sink: Address,
): Promise<{ staked: bigint; unbonding: bigint; releaseAt: bigint; registrations: number }> {
  const a = await ctx.clients.publicClient.readContract({
    address: ctx.bpe.stakeManager, abi: StakeManager.abi, functionName: 'accountOf', args: [sink],
  });
  return { staked: a.staked, unbonding: a.unbonding, releaseAt: BigInt(a.releaseAt), registrations: Number(a.registrations) };
}

/** The sinks registered for a task type (the registry's list, in no particular order). */
export async function sinksOf(ctx: BpeContext, taskTypeId: Hex): Promise<readonly Address[]> {
  return ctx.clients.publicClient.readContract({
    address: ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'sinksOf', args: [taskTypeId],
  });
}

/** The task type's GDA pool (the zero address for an unknown task type). */
export async function poolOf(ctx: BpeContext, taskTypeId: Hex): Promise<Address> {
  return ctx.clients.publicClient.readContract({
    address: ctx.bpe.backpressurePool, abi: BackpressurePool.abi, functionName: 'getPool', args: [taskTypeId],
  });
}

/** Everything `member` has received from `pool` (claimed or not), in token wei. */
export async function receivedFromPool(ctx: BpeContext, pool: Address, member: Address, at: AtBlock = {}): Promise<bigint> {
  return ctx.clients.publicClient.readContract({
    address: pool, abi: superfluidPoolAbi, functionName: 'getTotalAmountReceivedByMember', args: [member], ...at,
  });
}

/** The task type's PoolAdmin: the account its pool's GDA rounding remainder accrues to until swept. */
export async function poolAdmin(ctx: BpeContext, taskTypeId: Hex, at: AtBlock = {}): Promise<Address> {
  const info = await ctx.clients.publicClient.readContract({
    address: ctx.bpe.backpressurePool, abi: BackpressurePool.abi, functionName: 'poolInfo', args: [taskTypeId], ...at,
  });
  return info.admin;
}

export async function poolUnits(ctx: BpeContext, pool: Address, member: Address): Promise<bigint> {
  return ctx.clients.publicClient.readContract({ address: pool, abi: superfluidPoolAbi, functionName: 'getUnits', args: [member] });
}

/** Moves a local chain's clock to `offset` seconds into the next epoch (receipts' grace). */
export async function advanceToEpochOffset(ctx: BpeContext & { clients: AnvilClients }, offset: bigint): Promise<void> {
  const now = (await ctx.clients.publicClient.getBlock()).timestamp;
  const epoch = ctx.bpe.params.epochSeconds;
  await advanceTime(ctx.clients, Number(epoch - (now % epoch) + offset));
}

/** Moves a local chain's clock forward and mines a block at the new time. */
export async function advanceTime(clients: AnvilClients, seconds: number): Promise<void> {
  await clients.testClient.increaseTime({ seconds });
  await clients.testClient.mine({ blocks: 1 });
}
