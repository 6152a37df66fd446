// Sending and deploying with receipt checks, including contracts that need external
// libraries deployed and linked first.
import { getAddress, type Abi, type Address, type Hash, type Hex, type TransactionReceipt } from 'viem';
import { linkBytecode, requiredLibraries, type LinkableArtifact } from './artifacts.ts';
import type { ChainClients } from './clients.ts';

/**
 * Waits for a transaction to be mined and returns its receipt; throws if it reverted
 * (viem only reports reverts at gas estimation, not for a mined transaction), with the gas it
 * used of its limit `gas` when given (used below the limit: a revert, not out of gas).
 */
export async function confirm(clients: ChainClients, hash: Hash, what: string, gas?: bigint): Promise<TransactionReceipt> {
  const receipt = await clients.publicClient.waitForTransactionReceipt({ hash });
  if (receipt.status === 'success') return receipt;
  throw new Error(`${what} reverted (tx ${hash}, ${receipt.gasUsed}${gas === undefined ? '' : ` of ${gas}`} gas used)`);
}

type WriteRequest = Parameters<ChainClients['walletClient']['writeContract']>[0];

/**
 * Gas headroom over the estimate. An exact estimate fails in two ways seen on anvil: a GDA pool's
 * work grows when other transactions land first (a buffer re-size, a remainder re-sync), and
 * Superfluid's `updateMemberUnits` on a new pool reverts (below 63/64 of its gas left, not out of
 * gas) when it is mined one second later than it was estimated, which the wall clock decides.
 */
const GAS_HEADROOM_PERCENT = 150n;

/** The gas to send with for an estimate of `estimate`: every BPE transaction pays this headroom. */
export function withGasHeadroom(estimate: bigint): bigint {
  return (estimate * GAS_HEADROOM_PERCENT) / 100n;
}

/**
 * Estimates (which reports a revert with its decoded custom error before anything is sent),
 * sends with headroom, and waits for a successful receipt.
 */
export async function write(on: { clients: ChainClients }, what: string, request: WriteRequest): Promise<TransactionReceipt> {
  const { publicClient, walletClient } = on.clients;
  const estimate = await publicClient.estimateContractGas({ account: walletClient.account, ...request } as Parameters<typeof publicClient.estimateContractGas>[0]);
  const gas = withGasHeadroom(estimate);
  return confirm(on.clients, await walletClient.writeContract({ ...request, gas } as WriteRequest), what, gas);
}

/** Deploys creation bytecode (with constructor arguments) and returns the new contract's address. */
export async function deployBytecode(
  clients: ChainClients,
  what: string,
  bytecode: Hex,
  abi: Abi = [],
  args: readonly unknown[] = [],
): Promise<Address> {
  const hash = await clients.walletClient.deployContract({ abi, bytecode, args });
  const { contractAddress } = await confirm(clients, hash, `deploying ${what}`);
  if (!contractAddress) throw new Error(`deploying ${what}: receipt has no contract address (tx ${hash})`);
  return getAddress(contractAddress);
}

/**
 * Deploys every library `artifact` links against, dependencies first, each once: addresses
 * already in `deployed` are reused and new ones are added to it (keyed `"source:Name"`).
 */
export async function deployLibraries(
  clients: ChainClients,
  artifact: LinkableArtifact,
  load: (qualifiedName: string) => LinkableArtifact,
  deployed: Map<string, Address> = new Map(),
): Promise<Map<string, Address>> {
  for (const name of requiredLibraries(artifact)) {
    if (deployed.has(name)) continue;
    const library = load(name);
    await deployLibraries(clients, library, load, deployed);
    const bytecode = linkBytecode(library, Object.fromEntries(deployed));
    deployed.set(name, await deployBytecode(clients, name, bytecode));
  }
  return deployed;
}

/** Deploys an artifact after deploying and linking the libraries it needs. */
export async function deployLinked(
  clients: ChainClients,
  artifact: LinkableArtifact,
  load: (qualifiedName: string) => LinkableArtifact,
  args: readonly unknown[] = [],
): Promise<Address> {
  const libraries = await deployLibraries(clients, artifact, load);
  const bytecode = linkBytecode(artifact, Object.fromEntries(libraries));
  return deployBytecode(clients, artifact.contractName, bytecode, artifact.abi, args);
}
