/**
 * Follows the CompletionTracker's `EpochEvaluated` and the StakeManager's `Slashed` events from
 * the deployment's start block (the scan position is stored, so a restart neither misses nor
 * repeats one) and records every window judged with a slash.
 */
import { EventEmitter } from 'node:events';
import { decodeEventLog, type Address, type Hex } from 'viem';
import type { BpeContext } from '../../chain/bpe/actions.ts';
import { CompletionTracker, StakeManager } from '../../chain/bpe/artifacts.generated.ts';
import type { Logger } from '../common/log.ts';
import type { VerifierMetrics } from './metrics.ts';
import type { ReceiptStore } from './store.ts';

const CURSOR = 'slashScanBlock';

export class SlashWatcher {
  constructor(
    private readonly ctx: BpeContext,
    private readonly store: ReceiptStore,
    private readonly metrics: VerifierMetrics,
    private readonly log: Logger,
    private readonly events: EventEmitter,
    private readonly startBlock: bigint,
    private readonly maxRange: bigint,
  ) {}

  /** Last block scanned (inclusive). */
  get cursor(): bigint {
    const stored = this.store.getMeta(CURSOR);
    return stored !== undefined ? BigInt(stored) : this.startBlock - 1n;
  }

  async scan(head: bigint): Promise<void> {
    let cursor = this.cursor;
    if (head < cursor) {
      this.log.warn({ head: head.toString(), cursor: cursor.toString() }, 'the chain head went back: rescanning slashes from it');
      cursor = head;
    }
    const { publicClient } = this.ctx.clients;
    while (cursor < head) {
      const from = cursor + 1n;
      const to = head - from + 1n > this.maxRange ? from + this.maxRange - 1n : head;
      const logs = await publicClient.getLogs({ address: [this.ctx.bpe.completionTracker, this.ctx.bpe.stakeManager], fromBlock: from, toBlock: to });
      for (const log of logs) {
        if (log.address.toLowerCase() === this.ctx.bpe.stakeManager.toLowerCase()) {
          try {
            const e = decodeEventLog({ abi: StakeManager.abi, data: log.data, topics: log.topics });
            if (e.eventName === 'Slashed') this.log.debug({ sink: e.args.sink, amount: e.args.amount.toString() }, 'stake slashed');
          } catch {
            /* other StakeManager events */
          }
          continue;
        }
        let e;
        try {
          e = decodeEventLog({ abi: CompletionTracker.abi, data: log.data, topics: log.topics });
        } catch {
          continue;
        }
        if (e.eventName !== 'EpochEvaluated') continue;
        this.metrics.windows.inc();
        if (e.args.slashed === 0n) continue;
        const record = {
          txHash: log.transactionHash as Hex,
          logIndex: Number(log.logIndex),
          blockNumber: log.blockNumber as bigint,
          taskTypeId: e.args.taskTypeId,
          sink: e.args.sink as Address,
          amount: e.args.slashed,
          fromEpoch: e.args.fromEpoch,
          epochs: e.args.epochs,
          expected: e.args.expected,
          completions: e.args.completions,
        };
        if (this.store.addSlash(record)) {
          this.metrics.slashes.inc();
          this.log.warn({ sink: record.sink, taskTypeId: record.taskTypeId, amount: record.amount.toString(), expected: record.expected.toString(), completions: record.completions.toString(), tx: record.txHash }, 'sink slashed');
          this.events.emit('slashed', record);
        }
      }
      cursor = to;
      this.store.setMeta(CURSOR, cursor.toString());
    }
    this.metrics.lastBlock.set(Number(head));
  }
}
