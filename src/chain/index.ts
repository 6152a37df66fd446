/**
 * backpressure-economics/chain: the chain plumbing under the agent-facing API. viem clients,
 * a local anvil, Superfluid's test framework deployed from its npm artifacts (with the library
 * linker), BPE deployment, and the BPE contracts' ABIs and bytecode (`StakeManager.abi`, ...).
 */
export * from './anvil.ts';
export * from './clients.ts';
export * from './abis.ts';
export * from './artifacts.ts';
export * from './deploy.ts';
export * from './superfluid.ts';
export * from './bpe/deploy.ts';
export * from './bpe/localStack.ts';
// ABIs and bytecode of the nine BPE contracts, generated from forge's output at build time.
export * from './bpe/artifacts.generated.ts';
export * from './bpe/deploymentFile.ts';
export * from './bpe/deployToNetwork.ts';
