/**
 * Each upkeep: when it is due (decided from state read at this tick, with the allocation core's
 * math where a target must be computed) and the call that performs it. Reads are fresh; the
 * executor simulates right before sending, so a duty another keeper performed in between is
 * refused by its "not due" error and counted as skipped.
 */
import { parseEventLogs, type Account, type Address, type Hex, type TransactionReceipt } from 'viem';
import type { BpeContext } from '../../chain/bpe/actions.ts';
import { write } from '../../chain/deploy.ts';
import { gdaForwarderAbi, superfluidPoolAbi } from '../../chain/abis.ts';
import {
  BackpressurePool, CapacityRegistry, CompletionTracker, EscrowBuffer, Pipeline, PricingCurve,
} from '../../chain/bpe/artifacts.generated.ts';
import { effectiveCapacitiesExact, needsUpdate, overflowUnits, remainderWorthFolding } from '../../core/index.ts';
import type { DutyKind } from './config.ts';
import type { DutyExecutor } from './executor.ts';
import type { TaskTypeRef } from './follower.ts';

/** The custom errors with which each call says "not due (any more)". */
export const NOT_DUE: Record<DutyKind, readonly string[]> = {
  overflow: [],
  drain: ['NoSpareCapacity', 'BufferEmpty', 'DrainTooSmall'],
  rebalance: [],
  syncUnits: ['InSync'],
  sinkEpoch: ['EpochNotOver', 'NotRegistered'],
  priceEpoch: ['EpochNotOver'],
  pipeline: [],
};

export type KeeperEventName =
  | 'overflowUpdated' | 'drained' | 'rebalanced' | 'unitsSynced' | 'windowOpened' | 'epochAdvanced'
  | 'pipelineRebalanced' | 'slashed' | 'degraded' | 'recovered' | 'block';

export interface DutyEnv {
  ctx: BpeContext;
  account: Account;
  exec: DutyExecutor;
  enabled: Record<DutyKind, boolean>;
  drainIntervalSec: bigint;
  emit(event: KeeperEventName, detail: Record<string, unknown>): void;
}

const MAX_REBALANCE_PIECES = 1000;

function reader(ctx: BpeContext) {
  return <T>(address: Address, abi: readonly unknown[], functionName: string, args: readonly unknown[] = []): Promise<T> =>
    ctx.clients.publicClient.readContract({ address, abi: abi as never, functionName, args } as never) as Promise<T>;
}

function send(env: DutyEnv, what: string, address: Address, abi: readonly unknown[], functionName: string, args: readonly unknown[]) {
  return () => write(env.ctx, what, { account: env.account, address, abi, functionName, args } as never);
}

function eventsOf(receipt: TransactionReceipt, abi: readonly unknown[], eventName: string) {
  return parseEventLogs({ abi: abi as never, eventName: eventName as never, logs: receipt.logs }) as unknown as { args: Record<string, any> }[];
}

/** Runs every enabled duty of one task type that is due; returns the chain time of its next time-driven check. */
export async function upkeepTaskType(env: DutyEnv, t: TaskTypeRef, now: bigint, pushFailed: Set<Address>): Promise<bigint> {
  const { ctx, enabled } = env;
  const read = reader(ctx);
  const b = ctx.bpe;
  const epochSeconds = b.params.epochSeconds;
  let next = (now / epochSeconds + 1n) * epochSeconds; // the next epoch boundary at the latest

  // -- syncUnits: a sink whose unit push failed (UnitsPushFailed) until its pool units hold its weight
  if (enabled.syncUnits) {
    for (const sink of [...pushFailed]) {
      const r = await env.exec.run('syncUnits', `${t.id}:${sink}`, NOT_DUE.syncUnits,
        send(env, 'syncing units', b.capacityRegistry, CapacityRegistry.abi, 'syncUnits', [t.id, sink]));
      if (r.outcome === 'run' || r.outcome === 'skipped') pushFailed.delete(sink);
      if (r.outcome === 'run') env.emit('unitsSynced', { taskTypeId: t.id, sink, tx: r.receipt!.transactionHash });
    }
  }

  // -- priceEpoch: once per epoch (the first call starts the curve's clock); it also re-sizes the overflow share
  if (enabled.priceEpoch) {
    const fee = await read<{ epoch: bigint; measuredAt: bigint }>(b.pricingCurve, PricingCurve.abi, 'feeState', [t.id]);
    if (fee.measuredAt === 0n || now / epochSeconds > fee.epoch) {
      const r = await env.exec.run('priceEpoch', t.id, NOT_DUE.priceEpoch,
        send(env, 'advancing the price epoch', b.pricingCurve, PricingCurve.abi, 'advanceEpoch', [t.id]));
      if (r.outcome === 'run') {
        const e = eventsOf(r.receipt!, PricingCurve.abi, 'BaseFeeUpdated')[0];
        env.emit('epochAdvanced', { kind: 'price', taskTypeId: t.id, epoch: e?.args.epoch, baseFee: e?.args.baseFee, utilizationBps: e?.args.utilizationBps, tx: r.receipt!.transactionHash });
      }
    }
  }

  // -- overflow and drain share their readings
  const pool = t.pool;
  const readFlows = async () => {
    const [bufferUnits, totalUnits, distributed, inflow, absorbable, threshold] = await Promise.all([
      read<bigint>(pool, superfluidPoolAbi, 'getUnits', [b.escrowBuffer]),
      read<bigint>(pool, superfluidPoolAbi, 'getTotalUnits'),
      read<bigint>(pool, superfluidPoolAbi, 'getTotalFlowRate'),
      read<bigint>(b.backpressurePool, BackpressurePool.abi, 'inflowRate', [t.id]),
      read<bigint>(b.backpressurePool, BackpressurePool.abi, 'absorbableRate', [t.id]),
      read<bigint>(b.capacityRegistry, CapacityRegistry.abi, 'rebalanceThresholdBps'),
    ]);
    return { bufferUnits, totalUnits, distributed: BigInt(distributed), inflow, absorbable, threshold };
  };
  let flows = await readFlows();

  // -- overflow: the buffer's share (core overflowUnits) left its deadband, or the remainder is worth folding
  if (enabled.overflow) {
    const sinkUnits = flows.totalUnits - flows.bufferUnits;
    const target = overflowUnits(sinkUnits, flows.inflow, flows.absorbable);
    const remainder = flows.inflow > flows.distributed ? flows.inflow - flows.distributed : 0n;
    if (needsUpdate(flows.bufferUnits, target, flows.threshold) || remainderWorthFolding(remainder, flows.totalUnits, flows.distributed)) {
      const r = await env.exec.run('overflow', t.id, NOT_DUE.overflow,
        send(env, 'updating overflow', b.backpressurePool, BackpressurePool.abi, 'updateOverflow', [t.id]));
      if (r.outcome === 'run') {
        const e = eventsOf(r.receipt!, BackpressurePool.abi, 'OverflowUnitsUpdated')[0];
        env.emit('overflowUpdated', { taskTypeId: t.id, units: e?.args.units ?? target, inflowRate: flows.inflow, absorbableRate: flows.absorbable, tx: r.receipt!.transactionHash });
        flows = await readFlows();
      }
    }
  }

  // -- rebalance: every piece of a pass while a sink's units drifted from its weight (checked after
  //    the overflow update, so that a stream change alone costs the O(1) updateOverflow, not a pass)
  if (enabled.rebalance) {
    const pieces: Hex[] = [];
    for (let i = 0; i < MAX_REBALANCE_PIECES; i++) {
      const [needs, info] = await Promise.all([
        read<boolean>(b.backpressurePool, BackpressurePool.abi, 'needsRebalance', [t.id]),
        read<{ cursor: number }>(b.backpressurePool, BackpressurePool.abi, 'poolInfo', [t.id]),
      ]);
      if (!needs && Number(info.cursor) === 0) break;
      const r = await env.exec.run('rebalance', t.id, NOT_DUE.rebalance,
        send(env, 'rebalancing', b.backpressurePool, BackpressurePool.abi, 'rebalance', [t.id]));
      if (r.outcome !== 'run') break;
      pieces.push(r.receipt!.transactionHash);
      const done = eventsOf(r.receipt!, BackpressurePool.abi, 'Rebalanced')[0];
      if (done) {
        flows = await readFlows();
        env.emit('rebalanced', { taskTypeId: t.id, pieces: pieces.length, txs: pieces, sinkCount: done.args.sinkCount, totalCapacity: done.args.totalCapacity });
        break;
      }
    }
  }

  // -- sinkEpoch: every registered sink's window: opened if it never was, judged once an epoch
  //    ended receiptGrace ago (CompletionTracker.judgeableEpoch). Before the drain: a window is
  //    judged on the pay its sink kept, and money drained in just before (when both fall due in
  //    one cycle) would count as pay kept for work nobody sent.
  if (enabled.sinkEpoch) {
    const grace = b.params.receiptGrace;
    const judgeable = now < grace ? 0n : (now - grace) / epochSeconds;
    const sinks = await read<readonly Address[]>(b.capacityRegistry, CapacityRegistry.abi, 'sinksOf', [t.id]);
    for (const sink of sinks) {
      const w = await read<{ opened: boolean; epoch: number }>(b.completionTracker, CompletionTracker.abi, 'windowOf', [t.id, sink]);
      const epoch = BigInt(w.epoch);
      if (w.opened && judgeable <= epoch) {
        next = min(next, (epoch + 1n) * epochSeconds + grace);
        continue;
      }
      const r = await env.exec.run('sinkEpoch', `${t.id}:${sink}`, NOT_DUE.sinkEpoch,
        send(env, 'advancing the sink epoch', b.completionTracker, CompletionTracker.abi, 'advanceEpoch', [t.id, sink]));
      if (r.outcome !== 'run') continue;
      const e = eventsOf(r.receipt!, CompletionTracker.abi, 'EpochEvaluated')[0];
      if (!e) {
        env.emit('windowOpened', { taskTypeId: t.id, sink, tx: r.receipt!.transactionHash });
      } else {
        env.emit('epochAdvanced', {
          kind: 'sink', taskTypeId: t.id, sink, fromEpoch: e.args.fromEpoch, epochs: e.args.epochs, expected: e.args.expected,
          completions: e.args.completions, strikes: e.args.strikes, slashed: e.args.slashed, tx: r.receipt!.transactionHash,
        });
      }
    }
  }

  // -- drain: money in the buffer, no overflow share, streams below what the sinks absorb, and a
  //    drain interval since the last one; the amount (spare rate x elapsed, capped) must survive the GDA's rounding
  if (enabled.drain) {
    const [level, ledger] = await Promise.all([
      read<bigint>(b.escrowBuffer, EscrowBuffer.abi, 'bufferLevel', [t.id]),
      read<{ lastDrainAt: bigint }>(b.escrowBuffer, EscrowBuffer.abi, 'ledgerOf', [t.id]),
    ]);
    const spare = flows.absorbable > flows.inflow ? flows.absorbable - flows.inflow : 0n;
    if (level > 0n && flows.bufferUnits === 0n && spare > 0n) {
      const elapsed = now - ledger.lastDrainAt;
      const dueAt = ledger.lastDrainAt + env.drainIntervalSec;
      if (now >= dueAt) {
        const window = elapsed < b.params.drainWindow ? elapsed : b.params.drainWindow;
        const requested = level < spare * window ? level : spare * window;
        const token = (await read<{ token: Address }>(b.capacityRegistry, CapacityRegistry.abi, 'taskType', [t.id])).token;
        const amount = await read<bigint>(ctx.framework.gdaV1Forwarder, gdaForwarderAbi, 'estimateDistributionActualAmount', [token, b.escrowBuffer, pool, requested]);
        if (amount > 0n) {
          const r = await env.exec.run('drain', t.id, NOT_DUE.drain,
            send(env, 'draining buffer', b.escrowBuffer, EscrowBuffer.abi, 'drain', [t.id]));
          if (r.outcome === 'run') {
            const e = eventsOf(r.receipt!, EscrowBuffer.abi, 'Drained')[0];
            env.emit('drained', { taskTypeId: t.id, amount: e?.args.amount, levelBefore: level, tx: r.receipt!.transactionHash });
          }
          if (level > amount) next = min(next, now + env.drainIntervalSec);
        }
      } else {
        next = min(next, dueAt);
      }
    }
  }
  return next;
}

/** Pipeline.rebalance when the limits applied upstream differ from C_eff (core effectiveCapacitiesExact). */
export async function upkeepPipeline(env: DutyEnv, pipelineId: bigint, stages: Hex[]): Promise<void> {
  if (!env.enabled.pipeline || stages.length < 2) return;
  const read = reader(env.ctx);
  const b = env.ctx.bpe;
  const [weights, infos] = await Promise.all([
    Promise.all(stages.map((s) => read<bigint>(b.capacityRegistry, CapacityRegistry.abi, 'totalWeight', [s]))),
    Promise.all(stages.map((s) => read<{ limited: boolean; capacityLimit: bigint }>(b.backpressurePool, BackpressurePool.abi, 'poolInfo', [s]))),
  ]);
  const effective = effectiveCapacitiesExact(weights);
  const stale = stages.slice(0, -1).some((_, i) => !infos[i].limited || infos[i].capacityLimit !== effective[i]);
  if (!stale) return;
  const r = await env.exec.run('pipeline', pipelineId.toString(), NOT_DUE.pipeline,
    send(env, 'rebalancing the pipeline', b.pipeline, Pipeline.abi, 'rebalance', [pipelineId]));
  if (r.outcome === 'run') {
    env.emit('pipelineRebalanced', { pipelineId, stages, effectiveCapacities: effective, tx: r.receipt!.transactionHash });
  }
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}
