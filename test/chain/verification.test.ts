// End to end on anvil (real Superfluid, BPE deployed by startLocalStack): the verification and
// pricing half of the mechanism, driven through the typed actions only, with every number the chain
// produces predicted by the allocation core (src/core) from the same inputs.
//   (a) signed capacity attestations relayed by a stranger: a mixed batch, one accepted, each other
//       item rejected with its ICapacityRegistry.Rejection code, the capacity moved one EWMA step;
//   (b) completion receipts (the source signs the request, the sink the completion): counted once,
//       a replay refused (AlreadyCounted), a source that never paid refused (UnpaidReceipt), each
//       counted receipt spending the base fee from the source's paid credit;
//   (c) pricing: a backlog raises the sink's price by the queue premium and lowers its pool units to
//       queueWeight * unitScale; the base fee moves by baseFeeStep at the utilisation measured over
//       the epoch (money paid in over weight-seconds), never at an instantaneous rate.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  BaseError,
  ContractFunctionRevertedError,
  keccak256,
  parseEventLogs,
  toHex,
  type Account,
  type Address,
  type Hex,
  type LocalAccount,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { anvilAccount } from '../../src/chain/clients.ts';
import { gdaAbi, superfluidPoolAbi } from '../../src/chain/abis.ts';
import {
  BackpressurePool,
  CapacityRegistry,
  CompletionTracker,
  OffchainAggregator,
  PricingCurve,
  StakeManager,
} from '../../src/chain/bpe/artifacts.generated.ts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import * as verification from '../../src/chain/bpe/verification.ts';
import type { CompletionReceipt, SignedAttestation } from '../../src/chain/bpe/verification.ts';
import { startLocalStack, type LocalStack } from '../../src/chain/bpe/localStack.ts';
import {
  BPS,
  baseFeeStep,
  ewmaStep,
  mulDiv,
  premiumMultiplierBps,
  queueWeight,
  utilizationBps,
} from '../../src/core/index.ts';

const E18 = 10n ** 18n;
const PRICE = 10n ** 15n; // creation price, token wei per task
const BUFFER_MAX = 1000n * E18;
const SINK_STAKE = 400n * E18; // 400 stake units: 20 tasks/epoch at 20 units a task
const DECLARED = 10n; // below the cap: nothing is capped
const BACKLOG = 5n; // tasks waiting at the sink in (c)
const SOURCE = 4; // anvil account funded with Super Tokens
// wei/s the source streams into the pool: a multiple of the pool's units (3000 when it starts), so
// the GDA distributes all of it and the sources pay exactly this.
const FLOW_RATE = 42n * 10n ** 11n;

/** ICapacityRegistry.Rejection, in enum order. */
const Rejection = {
  None: 0,
  Stale: 1,
  FromTheFuture: 2,
  BadSignature: 3,
  NotRegistered: 4,
  NonceNotIncreasing: 5,
  TooFrequent: 6,
  OutOfRange: 7,
} as const;

/** A deterministic key, so the sink's address (and every signature) is the same on each run. */
const keyOf = (label: string): Hex => keccak256(toHex(`bpe verification test: ${label}`));

async function latestTimestamp(stack: LocalStack): Promise<bigint> {
  return (await stack.clients.publicClient.getBlock()).timestamp;
}

/**
 * Moves the clock to `offset` seconds into the next epoch and mines a block there, so that what
 * follows within a few seconds stays in one epoch (the CompletionTracker and the PricingCurve both
 * count whole epochs of `block.timestamp`).
 */
async function startNextEpoch(stack: LocalStack, offset = 5n): Promise<bigint> {
  const epoch = stack.bpe.params.epochSeconds;
  const timestamp = ((await latestTimestamp(stack)) / epoch + 1n) * epoch + offset;
  await stack.clients.testClient.setNextBlockTimestamp({ timestamp });
  await stack.clients.testClient.mine({ blocks: 1 });
  return timestamp;
}

/**
 * Runs `action`, which must be refused with the custom error `errorName` (decoded from the revert
 * data, with `args` if given), and checks that nothing was sent: no block mined, the sender's
 * nonce unchanged.
 */
async function assertRefused(
  stack: LocalStack, sender: Account, errorName: string, args: readonly unknown[] | undefined, action: () => Promise<unknown>,
): Promise<void> {
  const { publicClient } = stack.clients;
  const [block, nonce] = await Promise.all([
    publicClient.getBlockNumber({ cacheTime: 0 }),
    publicClient.getTransactionCount({ address: sender.address }),
  ]);
  let caught: unknown;
  try {
    await action();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof BaseError, `expected a revert with ${errorName}, got ${String(caught)}`);
  const revert = caught.walk((e) => e instanceof ContractFunctionRevertedError) as ContractFunctionRevertedError | null;
  assert.ok(revert, `not a decoded contract revert: ${caught.message}`);
  assert.equal(revert.data?.errorName, errorName, `decoded error: ${caught.shortMessage}`);
  if (args) assert.deepEqual(revert.data?.args, args);
  assert.equal(await publicClient.getBlockNumber({ cacheTime: 0 }), block, 'a block was mined: the refused action was sent');
  assert.equal(await publicClient.getTransactionCount({ address: sender.address }), nonce, 'the sender nonce moved');
}

describe('verification and pricing end to end: attestations, completion receipts, queue premium, base fee', () => {
  let stack: LocalStack;
  let taskTypeId: Hex;
  let pool: Address;
  // The sink is a plain private-key account (what a real agent holds), funded by hand.
  const sink: LocalAccount = privateKeyToAccount(keyOf('sink'));
  const source = anvilAccount(SOURCE);
  const stranger = anvilAccount(6); // relays, submits and advances: holds no stake, has no role
  const p = () => stack.bpe.params;

  /** The registration's slot (its 40-bit fields decode as numbers; bigints here). */
  const sinkState = async () => {
    const st = await stack.clients.publicClient.readContract({
      address: stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'sinkState', args: [taskTypeId, sink.address],
    });
    return {
      smoothed: BigInt(st.smoothed), allowance: BigInt(st.allowance), backlog: BigInt(st.backlog),
      pushed: BigInt(st.pushed), nonce: BigInt(st.nonce), lastUpdate: BigInt(st.lastUpdate),
    };
  };
  const taskType = () =>
    stack.clients.publicClient.readContract({
      address: stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'taskType', args: [taskTypeId],
    });
  const weightOf = () =>
    stack.clients.publicClient.readContract({
      address: stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'weightOf', args: [taskTypeId, sink.address],
    });
  const distributedRate = async () =>
    BigInt(await stack.clients.publicClient.readContract({ address: pool, abi: superfluidPoolAbi, functionName: 'getTotalFlowRate' }));
  const windowOf = () =>
    stack.clients.publicClient.readContract({
      address: stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'windowOf', args: [taskTypeId, sink.address],
    });
  const creditOf = (who: Address) =>
    stack.clients.publicClient.readContract({
      address: stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'creditOf', args: [taskTypeId, who],
    });
  const counted = (who: Address, taskId: Hex) =>
    stack.clients.publicClient.readContract({
      address: stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'isCounted', args: [taskTypeId, who, taskId],
    });

  before(async () => {
    stack = await startLocalStack({ fundedAccounts: [SOURCE] });
    const { clients, deployer } = stack;

    // The deployer stakes the minimum and creates the task type.
    await stack.mintStakeTokens(deployer.address, p().minSinkStake);
    await bpe.stake(stack, deployer, p().minSinkStake);
    ({ taskTypeId, pool } = await bpe.registerTaskType(stack, deployer, {
      name: 'verify', token: stack.token, pricePerTask: PRICE, bufferMax: BUFFER_MAX,
    }));

    // The sink: gas money, stake tokens, stake, registration, pool connection.
    await clients.testClient.setBalance({ address: sink.address, value: 10n * E18 });
    await stack.mintStakeTokens(sink.address, SINK_STAKE);
    await bpe.stake(stack, sink, SINK_STAKE);
    await bpe.registerSink(stack, sink, taskTypeId);
    await bpe.connectPool(stack, sink, pool);
  });
  after(async () => {
    await stack?.stop();
  });

  // ------------------------------------------------------------------------------------------- (a)

  it('(a) a stranger relays a mixed batch: only the valid attestation lands, each other item is rejected with its code', async () => {
    const cap = await stack.clients.publicClient.readContract({
      address: stack.bpe.stakeManager, abi: StakeManager.abi, functionName: 'getCapacityCap', args: [sink.address],
    });
    assert.equal(cap, 400n, 'linear: one stake unit per 1e18');
    const initial = await sinkState();
    assert.equal(initial.smoothed, 0n);
    assert.equal(initial.nonce, 0n);

    const now = await latestTimestamp(stack);
    const sign = (nonce: number, capacity: bigint, timestamp = now) =>
      verification.signAttestation(stack, sink, { taskTypeId, capacity, backlog: 0n, nonce, timestamp });
    const valid = await sign(1, DECLARED);
    // Signed for 10 tasks, relayed claiming 15: the signature no longer matches the message.
    const tampered: SignedAttestation = { ...(await sign(2, DECLARED)), capacity: DECLARED + 5n };
    // The valid item again, signature and all: its nonce is no longer above the sink's last one.
    const replayed: SignedAttestation = { ...valid };
    // Correctly signed, but older than maxAge by the time it lands.
    const stale = await sign(3, DECLARED, now - p().attestationMaxAge - 1n);

    const { receipt, accepted, rejected } = await verification.submitAttestations(stack, stranger, [valid, tampered, replayed, stale]);

    assert.equal(accepted, 1);
    assert.deepEqual(rejected, [
      { sink: sink.address, nonce: 2n, reason: Rejection.BadSignature },
      { sink: sink.address, nonce: 1n, reason: Rejection.NonceNotIncreasing },
      { sink: sink.address, nonce: 3n, reason: Rejection.Stale },
    ]);
    const [summary] = parseEventLogs({ abi: OffchainAggregator.abi, eventName: 'AttestationsSubmitted', logs: receipt.logs });
    assert.equal(summary?.args.relayer, stranger.address);
    assert.equal(summary?.args.rejected, 3n);

    // One EWMA step from 0 toward the declaration capped by the allowance (the whole cap: 20 tasks).
    const updated = await sinkState();
    assert.equal(updated.allowance, cap / bpe.DEFAULT_STAKE_UNITS_PER_TASK);
    const expected = ewmaStep(0n, DECLARED < updated.allowance ? DECLARED : updated.allowance, p().ewmaAlphaBps);
    assert.equal(expected, 3n); // ceil(0.3 * 10)
    assert.equal(updated.smoothed, expected);
    assert.equal(await bpe.smoothedCapacity(stack, taskTypeId, sink.address), expected);
    assert.equal(updated.nonce, 1n, 'the accepted nonce, not the replayed or later ones');
    const block = await stack.clients.publicClient.getBlock({ blockNumber: receipt.blockNumber });
    assert.equal(updated.lastUpdate, block.timestamp);
    const t = await taskType();
    assert.equal(t.totalCapacity, expected);
    // Without backlog the weight is the capacity, and the pool got it at once (0 -> 3 leaves the deadband).
    assert.equal(updated.pushed, expected);
    assert.equal(await bpe.poolUnits(stack, pool, sink.address), expected * p().unitScale);
  });

  // ------------------------------------------------------------------------------------------- (b)

  describe('(b) completion receipts', () => {
    let receipt: CompletionReceipt;
    let sinkSignature: Hex;
    let sourceSignature: Hex;

    before(async () => {
      await bpe.setStream(stack, source, stack.token, pool, FLOW_RATE);
      // A receipt spends the base fee from what the source has paid: let the stream run long enough.
      await bpe.advanceTime(stack.clients, Number(p().epochSeconds));
      const completedAt = await startNextEpoch(stack);
      receipt = {
        taskId: keyOf('task 1'), taskTypeId, sink: sink.address, source: source.address, completedAt, deadline: completedAt + 3600n,
      };
      [sinkSignature, sourceSignature] = await Promise.all([
        verification.signCompletion(stack, sink, receipt),
        verification.signRequest(stack, source, receipt),
      ]);
    });

    it('a receipt with the request signed by the source and the completion by the sink is counted and spends the base fee', async () => {
      const tx = await verification.recordCompletion(stack, stranger, receipt, sinkSignature, sourceSignature);
      const [event] = parseEventLogs({ abi: CompletionTracker.abi, eventName: 'CompletionRecorded', logs: tx.logs });
      assert.deepEqual(event?.args, { taskTypeId, sink: sink.address, taskId: receipt.taskId, source: source.address });
      assert.equal(await counted(source.address, receipt.taskId), true);
      // Credit = the stream's rate times the seconds it has been paying, minus one base fee.
      const block = await stack.clients.publicClient.getBlock({ blockNumber: tx.blockNumber });
      const flow = await stack.clients.publicClient.readContract({
        address: stack.framework.gda, abi: gdaAbi, functionName: 'getFlow', args: [stack.token, source.address, pool],
      });
      const paid = FLOW_RATE * (block.timestamp - flow[0]);
      const fee = await verification.baseFee(stack, taskTypeId);
      const nowCredit = await creditOf(source.address);
      const latest = await latestTimestamp(stack);
      assert.equal(nowCredit, paid - fee + FLOW_RATE * (latest - block.timestamp));
      const w = await windowOf();
      assert.equal(w.opened, true);
      assert.equal(w.completions, 1n);
      assert.equal(BigInt(w.epoch), receipt.completedAt / p().epochSeconds);
    });

    it('the same receipt again: AlreadyCounted, nothing sent, nothing changes', async () => {
      const w = await windowOf();
      await assertRefused(stack, stranger, 'AlreadyCounted', [taskTypeId, source.address, receipt.taskId], () =>
        verification.recordCompletion(stack, stranger, receipt, sinkSignature, sourceSignature),
      );
      assert.deepEqual(await windowOf(), w);
      assert.equal(w.completions, 1n);
    });

    it('a receipt whose source never paid the pool: UnpaidReceipt, even though both signatures are valid', async () => {
      const freeloader = privateKeyToAccount(keyOf('freeloader'));
      const unpaid: CompletionReceipt = { ...receipt, taskId: keyOf('task 2'), source: freeloader.address };
      const [bySink, bySource] = await Promise.all([
        verification.signCompletion(stack, sink, unpaid),
        verification.signRequest(stack, freeloader, unpaid),
      ]);
      assert.equal(await creditOf(freeloader.address), 0n);
      const w = await windowOf();
      await assertRefused(stack, stranger, 'UnpaidReceipt', [freeloader.address, 0n, PRICE], () =>
        verification.recordCompletion(stack, stranger, unpaid, bySink, bySource),
      );
      assert.equal(await counted(freeloader.address, unpaid.taskId), false);
      assert.deepEqual(await windowOf(), w);
    });

    it('recordCompletions: a batch counts the good receipts and names each skipped one with its reason', async () => {
      const freeloader = privateKeyToAccount(keyOf('freeloader'));
      const make = async (label: string, from: LocalAccount = source, signer: LocalAccount = source) => {
        const r: CompletionReceipt = { ...receipt, taskId: keyOf(label), source: from.address };
        const [s1, s2] = await Promise.all([verification.signCompletion(stack, sink, r), verification.signRequest(stack, signer, r)]);
        return { receipt: r, sinkSignature: s1, sourceSignature: s2 };
      };
      const items = [
        await make('batch 1'),
        { receipt, sinkSignature, sourceSignature }, // counted earlier
        await make('batch 2', freeloader, freeloader), // never paid
        await make('batch 3', source, freeloader), // the request signed by someone else
        await make('batch 4'),
      ];
      const fee = await verification.baseFee(stack, taskTypeId);
      while ((await creditOf(source.address)) < 2n * fee) await bpe.advanceTime(stack.clients, 30); // the stream pays for two more
      const before = (await windowOf()).completions;
      const result = await verification.recordCompletions(stack, stranger, items);
      assert.equal(result.receipt.status, 'success');
      assert.equal(result.counted, 2);
      assert.deepEqual(result.skipped.map((x) => [x.index, x.taskId, x.source, x.reason]), [
        [1, receipt.taskId, source.address, 'AlreadyCounted'],
        [2, keyOf('batch 2'), freeloader.address, 'UnpaidReceipt'],
        [3, keyOf('batch 3'), source.address, 'InvalidSignature'],
      ]);
      assert.equal(await counted(source.address, keyOf('batch 1')), true);
      assert.equal(await counted(source.address, keyOf('batch 4')), true);
      assert.equal(await counted(source.address, keyOf('batch 3')), false);
      assert.equal((await windowOf()).completions, before + 2n);
    });
  });

  // ------------------------------------------------------------------------------------------- (c)

  describe('(c) pricing', () => {
    const pricingRead = <T>(functionName: 'utilizationBps' | 'feeState', args: readonly unknown[]) =>
      stack.clients.publicClient.readContract({
        address: stack.bpe.pricingCurve, abi: PricingCurve.abi, functionName, args,
      } as never) as Promise<T>;

    it('a reported backlog raises priceOf by the premium and lowers the pool units to queueWeight * unitScale', async () => {
      const gamma = p().queuePremiumBps;
      const { smoothed } = await sinkState();
      assert.equal(await verification.priceOf(stack, taskTypeId, sink.address), PRICE, 'no backlog, no premium');

      await verification.reportBacklog(stack, sink, taskTypeId, BACKLOG);

      // 10000 + gamma * floor(5 * 10000 / 3) / 10000 = 26666 bps: the price rises by 166.66 %.
      const multiplier = premiumMultiplierBps(smoothed, BACKLOG, gamma);
      assert.equal(multiplier, 26_666n);
      const baseFee = await verification.baseFee(stack, taskTypeId);
      assert.equal(baseFee, PRICE);
      assert.equal(await verification.priceOf(stack, taskTypeId, sink.address), mulDiv(baseFee, multiplier, BPS));

      // 3 / (1 + 5 / 3) = 1.125 -> 1 task/epoch at the base fee: what the pool now routes by.
      const weight = queueWeight(smoothed, BACKLOG, gamma);
      assert.equal(weight, 1n);
      assert.equal(await weightOf(), weight);
      assert.equal((await taskType()).totalWeight, weight);
      assert.equal((await sinkState()).pushed, weight);
      assert.equal(await bpe.poolUnits(stack, pool, sink.address), weight * p().unitScale);
    });

    it('advancePriceEpoch: the first call starts the clock; later ones step by baseFeeStep at money paid in over weight-seconds', async () => {
      const { targetUtilizationBps, maxFeeStepBps, feeFloorBps, feeCeilingBps, epochSeconds } = p();
      const floor = (PRICE * feeFloorBps) / BPS;
      const ceiling = (PRICE * feeCeilingBps) / BPS;
      type FeeState = { baseFee: bigint; epoch: bigint; measuredAt: bigint; paidIn: bigint; weightSeconds: bigint };
      const feeState = () => pricingRead<FeeState>('feeState', [taskTypeId]);

      // The first advance only starts the clock: there is no measured epoch yet.
      await startNextEpoch(stack);
      await verification.advancePriceEpoch(stack, stranger, taskTypeId);
      const start = await feeState();
      assert.equal(start.baseFee, PRICE);
      assert.equal(await verification.baseFee(stack, taskTypeId), PRICE);

      // Within the same epoch: EpochNotOver, nothing changes.
      const epoch = (await latestTimestamp(stack)) / epochSeconds;
      await assertRefused(stack, stranger, 'EpochNotOver', [epoch], () => verification.advancePriceEpoch(stack, stranger, taskTypeId));

      /** Advances an epoch later and checks the step against the core, from the recorded readings. */
      const advanceAndCheck = async (before: FeeState): Promise<FeeState> => {
        await startNextEpoch(stack);
        const [rate, { totalWeight }] = await Promise.all([distributedRate(), taskType()]);
        const tx = await verification.advancePriceEpoch(stack, stranger, taskTypeId);
        const after = await feeState();
        const seconds = after.measuredAt - before.measuredAt;
        // The stream and the weights were constant: the integrals are rate x seconds exactly.
        assert.equal(after.paidIn - before.paidIn, rate * seconds, 'money paid in over the epoch');
        assert.equal(after.weightSeconds - before.weightSeconds, totalWeight * seconds, 'weight-seconds');
        const u = utilizationBps(rate * seconds, totalWeight * seconds, before.baseFee, epochSeconds);
        const fee = baseFeeStep(before.baseFee, u, targetUtilizationBps, maxFeeStepBps, floor, ceiling);
        const [event] = parseEventLogs({ abi: PricingCurve.abi, eventName: 'BaseFeeUpdated', logs: tx.logs });
        assert.equal(event?.args.utilizationBps, u, 'utilisation as PricingCurve measures it');
        assert.equal(event?.args.baseFee, fee);
        assert.equal(after.baseFee, fee);
        return after;
      };

      // About 4.2e12 wei/s (the GDA rounds the distributed rate down to a multiple of the units)
      // over 1 task/epoch at 1e15 wei/task: 126 % utilisation against an 80 % target:
      // up = ceil(1250 * ~4600 / 8000) = 719 bps, fee = 1e15 * 1.0719.
      const rate = await distributedRate();
      assert.ok(rate <= FLOW_RATE && FLOW_RATE - rate < 10n ** 4n, 'distributed: the stream less GDA rounding');
      const first = await advanceAndCheck(start);
      assert.equal(first.baseFee, (PRICE * 10_719n) / BPS);
      assert.equal(first.epoch, epoch + 1n);

      // Another epoch: one more step, re-measured at the new fee:
      // floor(4.2e12 * 300 * 10000 / 1.0719e15) = 11754 bps, up = ceil(586.5625) = 587 bps.
      const secondState = await advanceAndCheck(first);
      const second = secondState.baseFee;
      assert.equal(second, mulDiv(first.baseFee, 10_587n, BPS, true));

      // The sink's price follows the base fee with the same premium.
      const { smoothed, backlog } = await sinkState();
      const multiplier = premiumMultiplierBps(smoothed, backlog, p().queuePremiumBps);
      assert.equal(await verification.priceOf(stack, taskTypeId, sink.address), mulDiv(second, multiplier, BPS));
    });
  });
});
