// End to end on anvil with the real Superfluid framework: BPE deployed by deployBpe through
// startLocalStack, driven only through the typed user actions (src/chain/bpe/actions.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseEventLogs, type Account, type Address, type Hex } from 'viem';
import { superTokenAbi, superfluidPoolAbi } from '../../src/chain/abis.ts';
import { anvilAccount } from '../../src/chain/clients.ts';
import {
  BackpressurePool,
  CapacityRegistry,
  CompletionTracker,
  EscrowBuffer,
  OffchainAggregator,
  Pipeline,
  PoolAdmin,
  PricingCurve,
  StakeManager,
} from '../../src/chain/bpe/artifacts.generated.ts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { startLocalStack, type LocalStack } from '../../src/chain/bpe/localStack.ts';
import { ewmaStep, overflowUnits } from '../../src/core/index.ts';

const E18 = 10n ** 18n;
const PRICE = 10n ** 15n; // token wei per task
const BUFFER_MAX = 1000n * E18;
const SOURCE = 4; // anvil account funded with Super Tokens

interface Sink { account: Account; stake: bigint; capacity: bigint }

/** Stakes the creator and registers a task type. */
async function newTaskType(stack: LocalStack, name: string): Promise<{ taskTypeId: Hex; pool: Address }> {
  const creator = stack.deployer;
  const { minSinkStake } = stack.bpe.params;
  const staked = await stack.clients.publicClient.readContract({
    address: stack.bpe.stakeManager, abi: StakeManager.abi, functionName: 'getStake', args: [creator.address],
  });
  if (staked < minSinkStake) {
    await stack.mintStakeTokens(creator.address, minSinkStake);
    await bpe.stake(stack, creator, minSinkStake);
  }
  const { taskTypeId, pool } = await bpe.registerTaskType(stack, creator, {
    name, token: stack.token, pricePerTask: PRICE, bufferMax: BUFFER_MAX,
  });
  return { taskTypeId, pool };
}

/** Stakes, registers and connects every sink, then declares until each smoothed capacity reached its target. */
async function joinAndSettle(stack: LocalStack, taskTypeId: Hex, pool: Address, sinks: Sink[]): Promise<void> {
  for (const s of sinks) {
    await stack.mintStakeTokens(s.account.address, s.stake);
    await bpe.stake(stack, s.account, s.stake);
    await bpe.registerSink(stack, s.account, taskTypeId);
    await bpe.connectPool(stack, s.account, pool);
  }
  for (let round = 0; ; round++) {
    assert.ok(round < 100, 'capacities did not settle within 100 rounds');
    let pending = 0;
    for (const s of sinks) {
      if ((await bpe.smoothedCapacity(stack, taskTypeId, s.account.address)) === s.capacity) continue;
      pending++;
      await bpe.declareCapacity(stack, s.account, taskTypeId, s.capacity);
    }
    if (pending === 0) return;
    await bpe.advanceTime(stack.clients, Number(stack.bpe.params.minUpdateInterval));
  }
}

const read = <T>(stack: LocalStack, address: Address, abi: readonly unknown[], functionName: string, args: readonly unknown[] = []) =>
  stack.clients.publicClient.readContract({ address, abi: abi as never, functionName, args } as never) as Promise<T>;

const balanceOf = (stack: LocalStack, who: Address) =>
  stack.clients.publicClient.readContract({ address: stack.token, abi: superTokenAbi, functionName: 'balanceOf', args: [who] });

const received = (stack: LocalStack, pool: Address, members: Address[]) =>
  Promise.all(members.map((m) => bpe.receivedFromPool(stack, pool, m)));

async function latestTimestamp(stack: LocalStack): Promise<bigint> {
  return (await stack.clients.publicClient.getBlock()).timestamp;
}

/** What the sinks of a task type can absorb, in wei/s, and what flows into its pool. */
async function rates(stack: LocalStack, taskTypeId: Hex): Promise<{ absorbable: bigint; inflow: bigint }> {
  const address = stack.bpe.backpressurePool;
  const [absorbable, inflow] = await Promise.all([
    read<bigint>(stack, address, BackpressurePool.abi, 'absorbableRate', [taskTypeId]),
    read<bigint>(stack, address, BackpressurePool.abi, 'inflowRate', [taskTypeId]),
  ]);
  return { absorbable, inflow };
}

/**
 * Runs `action`, which must be refused with an error naming `errorName`, and checks that it sent
 * nothing: no block was mined and the sender's nonce did not move.
 */
async function assertRefused(stack: LocalStack, sender: Account, errorName: string, action: () => Promise<unknown>): Promise<Error> {
  const { publicClient } = stack.clients;
  const [block, nonce] = await Promise.all([publicClient.getBlockNumber({ cacheTime: 0 }), publicClient.getTransactionCount({ address: sender.address })]);
  let caught: unknown;
  try {
    await action();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof Error, `expected a revert naming ${errorName}, but the action succeeded`);
  assert.match(caught.message, new RegExp(`\\b${errorName}\\b`), `error does not name ${errorName}: ${caught.message}`);
  assert.equal(await publicClient.getBlockNumber({ cacheTime: 0 }), block, 'a block was mined: the refused action was sent');
  assert.equal(await publicClient.getTransactionCount({ address: sender.address }), nonce, 'the sender nonce moved');
  return caught;
}

// ---------------------------------------------------------------------------------------------

describe('BPE deployment on anvil', () => {
  let stack: LocalStack;
  before(async () => {
    stack = await startLocalStack();
  });
  after(async () => {
    await stack?.stop();
  });

  it('puts code at every BPE address, all distinct', async () => {
    const { bpe: d } = stack;
    const addresses = [
      d.stakeManager, d.capacityRegistry, d.backpressurePool, d.escrowBuffer, d.pipeline,
      d.pricingCurve, d.offchainAggregator, d.completionTracker,
    ];
    assert.equal(new Set(addresses).size, 8);
    for (const address of addresses) {
      const code = await stack.clients.publicClient.getCode({ address });
      assert.ok(code && code.length > 2, `${address} has no code`);
    }
  });

  it('wires the constructors to each other and to the stake token, slasher and parameters', async () => {
    const { bpe: d, deployer } = stack;
    const p = d.params;
    const expect = async (address: Address, abi: readonly unknown[], fn: string, value: unknown) =>
      assert.equal(await read(stack, address, abi, fn), value, `${fn}() at ${address}`);

    await expect(d.stakeManager, StakeManager.abi, 'stakeToken', stack.underlying);
    await expect(d.stakeManager, StakeManager.abi, 'registry', d.capacityRegistry);
    await expect(d.stakeManager, StakeManager.abi, 'slasher', d.completionTracker);
    await expect(d.stakeManager, StakeManager.abi, 'slashRecipient', deployer.address);
    await expect(d.stakeManager, StakeManager.abi, 'stakeUnit', p.stakeUnit);
    await expect(d.stakeManager, StakeManager.abi, 'minSinkStake', p.minSinkStake);
    await expect(d.stakeManager, StakeManager.abi, 'unbondingPeriod', p.unbondingPeriod);

    await expect(d.capacityRegistry, CapacityRegistry.abi, 'stakeManager', d.stakeManager);
    await expect(d.capacityRegistry, CapacityRegistry.abi, 'backpressurePool', d.backpressurePool);
    await expect(d.capacityRegistry, CapacityRegistry.abi, 'ewmaAlphaBps', p.ewmaAlphaBps);
    await expect(d.capacityRegistry, CapacityRegistry.abi, 'commitTimeout', p.commitTimeout);
    await expect(d.capacityRegistry, CapacityRegistry.abi, 'minUpdateInterval', p.minUpdateInterval);
    await expect(d.capacityRegistry, CapacityRegistry.abi, 'maxTaskTypesPerSink', p.maxTaskTypesPerSink);
    await expect(d.capacityRegistry, CapacityRegistry.abi, 'aggregator', d.offchainAggregator);
    await expect(d.capacityRegistry, CapacityRegistry.abi, 'queuePremiumBps', p.queuePremiumBps);
    await expect(d.capacityRegistry, CapacityRegistry.abi, 'rebalanceThresholdBps', p.rebalanceThresholdBps);

    await expect(d.backpressurePool, BackpressurePool.abi, 'registry', d.capacityRegistry);
    await expect(d.backpressurePool, BackpressurePool.abi, 'buffer', d.escrowBuffer);
    await expect(d.backpressurePool, BackpressurePool.abi, 'pipeline', d.pipeline);
    await expect(d.backpressurePool, BackpressurePool.abi, 'unitScale', p.unitScale);
    await expect(d.backpressurePool, BackpressurePool.abi, 'pricing', d.pricingCurve);
    await expect(d.backpressurePool, BackpressurePool.abi, 'epochSeconds', p.epochSeconds);

    await expect(d.escrowBuffer, EscrowBuffer.abi, 'registry', d.capacityRegistry);
    await expect(d.escrowBuffer, EscrowBuffer.abi, 'backpressurePool', d.backpressurePool);
    await expect(d.escrowBuffer, EscrowBuffer.abi, 'drainWindow', p.drainWindow);

    await expect(d.pipeline, Pipeline.abi, 'registry', d.capacityRegistry);
    await expect(d.pipeline, Pipeline.abi, 'backpressurePool', d.backpressurePool);

    await expect(d.pricingCurve, PricingCurve.abi, 'registry', d.capacityRegistry);
    await expect(d.pricingCurve, PricingCurve.abi, 'backpressurePool', d.backpressurePool);
    await expect(d.pricingCurve, PricingCurve.abi, 'targetUtilizationBps', p.targetUtilizationBps);
    await expect(d.pricingCurve, PricingCurve.abi, 'maxStepBps', p.maxFeeStepBps);
    await expect(d.pricingCurve, PricingCurve.abi, 'floorBps', p.feeFloorBps);
    await expect(d.pricingCurve, PricingCurve.abi, 'ceilingBps', p.feeCeilingBps);

    await expect(d.offchainAggregator, OffchainAggregator.abi, 'registry', d.capacityRegistry);
    await expect(d.offchainAggregator, OffchainAggregator.abi, 'maxAge', p.attestationMaxAge);
    await expect(d.offchainAggregator, OffchainAggregator.abi, 'maxSkew', p.attestationMaxSkew);

    await expect(d.completionTracker, CompletionTracker.abi, 'registry', d.capacityRegistry);
    await expect(d.completionTracker, CompletionTracker.abi, 'stakeManager', d.stakeManager);
    await expect(d.completionTracker, CompletionTracker.abi, 'buffer', d.escrowBuffer);
    await expect(d.completionTracker, CompletionTracker.abi, 'pricing', d.pricingCurve);
    await expect(d.completionTracker, CompletionTracker.abi, 'epochSeconds', p.epochSeconds);
  });

  it('creates a task type with its own GDA pool, administered by its own PoolAdmin, open to any distributor', async () => {
    const { taskTypeId, pool } = await newTaskType(stack, 'wiring');
    assert.equal(await read(stack, stack.bpe.backpressurePool, BackpressurePool.abi, 'getPool', [taskTypeId]), pool);
    const admin = await bpe.poolAdmin(stack, taskTypeId);
    assert.equal(await read(stack, pool, superfluidPoolAbi, 'admin'), admin);
    assert.equal(await read(stack, admin, PoolAdmin.abi, 'owner'), stack.bpe.backpressurePool);
    assert.equal(await read(stack, pool, superfluidPoolAbi, 'superToken'), stack.token);
    assert.equal(await read(stack, pool, superfluidPoolAbi, 'distributionFromAnyAddress'), true);
    assert.equal(await read(stack, stack.bpe.capacityRegistry, CapacityRegistry.abi, 'pricePerTask', [taskTypeId]), PRICE);
    assert.equal(await read(stack, stack.bpe.escrowBuffer, EscrowBuffer.abi, 'bufferMax', [taskTypeId]), BUFFER_MAX);
  });
});

// ---------------------------------------------------------------------------------------------

describe('BPE: three sinks of capacity 10:20:30 share a stream 1:2:3', () => {
  let stack: LocalStack;
  let taskTypeId: Hex;
  let pool: Address;
  // Stakes 400/900/1600 tokens give caps 20/30/40, above the declarations: nothing is capped.
  const sinks: Sink[] = [
    { account: anvilAccount(1), stake: 400n * E18, capacity: 10n },
    { account: anvilAccount(2), stake: 900n * E18, capacity: 20n },
    { account: anvilAccount(3), stake: 1600n * E18, capacity: 30n },
  ];
  const source = anvilAccount(SOURCE);

  before(async () => {
    stack = await startLocalStack({ fundedAccounts: [SOURCE] });
    ({ taskTypeId, pool } = await newTaskType(stack, 'summarize'));
    await joinAndSettle(stack, taskTypeId, pool, sinks);
  });
  after(async () => {
    await stack?.stop();
  });

  it('caps from the stakes are 400/900/1600 stake units (20/45/80 tasks at 20 units a task), capacities 10/20/30', async () => {
    const caps = await Promise.all(
      sinks.map((s) => read<bigint>(stack, stack.bpe.stakeManager, StakeManager.abi, 'getCapacityCap', [s.account.address])),
    );
    assert.deepEqual(caps, [400n, 900n, 1600n], 'linear in stake: one unit per 1e18');
    const smoothed = await Promise.all(sinks.map((s) => bpe.smoothedCapacity(stack, taskTypeId, s.account.address)));
    assert.deepEqual(smoothed, [10n, 20n, 30n]);
    assert.equal(await read(stack, stack.bpe.capacityRegistry, CapacityRegistry.abi, 'totalCapacity', [taskTypeId]), 60n);
  });

  it('gives each sink capacity * unitScale pool units and the buffer none', async () => {
    const scale = stack.bpe.params.unitScale;
    const units = await Promise.all(sinks.map((s) => bpe.poolUnits(stack, pool, s.account.address)));
    assert.deepEqual(units, [10n * scale, 20n * scale, 30n * scale]);
    assert.equal(await bpe.poolUnits(stack, pool, stack.bpe.escrowBuffer), 0n);
    assert.equal(await read(stack, stack.bpe.backpressurePool, BackpressurePool.abi, 'needsRebalance', [taskTypeId]), false);
  });

  it('pays a source streaming half the absorbable rate to the sinks exactly 1:2:3, nothing to the buffer', async () => {
    const { absorbable } = await rates(stack, taskTypeId);
    assert.equal(absorbable, (60n * PRICE) / stack.bpe.params.epochSeconds);
    await bpe.setStream(stack, source, stack.token, pool, absorbable / 2n);
    await bpe.updateOverflow(stack, source, taskTypeId);
    assert.equal(await bpe.poolUnits(stack, pool, stack.bpe.escrowBuffer), 0n, 'no overflow below capacity');

    const members = [...sinks.map((s) => s.account.address), stack.bpe.escrowBuffer];
    const t0 = await latestTimestamp(stack);
    const mark = await received(stack, pool, members);
    await bpe.advanceTime(stack.clients, 3600);
    const t1 = await latestTimestamp(stack);
    const now = await received(stack, pool, members);
    const [a, b, c, buffer] = now.map((v, i) => v - mark[i]!);

    // The GDA rounds the flow down to a multiple of the total units; every unit earns the same.
    const totalUnits = await read<bigint>(stack, pool, superfluidPoolAbi, 'getTotalUnits');
    const flow = await read<bigint>(stack, pool, superfluidPoolAbi, 'getTotalFlowRate');
    assert.equal(flow, ((absorbable / 2n) / totalUnits) * totalUnits);
    const perUnit = flow / totalUnits;
    const scale = stack.bpe.params.unitScale;
    assert.ok(a! > 0n);
    assert.equal(a, 10n * scale * perUnit * (t1 - t0));
    assert.equal(b, 2n * a!);
    assert.equal(c, 3n * a!);
    assert.equal(buffer, 0n);
  });
});

// ---------------------------------------------------------------------------------------------

describe('BPE: bad input is refused with a decoded error and changes nothing', () => {
  let stack: LocalStack;
  let taskTypeId: Hex;
  let pool: Address;
  const sink = anvilAccount(1);
  const stranger = anvilAccount(2); // holds no stake

  before(async () => {
    stack = await startLocalStack();
    ({ taskTypeId, pool } = await newTaskType(stack, 'refusals'));
    await stack.mintStakeTokens(sink.address, 400n * E18);
    await bpe.stake(stack, sink, 400n * E18);
    await bpe.registerSink(stack, sink, taskTypeId);
    await bpe.connectPool(stack, sink, pool);
  });
  after(async () => {
    await stack?.stop();
  });

  const sinksOf = () => read<Address[]>(stack, stack.bpe.capacityRegistry, CapacityRegistry.abi, 'sinksOf', [taskTypeId]);

  it('registerSink without stake: InsufficientStake(0, minSinkStake)', async () => {
    const before = await sinksOf();
    const err = await assertRefused(stack, stranger, 'InsufficientStake', () => bpe.registerSink(stack, stranger, taskTypeId));
    assert.ok(err.message.includes(`(0, ${stack.bpe.params.minSinkStake})`), `names the stake and the minimum: ${err.message}`);
    assert.deepEqual(await sinksOf(), before);
    assert.deepEqual(before, [sink.address]);
    assert.equal(await read(stack, stack.bpe.capacityRegistry, CapacityRegistry.abi, 'isRegistered', [taskTypeId, stranger.address]), false);
  });

  it('registerSink twice: AlreadyRegistered', async () => {
    await assertRefused(stack, sink, 'AlreadyRegistered', () => bpe.registerSink(stack, sink, taskTypeId));
    assert.deepEqual(await sinksOf(), [sink.address]);
  });

  it('revealCapacity with a wrong nonce: CommitmentMismatch; the commitment survives and the right nonce still works', async () => {
    const { hash, nonce } = bpe.makeCommitment(sink.address, taskTypeId, 10n);
    await bpe.commitCapacity(stack, sink, taskTypeId, hash);
    await stack.clients.testClient.mine({ blocks: 1 });
    const wrongNonce = `0x${'11'.repeat(32)}` as Hex;
    assert.notEqual(wrongNonce, nonce);
    await assertRefused(stack, sink, 'CommitmentMismatch', () => bpe.revealCapacity(stack, sink, taskTypeId, 10n, wrongNonce));
    // The right nonce with another capacity is just as wrong.
    await assertRefused(stack, sink, 'CommitmentMismatch', () => bpe.revealCapacity(stack, sink, taskTypeId, 11n, nonce));
    assert.equal(await bpe.smoothedCapacity(stack, taskTypeId, sink.address), 0n);
    const commitment = await read<{ hash: Hex }>(stack, stack.bpe.capacityRegistry, CapacityRegistry.abi, 'commitmentOf', [taskTypeId, sink.address]);
    assert.equal(commitment.hash, hash);

    await bpe.revealCapacity(stack, sink, taskTypeId, 10n, nonce);
    assert.equal(await bpe.smoothedCapacity(stack, taskTypeId, sink.address), ewmaStep(0n, 10n, stack.bpe.params.ewmaAlphaBps));
  });

  it('revealCapacity without a commitment: NoCommitment', async () => {
    const before = await bpe.smoothedCapacity(stack, taskTypeId, sink.address);
    await assertRefused(stack, sink, 'NoCommitment', () => bpe.revealCapacity(stack, sink, taskTypeId, 10n, `0x${'22'.repeat(32)}`));
    assert.equal(await bpe.smoothedCapacity(stack, taskTypeId, sink.address), before);
  });

  it('drain with spare capacity but an empty buffer: BufferEmpty', async () => {
    const { absorbable, inflow } = await rates(stack, taskTypeId);
    assert.ok(absorbable > inflow, 'the sink has spare capacity');
    const ledger = await read(stack, stack.bpe.escrowBuffer, EscrowBuffer.abi, 'ledgerOf', [taskTypeId]);
    await assertRefused(stack, stranger, 'BufferEmpty', () => bpe.drain(stack, stranger, taskTypeId));
    assert.deepEqual(await read(stack, stack.bpe.escrowBuffer, EscrowBuffer.abi, 'ledgerOf', [taskTypeId]), ledger);
    assert.equal(await bpe.bufferLevel(stack, taskTypeId), 0n);
  });

  it('drain where no sink has capacity: NoSpareCapacity(0, 0)', async () => {
    const empty = await newTaskType(stack, 'no sinks');
    assert.deepEqual(await rates(stack, empty.taskTypeId), { absorbable: 0n, inflow: 0n });
    const err = await assertRefused(stack, stranger, 'NoSpareCapacity', () => bpe.drain(stack, stranger, empty.taskTypeId));
    assert.match(err.message, /NoSpareCapacity\(uint256 inflowRate, uint256 absorbableRate\)[\s\S]*\(0, 0\)/);
  });

  it('drain of an unknown task type: UnknownTaskType', async () => {
    const unknown = `0x${'ab'.repeat(32)}` as Hex;
    await assertRefused(stack, stranger, 'UnknownTaskType', () => bpe.drain(stack, stranger, unknown));
  });
});

// ---------------------------------------------------------------------------------------------

describe('BPE: overflow goes to the buffer, the buffer drains, every wei is accounted for', () => {
  let stack: LocalStack;
  let taskTypeId: Hex;
  let pool: Address;
  const sinks: Sink[] = [
    { account: anvilAccount(1), stake: 200n * E18, capacity: 10n }, // backs 10 tasks/epoch
    { account: anvilAccount(2), stake: 900n * E18, capacity: 30n }, // backs 45
  ];
  const source = anvilAccount(SOURCE);
  const keeper = anvilAccount(5);
  let sourceStart: bigint;
  let absorbable: bigint;
  const sinkAddresses = sinks.map((s) => s.account.address);

  before(async () => {
    stack = await startLocalStack({ fundedAccounts: [SOURCE] });
    ({ taskTypeId, pool } = await newTaskType(stack, 'overflow'));
    await joinAndSettle(stack, taskTypeId, pool, sinks);
    sourceStart = await balanceOf(stack, source.address);
    ({ absorbable } = await rates(stack, taskTypeId));
  });
  after(async () => {
    await stack?.stop();
  });

  it('streams twice the absorbable rate: the buffer gets the overflow units, the sinks at most what they absorb', async () => {
    assert.equal(absorbable, (40n * PRICE) / stack.bpe.params.epochSeconds);
    await bpe.setStream(stack, source, stack.token, pool, absorbable * 2n);
    await bpe.updateOverflow(stack, keeper, taskTypeId);

    // The buffer's units are exactly what the allocation core computes from the same inputs.
    const { inflow } = await rates(stack, taskTypeId);
    assert.ok(inflow > absorbable);
    const sinkUnits = (await Promise.all(sinkAddresses.map((a) => bpe.poolUnits(stack, pool, a)))).reduce((x, y) => x + y, 0n);
    const bufferUnits = await bpe.poolUnits(stack, pool, stack.bpe.escrowBuffer);
    assert.equal(bufferUnits, overflowUnits(sinkUnits, inflow, absorbable));
    assert.ok(bufferUnits > 0n);

    const t0 = await latestTimestamp(stack);
    const mark = await received(stack, pool, sinkAddresses);
    const levelBefore = await bpe.bufferLevel(stack, taskTypeId);
    await bpe.advanceTime(stack.clients, 1800);
    const dt = (await latestTimestamp(stack)) - t0;
    const [a, b] = (await received(stack, pool, sinkAddresses)).map((v, i) => v - mark[i]!);
    const level = await bpe.bufferLevel(stack, taskTypeId);

    assert.equal(b, 3n * a!, 'sinks 10:30 share 1:3');
    assert.ok(a! + b! <= absorbable * dt, `sinks overpaid: ${a! + b!} > ${absorbable * dt}`);
    // Rounding the buffer's units up costs the sinks less than 0.1 % of what they could absorb.
    assert.ok((a! + b!) * 1000n >= absorbable * dt * 999n, `sinks underpaid: ${a! + b!} of ${absorbable * dt}`);
    assert.ok(level - levelBefore > 0n, 'the buffer filled');
  });

  it('refuses to drain while inflow exceeds capacity: NoSpareCapacity, level untouched', async () => {
    const ledger = await read(stack, stack.bpe.escrowBuffer, EscrowBuffer.abi, 'ledgerOf', [taskTypeId]);
    await assertRefused(stack, keeper, 'NoSpareCapacity', () => bpe.drain(stack, keeper, taskTypeId));
    assert.deepEqual(await read(stack, stack.bpe.escrowBuffer, EscrowBuffer.abi, 'ledgerOf', [taskTypeId]), ledger);
  });

  it('drains into the spare capacity once demand falls, at most spare rate * drain window, split 1:3', async () => {
    await bpe.setStream(stack, source, stack.token, pool, absorbable / 4n);
    await bpe.updateOverflow(stack, keeper, taskTypeId);
    assert.equal(await bpe.poolUnits(stack, pool, stack.bpe.escrowBuffer), 0n, 'no overflow below capacity');
    const window = stack.bpe.params.drainWindow;
    await bpe.advanceTime(stack.clients, Number(window));

    const levelBefore = await bpe.bufferLevel(stack, taskTypeId);
    const ledgerBefore = await read<{ drained: bigint }>(stack, stack.bpe.escrowBuffer, EscrowBuffer.abi, 'ledgerOf', [taskTypeId]);
    const flow = await read<bigint>(stack, pool, superfluidPoolAbi, 'getTotalFlowRate');
    const t0 = await latestTimestamp(stack);
    const mark = await received(stack, pool, sinkAddresses);
    const receipt = await bpe.drain(stack, keeper, taskTypeId);
    const t1 = await latestTimestamp(stack);
    const [a, b] = (await received(stack, pool, sinkAddresses)).map((v, i) => v - mark[i]!);
    const ledgerAfter = await read<{ drained: bigint }>(stack, stack.bpe.escrowBuffer, EscrowBuffer.abi, 'ledgerOf', [taskTypeId]);
    const [event] = parseEventLogs({ abi: EscrowBuffer.abi, eventName: 'Drained', logs: receipt.logs });
    assert.ok(event, 'Drained event');

    const amount = ledgerAfter.drained - ledgerBefore.drained;
    assert.equal(event.args.amount, amount);
    assert.equal(event.args.sink, pool, 'paid through the task type\'s own pool');
    assert.ok(amount > 0n);
    const { inflow } = await rates(stack, taskTypeId);
    assert.ok(amount <= (absorbable - inflow) * window, `drained ${amount} > spare ${(absorbable - inflow) * window}`);
    assert.ok(amount <= levelBefore);
    // In the drain's block the sinks got the stream for t1 - t0 seconds plus the drained amount,
    // both per unit (10000:30000), so exactly 1:3.
    assert.equal(a! + b!, amount + flow * (t1 - t0));
    assert.equal(b, 3n * a!);
    assert.ok((await bpe.bufferLevel(stack, taskTypeId)) < levelBefore, 'the level fell');
  });

  it('after the stream stops: source paid == sinks received + buffer level + the PoolAdmin remainder, to the wei', async () => {
    await bpe.setStream(stack, source, stack.token, pool, 0n);
    const paid = sourceStart - (await balanceOf(stack, source.address));
    const sinkTotal = (await received(stack, pool, sinkAddresses)).reduce((x, y) => x + y, 0n);
    const level = await bpe.bufferLevel(stack, taskTypeId);
    const remainder = await balanceOf(stack, await bpe.poolAdmin(stack, taskTypeId));
    assert.ok(paid > 0n && sinkTotal > 0n && level > 0n);
    assert.equal(paid, sinkTotal + level + remainder);
    // And the buffer really holds what its ledger says (the pool owes it the unclaimed part).
    const [held, claimable] = await Promise.all([
      balanceOf(stack, stack.bpe.escrowBuffer),
      read<[bigint, bigint]>(stack, pool, superfluidPoolAbi, 'getClaimableNow', [stack.bpe.escrowBuffer]),
    ]);
    assert.equal(held + claimable[0], level);
  });
});
