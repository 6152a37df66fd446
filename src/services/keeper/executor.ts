/**
 * Sends one duty's transaction, once: at most one in flight per (duty, key); `write()` estimates
 * gas first, which simulates the call on the latest state, so a call that is no longer due (another
 * keeper won the race) is refused before anything is sent. Such a refusal, by one of the duty's
 * "not due" errors, is a success (skipped), not a failure. Anything that is not a contract refusal
 * (the RPC is down) is thrown to the engine, which backs off.
 */
import type { Account, TransactionReceipt } from 'viem';
import type { BpeContext } from '../../chain/bpe/actions.ts';
import type { Logger } from '../common/log.ts';
import { describeRevert, revertOf } from '../common/revert.ts';
import type { DutyKind } from './config.ts';
import type { KeeperMetrics } from './metrics.ts';

export type Outcome = 'run' | 'skipped' | 'reverted' | 'failed' | 'busy';

export interface DutyResult {
  outcome: Outcome;
  receipt?: TransactionReceipt;
  /** Why it was skipped or failed (the decoded custom error). */
  reason?: string;
}

export interface TxRecord {
  kind: DutyKind;
  key: string;
  hash: `0x${string}`;
  status: 'success' | 'reverted';
  gasUsed: bigint;
  blockNumber: bigint;
}

export class DutyExecutor {
  private readonly inFlight = new Set<string>();
  /** Every transaction this keeper sent (bounded to the last 1000), for status and tests. */
  readonly sent: TxRecord[] = [];

  constructor(
    private readonly ctx: BpeContext,
    readonly account: Account,
    private readonly metrics: KeeperMetrics,
    private readonly log: Logger,
  ) {}

  async run(kind: DutyKind, key: string, notDue: readonly string[], send: () => Promise<TransactionReceipt>): Promise<DutyResult> {
    const id = `${kind}:${key}`;
    if (this.inFlight.has(id)) return { outcome: 'busy' };
    this.inFlight.add(id);
    try {
      const receipt = await send();
      this.record(kind, key, receipt);
      this.metrics.duties.inc({ kind, outcome: 'run' });
      this.log.info({ kind, key, tx: receipt.transactionHash, gasUsed: receipt.gasUsed.toString() }, 'duty done');
      return { outcome: 'run', receipt };
    } catch (err) {
      const revert = revertOf(err);
      if (!revert) throw err; // RPC trouble: the engine backs off and decides again from fresh state
      const reason = describeRevert(revert);
      const hash = /\(tx (0x[0-9a-f]{64})/i.exec(revert.message)?.[1];
      if (hash) {
        // Mined and reverted: usually another keeper's transaction for the same duty landed between
        // our simulation and ours (a lost race: one wasted transaction, its gas still spent).
        const receipt = await this.ctx.clients.publicClient.getTransactionReceipt({ hash: hash as `0x${string}` });
        this.record(kind, key, receipt);
        this.metrics.duties.inc({ kind, outcome: 'reverted' });
        this.log.warn({ kind, key, tx: hash }, 'duty transaction reverted when mined (another caller was first, or it ran out of gas)');
        return { outcome: 'reverted', reason: 'reverted when mined' };
      }
      if (notDue.includes(revert.name)) {
        this.metrics.duties.inc({ kind, outcome: 'skipped' });
        this.log.info({ kind, key, reason }, 'duty no longer due (another caller was first)');
        return { outcome: 'skipped', reason };
      }
      this.metrics.duties.inc({ kind, outcome: 'failed' });
      this.log.warn({ kind, key, reason }, 'duty refused by the contract');
      return { outcome: 'failed', reason };
    } finally {
      this.inFlight.delete(id);
    }
  }

  private record(kind: DutyKind, key: string, r: TransactionReceipt): void {
    this.metrics.gasUsed.inc({ kind }, Number(r.gasUsed));
    this.metrics.gasSpentWei.inc({ kind }, Number(r.gasUsed * r.effectiveGasPrice));
    this.sent.push({ kind, key, hash: r.transactionHash, status: r.status, gasUsed: r.gasUsed, blockNumber: r.blockNumber });
    if (this.sent.length > 1000) this.sent.shift();
  }
}
