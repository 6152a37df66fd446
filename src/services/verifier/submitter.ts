/**
 * Submits stored receipts with `recordCompletion`, oldest first. Each row is marked `submitting`
 * before its transaction is sent, and rows found `submitting` on start are reconciled with the
 * chain (`isCounted`): already there → counted, else pending again; so after a crash each receipt
 * is counted once. The chain's answer decides a row's fate:
 *   - counted, or `AlreadyCounted` (it landed another way) → counted;
 *   - `UnpaidReceipt` (the source's paid credit is short for now) or `CompletedInFuture` (the chain's
 *     clock is behind) → tried again later with a doubling wait, at most `maxAttempts` times, then rejected;
 *   - any other refusal (NotRegistered, ReceiptBeforeWindow, InvalidSignature, ...) → rejected with the reason.
 * A failure to reach the chain is thrown to the service loop (backoff); the row goes back to pending
 * without using an attempt. One row's refusal never holds up the others.
 */
import { EventEmitter } from 'node:events';
import type { Account } from 'viem';
import type { BpeContext } from '../../chain/bpe/actions.ts';
import { CompletionTracker } from '../../chain/bpe/artifacts.generated.ts';
import { recordCompletion } from '../../chain/bpe/verification.ts';
import type { Logger } from '../common/log.ts';
import { describeRevert, revertOf } from '../common/revert.ts';
import type { VerifierMetrics } from './metrics.ts';
import type { ReceiptRow, ReceiptStore } from './store.ts';

export const RETRYABLE_REFUSALS = ['UnpaidReceipt', 'CompletedInFuture'];
const MAX_RETRY_WAIT_MS = 600_000;
const BATCH = 50;

export interface SubmitterOptions {
  ctx: BpeContext;
  account: Account;
  store: ReceiptStore;
  metrics: VerifierMetrics;
  log: Logger;
  events: EventEmitter;
  maxAttempts: number;
  retryBaseMs: number;
}

export class Submitter {
  constructor(private readonly o: SubmitterOptions) {}

  private isCounted(row: ReceiptRow): Promise<boolean> {
    return this.o.ctx.clients.publicClient.readContract({
      address: this.o.ctx.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'isCounted', args: [row.taskTypeId, row.source, row.taskId],
    });
  }

  /** Rows left `submitting` by an earlier run: counted on chain or back to pending. */
  async reconcile(): Promise<number> {
    const rows = this.o.store.withStatus('submitting');
    for (const row of rows) {
      if (await this.isCounted(row)) {
        this.o.store.setStatus(row.id, 'counted', { reason: 'found counted on chain after a restart' });
        this.o.metrics.submissions.inc({ outcome: 'landed' });
        this.o.events.emit('counted', { source: row.source, taskId: row.taskId, txHash: row.txHash, reconciled: true });
      } else {
        this.o.store.setStatus(row.id, 'pending');
      }
    }
    if (rows.length) this.o.log.info({ rows: rows.length }, 'reconciled receipts left in flight by an earlier run');
    return rows.length;
  }

  /** Submits every pending receipt whose time has come; returns how many it handled. */
  async submitDue(signal?: AbortSignal): Promise<number> {
    let handled = 0;
    for (;;) {
      const rows = this.o.store.due(Date.now(), BATCH);
      if (rows.length === 0) return handled;
      for (const row of rows) {
        if (signal?.aborted) return handled;
        await this.submit(row);
        handled += 1;
      }
    }
  }

  private async submit(row: ReceiptRow): Promise<void> {
    const { store, metrics, log, events } = this.o;
    store.setStatus(row.id, 'submitting');
    try {
      if (await this.isCounted(row)) {
        store.setStatus(row.id, 'counted', { reason: 'already counted on chain' });
        metrics.submissions.inc({ outcome: 'landed' });
        events.emit('counted', { source: row.source, taskId: row.taskId, txHash: null });
        return;
      }
      const receipt = { taskId: row.taskId, taskTypeId: row.taskTypeId, sink: row.sink, source: row.source, completedAt: row.completedAt, deadline: row.deadline };
      const tx = await recordCompletion(this.o.ctx, this.o.account, receipt, row.sinkSignature, row.sourceSignature);
      store.setStatus(row.id, 'counted', { txHash: tx.transactionHash });
      metrics.submissions.inc({ outcome: 'counted' });
      metrics.gasUsed.inc(Number(tx.gasUsed));
      log.info({ source: row.source, taskId: row.taskId, tx: tx.transactionHash }, 'receipt counted');
      events.emit('counted', { source: row.source, taskId: row.taskId, sink: row.sink, taskTypeId: row.taskTypeId, txHash: tx.transactionHash });
    } catch (err) {
      const revert = revertOf(err);
      if (!revert) {
        store.setStatus(row.id, 'pending'); // the chain was not reached: no attempt used
        throw err;
      }
      const reason = describeRevert(revert);
      if (revert.name === 'AlreadyCounted') {
        store.setStatus(row.id, 'counted', { reason: 'already counted on chain' });
        metrics.submissions.inc({ outcome: 'landed' });
        events.emit('counted', { source: row.source, taskId: row.taskId, txHash: null });
        return;
      }
      const mined = revert.name === 'revert' && / reverted \(tx /.test(revert.message);
      const attempts = row.attempts + 1;
      if ((RETRYABLE_REFUSALS.includes(revert.name) || mined) && attempts < this.o.maxAttempts) {
        const wait = Math.min(MAX_RETRY_WAIT_MS, this.o.retryBaseMs * 2 ** (attempts - 1));
        store.setStatus(row.id, 'pending', { reason, attempts, nextAttemptAt: Date.now() + wait });
        metrics.submissions.inc({ outcome: 'retry' });
        log.info({ source: row.source, taskId: row.taskId, reason, attempts, retryInMs: wait }, 'receipt refused for now: will retry');
        return;
      }
      const final = attempts >= this.o.maxAttempts && (RETRYABLE_REFUSALS.includes(revert.name) || mined) ? `${reason} (after ${attempts} attempts)` : reason;
      store.setStatus(row.id, 'rejected', { reason: final, attempts });
      metrics.submissions.inc({ outcome: 'rejected' });
      log.warn({ source: row.source, taskId: row.taskId, reason: final }, 'receipt refused by the chain: rejected');
      events.emit('rejected', { source: row.source, taskId: row.taskId, reason: final });
    }
  }
}
