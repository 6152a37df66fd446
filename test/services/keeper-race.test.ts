// Two keepers on one chain: every duty is applied once, and a race costs at most one wasted
// (skipped after simulation, reverted, or effect-free) transaction.
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { BackpressurePool, CompletionTracker, EscrowBuffer, PricingCurve } from '../../src/chain/bpe/artifacts.generated.ts';
import { anvilAccount } from '../../src/chain/clients.ts';
import { startKeeper, type Keeper } from '../../src/services/keeper/index.ts';
import { captureLogger, eventsSince, headBlock, serviceContext, startNextEpoch, startWorld, waitFor, type World } from './world.ts';

let w: World;
let keepers: Keeper[] = [];

before(async () => {
  w = await startWorld({ sinks: 2, capacity: 10n });
  await startNextEpoch(w.stack, 70n);
  keepers = await Promise.all([7, 8].map((i) =>
    startKeeper({ ctx: serviceContext(w.stack, anvilAccount(i)), gda: w.stack.framework.gda, pollMs: 15, log: captureLogger(`keeper ${i}`).log, http: false })));
});
after(async () => {
  await Promise.all(keepers.map((k) => k.stop()));
  await w?.stack.stop();
});

/** Waits until both keepers have seen the head and polled a few more times. */
async function settle(): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const head = await headBlock(w.stack);
    await waitFor('both keepers at the head', () => keepers.every((k) => (k.status().lastBlock ?? -1n) >= head));
    const polls = keepers.map((k) => k.status().polls);
    await waitFor('more polls', () => keepers.every((k, i) => k.status().polls >= polls[i] + 3));
  }
}

/** Duty outcomes of both keepers, from their metrics. */
async function outcomes(kind: string): Promise<{ run: number; skipped: number; reverted: number; failed: number }> {
  const out = { run: 0, skipped: 0, reverted: 0, failed: 0 };
  for (const k of keepers) {
    const metric = await k.metrics.getSingleMetric('bpe_keeper_duties_total')!.get();
    for (const v of metric.values) {
      if (v.labels.kind === kind) out[v.labels.outcome as keyof typeof out] += v.value;
    }
  }
  return out;
}

it('two keepers: windows, price clock, overflow, drain and epochs each applied once; at most one wasted call per race', async () => {
  const from = (await headBlock(w.stack)) + 1n;
  await settle();
  // Start-up duties: 2 windows opened, 1 price clock started, each once.
  const opened = await Promise.all(w.sinks.map((s) =>
    w.stack.clients.publicClient.readContract({ address: w.stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'windowOf', args: [w.taskTypeId, s.address] })));
  assert.ok(opened.every((x) => x.opened), 'windows opened');

  // Overflow: a stream above what the sinks absorb, then stopped (overflow to zero, then a drain).
  await bpe.setStream(w.stack, w.source, w.stack.token, w.pool, 12n * 10n ** 13n);
  await settle();
  await bpe.advanceTime(w.stack.clients, 20);
  await bpe.setStream(w.stack, w.source, w.stack.token, w.pool, 0n);
  await settle();
  // An epoch ends: each window judged once, the price stepped once.
  await startNextEpoch(w.stack, w.stack.bpe.params.receiptGrace + 5n);
  await settle();

  const ev = (address: `0x${string}`, abi: readonly unknown[], name: string) => eventsSince(w.stack, address, abi, name, from);
  const overflow = await ev(w.stack.bpe.backpressurePool, BackpressurePool.abi, 'OverflowUnitsUpdated');
  assert.deepEqual(overflow.map((e) => e.args.units > 0n), [true, false], 'share up once, down once');
  assert.equal((await ev(w.stack.bpe.escrowBuffer, EscrowBuffer.abi, 'Drained')).length, 1);
  const fees = await ev(w.stack.bpe.pricingCurve, PricingCurve.abi, 'BaseFeeUpdated');
  assert.equal(fees.length, 2, 'the clock started once, one step for the epoch');
  const judged = await ev(w.stack.bpe.completionTracker, CompletionTracker.abi, 'EpochEvaluated');
  assert.deepEqual(judged.map((e) => e.args.sink).sort(), w.sinks.map((s) => s.address).sort());

  // Each effect came from exactly one successful transaction of one keeper; every other attempt
  // was a race: refused in simulation (skipped), mined but reverted, or mined without effect.
  const sent = keepers.flatMap((k) => k.sent());
  const effects: Record<string, number> = { overflow: 2, drain: 1, priceEpoch: 2, sinkEpoch: 4 /* 2 opened + 2 judged */ };
  for (const [kind, count] of Object.entries(effects)) {
    const ok = sent.filter((t) => t.kind === kind && t.status === 'success');
    const reverted = sent.filter((t) => t.kind === kind && t.status === 'reverted');
    const o = await outcomes(kind);
    assert.equal(o.reverted, reverted.length);
    assert.equal(o.failed, 0, `${kind}: no refusal other than "not due"`);
    assert.equal(o.run, ok.length);
    const wasted = ok.length - count + reverted.length + o.skipped;
    assert.ok(ok.length >= count, `${kind}: ${ok.length} transactions for ${count} effects`);
    assert.ok(wasted <= count, `${kind}: ${wasted} wasted calls for ${count} races`);
  }
  assert.equal(sent.filter((t) => t.kind === 'rebalance').length, 0, 'no sink drifted: no rebalance');
});
