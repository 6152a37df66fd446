/** Config fields and the connection every chain-facing service shares. */
import { createPublicClient, createWalletClient, defineChain, http, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import type { ChainClients } from '../../chain/clients.ts';
import type { BpeContext } from '../../chain/bpe/actions.ts';
import { contextAddresses, readDeploymentFile, type DeploymentFile } from '../../chain/bpe/deploymentFile.ts';
import { ConfigError, field } from './config.ts';

export const chainFields = (prefix: string) => ({
  deployment: field('path', `${prefix}_DEPLOYMENT`, 'deployment JSON written by `bpe devnet` or `bpe deploy`', { default: 'deployment.json' }),
  rpcUrl: field('url', `${prefix}_RPC_URL`, 'JSON-RPC endpoint (default: the deployment file\'s)'),
  privateKey: field('privateKey', `${prefix}_PRIVATE_KEY`, 'key of the account that sends this service\'s transactions (environment only, never a flag in shell history)'),
  pollMs: field('int', `${prefix}_POLL_MS`, 'how often to poll the chain, in ms', { default: 1000, min: 10, max: 600_000 }),
});

export const httpFields = (prefix: string, port: number) => ({
  host: field('string', `${prefix}_HOST`, 'address to listen on', { default: '127.0.0.1' }),
  port: field('int', `${prefix}_PORT`, 'port to listen on (0 = any free port)', { default: port, min: 0, max: 65_535 }),
});

export interface ChainConnection extends BpeContext {
  deployment: DeploymentFile;
}

/** Reads the deployment file and connects to its chain (checking the chain id) as `privateKey`. */
export async function connect(opts: { deployment: string; rpcUrl?: string; privateKey?: Hex; pollMs: number }): Promise<ChainConnection> {
  const deployment = readDeploymentFile(opts.deployment);
  if (!opts.privateKey) throw new ConfigError('privateKey', 'environment', 'is required: the service sends transactions');
  const rpcUrl = opts.rpcUrl ?? deployment.rpcUrl;
  const chain = defineChain({
    id: deployment.chainId,
    name: `chain ${deployment.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
  const account = privateKeyToAccount(opts.privateKey);
  const transport = http(rpcUrl, { retryCount: 0 });
  const clients: ChainClients = {
    chain,
    account,
    publicClient: createPublicClient({ chain, transport, pollingInterval: opts.pollMs }),
    walletClient: createWalletClient({ chain, account, transport, pollingInterval: opts.pollMs }),
  };
  const served = await clients.publicClient.getChainId();
  if (served !== deployment.chainId) {
    throw new ConfigError('rpcUrl', rpcUrl, `serves chain id ${served}, but the deployment is on chain ${deployment.chainId}`);
  }
  return { ...contextAddresses(deployment), clients, deployment };
}

/** Whether a service was handed ready dependencies (a `ctx`) rather than its config. */
export function hasContext<D extends { ctx: unknown }>(input: D | object): input is D {
  const ctx = (input as D).ctx;
  return typeof ctx === 'object' && ctx !== null;
}
