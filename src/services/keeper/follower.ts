/**
 * Follows the chain by polling `eth_getLogs` from the deployment's start block: discovers task
 * types (and their pools) and pipelines, and tells the engine which task types something happened
 * to since the last scan (any BPE event naming them, or a GDA flow change on their pool), which
 * sinks had a unit push fail, and which windows were judged (slashes included).
 */
import { decodeEventLog, parseAbi, type Abi, type Address, type Hex, type Log } from 'viem';
import type { BpeContext } from '../../chain/bpe/actions.ts';
import {
  BackpressurePool, CapacityRegistry, CompletionTracker, EscrowBuffer, Pipeline, PricingCurve, StakeManager,
} from '../../chain/bpe/artifacts.generated.ts';

/** Superfluid's GDA event for a stream into a pool (started, changed or stopped). */
export const gdaFlowEventAbi = parseAbi([
  'event FlowDistributionUpdated(address indexed token, address indexed pool, address indexed distributor, address operator, int96 oldFlowRate, int96 newDistributorToPoolFlowRate, int96 newTotalDistributionFlowRate, address adjustmentFlowRecipient, int96 adjustmentFlowRate, bytes userData)',
]);

export interface TaskTypeRef {
  id: Hex;
  pool: Address;
}

export interface Judged {
  taskTypeId: Hex;
  sink: Address;
  fromEpoch: bigint;
  epochs: bigint;
  expected: bigint;
  completions: bigint;
  slashed: bigint;
  txHash: Hex;
  blockNumber: bigint;
}

export interface ScanResult {
  from: bigint;
  to: bigint;
  /** Task types an event touched (discovered ones included). */
  dirty: Set<Hex>;
  /** (task type, sink) pairs whose unit push failed. */
  pushFailed: { taskTypeId: Hex; sink: Address }[];
  judged: Judged[];
}

export class ChainFollower {
  readonly taskTypes = new Map<Hex, TaskTypeRef>();
  readonly pipelines = new Map<bigint, Hex[]>();
  /** Last block scanned (inclusive). */
  cursor: bigint;
  private readonly abis = new Map<string, Abi>();

  constructor(
    private readonly ctx: BpeContext,
    private readonly gda: Address | undefined,
    startBlock: bigint,
    private readonly maxRange: bigint,
    known: TaskTypeRef[] = [],
  ) {
    this.cursor = startBlock > 0n ? startBlock - 1n : -1n;
    const b = ctx.bpe;
    const pairs: [Address, Abi][] = [
      [b.capacityRegistry, CapacityRegistry.abi],
      [b.backpressurePool, BackpressurePool.abi],
      [b.escrowBuffer, EscrowBuffer.abi],
      [b.pipeline, Pipeline.abi],
      [b.pricingCurve, PricingCurve.abi],
      [b.completionTracker, CompletionTracker.abi],
      [b.stakeManager, StakeManager.abi],
    ];
    for (const [a, abi] of pairs) this.abis.set(a.toLowerCase(), abi);
    for (const t of known) this.taskTypes.set(t.id, t);
  }

  /** The chain went back (a node restarted from older state): scan again from there. */
  rewindTo(head: bigint): void {
    if (this.cursor > head) this.cursor = head;
  }

  /** Scans (cursor, head], at most `maxRange` blocks per request; returns what it found. */
  async scan(head: bigint): Promise<ScanResult> {
    const result: ScanResult = { from: this.cursor + 1n, to: this.cursor, dirty: new Set(), pushFailed: [], judged: [] };
    while (this.cursor < head) {
      const from = this.cursor + 1n;
      const to = head - from + 1n > this.maxRange ? from + this.maxRange - 1n : head;
      const { publicClient } = this.ctx.clients;
      const bpeLogs = await publicClient.getLogs({ address: [...this.abis.keys()] as Address[], fromBlock: from, toBlock: to });
      for (const log of bpeLogs) this.onBpeLog(log, result);
      if (this.gda) {
        const flows = await publicClient.getLogs({
          address: this.gda, event: gdaFlowEventAbi[0], fromBlock: from, toBlock: to, strict: false,
        });
        const byPool = new Map([...this.taskTypes.values()].map((t) => [t.pool.toLowerCase(), t.id]));
        for (const f of flows) {
          const id = f.args.pool ? byPool.get(f.args.pool.toLowerCase()) : undefined;
          if (id) result.dirty.add(id);
        }
      }
      this.cursor = to;
      result.to = to;
    }
    return result;
  }

  private onBpeLog(log: Log, result: ScanResult): void {
    const abi = this.abis.get(log.address.toLowerCase());
    if (!abi) return;
    let decoded: { eventName: string; args: Record<string, unknown> };
    try {
      decoded = decodeEventLog({ abi, data: log.data, topics: log.topics }) as unknown as typeof decoded;
    } catch {
      return; // an event of an inherited interface we do not follow
    }
    const a = decoded.args;
    switch (decoded.eventName) {
      case 'TaskTypeRegistered':
      case 'PoolCreated':
        this.taskTypes.set(a.taskTypeId as Hex, { id: a.taskTypeId as Hex, pool: a.pool as Address });
        break;
      case 'PipelineCreated': {
        const stages = a.stages as Hex[];
        this.pipelines.set(a.pipelineId as bigint, [...stages]);
        for (const s of stages) result.dirty.add(s);
        break;
      }
      case 'UnitsPushFailed':
        result.pushFailed.push({ taskTypeId: a.taskTypeId as Hex, sink: a.sink as Address });
        break;
      case 'EpochEvaluated':
        result.judged.push({
          taskTypeId: a.taskTypeId as Hex,
          sink: a.sink as Address,
          fromEpoch: a.fromEpoch as bigint,
          epochs: a.epochs as bigint,
          expected: a.expected as bigint,
          completions: a.completions as bigint,
          slashed: a.slashed as bigint,
          txHash: log.transactionHash as Hex,
          blockNumber: log.blockNumber as bigint,
        });
        break;
    }
    if (typeof a.taskTypeId === 'string') result.dirty.add(a.taskTypeId as Hex);
  }
}
