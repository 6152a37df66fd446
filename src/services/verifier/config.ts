/** The verification service's configuration. */
import { chainFields, httpFields } from '../common/chain.ts';
import { field, type ConfigOf } from '../common/config.ts';

export const VERIFIER_DEFAULT_PORT = 8647;

export const verifierSchema = {
  ...chainFields('BPE_VERIFIER'),
  ...httpFields('BPE_VERIFIER', VERIFIER_DEFAULT_PORT),
  db: field('path', 'BPE_VERIFIER_DB', 'SQLite file holding accepted receipts and observed slashes (created if missing)', { default: 'bpe-verifier.sqlite' }),
  maxBatch: field('int', 'BPE_VERIFIER_MAX_BATCH', 'most receipts in one POST /v1/receipts', { default: 500, min: 1, max: 10_000 }),
  submitBatch: field('int', 'BPE_VERIFIER_SUBMIT_BATCH', 'most receipts in one recordCompletions transaction (a batch whose gas estimate passes 16,777,216 is halved)', { default: 50, min: 1, max: 1000 }),
  maxAttempts: field('int', 'BPE_VERIFIER_MAX_ATTEMPTS', 'submissions of one receipt the chain refuses for a reason that may pass later (UnpaidReceipt, CompletedInFuture) before it is marked rejected', { default: 20, min: 1, max: 1000 }),
  retryBaseMs: field('int', 'BPE_VERIFIER_RETRY_BASE_MS', 'first wait before such a receipt is tried again (doubles each attempt, at most 10 minutes)', { default: 5000, min: 1, max: 600_000 }),
  maxLogRange: field('int', 'BPE_VERIFIER_MAX_LOG_RANGE', 'most blocks per eth_getLogs request', { default: 2000, min: 1, max: 1_000_000 }),
};

export type VerifierConfig = ConfigOf<typeof verifierSchema>;
