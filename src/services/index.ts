// The three off-chain services as a library (`backpressure-economics/services`): start them in
// your own process, or run them with `bpe oracle`, `bpe keeper`, `bpe verifier`.
export * from './oracle/index.ts';
export * from './keeper/index.ts';
export { startVerifier, verifierSchema, ReceiptStore } from './verifier/index.ts';
export type { Verifier, VerifierConfig, VerifierDeps, VerifierStatus, VerifierEventName } from './verifier/index.ts';
export * from './common/index.ts';
