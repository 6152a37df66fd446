/**
 * Parsing and off-chain checking of submitted receipts. A body that is not the documented shape
 * is refused whole (HTTP 400, the first problem named, nothing stored). A well-formed item whose
 * signatures do not verify, or that the CompletionTracker would refuse on its face (sink = source,
 * completed after its deadline), is rejected on its own with the reason.
 */
import { hashStruct, isAddress, isHex, recoverTypedDataAddress, type Address, type Hex, type TypedDataDomain } from 'viem';
import { completionTypes, requestTypes, type CompletionReceipt } from '../../chain/bpe/verification.ts';
import { HttpError } from '../common/http.ts';


export interface SignedReceipt {
  receipt: CompletionReceipt;
  sinkSignature: Hex;
  sourceSignature: Hex;
}

const U64_MAX = (1n << 64n) - 1n;

function fail(reason: string): never {
  throw new HttpError(400, reason);
}

function bytes32(v: unknown, where: string): Hex {
  if (typeof v !== 'string' || !isHex(v, { strict: true }) || v.length !== 66) fail(`${where} must be a 0x-prefixed 32-byte hex string`);
  return v.toLowerCase() as Hex;
}

function address(v: unknown, where: string): Address {
  if (typeof v !== 'string' || !isAddress(v, { strict: false })) fail(`${where} must be a 0x-prefixed 20-byte address`);
  return v as Address;
}

function uint64(v: unknown, where: string): bigint {
  if (typeof v !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(v)) fail(`${where} must be a decimal string (unix seconds)`);
  const n = BigInt(v);
  if (n > U64_MAX) fail(`${where} must fit 64 bits`);
  return n;
}

function signature(v: unknown, where: string): Hex {
  if (typeof v !== 'string' || !isHex(v, { strict: true }) || v.length !== 132) fail(`${where} must be a 0x-prefixed 65-byte signature`);
  return v as Hex;
}

function object(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${where} must be a JSON object`);
  return v as Record<string, unknown>;
}

const ITEM_KEYS = ['receipt', 'sinkSignature', 'sourceSignature'];
const RECEIPT_KEYS = ['taskId', 'taskTypeId', 'sink', 'source', 'completedAt', 'deadline'];

function noExtraKeys(o: Record<string, unknown>, allowed: string[], where: string): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) fail(`${where}.${k} is not a known field (known: ${allowed.join(', ')})`);
}

/** `{"receipts": [...]}` → the items, or HttpError(400) naming the first problem. */
export function parseReceiptsBody(body: unknown, maxBatch: number): SignedReceipt[] {
  const top = object(body, 'body');
  noExtraKeys(top, ['receipts'], 'body');
  const list = top.receipts;
  if (!Array.isArray(list)) fail('body.receipts must be an array');
  if (list.length === 0) fail('body.receipts is empty');
  if (list.length > maxBatch) fail(`body.receipts holds ${list.length} items, at most ${maxBatch} allowed`);
  return list.map((raw, i) => {
    const where = `receipts[${i}]`;
    const item = object(raw, where);
    noExtraKeys(item, ITEM_KEYS, where);
    const r = object(item.receipt, `${where}.receipt`);
    noExtraKeys(r, RECEIPT_KEYS, `${where}.receipt`);
    return {
      receipt: {
        taskId: bytes32(r.taskId, `${where}.receipt.taskId`),
        taskTypeId: bytes32(r.taskTypeId, `${where}.receipt.taskTypeId`),
        sink: address(r.sink, `${where}.receipt.sink`),
        source: address(r.source, `${where}.receipt.source`),
        completedAt: uint64(r.completedAt, `${where}.receipt.completedAt`),
        deadline: uint64(r.deadline, `${where}.receipt.deadline`),
      },
      sinkSignature: signature(item.sinkSignature, `${where}.sinkSignature`),
      sourceSignature: signature(item.sourceSignature, `${where}.sourceSignature`),
    };
  });
}

export function trackerDomain(chainId: number, completionTracker: Address): TypedDataDomain {
  return { name: 'BPE CompletionTracker', version: '1', chainId, verifyingContract: completionTracker };
}

async function recovers(fn: () => Promise<Address>, expected: Address): Promise<boolean> {
  try {
    return (await fn()).toLowerCase() === expected.toLowerCase();
  } catch {
    return false; // not a recoverable signature (bad v, s out of range, ...)
  }
}

/** Why the CompletionTracker would refuse this receipt on its face, or undefined if it would not. */
export async function offChainRefusal(item: SignedReceipt, domain: TypedDataDomain): Promise<string | undefined> {
  const r = item.receipt;
  if (r.sink.toLowerCase() === r.source.toLowerCase()) return 'SelfCertified: the sink cannot be its own source';
  if (r.completedAt > r.deadline) return `CompletedAfterDeadline: completedAt ${r.completedAt} is after the deadline ${r.deadline}`;
  const request = { taskId: r.taskId, taskTypeId: r.taskTypeId, sink: r.sink, source: r.source, deadline: r.deadline };
  const sourceOk = await recovers(
    () => recoverTypedDataAddress({ domain, types: requestTypes, primaryType: 'TaskRequest', message: request, signature: item.sourceSignature }),
    r.source,
  );
  if (!sourceOk) return 'bad source signature: sourceSignature is not the source\'s EIP-712 signature of the TaskRequest';
  const requestHash = hashStruct({ types: requestTypes, primaryType: 'TaskRequest', data: request });
  const sinkOk = await recovers(
    () => recoverTypedDataAddress({
      domain, types: completionTypes, primaryType: 'Completion', message: { request: requestHash, completedAt: r.completedAt }, signature: item.sinkSignature,
    }),
    r.sink,
  );
  if (!sinkOk) return 'bad sink signature: sinkSignature is not the sink\'s EIP-712 signature of the Completion';
  return undefined;
}
