/**
 * The wire format of one attestation and its checks that need nothing but the item itself:
 * shape (a malformed request is refused whole, with the path of the first bad field) and value
 * ranges (an item out of range is rejected alone, with a reason).
 */
import type { Address, Hex } from 'viem';
import type { SignedAttestation } from '../../chain/bpe/verification.ts';
import type { AttestationJson } from '../../sdk/oracleClient.ts';

export type { AttestationJson };
import { HttpError } from '../common/http.ts';


/** A parsed attestation: lower-case hex, bigints; `key` names its (task type, sink). */
export interface Attestation extends SignedAttestation {
  key: string;
}

export type ItemStatus = 'accepted' | 'duplicate' | 'rejected';
export interface ItemResult {
  status: ItemStatus;
  reason?: string;
}

/** Largest capacity and backlog the CapacityRegistry stores (uint40); larger is `OutOfRange` on chain. */
export const MAX_VALUE = (1n << 40n) - 1n;
export const MAX_UINT64 = (1n << 64n) - 1n;
export const MAX_NONCE = 2 ** 32 - 1;

const HEX32 = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,77})$/;
const FIELDS = ['taskTypeId', 'sink', 'capacity', 'backlog', 'nonce', 'timestamp', 'r', 'vs'];

export const keyOf = (taskTypeId: string, sink: string): string => `${taskTypeId}:${sink}`;

/**
 * Parses the request body `{"attestations": [...]}`; throws a 400 `HttpError` naming the first
 * field of the wrong shape, a 413 when there are more than `maxItems` items.
 */
export function parseRequest(body: unknown, maxItems: number): Attestation[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object {"attestations": [...]}');
  const extra = Object.keys(body).filter((k) => k !== 'attestations');
  if (extra.length) throw new HttpError(400, `unknown field "${extra[0].slice(0, 40)}" (expected only "attestations")`);
  const items = (body as { attestations?: unknown }).attestations;
  if (!Array.isArray(items)) throw new HttpError(400, '"attestations" must be an array');
  if (items.length === 0) throw new HttpError(400, '"attestations" is empty');
  if (items.length > maxItems) throw new HttpError(413, `${items.length} attestations exceed the limit of ${maxItems} per request`);
  return items.map((item, i) => parseItem(item, `attestations[${i}]`));
}

function parseItem(item: unknown, at: string): Attestation {
  const bad = (field: string, what: string): never => {
    throw new HttpError(400, `${at}.${field} must be ${what}`);
  };
  if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new HttpError(400, `${at} must be an object`);
  const o = item as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!FIELDS.includes(k)) throw new HttpError(400, `${at} has an unknown field "${k.slice(0, 40)}"`);
  const hex32 = (f: string): Hex => (typeof o[f] === 'string' && HEX32.test(o[f] as string) ? ((o[f] as string).toLowerCase() as Hex) : bad(f, 'a 0x-prefixed 32-byte hex string'));
  const decimal = (f: string): bigint => (typeof o[f] === 'string' && DECIMAL.test(o[f] as string) ? BigInt(o[f] as string) : bad(f, 'a decimal string of a non-negative integer, e.g. "12"'));
  const taskTypeId = hex32('taskTypeId');
  const sink = typeof o.sink === 'string' && ADDRESS.test(o.sink) ? (o.sink.toLowerCase() as Address) : bad('sink', 'a 0x-prefixed 20-byte address');
  const capacity = decimal('capacity');
  const backlog = decimal('backlog');
  const nonce = typeof o.nonce === 'number' && Number.isSafeInteger(o.nonce) && o.nonce >= 0 ? o.nonce : bad('nonce', 'a non-negative integer');
  const timestamp = decimal('timestamp');
  return { taskTypeId, sink, capacity, backlog, nonce, timestamp, r: hex32('r'), vs: hex32('vs'), key: keyOf(taskTypeId, sink) };
}

/** The range checks: the EIP-712 types (uint64, uint32) and the registry's uint40 values. */
export function rangeError(a: Attestation): string | undefined {
  if (a.capacity > MAX_VALUE) return `out of range: capacity above the registry's maximum ${MAX_VALUE}`;
  if (a.backlog > MAX_VALUE) return `out of range: backlog above the registry's maximum ${MAX_VALUE}`;
  if (a.nonce > MAX_NONCE) return `out of range: nonce above ${MAX_NONCE} (uint32)`;
  if (a.timestamp > MAX_UINT64) return 'out of range: timestamp above uint64';
  return undefined;
}

/** The JSON form of a signed attestation (what a sink posts). */
export function toAttestationJson(a: SignedAttestation): AttestationJson {
  return {
    taskTypeId: a.taskTypeId, sink: a.sink, capacity: a.capacity.toString(), backlog: a.backlog.toString(),
    nonce: a.nonce, timestamp: a.timestamp.toString(), r: a.r, vs: a.vs,
  };
}
