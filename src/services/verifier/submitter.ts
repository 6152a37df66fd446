/**
 * Submits stored receipts with `recordCompletions`, oldest first, up to `batchSize` per transaction
 * (halved while the gas estimate would pass the 16,777,216 gas one transaction may use, EIP-7825).
 * The rows of a batch are marked `submitting` with the hash of the signed transaction before it is
 * broadcast, and rows found `submitting` on start are reconciled with the chain (`isCounted`):
 * already there → counted, else pending again; so after a crash each receipt is counted once (the
 * contract refuses a second count in any case). The tracker skips a bad item without reverting the
 * batch (`CompletionSkipped`, naming the error); each row's fate follows from the mined events:
 *   - counted, or skipped as `AlreadyCounted` (it landed another way; checked with `isCounted`) → counted;
 *   - skipped as `UnpaidReceipt` (the source's paid credit is short for now) or `CompletedInFuture` (the
 *     chain's clock is behind), or the whole transaction reverted when mined → tried again later with a
 *     doubling wait, at most `maxAttempts` times, then rejected;
 *   - any other skip (NotRegistered, ReceiptBeforeWindow, InvalidSignature, RecordOutOfGas, ...) →
 *     rejected with the reason (the error with its arguments, from a call of `recordCompletion`).
 * A failure to reach the chain is thrown to the service loop (backoff); rows not sent go back to
 * pending without using an attempt. One row's refusal never holds up the others.
 */
import { EventEmitter } from 'node:events';
import { BaseError, encodeFunctionData, HttpRequestError, keccak256, TimeoutError, type Account, type Hex, type TransactionReceipt } from 'viem';
import type { BpeContext } from '../../chain/bpe/actions.ts';
import { withGasHeadroom } from '../../chain/deploy.ts';
import { CompletionTracker } from '../../chain/bpe/artifacts.generated.ts';
import { decodeRecordCompletions, type SignedCompletion, type SkippedCompletion } from '../../chain/bpe/verification.ts';
import type { Logger } from '../common/log.ts';
import { describeRevert, revertOf } from '../common/revert.ts';
import type { VerifierMetrics } from './metrics.ts';
import type { ReceiptRow, ReceiptStatus, ReceiptStore } from './store.ts';

export const RETRYABLE_REFUSALS = ['UnpaidReceipt', 'CompletedInFuture'];
/** Gas one transaction may use since Fusaka (EIP-7825). */
export const MAX_TX_GAS = 16_777_216n;
export const DEFAULT_SUBMIT_BATCH = 50;
const MAX_RETRY_WAIT_MS = 600_000;

export interface SubmitterOptions {
  ctx: BpeContext;
  account: Account;
  store: ReceiptStore;
  metrics: VerifierMetrics;
  log: Logger;
  events: EventEmitter;
  maxAttempts: number;
  retryBaseMs: number;
  /** Most receipts per `recordCompletions` transaction (default 50). */
  batchSize?: number;
  /** Most gas one transaction may use (default 16,777,216, EIP-7825; lower only in tests). */
  maxTxGas?: bigint;
}

type Change = { id: number; status: ReceiptStatus; fields?: { reason?: string; txHash?: string; attempts?: number; nextAttemptAt?: number } };

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
        this.o.store.unsend([row.id]);
      }
    }
    if (rows.length) this.o.log.info({ rows: rows.length }, 'reconciled receipts left in flight by an earlier run');
    return rows.length;
  }

  /** Submits every pending receipt whose time has come, in batches; returns how many it handled. */
  async submitDue(signal?: AbortSignal): Promise<number> {
    let handled = 0;
    for (;;) {
      if (signal?.aborted) return handled;
      const rows = this.o.store.due(Date.now(), this.o.batchSize ?? DEFAULT_SUBMIT_BATCH);
      if (rows.length === 0) return handled;
      handled += await this.send(rows);
    }
  }

  /** Sends the rows (or, if they are too heavy for one transaction, their first half); returns how many were settled. */
  private async send(rows: ReceiptRow[]): Promise<number> {
    const { ctx, store, log } = this.o;
    const { publicClient, walletClient } = ctx.clients;
    const account = this.o.account;
    const to = ctx.bpe.completionTracker;
    const items: SignedCompletion[] = rows.map((row) => ({
      receipt: { taskId: row.taskId, taskTypeId: row.taskTypeId, sink: row.sink, source: row.source, completedAt: row.completedAt, deadline: row.deadline },
      sinkSignature: row.sinkSignature, sourceSignature: row.sourceSignature,
    }));
    const data = encodeFunctionData({ abi: CompletionTracker.abi, functionName: 'recordCompletions', args: [items] });
    const half = () => this.send(rows.slice(0, Math.ceil(rows.length / 2)));
    let estimate: bigint;
    try {
      estimate = await publicClient.estimateGas({ account, to, data });
    } catch (err) {
      // A batch reverts only for want of gas (every item has 300k): the node's cap is too small for it.
      if (isTransport(err) || !revertOf(err)) throw err;
      if (rows.length > 1) return half();
      this.settle(rows, [this.retryOrReject(rows[0]!, describeRevert(revertOf(err)!), true)]);
      return 1;
    }
    const gas = withGasHeadroom(estimate);
    const cap = this.o.maxTxGas ?? MAX_TX_GAS;
    if (gas > cap && rows.length > 1) {
      log.info({ items: rows.length, estimate: estimate.toString() }, 'receipt batch too heavy for one transaction: halving it');
      return half();
    }
    const request = await walletClient.prepareTransactionRequest({
      account, to, data, gas: gas > cap ? cap : gas, chain: walletClient.chain,
    });
    const serialized = await walletClient.signTransaction(request as Parameters<typeof walletClient.signTransaction>[0]);
    const hash = keccak256(serialized);
    const ids = rows.map((r) => r.id);
    // Durable before broadcast: a crash from here on is settled from the chain on restart.
    store.markSubmitting(ids, hash);
    let receipt: TransactionReceipt;
    try {
      await publicClient.sendRawTransaction({ serializedTransaction: serialized });
    } catch (err) {
      // The node may have taken it anyway (a lost reply); if it does not know it, nothing was sent.
      const known = await publicClient.getTransaction({ hash }).then(() => true, () => false);
      if (!known) {
        store.unsend(ids);
        throw err;
      }
    }
    try {
      receipt = await publicClient.waitForTransactionReceipt({ hash });
    } catch (err) {
      store.unsend(ids); // sent, outcome unknown: submitted again (a second count is refused, AlreadyCounted)
      throw err;
    }
    this.o.metrics.gasUsed.inc(Number(receipt.gasUsed));
    if (receipt.status !== 'success') {
      const reason = `recordCompletions reverted (tx ${hash}, ${receipt.gasUsed} of ${request.gas} gas used)`;
      log.warn({ tx: hash, items: rows.length }, 'receipt batch reverted when mined');
      this.settle(rows, rows.map((row) => this.retryOrReject(row, reason, true)));
      return rows.length;
    }
    const { counted, skipped } = decodeRecordCompletions(ctx, receipt);
    const byIndex = new Map(skipped.map((s) => [s.index, s]));
    log.info({ tx: hash, items: rows.length, counted, skipped: skipped.length, gasUsed: receipt.gasUsed.toString() }, 'receipt batch mined');
    const changes: Change[] = [];
    for (const [i, row] of rows.entries()) {
      const skip = byIndex.get(i);
      changes.push(skip ? await this.skippedRow(row, skip, hash) : this.countedRow(row, hash));
    }
    this.settle(rows, changes);
    return rows.length;
  }

  private countedRow(row: ReceiptRow, txHash: Hex): Change {
    this.o.metrics.submissions.inc({ outcome: 'counted' });
    this.o.log.info({ source: row.source, taskId: row.taskId, tx: txHash }, 'receipt counted');
    this.pending.push(() => this.o.events.emit('counted', { source: row.source, taskId: row.taskId, sink: row.sink, taskTypeId: row.taskTypeId, txHash }));
    return { id: row.id, status: 'counted', fields: { txHash } };
  }

  private async skippedRow(row: ReceiptRow, skip: SkippedCompletion, txHash: Hex): Promise<Change> {
    // The name comes from the revert data's selector, which a hostile token could forge: confirm.
    if (skip.reason === 'AlreadyCounted' && (await this.isCounted(row).catch(() => true))) {
      this.o.metrics.submissions.inc({ outcome: 'landed' });
      this.pending.push(() => this.o.events.emit('counted', { source: row.source, taskId: row.taskId, txHash: null }));
      return { id: row.id, status: 'counted', fields: { reason: 'already counted on chain' } };
    }
    const reason = await this.explain(row, skip);
    this.o.log.info({ source: row.source, taskId: row.taskId, tx: txHash, reason }, 'receipt skipped in its batch');
    return this.retryOrReject(row, reason, RETRYABLE_REFUSALS.includes(skip.reason));
  }

  /** The skip's reason with the error's arguments: `recordCompletion` of the row, simulated now,
   * reverts with the same error in the cases that matter (else the batch's error name alone). */
  private async explain(row: ReceiptRow, skip: SkippedCompletion): Promise<string> {
    try {
      await this.o.ctx.clients.publicClient.simulateContract({
        account: this.o.account, address: this.o.ctx.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'recordCompletion',
        args: [{ taskId: row.taskId, taskTypeId: row.taskTypeId, sink: row.sink, source: row.source, completedAt: row.completedAt, deadline: row.deadline }, row.sinkSignature, row.sourceSignature],
      });
    } catch (err) {
      const revert = revertOf(err);
      if (revert?.name === skip.reason) return describeRevert(revert);
    }
    return skip.reason;
  }

  private retryOrReject(row: ReceiptRow, reason: string, retryable: boolean): Change {
    const { metrics, log } = this.o;
    const attempts = row.attempts + 1;
    if (retryable && attempts < this.o.maxAttempts) {
      const wait = Math.min(MAX_RETRY_WAIT_MS, this.o.retryBaseMs * 2 ** (attempts - 1));
      metrics.submissions.inc({ outcome: 'retry' });
      log.info({ source: row.source, taskId: row.taskId, reason, attempts, retryInMs: wait }, 'receipt refused for now: will retry');
      return { id: row.id, status: 'pending', fields: { reason, attempts, nextAttemptAt: Date.now() + wait } };
    }
    const final = retryable ? `${reason} (after ${attempts} attempts)` : reason;
    metrics.submissions.inc({ outcome: 'rejected' });
    log.warn({ source: row.source, taskId: row.taskId, reason: final }, 'receipt refused by the chain: rejected');
    this.pending.push(() => this.o.events.emit('rejected', { source: row.source, taskId: row.taskId, reason: final }));
    return { id: row.id, status: 'rejected', fields: { reason: final, attempts } };
  }

  /** Events wait until the batch's outcome is stored. */
  private pending: (() => void)[] = [];

  private settle(_rows: ReceiptRow[], changes: Change[]): void {
    this.o.store.setStatuses(changes);
    const emit = this.pending;
    this.pending = [];
    for (const e of emit) e();
  }
}

function isTransport(err: unknown): boolean {
  return err instanceof BaseError && !!err.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError);
}
