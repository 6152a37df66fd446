/** The verifier's Prometheus metrics. */
import { Counter, Gauge, type Registry } from '../common/metrics.ts';
import type { ReceiptStore } from './store.ts';

export function verifierMetrics(registry: Registry, store: ReceiptStore) {
  return {
    received: new Counter({ name: 'bpe_verifier_receipts_received_total', help: 'Receipts posted, by result: accepted (stored), duplicate, rejected (bad signature or refused on its face)', labelNames: ['result'] as const, registers: [registry] }),
    malformed: new Counter({ name: 'bpe_verifier_requests_malformed_total', help: 'POST /v1/receipts bodies refused whole (4xx)', registers: [registry] }),
    submissions: new Counter({ name: 'bpe_verifier_submissions_total', help: 'Submission outcomes: counted (our transaction), landed (already counted on chain), retry (refused for now), rejected (refused for good)', labelNames: ['outcome'] as const, registers: [registry] }),
    gasUsed: new Counter({ name: 'bpe_verifier_gas_used_total', help: 'Gas used by recordCompletions transactions', registers: [registry] }),
    byStatus: new Gauge({
      name: 'bpe_verifier_receipts', help: 'Stored receipts by status', labelNames: ['status'] as const, registers: [registry],
      collect() {
        for (const [status, n] of Object.entries(store.counts())) this.set({ status }, n);
      },
    }),
    slashes: new Counter({ name: 'bpe_verifier_slashes_total', help: 'Slashes observed on chain (EpochEvaluated with a slash)', registers: [registry] }),
    windows: new Counter({ name: 'bpe_verifier_windows_judged_total', help: 'Evaluation windows judged on chain (EpochEvaluated)', registers: [registry] }),
    lastBlock: new Gauge({ name: 'bpe_verifier_last_block', help: 'Last block scanned for slashes', registers: [registry] }),
    degraded: new Gauge({ name: 'bpe_verifier_degraded', help: '1 while the RPC endpoint fails (the verifier backs off), else 0', registers: [registry] }),
    rpcErrors: new Counter({ name: 'bpe_verifier_rpc_errors_total', help: 'Loop iterations that failed to reach the chain', registers: [registry] }),
  };
}

export type VerifierMetrics = ReturnType<typeof verifierMetrics>;
