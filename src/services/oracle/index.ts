// The CapacityOracle service: HTTP intake of signed capacity attestations, durable store, relayer.
export { startOracle, type RunningOracle, type StartOracleOptions } from './service.ts';
export { oracleSchema, DEFAULT_ORACLE_PORT, type OracleConfig } from './config.ts';
export { parseRequest, toAttestationJson, MAX_VALUE, type Attestation, type AttestationJson, type ItemResult, type ItemStatus } from './attestation.ts';
export { attestationDigest, signatureError } from './signature.ts';
export { OracleStore, ROW_STATUSES, type RowStatus, type StoredRow, type RelayRecord } from './store.ts';
export { Relayer, REJECTION_NAMES, type RelayerOptions } from './relayer.ts';
