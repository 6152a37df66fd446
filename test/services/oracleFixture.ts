// Shared set-up of the oracle tests and the benchmark: a local stack with a task type and staked,
// registered sinks (plain private keys, so they can sign fast), its deployment file, and a
// fast signer (noble + the oracle's own digest; one test checks it against the contract).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { domainSeparator, keccak256, parseEther, toHex, type Address, type Hex, type LocalAccount } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { secp256k1 } from '@noble/curves/secp256k1';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { writeDeploymentFile } from '../../src/chain/bpe/deploymentFile.ts';
import { localDeployment, startLocalStack, type LocalStack, type LocalStackOptions } from '../../src/chain/bpe/localStack.ts';
import type { SignedAttestation } from '../../src/chain/bpe/verification.ts';
import { attestationDigest } from '../../src/services/oracle/signature.ts';
import { hexToBytes32 } from '../../src/services/oracle/signature.ts';
import { oracleSchema, type OracleConfig } from '../../src/services/oracle/config.ts';
import { loadConfig } from '../../src/services/common/config.ts';

export const E18 = 10n ** 18n;

export interface Sink {
  key: Hex;
  account: LocalAccount;
  address: Address;
}

export interface OracleWorld {
  stack: LocalStack;
  taskTypeId: Hex;
  sinks: Sink[];
  /** A staked sink that never registered. */
  stranger: Sink;
  dir: string;
  deploymentPath: string;
  /** Private keys of relayer accounts (funded with ETH). */
  relayerKeys: Hex[];
  domainSeparator: Uint8Array;
  /** Signs `report` as `sink` (or, to forge, with `opts.key`). */
  sign(sink: Sink, report: Report, opts?: { taskTypeId?: Hex; key?: Hex }): SignedAttestation;

  chainTime(): Promise<bigint>;
  stop(): Promise<void>;
}

export interface Report {
  capacity: bigint;
  backlog: bigint;
  nonce: number;
  timestamp: bigint;
}

export const keyOfLabel = (label: string): Hex => keccak256(toHex(`bpe oracle test: ${label}`));

export function sinkOf(label: string): Sink {
  const key = keyOfLabel(label);
  const account = privateKeyToAccount(key);
  return { key, account, address: account.address };
}

export async function startOracleWorld(opts: { sinks: number; stack?: LocalStackOptions; relayers?: number; label?: string }): Promise<OracleWorld> {
  const stack = await startLocalStack({ ...opts.stack, params: { minUpdateInterval: 0n, ...opts.stack?.params } });
  try {
    const { minSinkStake } = stack.bpe.params;
    const label = opts.label ?? 'world';
    const { testClient } = stack.clients;
    await stack.mintStakeTokens(stack.deployer.address, minSinkStake);
    await bpe.stake(stack, stack.deployer, minSinkStake);
    const { taskTypeId, pool } = await bpe.registerTaskType(stack, stack.deployer, {
      name: `oracle-${label}`, token: stack.token, pricePerTask: 10n ** 15n, bufferMax: 10n ** 21n,
    });
    const sinks = Array.from({ length: opts.sinks }, (_, i) => sinkOf(`${label} sink ${i}`));
    const stranger = sinkOf(`${label} stranger`);
    const stakeAmount = 2000n * E18; // 100 tasks/epoch at 20 units a task
    for (const s of [...sinks, stranger]) {
      await testClient.setBalance({ address: s.address, value: parseEther('10') });
      await stack.mintStakeTokens(s.address, stakeAmount);
      await bpe.stake(stack, s.account, stakeAmount);
    }
    for (const s of sinks) await bpe.registerSink(stack, s.account, taskTypeId);
    const relayerKeys = Array.from({ length: opts.relayers ?? 2 }, (_, i) => keyOfLabel(`${label} relayer ${i}`));
    for (const k of relayerKeys) await testClient.setBalance({ address: privateKeyToAccount(k).address, value: parseEther('1000') });

    const dir = mkdtempSync(join(tmpdir(), 'bpe-oracle-'));
    const deployment = localDeployment(stack, [{ id: taskTypeId, name: `oracle-${label}`, pool }]);
    const deploymentPath = join(dir, 'deployment.json');
    writeDeploymentFile(deploymentPath, deployment);
    const separator = hexToBytes32(
      domainSeparator({ domain: { name: 'BPE OffchainAggregator', version: '1', chainId: deployment.chainId, verifyingContract: stack.bpe.offchainAggregator } }),
    );
    const sign: OracleWorld['sign'] = (sink, report, o = {}) => {
      const fields = { taskTypeId: o.taskTypeId ?? taskTypeId, sink: sink.address, ...report };
      const digest = attestationDigest(separator, { ...fields, r: '', vs: '', sink: sink.address.toLowerCase() });
      const sig = secp256k1.sign(digest, (o.key ?? sink.key).slice(2), { lowS: true });
      const vs = (BigInt(sig.recovery) << 255n) | sig.s;
      return { ...fields, r: toHex(sig.r, { size: 32 }), vs: toHex(vs, { size: 32 }) };
    };
    return {
      stack, taskTypeId, sinks, stranger, dir, deploymentPath, relayerKeys, domainSeparator: separator, sign,
      chainTime: async () => (await stack.clients.publicClient.getBlock()).timestamp,
      stop: () => stack.stop(),
    };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

/** An oracle config for the world (port 0, a fresh DB in its folder unless `dbPath` is given). */
export function oracleConfig(world: OracleWorld, overrides: Partial<Record<keyof OracleConfig, unknown>> = {}, relayer = 0): OracleConfig {
  return loadConfig(oracleSchema, {
    env: {},
    overrides: {
      deployment: world.deploymentPath,
      privateKey: world.relayerKeys[relayer],
      port: 0,
      pollMs: 20,
      dbPath: join(world.dir, `oracle-${relayer}-${Math.random().toString(36).slice(2)}.sqlite`),
      verifyThreads: 1,
      ...overrides,
    },
  });
}

/** POSTs a body to the oracle; returns the status and parsed JSON. */
export async function post(url: string, body: unknown, init: { contentType?: string; raw?: string } = {}): Promise<{ status: number; json: any }> {
  const res = await fetch(`${url}/v1/attestations`, {
    method: 'POST',
    headers: { 'content-type': init.contentType ?? 'application/json' },
    body: init.raw ?? JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}
