/** The keeper's Prometheus metrics. */
import { Counter, Gauge, type Registry } from '../common/metrics.ts';

export function keeperMetrics(registry: Registry) {
  return {
    duties: new Counter({
      name: 'bpe_keeper_duties_total',
      help: 'Duties by kind and outcome: run (a transaction landed), skipped (found not due when simulated: another keeper was first), reverted (mined but reverted: lost a race after simulating), failed (refused for another reason, or reverted when mined)',
      labelNames: ['kind', 'outcome'] as const,
      registers: [registry],
    }),
    gasUsed: new Counter({ name: 'bpe_keeper_gas_used_total', help: 'Gas used by the keeper\'s transactions, by duty kind', labelNames: ['kind'] as const, registers: [registry] }),
    gasSpentWei: new Counter({ name: 'bpe_keeper_gas_spent_wei_total', help: 'Wei paid for gas (gasUsed x effectiveGasPrice), by duty kind', labelNames: ['kind'] as const, registers: [registry] }),
    lastBlock: new Gauge({ name: 'bpe_keeper_last_block', help: 'Last block the keeper has scanned', registers: [registry] }),
    degraded: new Gauge({ name: 'bpe_keeper_degraded', help: '1 while the RPC endpoint fails (the keeper backs off), else 0', registers: [registry] }),
    rpcErrors: new Counter({ name: 'bpe_keeper_rpc_errors_total', help: 'Polls that failed to reach the chain', registers: [registry] }),
    taskTypes: new Gauge({ name: 'bpe_keeper_task_types', help: 'Task types followed', registers: [registry] }),
    slashes: new Counter({ name: 'bpe_keeper_slashes_seen_total', help: 'Windows judged with a slash (any caller)', registers: [registry] }),
  };
}

export type KeeperMetrics = ReturnType<typeof keeperMetrics>;
