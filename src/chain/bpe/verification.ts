// Declare, verify, price: signed capacity attestations relayed through the OffchainAggregator,
// completion receipts for the CompletionTracker (the source signs the task request when it hands
// the task out, the sink signs the completion), backlog reports and the PricingCurve's epochs.
// Signing happens locally (EIP-712); nothing here trusts the relayer.
import {
  concat,
  encodePacked,
  hashStruct,
  parseEventLogs,
  isAddressEqual,
  parseSignature,
  recoverTypedDataAddress,
  signatureToCompactSignature,
  toFunctionSelector,
  type Account, type Address, type Hex, type LocalAccount, type TransactionReceipt } from 'viem';
import { CapacityRegistry, CompletionTracker, OffchainAggregator, PricingCurve } from './artifacts.generated.ts';
import type { BpeContext } from './actions.ts';
import { write } from '../deploy.ts';

// ---------------------------------------------------------------- attestations

export interface CapacityReport {
  taskTypeId: Hex;
  /** Tasks per epoch the sink can serve. */
  capacity: bigint;
  /** Tasks waiting in its queue. */
  backlog: bigint;
  /** Strictly increasing per (task type, sink). */
  nonce: number;
  /** Unix seconds when signed (must be fresh when relayed). */
  timestamp: bigint;
}

export interface SignedAttestation {
  taskTypeId: Hex;
  sink: Address;
  capacity: bigint;
  backlog: bigint;
  nonce: number;
  timestamp: bigint;
  r: Hex;
  vs: Hex;
}

const attestationTypes = {
  CapacityAttestation: [
    { name: 'taskTypeId', type: 'bytes32' },
    { name: 'sink', type: 'address' },
    { name: 'capacity', type: 'uint64' },
    { name: 'backlog', type: 'uint64' },
    { name: 'nonce', type: 'uint32' },
    { name: 'timestamp', type: 'uint64' },
  ],
} as const;

/** The sink signs its capacity report (EIP-712, compact EIP-2098 signature). */
export async function signAttestation(
  ctx: BpeContext, sink: LocalAccount, report: CapacityReport,
): Promise<SignedAttestation> {
  const message = { ...report, sink: sink.address };
  const signature = await sink.signTypedData({
    domain: await domainOf(ctx, 'BPE OffchainAggregator', ctx.bpe.offchainAggregator),
    types: attestationTypes,
    primaryType: 'CapacityAttestation',
    message,
  });
  const { r, yParityAndS } = toCompact(signature);
  return { ...message, r, vs: yParityAndS };
}

/** Most items one group of a packed batch holds (its count is 2 bytes). */
const MAX_GROUP_ITEMS = 0xffff;

/**
 * The aggregator's packed batch (see OffchainAggregator.sol): consecutive items of one task type
 * form a group `taskTypeId (32) | count (2)` followed by its items, each
 * `sink (20) | capacity (8) | backlog (8) | nonce (4) | timestamp (8) | r (32) | yParityAndS (32)`.
 * Order is kept, so rejections come back in the order the items were given.
 */
export function packAttestations(items: SignedAttestation[]): Hex {
  const parts: Hex[] = [];
  for (let i = 0; i < items.length;) {
    const taskTypeId = items[i]!.taskTypeId;
    let end = i + 1;
    while (end < items.length && end - i < MAX_GROUP_ITEMS && items[end]!.taskTypeId.toLowerCase() === taskTypeId.toLowerCase()) end++;
    parts.push(encodePacked(['bytes32', 'uint16'], [taskTypeId, end - i]));
    for (; i < end; i++) {
      const a = items[i]!;
      parts.push(encodePacked(
        ['address', 'uint64', 'uint64', 'uint32', 'uint64', 'bytes32', 'bytes32'],
        [a.sink, a.capacity, a.backlog, a.nonce, a.timestamp, a.r, a.vs],
      ));
    }
  }
  return concat(parts);
}

/** Relays a batch (packed, see `packAttestations`); returns the receipt with how many items were
 * accepted and why others were not. */
export async function submitAttestations(
  ctx: BpeContext, relayer: Account, items: SignedAttestation[],
): Promise<{ receipt: TransactionReceipt; accepted: number; rejected: { sink: Address; nonce: bigint; reason: number }[] }> {
  const receipt = await write(ctx, `relaying ${items.length} attestations`, {
    account: relayer, address: ctx.bpe.offchainAggregator, abi: OffchainAggregator.abi, functionName: 'submitAttestations',
    args: [packAttestations(items)],
  });
  const [summary] = parseEventLogs({ abi: OffchainAggregator.abi, eventName: 'AttestationsSubmitted', logs: receipt.logs });
  const rejected = parseEventLogs({ abi: OffchainAggregator.abi, eventName: 'AttestationRejected', logs: receipt.logs })
    .map((e) => ({ sink: e.args.sink, nonce: e.args.nonce, reason: e.args.reason }));
  return { receipt, accepted: Number(summary?.args.accepted ?? 0n), rejected };
}

/** The sink reports its own backlog directly (its queue premium and pool weight follow). */
export async function reportBacklog(ctx: BpeContext, sink: Account, taskTypeId: Hex, backlog: bigint): Promise<TransactionReceipt> {
  return write(ctx, 'reporting backlog', {
    account: sink, address: ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'reportBacklog', args: [taskTypeId, backlog],
  });
}

// ---------------------------------------------------------------- completion receipts

export interface CompletionReceipt {
  taskId: Hex;
  taskTypeId: Hex;
  sink: Address;
  source: Address;
  /** Unix seconds, chosen by the signers (never the chain's clock). */
  completedAt: bigint;
  deadline: bigint;
}

/** EIP-712 types of the CompletionTracker (its TASK_REQUEST_TYPEHASH and COMPLETION_TYPEHASH). */
export const requestTypes = {
  TaskRequest: [
    { name: 'taskId', type: 'bytes32' },
    { name: 'taskTypeId', type: 'bytes32' },
    { name: 'sink', type: 'address' },
    { name: 'source', type: 'address' },
    { name: 'deadline', type: 'uint64' },
  ],
} as const;

export const completionTypes = {
  Completion: [
    { name: 'request', type: 'bytes32' },
    { name: 'completedAt', type: 'uint64' },
  ],
} as const;

/** A task as the source hands it out (everything of a receipt but the completion time). */
export type TaskRequest = Omit<CompletionReceipt, 'completedAt'>;

/** The source signs the task request when it hands the task out: the sink then holds proof of
 * the request before it works, so the source cannot withhold it after the work is done. */
export async function signRequest(ctx: BpeContext, source: LocalAccount, request: TaskRequest): Promise<Hex> {
  const { taskId, taskTypeId, sink, deadline } = request;
  return source.signTypedData({
    domain: await domainOf(ctx, 'BPE CompletionTracker', ctx.bpe.completionTracker),
    types: requestTypes,
    primaryType: 'TaskRequest',
    message: { taskId, taskTypeId, sink, source: request.source, deadline },
  });
}

/** Whether `signature` is `request.source`'s EIP-712 signature of the request (what the
 * CompletionTracker checks for an externally owned source). A malformed signature is false. */
export async function verifyRequest(ctx: BpeContext, request: TaskRequest, signature: Hex): Promise<boolean> {
  const { taskId, taskTypeId, sink, source, deadline } = request;
  try {
    const signer = await recoverTypedDataAddress({
      domain: await domainOf(ctx, 'BPE CompletionTracker', ctx.bpe.completionTracker),
      types: requestTypes,
      primaryType: 'TaskRequest',
      message: { taskId, taskTypeId, sink, source, deadline },
      signature,
    });
    return isAddressEqual(signer, source);
  } catch {
    return false;
  }
}

/** The sink signs the completion of a requested task. */
export async function signCompletion(ctx: BpeContext, sink: LocalAccount, receipt: CompletionReceipt): Promise<Hex> {
  const { taskId, taskTypeId, source, deadline } = receipt;
  const request = hashStruct({
    types: requestTypes,
    primaryType: 'TaskRequest',
    data: { taskId, taskTypeId, sink: receipt.sink, source, deadline },
  });
  return sink.signTypedData({
    domain: await domainOf(ctx, 'BPE CompletionTracker', ctx.bpe.completionTracker),
    types: completionTypes,
    primaryType: 'Completion',
    message: { request, completedAt: receipt.completedAt },
  });
}

export async function recordCompletion(
  ctx: BpeContext, submitter: Account, receipt: CompletionReceipt, sinkSignature: Hex, sourceSignature: Hex,
): Promise<TransactionReceipt> {
  return write(ctx, 'recording a completion', {
    account: submitter,
    address: ctx.bpe.completionTracker,
    abi: CompletionTracker.abi,
    functionName: 'recordCompletion',
    args: [receipt, sinkSignature, sourceSignature],
  });
}

/** One receipt with both signatures: an item of `recordCompletions` (`CompletionTracker.SignedReceipt`). */
export interface SignedCompletion {
  receipt: CompletionReceipt;
  sinkSignature: Hex;
  sourceSignature: Hex;
}

/** A batch item the tracker skipped: its place in the batch, the receipt, and why. */
export interface SkippedCompletion {
  index: number;
  taskId: Hex;
  taskTypeId: Hex;
  sink: Address;
  source: Address;
  /** The error `recordCompletion` refused it with, by name (`UnpaidReceipt`, `RecordOutOfGas`, ...);
   * the 4-byte selector when the tracker's ABI does not know it (a token's or a signer's own error),
   * `revert` when it reverted without data. */
  reason: string;
  selector: Hex;
}

export interface RecordCompletionsResult {
  receipt: TransactionReceipt;
  counted: number;
  skipped: SkippedCompletion[];
}

const trackerErrors = new Map<string, string>(
  CompletionTracker.abi.filter((x) => x.type === 'error').map((e) => [toFunctionSelector({ ...e, type: 'function', outputs: [], stateMutability: 'nonpayable' }), e.name]),
);

/** The name of the tracker's error with this selector (see `SkippedCompletion.reason`). */
export function completionErrorName(selector: Hex): string {
  if (/^0x0{8}$/.test(selector)) return 'revert';
  return trackerErrors.get(selector.toLowerCase()) ?? selector;
}

/** Counted and skipped items of a mined `recordCompletions` transaction, from its events. */
export function decodeRecordCompletions(ctx: BpeContext, receipt: TransactionReceipt): Omit<RecordCompletionsResult, 'receipt'> {
  const logs = receipt.logs.filter((l) => isAddressEqual(l.address, ctx.bpe.completionTracker));
  const [summary] = parseEventLogs({ abi: CompletionTracker.abi, eventName: 'CompletionsRecorded', logs });
  const skipped = parseEventLogs({ abi: CompletionTracker.abi, eventName: 'CompletionSkipped', logs }).map((e) => ({
    index: Number(e.args.index), taskId: e.args.taskId, taskTypeId: e.args.taskTypeId, sink: e.args.sink, source: e.args.source,
    reason: completionErrorName(e.args.reason), selector: e.args.reason,
  }));
  return { counted: Number(summary?.args.counted ?? 0n), skipped };
}

/** Records many receipts in one transaction (anyone may): every item `recordCompletion` would count
 * is counted; any other is skipped with its reason, never reverting the batch. Each item runs with
 * `RECORD_GAS` (300k): keep a batch's estimate under the 16,777,216 gas a transaction may use. */
export async function recordCompletions(ctx: BpeContext, submitter: Account, items: SignedCompletion[]): Promise<RecordCompletionsResult> {
  const receipt = await write(ctx, `recording ${items.length} completions`, {
    account: submitter,
    address: ctx.bpe.completionTracker,
    abi: CompletionTracker.abi,
    functionName: 'recordCompletions',
    args: [items],
  });
  return { receipt, ...decodeRecordCompletions(ctx, receipt) };
}

/** Closes the sink's evaluation window (anyone may); the only path to a slash. */
export async function advanceSinkEpoch(ctx: BpeContext, caller: Account, taskTypeId: Hex, sink: Address): Promise<TransactionReceipt> {
  return write(ctx, 'advancing the sink epoch', {
    account: caller, address: ctx.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'advanceEpoch', args: [taskTypeId, sink],
  });
}

// ---------------------------------------------------------------- pricing

/** Moves the task type's base fee one step per epoch passed (anyone may). */
export async function advancePriceEpoch(ctx: BpeContext, caller: Account, taskTypeId: Hex): Promise<TransactionReceipt> {
  return write(ctx, 'advancing the price epoch', {
    account: caller, address: ctx.bpe.pricingCurve, abi: PricingCurve.abi, functionName: 'advanceEpoch', args: [taskTypeId],
  });
}

/** A sink's current price per task (token wei): base fee times its queue premium. */
export async function priceOf(ctx: BpeContext, taskTypeId: Hex, sink: Address): Promise<bigint> {
  return ctx.clients.publicClient.readContract({
    address: ctx.bpe.pricingCurve, abi: PricingCurve.abi, functionName: 'priceOf', args: [taskTypeId, sink],
  });
}

export async function baseFee(ctx: BpeContext, taskTypeId: Hex): Promise<bigint> {
  return ctx.clients.publicClient.readContract({
    address: ctx.bpe.pricingCurve, abi: PricingCurve.abi, functionName: 'baseFee', args: [taskTypeId],
  });
}

// ---------------------------------------------------------------- internals

async function domainOf(ctx: BpeContext, name: string, verifyingContract: Address) {
  return { name, version: '1', chainId: await ctx.clients.publicClient.getChainId(), verifyingContract };
}

/** viem signs 65-byte signatures; the aggregator takes EIP-2098's 64 bytes. */
function toCompact(signature: Hex): { r: Hex; yParityAndS: Hex } {
  return signatureToCompactSignature(parseSignature(signature));
}
