/**
 * The deployment JSON: where one BPE deployment lives (chain, Superfluid, tokens, the eight BPE
 * contracts and their parameters, task types). `bpe devnet` and `bpe deploy` write it; the
 * services, the SDK and Foundry's `cast` read it. Amounts are decimal strings (JSON numbers
 * would lose wei). Reading validates every field and names the first bad one.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { isAddress, isHex, type Address, type Hex } from 'viem';
import type { BpeContext } from './actions.ts';
import { DEFAULT_PARAMS, type BpeDeployment, type BpeParams } from './deploy.ts';

export const DEPLOYMENT_FILE_VERSION = 1;

export interface DeploymentTaskType {
  id: Hex;
  name: string;
  pool: Address;
}

export interface DeploymentFile {
  version: typeof DEPLOYMENT_FILE_VERSION;
  chainId: number;
  /** Where it was deployed from; services may be pointed elsewhere (same chain id). */
  rpcUrl: string;
  /** Block of the first BPE contract: where event followers start. */
  startBlock: bigint;
  superfluid: { host: Address; gda: Address; gdaV1Forwarder: Address };
  /** Payment Super Token (task types may name others). */
  token: Address;
  stakeToken: Address;
  bpe: BpeDeployment;
  taskTypes: DeploymentTaskType[];
}

/** The deployment file is missing a field or holds a bad one. */
export class DeploymentFileError extends Error {
  constructor(path: string, reason: string) {
    super(`deployment file ${path}: ${reason}`);
    this.name = 'DeploymentFileError';
  }
}

const BPE_CONTRACTS = [
  'stakeManager', 'capacityRegistry', 'backpressurePool', 'escrowBuffer',
  'pipeline', 'pricingCurve', 'offchainAggregator', 'completionTracker',
] as const;

export function serializeDeployment(d: DeploymentFile): string {
  return `${JSON.stringify(d, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`;
}

/** Writes atomically (temp file + rename): a reader never sees half a file. */
export function writeDeploymentFile(path: string, d: DeploymentFile): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, serializeDeployment(d));
  renameSync(tmp, path);
}

export function parseDeployment(text: string, path = '<deployment>'): DeploymentFile {
  const fail = (reason: string): never => {
    throw new DeploymentFileError(path, reason);
  };
  let raw: Record<string, any>;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null) fail('must be a JSON object');
  if (raw.version !== DEPLOYMENT_FILE_VERSION) fail(`version must be ${DEPLOYMENT_FILE_VERSION}, got ${JSON.stringify(raw.version)}`);
  const address = (value: unknown, name: string): Address =>
    typeof value === 'string' && isAddress(value, { strict: false }) ? (value as Address) : fail(`${name} must be an address, got ${JSON.stringify(value)}`);
  const uint = (value: unknown, name: string): bigint =>
    (typeof value === 'string' || typeof value === 'number') && /^\d+$/.test(String(value))
      ? BigInt(value)
      : fail(`${name} must be a non-negative integer, got ${JSON.stringify(value)}`);
  if (!Number.isSafeInteger(raw.chainId) || raw.chainId <= 0) fail(`chainId must be a positive integer, got ${JSON.stringify(raw.chainId)}`);
  if (typeof raw.rpcUrl !== 'string' || !URL.canParse(raw.rpcUrl)) fail(`rpcUrl must be a URL, got ${JSON.stringify(raw.rpcUrl)}`);
  const sf = raw.superfluid ?? fail('superfluid is missing');
  const bpeRaw = raw.bpe ?? fail('bpe is missing');
  const bpe = Object.fromEntries(BPE_CONTRACTS.map((n) => [n, address(bpeRaw[n], `bpe.${n}`)])) as Omit<BpeDeployment, 'params'>;
  const paramsRaw = bpeRaw.params ?? fail('bpe.params is missing');
  const params = Object.fromEntries(
    Object.keys(DEFAULT_PARAMS).map((k) => {
      const v = uint(paramsRaw[k], `bpe.params.${k}`);
      return [k, k === 'verificationRule' ? Number(v) : v];
    }),
  ) as unknown as BpeParams;
  if (!Array.isArray(raw.taskTypes)) fail('taskTypes must be an array');
  const taskTypes = (raw.taskTypes as unknown[]).map((t: any, i) => ({
    id: typeof t?.id === 'string' && isHex(t.id) && t.id.length === 66 ? (t.id as Hex) : fail(`taskTypes[${i}].id must be a 32-byte hex id`),
    name: typeof t?.name === 'string' ? t.name : fail(`taskTypes[${i}].name must be a string`),
    pool: address(t?.pool, `taskTypes[${i}].pool`),
  }));
  return {
    version: DEPLOYMENT_FILE_VERSION,
    chainId: raw.chainId,
    rpcUrl: raw.rpcUrl,
    startBlock: uint(raw.startBlock, 'startBlock'),
    superfluid: {
      host: address(sf.host, 'superfluid.host'),
      gda: address(sf.gda, 'superfluid.gda'),
      gdaV1Forwarder: address(sf.gdaV1Forwarder, 'superfluid.gdaV1Forwarder'),
    },
    token: address(raw.token, 'token'),
    stakeToken: address(raw.stakeToken, 'stakeToken'),
    bpe: { ...bpe, params },
    taskTypes,
  };
}

export function readDeploymentFile(path: string): DeploymentFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new DeploymentFileError(path, `cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseDeployment(text, path);
}

/** The addresses part of a `BpeContext`; add clients to use it. */
export function contextAddresses(d: DeploymentFile): Omit<BpeContext, 'clients'> {
  return { framework: { gdaV1Forwarder: d.superfluid.gdaV1Forwarder }, bpe: d.bpe };
}
