// Shared set-up for the keeper and verifier tests: a real anvil with Superfluid and BPE
// (startLocalStack), a task type, staked sinks with declared capacity, a funded source, plus
// helpers to count events and to wait for a service without wall-clock assertions.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { keccak256, toHex, type Abi, type Address, type Hex, type LocalAccount } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { anvilAccount, anvilClients } from '../../src/chain/clients.ts';
import { startLocalStack, type LocalStack, type LocalStackOptions } from '../../src/chain/bpe/localStack.ts';
import type { BpeContext } from '../../src/chain/bpe/actions.ts';
import type { Logger } from '../../src/services/common/log.ts';

export const E18 = 10n ** 18n;
export const PRICE = 10n ** 15n;
export const BUFFER_MAX = 1000n * E18;
export const SINK_STAKE = 400n * E18;
export const SOURCE_INDEX = 4;

export interface World {
  stack: LocalStack;
  taskTypeId: Hex;
  pool: Address;
  sinks: LocalAccount[];
  source: LocalAccount;
}

/** A deterministic private-key account (what a real agent holds), funded with gas money. */
export async function keyAccount(stack: LocalStack, label: string): Promise<LocalAccount> {
  const account = privateKeyToAccount(keccak256(toHex(`bpe services test: ${label}`)));
  await stack.clients.testClient.setBalance({ address: account.address, value: 100n * E18 });
  return account;
}

export async function ensureCreatorStake(stack: LocalStack): Promise<void> {
  const { minSinkStake } = stack.bpe.params;
  await stack.mintStakeTokens(stack.deployer.address, minSinkStake);
  await bpe.stake(stack, stack.deployer, minSinkStake);
}

/** Registers a task type (the deployer must hold the minimum stake) and `sinks` on it, each declaring `capacity` once. */
export async function addTaskType(stack: LocalStack, name: string, sinks: LocalAccount[], capacity = 10n): Promise<{ taskTypeId: Hex; pool: Address }> {
  const { taskTypeId, pool } = await bpe.registerTaskType(stack, stack.deployer, { name, token: stack.token, pricePerTask: PRICE, bufferMax: BUFFER_MAX });
  for (const s of sinks) {
    await stack.mintStakeTokens(s.address, SINK_STAKE);
    await bpe.stake(stack, s, SINK_STAKE);
    await bpe.registerSink(stack, s, taskTypeId);
    await bpe.connectPool(stack, s, pool);
    if (capacity > 0n) await bpe.declareCapacity(stack, s, taskTypeId, capacity);
  }
  return { taskTypeId, pool };
}

export async function startWorld(opts: LocalStackOptions & { sinks?: number; capacity?: bigint } = {}): Promise<World> {
  const stack = await startLocalStack({ fundedAccounts: [SOURCE_INDEX], ...opts });
  try {
    await ensureCreatorStake(stack);
    const sinks: LocalAccount[] = [];
    for (let i = 0; i < (opts.sinks ?? 2); i++) sinks.push(await keyAccount(stack, `sink ${i}`));
    const { taskTypeId, pool } = await addTaskType(stack, 'summarise', sinks, opts.capacity ?? 10n);
    return { stack, taskTypeId, pool, sinks, source: anvilAccount(SOURCE_INDEX) as unknown as LocalAccount };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

/** A context for a service that sends as `account` over its own clients (as a separate process would). */
export function serviceContext(stack: LocalStack, account: LocalAccount | ReturnType<typeof anvilAccount>): BpeContext {
  return { clients: anvilClients(stack.anvil.rpcUrl, account), framework: stack.framework, bpe: stack.bpe };
}

/** Moves the chain's clock to `offset` seconds into the next epoch and mines a block there. */
export async function startNextEpoch(stack: LocalStack, offset: bigint): Promise<bigint> {
  const epoch = stack.bpe.params.epochSeconds;
  const now = (await stack.clients.publicClient.getBlock()).timestamp;
  const timestamp = (now / epoch + 1n) * epoch + offset;
  await stack.clients.testClient.setNextBlockTimestamp({ timestamp });
  await stack.clients.testClient.mine({ blocks: 1 });
  return timestamp;
}

export async function headBlock(stack: LocalStack): Promise<bigint> {
  return stack.clients.publicClient.getBlockNumber({ cacheTime: 0 });
}

/** Events `eventName` emitted by `address` from block `fromBlock` on. */
export async function eventsSince(stack: LocalStack, address: Address, abi: Abi | readonly unknown[], eventName: string, fromBlock: bigint) {
  return (await stack.clients.publicClient.getContractEvents({ address, abi: abi as Abi, eventName, fromBlock, toBlock: 'latest' })) as unknown as {
    args: Record<string, any>; transactionHash: Hex; blockNumber: bigint;
  }[];
}

/** Polls `cond` until it holds (each try after `everyMs`); fails with `what` after `maxTries`. */
export async function waitFor<T>(what: string, cond: () => Promise<T | undefined | false> | T | undefined | false, maxTries = 600, everyMs = 25): Promise<T> {
  let last: unknown;
  for (let i = 0; i < maxTries; i++) {
    try {
      const v = await cond();
      if (v) return v as T;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** A pino logger whose lines are kept in `lines` (parsed), so tests can check what was logged. */
export function captureLogger(name: string): { log: Logger; lines: Record<string, any>[] } {
  const lines: Record<string, any>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { log: pino({ name, level: 'debug' }, stream), lines };
}
