/** The oracle's configuration fields (`bpe oracle --help` prints them with their env variables). */
import { chainFields, httpFields } from '../common/chain.ts';
import { field, type ConfigOf } from '../common/config.ts';
import { DEFAULT_MAX_BODY_BYTES } from '../common/http.ts';

export const DEFAULT_ORACLE_PORT = 8645;

export const oracleSchema = {
  ...chainFields('BPE_ORACLE'),
  ...httpFields('BPE_ORACLE', DEFAULT_ORACLE_PORT),
  dbPath: field('path', 'BPE_ORACLE_DB_PATH', 'SQLite database of received attestations (created if missing)', { default: 'bpe-oracle.sqlite' }),
  batchSize: field('int', 'BPE_ORACLE_BATCH_SIZE', 'most attestations per relay transaction (~20k gas each)', { default: 50, min: 1, max: 500 }),
  relayIntervalMs: field('int', 'BPE_ORACLE_RELAY_INTERVAL_MS', 'longest wait before relaying a batch that is not full, in ms', { default: 2000, min: 10, max: 3_600_000 }),
  maxItemsPerRequest: field('int', 'BPE_ORACLE_MAX_ITEMS', 'most attestations in one POST', { default: 256, min: 1, max: 10_000 }),
  maxBodyBytes: field('int', 'BPE_ORACLE_MAX_BODY_BYTES', 'largest request body, in bytes', { default: DEFAULT_MAX_BODY_BYTES, min: 1024, max: 64 << 20 }),
  verifyThreads: field('int', 'BPE_ORACLE_VERIFY_THREADS', 'worker threads checking signatures (0: on the main thread)', { default: 2, min: 0, max: 64 }),
  registryTtlMs: field('int', 'BPE_ORACLE_REGISTRY_TTL_MS', 'how long a registry lookup (registered, last nonce) is reused, in ms', { default: 2000, min: 0, max: 600_000 }),
  commitDelayMs: field('int', 'BPE_ORACLE_COMMIT_DELAY_MS', 'group commit window: verified items wait this long to share one transaction, in ms', { default: 2, min: 0, max: 1000 }),
};

export type OracleConfig = ConfigOf<typeof oracleSchema>;
