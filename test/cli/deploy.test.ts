// `bpe deploy` against an "existing" Superfluid deployment: anvil with the real framework and a
// test Super Token deployed first, then BPE deployed on top through the library function and once
// through the CLI as a user runs it (a child process), plus the checks that must refuse.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { toHex, zeroAddress, type Address, type HDAccount, type Hex } from 'viem';
import { startAnvil, type AnvilInstance } from '../../src/chain/anvil.ts';
import { anvilAccount, anvilClients, type AnvilClients } from '../../src/chain/clients.ts';
import { testTokenAbi } from '../../src/chain/abis.ts';
import { deploySuperfluid, deployTestSuperToken, type SuperfluidFramework } from '../../src/chain/superfluid.ts';
import { write } from '../../src/chain/deploy.ts';
import { contextAddresses, readDeploymentFile, writeDeploymentFile } from '../../src/chain/bpe/deploymentFile.ts';
import { CANONICAL_GDA_FORWARDER, deployToNetwork, DeployCheckError, superfluidNetwork } from '../../src/chain/bpe/deployToNetwork.ts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { CapacityRegistry } from '../../src/chain/bpe/artifacts.generated.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/bpe.js');
const E18 = 10n ** 18n;

interface Run { code: number | null; stdout: string; stderr: string }

function bpeDeploy(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'deploy', ...args], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000, env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const keyOf = (a: HDAccount): Hex => toHex(a.getHdKey().privateKey!);

describe('bpe deploy', () => {
  let anvil: AnvilInstance;
  let admin: AnvilClients;
  let framework: SuperfluidFramework;
  let token: Address;
  let underlying: Address;
  let dir: string;

  const mint = async (to: Address, amount: bigint) =>
    write({ clients: admin }, 'mint', { address: underlying, abi: testTokenAbi, functionName: 'mint', args: [to, amount] });

  before(async () => {
    anvil = await startAnvil();
    admin = anvilClients(anvil.rpcUrl);
    framework = await deploySuperfluid(admin);
    ({ superToken: token, underlying } = await deployTestSuperToken(admin, framework, {
      name: 'Test Dollar', symbol: 'TUSD', mintTo: [], amount: 0n,
    }));
    dir = mkdtempSync(join(tmpdir(), 'bpe-deploy-'));
  });
  after(async () => {
    await anvil?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const common = () => ({ rpcUrl: anvil.rpcUrl, superfluidHost: framework.host, gdaForwarder: framework.gdaV1Forwarder, token });

  it('deploys through the library: the JSON validates and the contracts work', async () => {
    const deployer = anvilAccount(1);
    await mint(deployer.address, 100n * E18);
    const clients = anvilClients(anvil.rpcUrl, deployer);
    const { deployment, plan } = await deployToNetwork({
      ...common(), clients, taskTypes: [{ name: 'summarize', pricePerTask: 10n ** 15n, bufferMax: 1000n * E18 }],
    });
    assert.ok(deployment);
    assert.equal(plan.creations.length, 8);
    assert.equal(deployment.chainId, 31337);
    assert.equal(deployment.superfluid.host, framework.host);
    assert.equal(deployment.superfluid.gda, framework.gda);
    assert.equal(deployment.superfluid.gdaV1Forwarder, framework.gdaV1Forwarder);
    assert.equal(deployment.stakeToken, underlying, 'stake token defaults to the Super Token underlying');
    for (const c of plan.creations) assert.equal(deployment.bpe[c.key as 'stakeManager'], c.address);
    const path = join(dir, 'lib.json');
    writeDeploymentFile(path, deployment);
    const read = readDeploymentFile(path);
    assert.deepEqual(read, deployment);
    const firstBlock = (await clients.publicClient.getTransactionReceipt({
      hash: (await clients.publicClient.getBlock({ blockNumber: read.startBlock, includeTransactions: true })).transactions[0]!.hash,
    })).contractAddress;
    assert.equal(firstBlock?.toLowerCase(), read.bpe.stakeManager.toLowerCase(), 'startBlock is the StakeManager block');

    // The task type created by deploy exists with its pool ...
    assert.equal(read.taskTypes.length, 1);
    const [tt] = read.taskTypes;
    const ctx = { ...contextAddresses(read), clients };
    const info = await clients.publicClient.readContract({
      address: read.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'taskType', args: [tt!.id],
    });
    assert.equal(info.creator, deployer.address);
    assert.equal(info.pricePerTask, 10n ** 15n);
    assert.equal(info.bufferMax, 1000n * E18);
    // ... and the deployed contracts work: register another task type and a sink through them.
    const { taskTypeId, pool } = await bpe.registerTaskType(ctx, deployer, { name: 'translate', token, pricePerTask: 2n * 10n ** 15n, bufferMax: E18 });
    assert.notEqual(pool, zeroAddress);
    const sink = anvilAccount(2);
    await mint(sink.address, 400n * E18);
    await bpe.stake(ctx, sink, 400n * E18);
    await bpe.registerSink(ctx, sink, taskTypeId);
    const sinks = await clients.publicClient.readContract({
      address: read.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'sinksOf', args: [taskTypeId],
    });
    assert.deepEqual(sinks, [sink.address]);
  });

  it('finds no forwarder without --gda-forwarder on a chain without the canonical one', async () => {
    const clients = anvilClients(anvil.rpcUrl, anvilAccount(3));
    await assert.rejects(
      deployToNetwork({ ...common(), gdaForwarder: undefined, clients }),
      (e: Error) => e instanceof DeployCheckError && /cannot find the GDA forwarder of host .*pass --gda-forwarder/.test(e.message),
    );
  });

  it('refuses a forwarder the host does not trust', async () => {
    const clients = anvilClients(anvil.rpcUrl, anvilAccount(3));
    await assert.rejects(
      deployToNetwork({ ...common(), gdaForwarder: framework.cfa, clients }),
      /GDA forwarder 0x[0-9a-fA-F]{40} is not a trusted forwarder of host/,
    );
  });

  it('refuses a deployer without the gas funds, before sending anything', async () => {
    const poor = anvilAccount(8);
    await admin.testClient.setBalance({ address: poor.address, value: 10n ** 12n });
    const clients = anvilClients(anvil.rpcUrl, poor);
    await assert.rejects(
      deployToNetwork({ ...common(), clients }),
      (e: Error) => e instanceof DeployCheckError && /^deployer 0x[0-9a-fA-F]{40} holds 0\.000001 ETH, the deployment needs up to [\d.]+ ETH \(\d+ gas at up to [\d.]+ gwei\)$/.test(e.message),
    );
    assert.equal(await admin.publicClient.getTransactionCount({ address: poor.address }), 0);
  });

  it('knows Base Sepolia and Base from @superfluid-finance/metadata', () => {
    const sepolia = superfluidNetwork('base-sepolia');
    assert.equal(sepolia.chainId, 84532);
    assert.equal(sepolia.host, '0x109412E3C84f0539b43d39dB691B08c90f58dC7c');
    assert.equal(sepolia.gdaV1Forwarder, CANONICAL_GDA_FORWARDER);
    const base = superfluidNetwork('base');
    assert.equal(base.chainId, 8453);
    assert.equal(base.name, 'base-mainnet');
    assert.equal(base.gdaV1Forwarder, CANONICAL_GDA_FORWARDER);
    assert.ok(base.nativeTokenWrapper);
  });

  it('deploys through the CLI (node bin/bpe.js deploy) and writes a valid deployment JSON', async () => {
    const deployer = anvilAccount(4);
    await mint(deployer.address, 100n * E18);
    const out = join(dir, 'cli', 'deployment.json');
    const r = await bpeDeploy([
      '--rpc', anvil.rpcUrl, '--private-key-env', 'BPE_TEST_KEY', '--superfluid-host', framework.host,
      '--gda-forwarder', framework.gdaV1Forwarder, '--token', token,
      '--task-type', 'summarize:0.001:1000', '--task-type', 'embed:1000wei:5:10', '--out', out,
    ], { BPE_TEST_KEY: keyOf(deployer) });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deployment written to .*deployment\.json/);
    const d = readDeploymentFile(out);
    assert.deepEqual(d.taskTypes.map((t) => t.name), ['summarize', 'embed']);
    assert.equal(d.rpcUrl, anvil.rpcUrl);
    const clients = anvilClients(anvil.rpcUrl, deployer);
    const embed = await clients.publicClient.readContract({
      address: d.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'taskType', args: [d.taskTypes[1]!.id],
    });
    assert.equal(embed.pricePerTask, 1000n);
    assert.equal(embed.bufferMax, 5n * E18);
    assert.equal(embed.stakeUnitsPerTask, 10);
  });

  it('--dry-run prints the plan and a gas estimate and sends nothing', async () => {
    const deployer = anvilAccount(5);
    await mint(deployer.address, 100n * E18);
    const before = await admin.publicClient.getTransactionCount({ address: deployer.address });
    const out = join(dir, 'dry.json');
    const r = await bpeDeploy([
      '--rpc', anvil.rpcUrl, '--private-key-env', 'BPE_TEST_KEY', '--superfluid-host', framework.host,
      '--gda-forwarder', framework.gdaV1Forwarder, '--token', token, '--task-type', 'summarize:0.001:1000', '--dry-run', '--out', out,
    ], { BPE_TEST_KEY: keyOf(deployer) });
    assert.equal(r.code, 0, r.stderr);
    for (const name of ['StakeManager', 'CapacityRegistry', 'BackpressurePool', 'EscrowBuffer', 'Pipeline', 'PricingCurve', 'OffchainAggregator', 'CompletionTracker']) {
      assert.match(r.stdout, new RegExp(`${name}\\s+0x[0-9a-fA-F]{40}\\s+\\d+ gas`));
    }
    assert.match(r.stdout, /summarize: 0\.001 tokens\/task, buffer max 1000 tokens/);
    assert.match(r.stdout, /\d+ gas x [\d.]+ gwei = [\d.]+ ETH/);
    assert.match(r.stdout, /the deployer must hold up to [\d.]+ ETH/);
    assert.match(r.stdout, /dry run: nothing was sent/);
    assert.equal(await admin.publicClient.getTransactionCount({ address: deployer.address }), before, 'nonce unchanged');
    assert.equal(existsSync(out), false, 'no deployment file written');
  });

  it('refuses a wrong chain id, a host without code and a foreign token, each with its reason', async () => {
    const env = { BPE_TEST_KEY: keyOf(anvilAccount(6)) };
    const base = ['--rpc', anvil.rpcUrl, '--private-key-env', 'BPE_TEST_KEY'];

    const wrongChain = await bpeDeploy([...base, '--network', 'base-sepolia'], env);
    assert.equal(wrongChain.code, 1);
    assert.equal(wrongChain.stderr.trim(), 'bpe deploy: the RPC serves chain id 31337, but base-sepolia is chain 84532');

    const noCode = await bpeDeploy([...base, '--superfluid-host', '0x000000000000000000000000000000000000dEaD', '--token', token], env);
    assert.equal(noCode.code, 1);
    assert.equal(noCode.stderr.trim(), 'bpe deploy: Superfluid host 0x000000000000000000000000000000000000dEaD has no code on chain 31337');

    // A second Superfluid framework on the same chain: its token belongs to another host.
    const other = await deploySuperfluid(admin);
    const { superToken: foreign } = await deployTestSuperToken(admin, other, { name: 'Other', symbol: 'OTH', mintTo: [], amount: 0n });
    const foreignToken = await bpeDeploy([
      ...base, '--superfluid-host', framework.host, '--gda-forwarder', framework.gdaV1Forwarder, '--token', foreign,
    ], env);
    assert.equal(foreignToken.code, 1);
    assert.equal(foreignToken.stderr.trim(), `bpe deploy: token ${foreign} belongs to host ${other.host}, not ${framework.host}`);

    const notAHost = await bpeDeploy([...base, '--superfluid-host', token, '--token', token], env);
    assert.equal(notAHost.code, 1);
    assert.match(notAHost.stderr, /does not answer as a Superfluid host/);
  });

  it('rejects bad input with one line and exit 2 before touching the chain', async () => {
    const cases: [string[], RegExp][] = [
      [['--private-key-env', 'K', '--network', 'base'], /--rpc <url> is required/],
      [['--rpc', 'http://127.0.0.1:1', '--private-key-env', 'K', '--network', 'optimism'], /--network "optimism" is not one of base-sepolia, base/],
      [['--rpc', 'http://127.0.0.1:1', '--private-key-env', 'K', '--network', 'base', '--superfluid-host', zeroAddress], /either --network or --superfluid-host/],
      [['--rpc', 'http://127.0.0.1:1', '--private-key-env', 'K', '--network', 'base', '--task-type', 'x:abc:1'], /pricePerTask "abc" must be a token amount/],
      [['--rpc', 'http://127.0.0.1:1', '--private-key-env', 'UNSET_VAR_FOR_TEST', '--network', 'base'], /environment variable UNSET_VAR_FOR_TEST is not set/],
    ];
    for (const [args, re] of cases) {
      const r = await bpeDeploy(args, { K: keyOf(anvilAccount(7)) });
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });
});


