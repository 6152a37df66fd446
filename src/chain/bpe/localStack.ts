// A whole local BPE world in one call: anvil, the real Superfluid framework, a test Super Token
// (its underlying ERC-20 doubles as the stake token) and the BPE contracts. Used by `bpe demo`,
// the gas benchmark and the end-to-end tests.
import type { Account, Address } from 'viem';
import { startAnvil, type AnvilInstance, type AnvilOptions } from '../anvil.ts';
import { anvilAccount, anvilClients, type AnvilClients } from '../clients.ts';
import { deploySuperfluid, deployTestSuperToken, type SuperfluidFramework } from '../superfluid.ts';
import { deployBpe, type BpeParams } from './deploy.ts';
import { write } from '../deploy.ts';
import { testTokenAbi } from '../abis.ts';
import type { BpeContext } from './actions.ts';
import { DEPLOYMENT_FILE_VERSION, type DeploymentFile, type DeploymentTaskType } from './deploymentFile.ts';

export interface LocalStack extends BpeContext {
  anvil: AnvilInstance;
  clients: AnvilClients;
  framework: SuperfluidFramework;
  /** Payment Super Token and its underlying (also the stake token; anyone may mint it). */
  token: Address;
  underlying: Address;
  /** Deployer, also the recipient of slashed stake. */
  deployer: Account;
  /** Mints stake tokens (the test ERC-20) to `to`. */
  mintStakeTokens(to: Address, amount: bigint): Promise<void>;
  stop(): Promise<void>;
}

export interface LocalStackOptions {
  anvil?: AnvilOptions;
  params?: Partial<BpeParams>;
  /** Accounts (anvil mnemonic indices) funded with `superTokenAmount` Super Tokens each. */
  fundedAccounts?: number[];
  superTokenAmount?: bigint;
}

export async function startLocalStack(opts: LocalStackOptions = {}): Promise<LocalStack> {
  const anvil = await startAnvil(opts.anvil);
  try {
    const deployer = anvilAccount(0);
    const clients = anvilClients(anvil.rpcUrl, deployer);
    const framework = await deploySuperfluid(clients);
    const { underlying, superToken } = await deployTestSuperToken(clients, framework, {
      name: 'Test Dollar',
      symbol: 'TUSD',
      mintTo: (opts.fundedAccounts ?? []).map((i) => anvilAccount(i).address),
      amount: opts.superTokenAmount ?? 10n ** 24n,
    });
    const bpe = await deployBpe(clients, {
      superfluidHost: framework.host,
      stakeToken: underlying,
      slashRecipient: deployer.address,
      params: opts.params,
    });
    const mintStakeTokens = async (to: Address, amount: bigint) => {
      await write({ clients }, 'minting stake tokens', { address: underlying, abi: testTokenAbi, functionName: 'mint', args: [to, amount] });
    };
    return {
      anvil, clients, framework, bpe, token: superToken, underlying, deployer, mintStakeTokens, stop: () => anvil.stop(),
    };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}

/** The deployment JSON of a local stack, for the services, the dashboard and `cast`. */
export function localDeployment(stack: LocalStack, taskTypes: DeploymentTaskType[]): DeploymentFile {
  const { framework } = stack;
  return {
    version: DEPLOYMENT_FILE_VERSION,
    chainId: stack.clients.chain.id,
    rpcUrl: stack.anvil.rpcUrl,
    startBlock: 0n,
    superfluid: { host: framework.host, gda: framework.gda, gdaV1Forwarder: framework.gdaV1Forwarder },
    token: stack.token,
    stakeToken: stack.underlying,
    bpe: stack.bpe,
    taskTypes,
  };
}
