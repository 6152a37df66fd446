// viem clients for one RPC endpoint: a local anvil (fast polling, funded mnemonic accounts,
// test actions) or any real chain reached with a URL and a private key.
import {
  createPublicClient,
  createTestClient,
  createWalletClient,
  defineChain,
  http,
  type Account,
  type Chain,
  type Hex,
  type HttpTransport,
  type PublicClient,
  type TestClient,
  type WalletClient,
} from 'viem';
import { mnemonicToAccount, privateKeyToAccount, type HDAccount } from 'viem/accounts';
import { anvil } from 'viem/chains';
import { ANVIL_CHAIN_ID, ANVIL_MNEMONIC } from './anvil.ts';

/** anvil mines on every transaction, so viem's default (up to 4 s) would only add waiting. */
export const LOCAL_POLLING_INTERVAL_MS = 20;

export interface ChainClients {
  chain: Chain;
  /** Default sender of walletClient's transactions (override per call with `account`). */
  account: Account;
  publicClient: PublicClient<HttpTransport, Chain>;
  walletClient: WalletClient<HttpTransport, Chain, Account>;
}

export interface AnvilClients extends ChainClients {
  /** anvil_* / evm_* methods: increaseTime, mine, setBalance, snapshot, ... */
  testClient: TestClient<'anvil', HttpTransport, Chain, undefined>;
}

const derived = new Map<number, HDAccount>();

/**
 * Account `index` of anvil's mnemonic (m/44'/60'/0'/0/index), funded on a fresh anvil.
 * Memoised: each derivation costs ~15 ms of key stretching.
 */
export function anvilAccount(index: number): HDAccount {
  let account = derived.get(index);
  if (!account) {
    account = mnemonicToAccount(ANVIL_MNEMONIC, { addressIndex: index });
    derived.set(index, account);
  }
  return account;
}

/** The first `count` anvil accounts (anvil funds 10 unless started with more). */
export function anvilAccounts(count = 10): HDAccount[] {
  return Array.from({ length: count }, (_, i) => anvilAccount(i));
}

/** viem chain for an anvil at `rpcUrl` (chain id 31337). */
export function anvilChain(rpcUrl: string): Chain {
  return defineChain({ ...anvil, id: ANVIL_CHAIN_ID, rpcUrls: { default: { http: [rpcUrl] } } });
}

/** Public, wallet and test clients for a local anvil, sending from `account` (default: account 0). */
export function anvilClients(rpcUrl: string, account: Account = anvilAccount(0)): AnvilClients {
  const chain = anvilChain(rpcUrl);
  const pollingInterval = LOCAL_POLLING_INTERVAL_MS;
  return {
    ...makeClients(chain, rpcUrl, account, pollingInterval),
    testClient: createTestClient({ mode: 'anvil', chain, transport: http(rpcUrl), pollingInterval }),
  };
}

/**
 * Public and wallet clients for a real chain. Pass `chain` (e.g. `baseSepolia` from viem/chains)
 * to get its metadata and block-time-based polling; the endpoint must serve that chain id.
 * Without it, a minimal chain is built from the endpoint's chain id.
 */
export async function remoteClients(rpcUrl: string, privateKey: Hex, chain?: Chain): Promise<ChainClients> {
  const probe = createPublicClient({ transport: http(rpcUrl) });
  const id = await probe.getChainId();
  if (chain && chain.id !== id) {
    throw new Error(`${rpcUrl} serves chain id ${id}, expected ${chain.id} (${chain.name})`);
  }
  const resolved =
    chain ??
    defineChain({
      id,
      name: `chain ${id}`,
      nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
      rpcUrls: { default: { http: [rpcUrl] } },
    });
  return makeClients(resolved, rpcUrl, privateKeyToAccount(privateKey));
}

function makeClients(chain: Chain, rpcUrl: string, account: Account, pollingInterval?: number): ChainClients {
  return {
    chain,
    account,
    publicClient: createPublicClient({ chain, transport: http(rpcUrl), pollingInterval }),
    walletClient: createWalletClient({ chain, account, transport: http(rpcUrl), pollingInterval }),
  };
}
