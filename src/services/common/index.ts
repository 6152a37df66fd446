// Building blocks every BPE service shares: config, logs, HTTP with /health and /metrics, backoff.
export * from './config.ts';
export * from './log.ts';
export * from './http.ts';
export * from './metrics.ts';
export * from './backoff.ts';
export * from './chain.ts';
export * from './revert.ts';
export * from './sqlite.ts';
