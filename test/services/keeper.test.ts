// The keeper on a real anvil (Superfluid + BPE): after each change it performs exactly the call
// that became due, asserted on chain (state and event counts), and nothing while nothing is due.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Address } from 'viem';
import { superfluidPoolAbi } from '../../src/chain/abis.ts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { BackpressurePool, CapacityRegistry, CompletionTracker, EscrowBuffer, Pipeline, PricingCurve } from '../../src/chain/bpe/artifacts.generated.ts';
import { anvilAccount } from '../../src/chain/clients.ts';
import { write } from '../../src/chain/deploy.ts';
import { effectiveCapacitiesExact, overflowUnits } from '../../src/core/index.ts';
import { startKeeper, type Keeper } from '../../src/services/keeper/index.ts';
import {
  addTaskType, captureLogger, eventsSince, headBlock, keyAccount, serviceContext, startNextEpoch, startWorld, waitFor, type World,
} from './world.ts';

const RATE = 12n * 10n ** 13n; // wei/s: 6x what two sinks of 3 tasks/epoch absorb at 1e15 per task

describe('keeper: each upkeep exactly when due', () => {
  let w: World;
  let keeper: Keeper;
  const keeperAccount = anvilAccount(7);
  const events: { name: string; detail: Record<string, any> }[] = [];
  const read = <T>(address: Address, abi: readonly unknown[], functionName: string, args: readonly unknown[] = []) =>
    w.stack.clients.publicClient.readContract({ address, abi: abi as never, functionName, args } as never) as Promise<T>;
  const nonce = () => w.stack.clients.publicClient.getTransactionCount({ address: keeperAccount.address });

  /** Lets the keeper see the head and poll `polls` more times. */
  async function polls(polls: number): Promise<void> {
    const head = await headBlock(w.stack);
    await waitFor('the keeper to see the head', () => (keeper.status().lastBlock ?? -1n) >= head);
    const start = keeper.status().polls;
    await waitFor(`${polls} keeper polls`, () => keeper.status().polls >= start + polls);
  }

  /** Asserts that the keeper sends nothing over `n` polls, even with new (empty) blocks mined. */
  async function assertIdle(n = 8): Promise<void> {
    await polls(2);
    const before = await nonce();
    const sent = keeper.sent().length;
    for (let i = 0; i < n / 2; i++) {
      await w.stack.clients.testClient.mine({ blocks: 1 });
      await polls(2);
    }
    assert.equal(await nonce(), before, 'the keeper sent a transaction while nothing was due');
    assert.equal(keeper.sent().length, sent);
  }

  const kinds = () => keeper.sent().map((t) => t.kind);

  before(async () => {
    w = await startWorld({ sinks: 2, capacity: 10n });
    // Well inside an epoch, past the receipt grace: nothing epoch-related falls due by itself.
    await startNextEpoch(w.stack, 70n);
    const { log } = captureLogger('keeper');
    keeper = await startKeeper({ ctx: serviceContext(w.stack, keeperAccount), gda: w.stack.framework.gda, pollMs: 20, log, drainIntervalSec: 60 });
    for (const name of ['overflowUpdated', 'drained', 'rebalanced', 'windowOpened', 'epochAdvanced', 'slashed', 'pipelineRebalanced'] as const) {
      keeper.on(name, (detail) => events.push({ name, detail }));
    }
  });
  after(async () => {
    await keeper?.stop();
    await w?.stack.stop();
  });

  it('on start: opens each sink\'s evaluation window and starts the price clock, once', async () => {
    await waitFor('3 keeper transactions', () => keeper.sent().length >= 3);
    await polls(3);
    assert.deepEqual(kinds().sort(), ['priceEpoch', 'sinkEpoch', 'sinkEpoch']);
    for (const s of w.sinks) {
      const win = await read<{ opened: boolean }>(w.stack.bpe.completionTracker, CompletionTracker.abi, 'windowOf', [w.taskTypeId, s.address]);
      assert.equal(win.opened, true);
    }
    const fee = await read<{ measuredAt: bigint }>(w.stack.bpe.pricingCurve, PricingCurve.abi, 'feeState', [w.taskTypeId]);
    assert.notEqual(fee.measuredAt, 0n);
    assert.equal(events.filter((e) => e.name === 'windowOpened').length, 2);
    assert.ok(keeper.sent().every((t) => t.status === 'success'));
  });

  it('nothing due: no transaction over several polls with new blocks', async () => {
    await assertIdle(10);
  });

  it('a source starts a stream above what the sinks absorb: one updateOverflow sizes the buffer share as the core computes', async () => {
    const from = (await headBlock(w.stack)) + 1n;
    const sentBefore = keeper.sent().length;
    await bpe.setStream(w.stack, w.source, w.stack.token, w.pool, RATE);
    await waitFor('overflowUpdated', () => events.some((e) => e.name === 'overflowUpdated'));
    await polls(3);
    const updates = await eventsSince(w.stack, w.stack.bpe.backpressurePool, BackpressurePool.abi, 'OverflowUnitsUpdated', from);
    assert.equal(updates.length, 1);
    assert.deepEqual(keeper.sent().slice(sentBefore).map((t) => t.kind), ['overflow']);
    const [bufferUnits, totalUnits, inflow, absorbable] = await Promise.all([
      read<bigint>(w.pool, superfluidPoolAbi, 'getUnits', [w.stack.bpe.escrowBuffer]),
      read<bigint>(w.pool, superfluidPoolAbi, 'getTotalUnits'),
      read<bigint>(w.stack.bpe.backpressurePool, BackpressurePool.abi, 'inflowRate', [w.taskTypeId]),
      read<bigint>(w.stack.bpe.backpressurePool, BackpressurePool.abi, 'absorbableRate', [w.taskTypeId]),
    ]);
    assert.ok(inflow > absorbable);
    assert.equal(bufferUnits, overflowUnits(totalUnits - bufferUnits, inflow, absorbable));
    assert.equal(updates[0].args.units, bufferUnits);
    // Money accrues in the buffer, but with no spare capacity nothing else is due.
    await bpe.advanceTime(w.stack.clients, 10);
    assert.ok((await bpe.bufferLevel(w.stack, w.taskTypeId)) > 0n);
    await assertIdle(6);
  });

  it('the stream stops: the share drops to zero, then the buffer (money, spare capacity) is drained once', async () => {
    const from = (await headBlock(w.stack)) + 1n;
    const sentBefore = keeper.sent().length;
    await bpe.setStream(w.stack, w.source, w.stack.token, w.pool, 0n);
    await waitFor('drained', () => events.some((e) => e.name === 'drained'));
    await polls(3);
    assert.deepEqual(keeper.sent().slice(sentBefore).map((t) => t.kind), ['overflow', 'drain']);
    const updates = await eventsSince(w.stack, w.stack.bpe.backpressurePool, BackpressurePool.abi, 'OverflowUnitsUpdated', from);
    assert.equal(updates.length, 1);
    assert.equal(updates[0].args.units, 0n);
    const drains = await eventsSince(w.stack, w.stack.bpe.escrowBuffer, EscrowBuffer.abi, 'Drained', from);
    assert.equal(drains.length, 1);
    const drained = events.find((e) => e.name === 'drained')!.detail;
    assert.equal(drained.amount, drains[0].args.amount);
    // What is left is below one unit's worth of the pool: another drain would be DrainTooSmall, so none is sent.
    const [left, totalUnits] = await Promise.all([bpe.bufferLevel(w.stack, w.taskTypeId), read<bigint>(w.pool, superfluidPoolAbi, 'getTotalUnits')]);
    assert.ok(left < totalUnits, `left ${left} < ${totalUnits} units`);
    await bpe.advanceTime(w.stack.clients, 61); // past the drain interval
    await assertIdle(6);
  });

  it('an epoch ends (plus the receipt grace): each sink\'s window is judged once and the price curve steps once', async () => {
    // A stream the sinks can absorb exactly pays them for work during the epoch (nothing else falls due).
    const absorbable = await read<bigint>(w.stack.bpe.backpressurePool, BackpressurePool.abi, 'absorbableRate', [w.taskTypeId]);
    await bpe.setStream(w.stack, w.source, w.stack.token, w.pool, absorbable);
    await assertIdle(4);
    const from = (await headBlock(w.stack)) + 1n;
    const sentBefore = keeper.sent().length;
    await startNextEpoch(w.stack, w.stack.bpe.params.receiptGrace + 5n);
    await waitFor('3 epoch transactions', () => keeper.sent().length >= sentBefore + 3);
    await polls(3);
    assert.deepEqual(keeper.sent().slice(sentBefore).map((t) => t.kind).sort(), ['priceEpoch', 'sinkEpoch', 'sinkEpoch']);
    const judged = await eventsSince(w.stack, w.stack.bpe.completionTracker, CompletionTracker.abi, 'EpochEvaluated', from);
    assert.deepEqual(judged.map((e) => e.args.sink).sort(), w.sinks.map((s) => s.address).sort());
    const fees = await eventsSince(w.stack, w.stack.bpe.pricingCurve, PricingCurve.abi, 'BaseFeeUpdated', from);
    assert.equal(fees.length, 1);
    // The sinks were paid for tasks and completed none: the shortfall rule slashed each (every task
    // short of 94 % of expected costs 20 stake units), and the keeper reported each slash once.
    for (const e of judged) {
      assert.ok(e.args.expected >= 2n, `expected ${e.args.expected}`);
      assert.equal(e.args.completions, 0n);
      assert.equal(e.args.slashed, ((e.args.expected * 9400n) / 10_000n) * 20n * 10n ** 18n);
    }
    await waitFor('slashed events', () => events.filter((e) => e.name === 'slashed').length >= 2);
    for (const e of judged) {
      const reported = events.filter((x) => x.name === 'slashed' && x.detail.sink === e.args.sink);
      assert.equal(reported.length, 1);
      assert.equal(reported[0].detail.slashed, e.args.slashed);
      assert.equal(reported[0].detail.txHash, e.transactionHash);
    }
    await assertIdle(6);
  });

  it('a downstream stage\'s capacity changes: one Pipeline.rebalance applies the core\'s C_eff upstream', async () => {
    const sink3 = await keyAccount(w.stack, 'stage 2 sink');
    const { taskTypeId: stage2 } = await addTaskType(w.stack, 'translate', [sink3], 10n);
    await write(w.stack, 'creating a pipeline', {
      account: w.stack.deployer, address: w.stack.bpe.pipeline, abi: Pipeline.abi, functionName: 'createPipeline', args: [[w.taskTypeId, stage2]],
    } as never);
    await polls(4); // the keeper discovers the pipeline (nothing to do: createPipeline applied the limits) and the new task type
    const pipelineTxs = () => keeper.sent().filter((t) => t.kind === 'pipeline').length;
    assert.equal(pipelineTxs(), 0);
    const from = (await headBlock(w.stack)) + 1n;
    await bpe.advanceTime(w.stack.clients, Number(w.stack.bpe.params.minUpdateInterval));
    await bpe.declareCapacity(w.stack, sink3, stage2, 10n); // stage 2's weight rises (one EWMA step)
    await waitFor('pipelineRebalanced', () => events.some((e) => e.name === 'pipelineRebalanced'));
    await polls(3);
    const rebalanced = await eventsSince(w.stack, w.stack.bpe.pipeline, Pipeline.abi, 'PipelineRebalanced', from);
    assert.equal(rebalanced.length, 1);
    assert.equal(pipelineTxs(), 1);
    const weights = await Promise.all([w.taskTypeId, stage2].map((id) =>
      read<bigint>(w.stack.bpe.capacityRegistry, CapacityRegistry.abi, 'totalWeight', [id])));
    const effective = effectiveCapacitiesExact(weights);
    const info = await read<{ limited: boolean; capacityLimit: bigint }>(w.stack.bpe.backpressurePool, BackpressurePool.abi, 'poolInfo', [w.taskTypeId]);
    assert.equal(info.capacityLimit, effective[0]);
    assert.deepEqual([...rebalanced[0].args.effectiveCapacities], effective);
  });

  it('/health and /metrics report the duties run, gas spent and the last block', async () => {
    const health = await fetch(`${keeper.url}/health`);
    assert.equal(health.status, 200);
    const body = (await health.json()) as Record<string, unknown>;
    assert.equal(body.ok, true);
    assert.equal(body.degraded, false);
    const metrics = await (await fetch(`${keeper.url}/metrics`)).text();
    assert.match(metrics, /bpe_keeper_duties_total\{kind="overflow",outcome="run",service="keeper"\} 2/);
    assert.match(metrics, /bpe_keeper_duties_total\{kind="drain",outcome="run",service="keeper"\} 1/);
    assert.match(metrics, /bpe_keeper_gas_used_total\{kind="sinkEpoch",service="keeper"\} [1-9]/);
    const last = /bpe_keeper_last_block\{service="keeper"\} (\d+)/.exec(metrics);
    assert.ok(last && BigInt(last[1]) > 0n);
  });
});
