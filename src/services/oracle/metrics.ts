/** The oracle's Prometheus metrics. */
import { Counter, Gauge, createRegistry, type Registry } from '../common/metrics.ts';
import type { ItemResult } from './attestation.ts';

/** The reason's leading words ("stale", "bad signature", ...) as a label: bounded cardinality. */
export const reasonLabel = (reason?: string): string => (reason ? reason.split(':')[0].replace(/[^a-z]+/gi, '_').toLowerCase() : '');

export interface OracleMetrics {
  registry: Registry;
  item(result: ItemResult): void;
  refused(status: number): void;
  committed(rows: number): void;
  batchMined(items: number, accepted: number, gasUsed: bigint): void;
  settled(outcome: string, reason?: string): void;
  relayFailure(stage: string): void;
}

export function createOracleMetrics(pending: () => number): OracleMetrics {
  const registry = createRegistry('oracle');
  const items = new Counter({ name: 'bpe_oracle_attestations_total', help: 'attestations received, by reply status and rejection reason', labelNames: ['status', 'reason'], registers: [registry] });
  const refused = new Counter({ name: 'bpe_oracle_requests_refused_total', help: 'requests refused whole (nothing stored), by HTTP status', labelNames: ['status'], registers: [registry] });
  const commits = new Counter({ name: 'bpe_oracle_commits_total', help: 'group-commit transactions', registers: [registry] });
  const committedRows = new Counter({ name: 'bpe_oracle_committed_rows_total', help: 'rows written by group commits', registers: [registry] });
  const batches = new Counter({ name: 'bpe_oracle_relay_batches_total', help: 'relay transactions mined', registers: [registry] });
  const relayedItems = new Counter({ name: 'bpe_oracle_relay_items_total', help: 'attestations in mined relay transactions, by on-chain outcome', labelNames: ['outcome', 'reason'], registers: [registry] });
  const gas = new Counter({ name: 'bpe_oracle_relay_gas_used_total', help: 'gas used by relay transactions', registers: [registry] });
  const failures = new Counter({ name: 'bpe_oracle_relay_failures_total', help: 'failed relay cycles (RPC errors) and reverted relays', labelNames: ['stage'], registers: [registry] });
  new Gauge({ name: 'bpe_oracle_pending', help: 'attestations stored and not yet settled on chain', registers: [registry], collect() { this.set(pending()); } });
  return {
    registry,
    item: (r) => items.inc({ status: r.status, reason: reasonLabel(r.reason) }),
    refused: (status) => refused.inc({ status: String(status) }),
    committed: (rows) => {
      commits.inc();
      committedRows.inc(rows);
    },
    batchMined: (n, _accepted, gasUsed) => {
      batches.inc();
      gas.inc(Number(gasUsed));
      void n;
    },
    settled: (outcome, reason) => relayedItems.inc({ outcome, reason: reason ?? '' }),
    relayFailure: (stage) => failures.inc({ stage }),
  };
}
