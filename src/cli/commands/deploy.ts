/**
 * `bpe deploy`: deploys the BPE contracts against an existing Superfluid deployment and writes the
 * deployment JSON (docs/deploy.md). Every argument is checked before the chain is asked anything;
 * every on-chain check (chain id, host, forwarder, token, funds) runs before the first transaction.
 */
import {
  createPublicClient, createWalletClient, defineChain, formatEther, formatUnits, http, isAddress, isHex, parseUnits,
  type Address, type Hex,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { writeDeploymentFile } from '../../chain/bpe/deploymentFile.ts';
import {
  DeployCheckError,
  NETWORKS,
  deployToNetwork,
  type DeployPlan,
  type NetworkName,
  type TaskTypeRequest,
} from '../../chain/bpe/deployToNetwork.ts';
import type { ChainClients } from '../../chain/clients.ts';
import { CliError } from '../errors.ts';

export const USAGE =
  'usage: bpe deploy --rpc <url> --private-key-env <VAR> (--network base-sepolia|base | --superfluid-host <addr> [--gda-forwarder <addr>]) [--token <superToken>] [--stake-token <erc20>] [--slash-recipient <addr>] [--task-type name:price:bufferMax[:stakeUnitsPerTask] ...] [--out deployment.json] [--dry-run]';

const HELP = `${USAGE}

Deploys the eight BPE contracts onto a chain where Superfluid already runs and writes the
deployment JSON that services and \`bpe\` commands read.

  --rpc URL               JSON-RPC endpoint of the chain
  --private-key-env VAR   environment variable holding the deployer's private key (0x + 64 hex)
  --network NAME          base-sepolia or base: Superfluid's addresses from @superfluid-finance/metadata
  --superfluid-host ADDR  or any Superfluid host: its GDA is read from it
  --gda-forwarder ADDR    the host's GDAv1Forwarder (default: the canonical ${'0x6DA13Bde224A05a288748d857b9e7DDEffd1dE08'})
  --token ADDR            payment Super Token (default with --network: the native wrapper, ETHx)
  --stake-token ADDR      ERC-20 sinks stake (default: the payment token's underlying)
  --slash-recipient ADDR  where slashed stake goes (default: the deployer)
  --task-type SPEC        name:pricePerTask:bufferMax[:stakeUnitsPerTask], amounts in tokens
                          (e.g. summarize:0.001:1000), or in wei with a "wei" suffix; repeatable.
                          The deployer stakes the minimum stake to create them.
  --out FILE              deployment JSON to write (default deployment.json)
  --dry-run               check everything, print the plan and the gas estimate, send nothing
`;

interface Args {
  rpc: string;
  keyEnv: string;
  network?: NetworkName;
  host?: Address;
  gdaForwarder?: Address;
  token?: Address;
  stakeToken?: Address;
  slashRecipient?: Address;
  taskTypes: TaskTypeRequest[];
  out: string;
  dryRun: boolean;
}

/** Parses `name:price:bufferMax[:stakeUnitsPerTask]`; amounts in tokens (18 decimals) or `<n>wei`. */
export function parseTaskType(spec: string): TaskTypeRequest {
  const parts = spec.split(':');
  if (parts.length < 3 || parts.length > 4) {
    throw new CliError(`--task-type "${spec}" must be name:pricePerTask:bufferMax[:stakeUnitsPerTask]`);
  }
  const [name, price, bufferMax, units] = parts as [string, string, string, string | undefined];
  if (!/^[\w.\- ]{1,64}$/.test(name)) throw new CliError(`--task-type "${spec}": name must be 1-64 letters, digits, _ . - or spaces`);
  const amount = (text: string, what: string): bigint => {
    const wei = /^(\d+)wei$/.exec(text);
    if (wei) return BigInt(wei[1]!);
    if (!/^\d+(\.\d{1,18})?$/.test(text)) throw new CliError(`--task-type "${spec}": ${what} "${text}" must be a token amount like 0.001 (or 1000wei)`);
    return parseUnits(text, 18);
  };
  const pricePerTask = amount(price, 'pricePerTask');
  if (pricePerTask === 0n) throw new CliError(`--task-type "${spec}": pricePerTask must be positive`);
  const t: TaskTypeRequest = { name, pricePerTask, bufferMax: amount(bufferMax, 'bufferMax') };
  if (units !== undefined) {
    if (!/^[1-9]\d{0,9}$/.test(units) || BigInt(units) >= 2n ** 32n) throw new CliError(`--task-type "${spec}": stakeUnitsPerTask must be a positive integer below 2^32`);
    t.stakeUnitsPerTask = BigInt(units);
  }
  return t;
}

export function parseArgs(argv: string[]): Args {
  const flags = new Map<string, string>();
  const taskTypes: TaskTypeRequest[] = [];
  let dryRun = false;
  const valued = new Set(['rpc', 'private-key-env', 'network', 'superfluid-host', 'gda-forwarder', 'token', 'stake-token', 'slash-recipient', 'task-type', 'out']);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--dry-run') {
      dryRun = true;
      continue;
    }
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m || !valued.has(m[1]!)) throw new CliError(`unknown argument "${arg}"\n${USAGE}`);
    const name = m[1]!;
    const value = m[2] ?? argv[++i];
    if (value === undefined || (m[2] === undefined && value.startsWith('--'))) throw new CliError(`--${name} needs a value`);
    if (name === 'task-type') taskTypes.push(parseTaskType(value));
    else if (flags.has(name)) throw new CliError(`--${name} is given twice`);
    else flags.set(name, value);
  }
  const rpc = flags.get('rpc') ?? fail('--rpc <url> is required');
  if (!URL.canParse(rpc) || !/^https?:$/.test(new URL(rpc).protocol)) fail(`--rpc "${rpc}" must be an http(s) URL`);
  const keyEnv = flags.get('private-key-env') ?? fail('--private-key-env <VAR> is required (the key itself never goes on the command line)');
  const network = flags.get('network');
  const host = flags.get('superfluid-host');
  if (network === undefined && host === undefined) fail('give --network base-sepolia|base or --superfluid-host <addr>');
  if (network !== undefined && host !== undefined) fail('give either --network or --superfluid-host, not both');
  if (network !== undefined && !Object.hasOwn(NETWORKS, network)) fail(`--network "${network}" is not one of ${Object.keys(NETWORKS).join(', ')}`);
  if (network !== undefined && flags.has('gda-forwarder')) fail('--gda-forwarder goes with --superfluid-host (with --network the metadata names it)');
  const addr = (flag: string): Address | undefined => {
    const v = flags.get(flag);
    if (v === undefined) return undefined;
    if (!isAddress(v, { strict: false })) fail(`--${flag} "${v}" is not an address`);
    return v as Address;
  };
  return {
    rpc,
    keyEnv,
    network: network as NetworkName | undefined,
    host: addr('superfluid-host'),
    gdaForwarder: addr('gda-forwarder'),
    token: addr('token'),
    stakeToken: addr('stake-token'),
    slashRecipient: addr('slash-recipient'),
    taskTypes,
    out: flags.get('out') ?? 'deployment.json',
    dryRun,
  };
}

function fail(message: string): never {
  throw new CliError(message);
}

function privateKeyFrom(env: string): Hex {
  const key = process.env[env];
  if (key === undefined || key === '') fail(`environment variable ${env} is not set (it must hold the deployer's private key)`);
  const k = key.startsWith('0x') ? key : `0x${key}`;
  if (!isHex(k) || k.length !== 66) fail(`environment variable ${env} does not hold a private key (0x + 64 hex digits)`);
  return k as Hex;
}

const show = (v: unknown): string =>
  typeof v === 'bigint' ? v.toString() : typeof v === 'object' && v !== null
    ? `{ ${Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(', ')} }`
    : String(v);

export function formatPlan(plan: DeployPlan): string {
  const lines = [
    `chain ${plan.chainId}, deployer ${plan.deployer} (nonce ${plan.nonce}, balance ${formatEther(plan.balance)} ETH)`,
    `Superfluid host ${plan.superfluid.host}, GDA ${plan.superfluid.gda}, GDAv1Forwarder ${plan.superfluid.gdaV1Forwarder}`,
    `payment token ${plan.token}, stake token ${plan.stakeToken}, slash recipient ${plan.slashRecipient}`,
    '',
    'contracts (in order, at predicted addresses):',
  ];
  for (const c of plan.creations) {
    lines.push(`  ${c.contract.padEnd(18)} ${c.address}  ${c.gas.toString().padStart(9)} gas`);
    lines.push(`    constructor(${c.args.map(show).join(', ')})`);
  }
  lines.push('', plan.taskTypes.length ? 'task types (created by the deployer after staking the minimum stake):' : 'task types: none');
  for (const t of plan.taskTypes) {
    lines.push(`  ${t.name}: ${formatUnits(t.pricePerTask, 18)} tokens/task, buffer max ${formatUnits(t.bufferMax, 18)} tokens, id ${t.id}`);
  }
  const total = plan.creationGas + plan.taskTypeGas;
  lines.push(
    '',
    `gas: ${plan.creationGas} for the contracts (eth_estimateGas of each creation)` +
      (plan.taskTypeGas ? ` + ${plan.taskTypeGas} allowed for staking and task types` : ''),
    `     ${total} gas x ${formatUnits(plan.gasPrice, 9)} gwei = ${formatEther(plan.cost)} ETH`,
    `     the deployer must hold up to ${formatEther(plan.required)} ETH (at the max fee per gas); it holds ${formatEther(plan.balance)} ETH`,
  );
  return lines.join('\n');
}

export async function run(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  const args = parseArgs(argv);
  const privateKey = privateKeyFrom(args.keyEnv);
  const out = (line: string) => process.stdout.write(`${line}\n`);
  let clients: ChainClients;
  try {
    clients = await connect(args.rpc, privateKey);
  } catch (err) {
    throw new CliError(`cannot reach ${args.rpc}: ${firstLine(err)}`, 1);
  }
  try {
    const result = await deployToNetwork({
      clients,
      rpcUrl: args.rpc,
      network: args.network,
      superfluidHost: args.host,
      gdaForwarder: args.gdaForwarder,
      token: args.token,
      stakeToken: args.stakeToken,
      slashRecipient: args.slashRecipient,
      taskTypes: args.taskTypes,
      dryRun: args.dryRun,
      log: out,
    });
    if (args.dryRun) {
      out(formatPlan(result.plan));
      out('\ndry run: nothing was sent');
      return;
    }
    writeDeploymentFile(args.out, result.deployment!);
    out(`deployment written to ${args.out} (start block ${result.deployment!.startBlock})`);
  } catch (err) {
    if (err instanceof DeployCheckError) throw new CliError(err.message, 1);
    throw new CliError(firstLine(err), 1);
  }
}

/** Clients for the endpoint's own chain id (the library checks it against the network). Polls
 * receipts every 250 ms: fast on a local chain, a few polls per block on Base. */
async function connect(rpc: string, privateKey: Hex): Promise<ChainClients> {
  const transport = http(rpc, { retryCount: 1 });
  const id = await createPublicClient({ transport }).getChainId();
  const chain = defineChain({
    id, name: `chain ${id}`, nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: [rpc] } },
  });
  const account = privateKeyToAccount(privateKey);
  return {
    chain,
    account,
    publicClient: createPublicClient({ chain, transport, pollingInterval: 250 }),
    walletClient: createWalletClient({ chain, account, transport, pollingInterval: 250 }),
  };
}

function firstLine(err: unknown): string {
  const e = err as { shortMessage?: string; message?: string };
  return String(e.shortMessage ?? e.message ?? err).split('\n')[0]!;
}
