// The real Superfluid framework on a development chain, deployed from the npm package's
// prebuilt artifacts: ERC1820 registry, external libraries, SuperfluidFrameworkDeployer and
// its deployment steps; plus wrapper Super Tokens for tests.
import {
  isAddressEqual,
  maxUint256,
  parseAbi,
  parseGwei,
  recoverTransactionAddress,
  serializeTransaction,
  zeroAddress,
  type Address,
  type Hex,
} from 'viem';
import { superTokenAbi, testTokenAbi } from './abis.ts';
import type { LinkableArtifact } from './artifacts.ts';
import type { ChainClients } from './clients.ts';
import { confirm, deployLinked, write } from './deploy.ts';
// Bundled at build time from @superfluid-finance/ethereum-contracts (scripts/bundle-superfluid.ts),
// so using this module needs neither that package nor its Hardhat/truffle dependencies.
import { ERC1820_CREATION_CODE, ERC1820_RUNTIME_CODE, FRAMEWORK_ARTIFACTS } from './superfluid.generated.ts';

// ---- ERC1820 registry (EIP-1820), which Super Tokens use for ERC-777 hooks ----

export const ERC1820_ADDRESS: Address = '0x1820a4B7618BdE71Dce8cdc73aAB6C95905faD24';
/** Sender recovered from EIP-1820's keyless ("Nick's method") deployment transaction. */
export const ERC1820_DEPLOYER: Address = '0xa990077c3205cbDf861e17Fa532eeB069cE9fF96';

// EIP-1820's deployment transaction: pre-EIP-155 legacy, nonce 0, 100 gwei, 800,000 gas, and a
// made-up signature r = s = 0x1820...1820, v = 27. Since nobody knows the key behind it, the same
// bytes deploy the registry at the same address on every chain. Its cost is what we fund.
const ERC1820_GAS_PRICE = parseGwei('100');
const ERC1820_GAS = 800_000n;
const ERC1820_SIGNATURE_WORD: Hex = `0x${'1820'.repeat(16)}`;

/**
 * The raw EIP-1820 deployment transaction, rebuilt from the registry's creation code shipped in
 * Superfluid's package (dev-scripts/artifacts/ERC1820Registry.json, bundled at build time). Any byte off would recover a
 * different sender, so the recovered sender is checked against ERC1820_DEPLOYER.
 */
export async function erc1820DeploymentTransaction(): Promise<Hex> {
  const bin = ERC1820_CREATION_CODE;
  const raw = serializeTransaction(
    { type: 'legacy', nonce: 0, gasPrice: ERC1820_GAS_PRICE, gas: ERC1820_GAS, value: 0n, data: `0x${bin}` },
    { r: ERC1820_SIGNATURE_WORD, s: ERC1820_SIGNATURE_WORD, v: 27n },
  );
  const sender = await recoverTransactionAddress({ serializedTransaction: raw });
  if (!isAddressEqual(sender, ERC1820_DEPLOYER)) {
    throw new Error(`ERC1820 deployment transaction recovers to ${sender}, not ${ERC1820_DEPLOYER}: creation code differs`);
  }
  return raw;
}

/** The registry's runtime code, from Superfluid's contracts/libs/ERC1820RegistryCompiled.sol (bundled at build time). */
export function erc1820RuntimeBytecode(): Hex {
  return ERC1820_RUNTIME_CODE as Hex;
}

/** Deploys the ERC1820 registry unless it is already there. */
export async function deployERC1820(clients: ChainClients): Promise<void> {
  const { publicClient, walletClient } = clients;
  const expected = erc1820RuntimeBytecode();
  const existing = await publicClient.getCode({ address: ERC1820_ADDRESS });
  if (existing && existing !== '0x') {
    if (existing.toLowerCase() !== expected) throw new Error(`${ERC1820_ADDRESS} holds code that is not the ERC1820 registry`);
    return;
  }
  if ((await publicClient.getTransactionCount({ address: ERC1820_DEPLOYER })) !== 0) {
    throw new Error(`ERC1820 deployer ${ERC1820_DEPLOYER} has used nonce 0 but the registry is missing: cannot deploy`);
  }
  const cost = ERC1820_GAS_PRICE * ERC1820_GAS; // 0.08 ETH
  const balance = await publicClient.getBalance({ address: ERC1820_DEPLOYER });
  if (balance < cost) {
    const hash = await walletClient.sendTransaction({ to: ERC1820_DEPLOYER, value: cost - balance });
    await confirm(clients, hash, 'funding the ERC1820 deployer');
  }
  const hash = await publicClient.sendRawTransaction({ serializedTransaction: await erc1820DeploymentTransaction() });
  await confirm(clients, hash, 'deploying ERC1820');
  const code = await publicClient.getCode({ address: ERC1820_ADDRESS });
  if (code?.toLowerCase() !== expected) throw new Error('ERC1820 deployment left unexpected code at the registry address');
}

// ---- Superfluid framework ----

export const FRAMEWORK_DEPLOYER_ARTIFACT =
  'contracts/utils/SuperfluidFrameworkDeployer.t.sol:SuperfluidFrameworkDeployer';

const frameworkDeployerAbi = parseAbi([
  'struct Framework { address governance; address host; address cfa; address ida; address gda; address superTokenFactory; address superTokenLogic; address resolver; address superfluidLoader; address cfaV1Forwarder; address gdaV1Forwarder; address macroForwarder; address clearMacroForwarderV1WithPermit2; address batchLiquidator; address toga; }',
  'function getNumSteps() pure returns (uint8)',
  'function executeStep(uint8 step)',
  'function getFramework() view returns (Framework sf)',
  'function deployWrapperSuperToken(string underlyingName, string underlyingSymbol, uint8 decimals, uint256 mintLimit, address admin) returns (address underlyingToken, address superToken)',
]);

/** Addresses of a deployed test framework (SuperfluidFrameworkDeploymentSteps.Framework). */
export interface SuperfluidFramework {
  governance: Address;
  host: Address;
  cfa: Address;
  ida: Address;
  gda: Address;
  superTokenFactory: Address;
  superTokenLogic: Address;
  resolver: Address;
  superfluidLoader: Address;
  cfaV1Forwarder: Address;
  gdaV1Forwarder: Address;
  macroForwarder: Address;
  clearMacroForwarderV1WithPermit2: Address;
  batchLiquidator: Address;
  toga: Address;
  /** The SuperfluidFrameworkDeployer itself, which also deploys test tokens. */
  frameworkDeployer: Address;
}

/** The deployer or one of its libraries, from the bytecode bundled at build time. */
function bundledFrameworkArtifact(qualifiedName: string): LinkableArtifact {
  const artifact = FRAMEWORK_ARTIFACTS[qualifiedName];
  if (!artifact) throw new Error(`${qualifiedName} is not among the bundled Superfluid framework artifacts`);
  return artifact;
}

/**
 * Deploys Superfluid's test framework (governance, host, CFA, IDA, GDA, Super Token factory,
 * forwarders, resolver, ...) the way its Solidity tests do (liquidation period 4 h).
 * Needs a chain without the 24,576-byte code size limit (see startAnvil).
 */
export async function deploySuperfluid(clients: ChainClients): Promise<SuperfluidFramework> {
  const { publicClient } = clients;
  await deployERC1820(clients);
  const frameworkDeployer = await deployLinked(
    clients,
    bundledFrameworkArtifact(FRAMEWORK_DEPLOYER_ARTIFACT),
    bundledFrameworkArtifact,
  );
  const deployer = { address: frameworkDeployer, abi: frameworkDeployerAbi } as const;
  // The deployer builds the framework in steps, one transaction each, and says how many there are.
  const steps = await publicClient.readContract({ ...deployer, functionName: 'getNumSteps' });
  for (let step = 0; step < steps; step++) {
    await write({ clients }, `Superfluid deployment step ${step}`, { ...deployer, functionName: 'executeStep', args: [step] });
  }
  const framework = await publicClient.readContract({ ...deployer, functionName: 'getFramework' });
  return { ...framework, frameworkDeployer };
}

export interface TestSuperTokenOptions {
  /** Underlying ERC-20 name and symbol; the Super Token is "Super <symbol>" / "<symbol>x". */
  name: string;
  symbol: string;
  /** Underlying decimals (default 18); the Super Token always has 18. */
  decimals?: number;
  /** Accounts that receive `amount` Super Tokens each. */
  mintTo: readonly Address[];
  /** Super Token amount per account, in 18-decimal wei. */
  amount: bigint;
}

export interface TestSuperToken {
  underlying: Address;
  superToken: Address;
}

/**
 * Deploys a TestToken (anyone may mint) and its wrapper Super Token through the framework
 * deployer, then mints underlying to the sender and wraps `amount` for each `mintTo` account.
 */
export async function deployTestSuperToken(
  clients: ChainClients,
  framework: SuperfluidFramework,
  opts: TestSuperTokenOptions,
): Promise<TestSuperToken> {
  const { publicClient, account } = clients;
  const decimals = opts.decimals ?? 18;
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 18) throw new Error(`decimals must be 0..18, got ${decimals}`);
  // Wrapping converts amounts by 10^(18 - decimals) and truncates; require exact amounts.
  const scale = 10n ** BigInt(18 - decimals);
  if (opts.amount % scale !== 0n) throw new Error(`amount ${opts.amount} is not representable with ${decimals} underlying decimals`);

  // Simulating first is how we get the function's return values (the new token addresses).
  const { result, request } = await publicClient.simulateContract({
    account,
    address: framework.frameworkDeployer,
    abi: frameworkDeployerAbi,
    functionName: 'deployWrapperSuperToken',
    // No per-call mint limit (these are test tokens); admin 0 leaves upgrades to governance.
    args: [opts.name, opts.symbol, decimals, maxUint256, zeroAddress],
  });
  await write({ clients }, `deploying Super Token ${opts.symbol}x`, request);
  const [underlying, superToken] = result;

  const totalUnderlying = (opts.amount / scale) * BigInt(opts.mintTo.length);
  if (totalUnderlying > 0n) {
    const token = { address: underlying, abi: testTokenAbi } as const;
    await write({ clients }, `minting ${opts.symbol}`, { ...token, functionName: 'mint', args: [account.address, totalUnderlying] });
    await write({ clients }, `approving ${opts.symbol}x to wrap ${opts.symbol}`, { ...token, functionName: 'approve', args: [superToken, totalUnderlying] });
    for (const to of opts.mintTo) {
      // upgradeTo with empty userData skips the ERC-777 receive hook, so contracts can receive too.
      await write({ clients }, `wrapping ${opts.symbol} for ${to}`, { address: superToken, abi: superTokenAbi, functionName: 'upgradeTo', args: [to, opts.amount, '0x'] });
    }
  }
  return { underlying, superToken };
}
