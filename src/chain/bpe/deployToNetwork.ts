// `bpe deploy` as a library: deploys the eight BPE contracts onto a chain where Superfluid already
// runs (Base Sepolia, Base, or any host given by address), checking each step before it costs
// gas, optionally creates task types, and returns what goes into the deployment JSON.
import { createRequire } from 'node:module';
import {
  ContractFunctionExecutionError,
  encodeAbiParameters,
  encodeDeployData,
  erc20Abi,
  formatEther,
  formatUnits,
  getAddress,
  isAddressEqual,
  keccak256,
  parseAbi,
  parseEventLogs,
  toHex,
  zeroAddress,
  type Address,
  type Hex,
} from 'viem';
import type { ChainClients } from '../clients.ts';
import { write } from '../deploy.ts';
import { gdaForwarderAbi, superTokenAbi } from '../abis.ts';
import { CapacityRegistry, StakeManager } from './artifacts.generated.ts';
import {
  DEFAULT_PARAMS,
  bpeCreations,
  predictBpeAddresses,
  type BpeDeployment,
  type BpeParams,
} from './deploy.ts';
import { DEPLOYMENT_FILE_VERSION, type DeploymentFile, type DeploymentTaskType } from './deploymentFile.ts';
import { DEFAULT_STAKE_UNITS_PER_TASK } from './actions.ts';

/** A check failed: the message is one readable line naming what and why. */
export class DeployCheckError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DeployCheckError';
  }
}

export const GDA_AGREEMENT_TYPE = keccak256(toHex('org.superfluid-finance.agreements.GeneralDistributionAgreement.v1'));
export const CFA_AGREEMENT_TYPE = keccak256(toHex('org.superfluid-finance.agreements.ConstantFlowAgreement.v1'));
/** GDAv1Forwarder's address on every public Superfluid network (deployed deterministically). */
export const CANONICAL_GDA_FORWARDER: Address = '0x6DA13Bde224A05a288748d857b9e7DDEffd1dE08';

/** The networks `--network` knows, by BPE's name and @superfluid-finance/metadata's. */
export const NETWORKS = { 'base-sepolia': 'base-sepolia', base: 'base-mainnet' } as const;
export type NetworkName = keyof typeof NETWORKS;

const hostAbi = parseAbi([
  'function getAgreementClass(bytes32 agreementType) view returns (address)',
  'function isTrustedForwarder(address forwarder) view returns (bool)',
  'function getSuperTokenFactory() view returns (address)',
]);
const tokenHostAbi = parseAbi(['function getHost() view returns (address)']);

export interface NetworkInfo {
  name: string;
  chainId: number;
  host: Address;
  gda: Address;
  gdaV1Forwarder: Address;
  /** The network's native-asset Super Token (ETHx on Base). */
  nativeTokenWrapper?: Address;
}

interface MetadataNetwork {
  name: string;
  chainId: number;
  nativeTokenWrapper?: string;
  contractsV1: { host: string; gdaV1?: string; gdaV1Forwarder?: string };
}

/** A Superfluid network's addresses from @superfluid-finance/metadata (bundled, offline). */
export function superfluidNetwork(name: NetworkName): NetworkInfo {
  const metadataName = NETWORKS[name];
  if (!metadataName) throw new DeployCheckError(`unknown network "${name}" (known: ${Object.keys(NETWORKS).join(', ')})`);
  // The package's ESM entry has no `exports` map for Node; its CommonJS main is the reliable one.
  const metadata = createRequire(import.meta.url)('@superfluid-finance/metadata') as {
    getNetworkByName(n: string): MetadataNetwork | undefined;
  };
  const n = metadata.getNetworkByName(metadataName);
  if (!n) throw new DeployCheckError(`@superfluid-finance/metadata has no network "${metadataName}"`);
  const { host, gdaV1, gdaV1Forwarder } = n.contractsV1;
  if (!gdaV1 || !gdaV1Forwarder) throw new DeployCheckError(`@superfluid-finance/metadata lists no GDA for ${metadataName}`);
  return {
    name: metadataName,
    chainId: n.chainId,
    host: getAddress(host),
    gda: getAddress(gdaV1),
    gdaV1Forwarder: getAddress(gdaV1Forwarder),
    nativeTokenWrapper: n.nativeTokenWrapper ? getAddress(n.nativeTokenWrapper) : undefined,
  };
}

export interface TaskTypeRequest {
  name: string;
  /** Token wei per task. */
  pricePerTask: bigint;
  /** Token wei the escrow buffer may hold. */
  bufferMax: bigint;
  stakeUnitsPerTask?: bigint;
}

export interface DeployToNetworkOptions {
  /** Sender (its account) and the endpoint. */
  clients: ChainClients;
  rpcUrl: string;
  /** Either a known network (addresses from the metadata, verified on chain) ... */
  network?: NetworkName;
  /** ... or a host address (GDA read from it; forwarder given or the canonical one, verified). */
  superfluidHost?: Address;
  gdaForwarder?: Address;
  /** Payment Super Token; default with `network`: its native-asset wrapper. */
  token?: Address;
  /** ERC-20 sinks stake; default: the payment token's underlying. */
  stakeToken?: Address;
  /** Where slashed stake goes; default: the deployer. */
  slashRecipient?: Address;
  params?: Partial<BpeParams>;
  taskTypes?: TaskTypeRequest[];
  dryRun?: boolean;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface PlannedCreation {
  contract: string;
  key: string;
  address: Address;
  args: readonly unknown[];
  gas: bigint;
}

export interface DeployPlan {
  chainId: number;
  deployer: Address;
  nonce: number;
  superfluid: { host: Address; gda: Address; gdaV1Forwarder: Address };
  token: Address;
  stakeToken: Address;
  slashRecipient: Address;
  params: BpeParams;
  creations: PlannedCreation[];
  taskTypes: (TaskTypeRequest & { id: Hex })[];
  /** Gas of the eight creations (eth_estimateGas each). */
  creationGas: bigint;
  /** Gas of staking and creating the task types: an allowance, since it cannot be estimated
   * before the contracts exist. */
  taskTypeGas: bigint;
  gasPrice: bigint;
  /** (creationGas + taskTypeGas) × gasPrice: the expected cost. */
  cost: bigint;
  /** (creationGas + taskTypeGas) × max fee per gas: what the deployer must hold. */
  required: bigint;
  balance: bigint;
}

export interface DeployResult {
  plan: DeployPlan;
  /** Absent on a dry run. */
  deployment?: DeploymentFile;
}

/** Allowance per task type (registerTaskType creates a GDA pool and its PoolAdmin: ~0.6 M measured
 * locally) and for the creator's approve + stake, used before the contracts exist. */
export const TASK_TYPE_GAS_ALLOWANCE = 1_000_000n;
export const STAKE_GAS_ALLOWANCE = 250_000n;

const hasCode = async (clients: ChainClients, address: Address) => {
  const code = await clients.publicClient.getCode({ address });
  return code !== undefined && code !== '0x';
};

/** Checks everything, then (unless `dryRun`) deploys and creates the task types. */
export async function deployToNetwork(opts: DeployToNetworkOptions): Promise<DeployResult> {
  const { clients } = opts;
  const { publicClient } = clients;
  const log = opts.log ?? (() => {});
  const deployer = clients.account.address;
  if ((opts.network === undefined) === (opts.superfluidHost === undefined)) {
    throw new DeployCheckError('give exactly one of a network or a Superfluid host');
  }

  // 1. The endpoint serves the chain we mean.
  const chainId = await publicClient.getChainId();
  const network = opts.network ? superfluidNetwork(opts.network) : undefined;
  if (network && chainId !== network.chainId) {
    throw new DeployCheckError(`the RPC serves chain id ${chainId}, but ${opts.network} is chain ${network.chainId}`);
  }

  // 2. The host is a Superfluid host: it has code and names its GDA (and CFA, which BPE's
  // contracts also check at construction).
  const host = network ? network.host : getAddress(opts.superfluidHost!);
  if (!(await hasCode(clients, host))) throw new DeployCheckError(`Superfluid host ${host} has no code on chain ${chainId}`);
  let gda: Address;
  try {
    gda = await publicClient.readContract({ address: host, abi: hostAbi, functionName: 'getAgreementClass', args: [GDA_AGREEMENT_TYPE] });
    const cfa = await publicClient.readContract({ address: host, abi: hostAbi, functionName: 'getAgreementClass', args: [CFA_AGREEMENT_TYPE] });
    if (gda === zeroAddress || cfa === zeroAddress) throw new Error('no agreement');
  } catch {
    throw new DeployCheckError(`${host} does not answer as a Superfluid host (getAgreementClass(GDA v1) failed)`);
  }
  if (network && !isAddressEqual(gda, network.gda)) {
    throw new DeployCheckError(`host ${host} names GDA ${gda}, but the metadata of ${network.name} says ${network.gda}`);
  }

  // 3. The GDA forwarder: the metadata's, the one given, or the canonical address, each only if
  // the host trusts it (the host cannot list its forwarders, so it is not derivable otherwise).
  const forwarderCandidate = network?.gdaV1Forwarder ?? (opts.gdaForwarder ? getAddress(opts.gdaForwarder) : CANONICAL_GDA_FORWARDER);
  const trusted = async (fwd: Address) =>
    (await hasCode(clients, fwd)) &&
    (await publicClient.readContract({ address: host, abi: hostAbi, functionName: 'isTrustedForwarder', args: [fwd] }).catch(() => false));
  if (!(await trusted(forwarderCandidate))) {
    throw new DeployCheckError(
      opts.gdaForwarder || network
        ? `GDA forwarder ${forwarderCandidate} is not a trusted forwarder of host ${host}`
        : `cannot find the GDA forwarder of host ${host} (the canonical ${CANONICAL_GDA_FORWARDER} is not one of its forwarders): pass --gda-forwarder`,
    );
  }
  const gdaV1Forwarder = forwarderCandidate;

  // 4. The payment token belongs to this host.
  const tokenIn = opts.token ?? network?.nativeTokenWrapper;
  if (!tokenIn) throw new DeployCheckError('no payment token: pass --token <Super Token address>');
  const token = getAddress(tokenIn);
  if (!(await hasCode(clients, token))) throw new DeployCheckError(`token ${token} has no code on chain ${chainId}`);
  let tokenHost: Address;
  try {
    tokenHost = await publicClient.readContract({ address: token, abi: tokenHostAbi, functionName: 'getHost' });
  } catch {
    throw new DeployCheckError(`token ${token} is not a Super Token (getHost() failed)`);
  }
  if (!isAddressEqual(tokenHost, host)) {
    throw new DeployCheckError(`token ${token} belongs to host ${tokenHost}, not ${host}`);
  }

  // 5. The stake token is an ERC-20 (default: the Super Token's underlying).
  let stakeToken: Address;
  if (opts.stakeToken) stakeToken = getAddress(opts.stakeToken);
  else {
    const underlying = await publicClient
      .readContract({ address: token, abi: superTokenAbi, functionName: 'getUnderlyingToken' })
      .catch(() => zeroAddress);
    if (underlying === zeroAddress) {
      throw new DeployCheckError(`token ${token} has no ERC-20 underlying to stake: pass --stake-token <ERC-20 address>`);
    }
    stakeToken = underlying;
  }
  if (!(await hasCode(clients, stakeToken))) throw new DeployCheckError(`stake token ${stakeToken} has no code on chain ${chainId}`);
  try {
    await publicClient.readContract({ address: stakeToken, abi: erc20Abi, functionName: 'totalSupply' });
  } catch {
    throw new DeployCheckError(`stake token ${stakeToken} is not an ERC-20 (totalSupply() failed)`);
  }

  // 6. Parameters and task types.
  const params: BpeParams = { ...DEFAULT_PARAMS, ...opts.params };
  const taskTypes = (opts.taskTypes ?? []).map((t) => {
    if (!t.name) throw new DeployCheckError('a task type needs a name');
    if (t.pricePerTask <= 0n) throw new DeployCheckError(`task type "${t.name}": price per task must be positive`);
    if (t.pricePerTask >= 2n ** 96n) throw new DeployCheckError(`task type "${t.name}": price per task exceeds uint96`);
    if (t.bufferMax < 0n) throw new DeployCheckError(`task type "${t.name}": bufferMax must not be negative`);
    return { ...t, id: taskTypeIdOf(deployer, t.name) };
  });
  const names = new Set<string>();
  for (const t of taskTypes) {
    if (names.has(t.name)) throw new DeployCheckError(`task type "${t.name}" is given twice`);
    names.add(t.name);
  }
  if (taskTypes.length > 0) {
    const need = params.minSinkStake;
    const have = await publicClient.readContract({ address: stakeToken, abi: erc20Abi, functionName: 'balanceOf', args: [deployer] });
    if (have < need) {
      throw new DeployCheckError(
        `creating task types needs the minimum stake: deployer ${deployer} holds ${formatUnits(have, 18)} of stake token ${stakeToken}, needs ${formatUnits(need, 18)}`,
      );
    }
  }

  // 7. The plan: predicted addresses and a gas estimate of each creation.
  const nonce = await publicClient.getTransactionCount({ address: deployer, blockTag: 'pending' });
  const predicted = predictBpeAddresses(deployer, nonce);
  const slashRecipient = opts.slashRecipient ? getAddress(opts.slashRecipient) : deployer;
  const creations = bpeCreations({ superfluidHost: host, stakeToken, slashRecipient, params }, predicted, params);
  const planned: PlannedCreation[] = [];
  for (const c of creations) {
    let gas: bigint;
    try {
      gas = await publicClient.estimateGas({
        account: deployer,
        data: encodeDeployData({ abi: c.abi, bytecode: c.bytecode, args: c.args as unknown[] }),
      });
    } catch (err) {
      throw new DeployCheckError(`estimating the creation of ${c.contract} failed: ${firstLine(err)}`);
    }
    planned.push({ contract: c.contract, key: c.key, address: predicted[c.key], args: c.args, gas });
  }
  const creationGas = planned.reduce((s, c) => s + c.gas, 0n);
  const taskTypeGas = taskTypes.length === 0 ? 0n : STAKE_GAS_ALLOWANCE + TASK_TYPE_GAS_ALLOWANCE * BigInt(taskTypes.length);
  const gasPrice = await publicClient.getGasPrice();
  // A node only accepts a transaction whose gas limit × max fee the sender can pay, and viem sets
  // the max fee above the current price (about 2 × base fee + tip): require that much, to be safe.
  const maxFeePerGas = await publicClient
    .estimateFeesPerGas()
    .then((f) => f.maxFeePerGas ?? f.gasPrice ?? gasPrice)
    .catch(() => gasPrice);
  const totalGas = creationGas + taskTypeGas;
  const cost = totalGas * gasPrice;
  const required = totalGas * (maxFeePerGas > gasPrice ? maxFeePerGas : gasPrice);
  const balance = await publicClient.getBalance({ address: deployer });
  const plan: DeployPlan = {
    chainId, deployer, nonce, superfluid: { host, gda, gdaV1Forwarder }, token, stakeToken, slashRecipient, params,
    creations: planned, taskTypes, creationGas, taskTypeGas, gasPrice, cost, required, balance,
  };

  // 8. Gas funds.
  if (balance < required) {
    throw new DeployCheckError(
      `deployer ${deployer} holds ${formatEther(balance)} ETH, the deployment needs up to ${formatEther(required)} ETH (${totalGas} gas at up to ${formatUnits(required / totalGas, 9)} gwei)`,
    );
  }
  if (opts.dryRun) return { plan };

  // 9. Deploy, each contract at its predicted address.
  const { walletClient } = clients;
  let startBlock: bigint | undefined;
  const deployed = {} as Omit<BpeDeployment, 'params'>;
  for (const [i, c] of creations.entries()) {
    const gas = (planned[i]!.gas * 120n) / 100n;
    const hash = await walletClient.deployContract({ abi: c.abi, bytecode: c.bytecode, args: c.args as unknown[], gas });
    const receipt = await publicClient.waitForTransactionReceipt({ hash });
    if (receipt.status !== 'success') throw new DeployCheckError(`deploying ${c.contract} reverted (tx ${hash})`);
    const address = receipt.contractAddress ? getAddress(receipt.contractAddress) : undefined;
    if (!address || address !== predicted[c.key]) {
      throw new DeployCheckError(
        `${c.contract} landed at ${address ?? 'no address'}, not ${predicted[c.key]}: another transaction from ${deployer} interleaved; the deployment is unusable, deploy again`,
      );
    }
    startBlock ??= receipt.blockNumber;
    deployed[c.key] = address;
    log(`  ${c.contract.padEnd(18)} ${address}  (block ${receipt.blockNumber}, ${receipt.gasUsed} gas)`);
  }
  const bpe: BpeDeployment = { ...deployed, params };

  // 10. Task types: the creator must hold the minimum stake.
  const created: DeploymentTaskType[] = [];
  if (taskTypes.length > 0) {
    const staked = await publicClient.readContract({ address: bpe.stakeManager, abi: StakeManager.abi, functionName: 'getStake', args: [deployer] });
    if (staked < params.minSinkStake) {
      const amount = params.minSinkStake - staked;
      await send(clients, 'approving the stake', { address: stakeToken, abi: erc20Abi, functionName: 'approve', args: [bpe.stakeManager, amount] });
      await send(clients, 'staking the minimum stake', { address: bpe.stakeManager, abi: StakeManager.abi, functionName: 'stake', args: [amount] });
      log(`  staked ${formatUnits(amount, 18)} to create task types`);
    }
    for (const t of taskTypes) {
      const receipt = await send(clients, `registering task type "${t.name}"`, {
        address: bpe.capacityRegistry,
        abi: CapacityRegistry.abi,
        functionName: 'registerTaskType',
        args: [t.name, token, t.pricePerTask, t.bufferMax, t.stakeUnitsPerTask ?? DEFAULT_STAKE_UNITS_PER_TASK],
      });
      const [event] = parseEventLogs({ abi: CapacityRegistry.abi, eventName: 'TaskTypeRegistered', logs: receipt.logs });
      if (!event || event.args.taskTypeId !== t.id) throw new DeployCheckError(`registering task type "${t.name}": no TaskTypeRegistered event`);
      created.push({ id: t.id, name: t.name, pool: getAddress(event.args.pool) });
      log(`  task type "${t.name}" ${t.id} pool ${event.args.pool}`);
    }
  }

  const deployment: DeploymentFile = {
    version: DEPLOYMENT_FILE_VERSION,
    chainId,
    rpcUrl: opts.rpcUrl,
    startBlock: startBlock!,
    superfluid: { host, gda, gdaV1Forwarder },
    token,
    stakeToken,
    bpe,
    taskTypes: created,
  };
  return { plan, deployment };
}

/** The task type id the registry gives `creator`'s `name`: keccak256(abi.encode(creator, name)). */
export function taskTypeIdOf(creator: Address, name: string): Hex {
  return keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'string' }], [creator, name]));
}

type WriteRequest = Parameters<typeof write>[2];

/** `write`, failing with a DeployCheckError; a revert the estimate found was never sent. */
async function send(clients: ChainClients, what: string, request: WriteRequest) {
  try {
    return await write({ clients }, what, request);
  } catch (err) {
    throw new DeployCheckError(err instanceof ContractFunctionExecutionError ? `${what} would revert: ${firstLine(err)}` : firstLine(err));
  }
}

function firstLine(err: unknown): string {
  const e = err as { shortMessage?: string; message?: string };
  return String(e.shortMessage ?? e.message ?? err).split('\n')[0]!;
}
