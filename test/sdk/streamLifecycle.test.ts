// StreamLifecycle on anvil with the real Superfluid framework and BPE (one stack for the file).
// Polls are driven by hand and time moves by anvil time travel: nothing here waits on the wall clock.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Account, Address, Hex } from 'viem';
import { gdaForwarderAbi, superTokenAbi, superfluidPoolAbi } from '../../src/chain/abis.ts';
import { anvilAccount } from '../../src/chain/clients.ts';
import { BackpressurePool, CompletionTracker } from '../../src/chain/bpe/artifacts.generated.ts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { write } from '../../src/chain/deploy.ts';
import { startLocalStack, type LocalStack } from '../../src/chain/bpe/localStack.ts';
import {
  InsufficientBalanceError,
  RateRoundsToZeroError,
  StreamLifecycle,
  UnknownTaskTypeError,
  type SaturationInfo,
} from '../../src/index.ts';

const E18 = 10n ** 18n;
const PRICE = 10n ** 15n; // token wei per task
const CAPACITY = 10n; // tasks/epoch of the one sink: 10 × PRICE / 300 s ≈ 3.3e13 wei/s absorbable
const BUFFER_MAX = 10n ** 16n; // small: about five minutes of overflow at twice the absorbable rate
const SOURCE = 4;
const RAW_SOURCE = 5; // streams without the SDK, for contrast
const POOR = 6; // holds 1 token only

describe('StreamLifecycle on anvil', () => {
  let stack: LocalStack;
  let taskTypeId: Hex;
  let pool: Address;
  const source = anvilAccount(SOURCE);
  const keeper = anvilAccount(7);
  let lifecycle: StreamLifecycle;
  const events: string[] = [];

  const flowOf = (who: Address) =>
    stack.clients.publicClient.readContract({
      address: stack.framework.gdaV1Forwarder, abi: gdaForwarderAbi, functionName: 'getFlowDistributionFlowRate', args: [stack.token, who, pool],
    });
  const creditOf = (who: Address) =>
    stack.clients.publicClient.readContract({
      address: stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'creditOf', args: [taskTypeId, who],
    });
  const absorbableRate = () =>
    stack.clients.publicClient.readContract({
      address: stack.bpe.backpressurePool, abi: BackpressurePool.abi, functionName: 'absorbableRate', args: [taskTypeId],
    });

  /** Runs `action`, which must throw, and checks it sent nothing (no block, same nonce). */
  async function refusedWithoutSending(sender: Account, action: () => Promise<unknown>): Promise<unknown> {
    const { publicClient } = stack.clients;
    const [block, nonce] = await Promise.all([
      publicClient.getBlockNumber({ cacheTime: 0 }), publicClient.getTransactionCount({ address: sender.address }),
    ]);
    const caught = await action().then(() => undefined, (err: unknown) => err);
    assert.ok(caught, 'expected the action to throw');
    assert.equal(await publicClient.getBlockNumber({ cacheTime: 0 }), block, 'a block was mined');
    assert.equal(await publicClient.getTransactionCount({ address: sender.address }), nonce, 'the sender nonce moved');
    return caught;
  }

  before(async () => {
    stack = await startLocalStack({ fundedAccounts: [SOURCE, RAW_SOURCE] });
    const { minSinkStake } = stack.bpe.params;
    await stack.mintStakeTokens(stack.deployer.address, minSinkStake);
    await bpe.stake(stack, stack.deployer, minSinkStake);
    ({ taskTypeId, pool } = await bpe.registerTaskType(stack, stack.deployer, {
      name: 'lifecycle', token: stack.token, pricePerTask: PRICE, bufferMax: BUFFER_MAX,
    }));
    const sink = anvilAccount(1);
    await stack.mintStakeTokens(sink.address, 200n * E18); // backs 10 tasks/epoch at 20 units a task
    await bpe.stake(stack, sink, 200n * E18);
    await bpe.registerSink(stack, sink, taskTypeId);
    await bpe.connectPool(stack, sink, pool);
    for (let round = 0; (await bpe.smoothedCapacity(stack, taskTypeId, sink.address)) !== CAPACITY; round++) {
      assert.ok(round < 100, 'capacity did not settle');
      await bpe.declareCapacity(stack, sink, taskTypeId, CAPACITY);
      await bpe.advanceTime(stack.clients, Number(stack.bpe.params.minUpdateInterval));
    }
    lifecycle = new StreamLifecycle(stack, source, taskTypeId);
    for (const name of ['opened', 'adjusted', 'paused', 'resumed', 'closed'] as const) lifecycle.on(name, () => events.push(name));
  });
  after(async () => {
    lifecycle?.stop();
    await stack?.stop();
  });

  it('validates its options with a RangeError per field', () => {
    assert.throws(() => new StreamLifecycle(stack, source, taskTypeId, { resumeBelowBps: 0 }), RangeError);
    assert.throws(() => new StreamLifecycle(stack, source, taskTypeId, { resumeBelowBps: 10_001 }), /resumeBelowBps/);
    assert.throws(() => new StreamLifecycle(stack, source, taskTypeId, { resumeBelowBps: 1.5 }), RangeError);
    assert.throws(() => new StreamLifecycle(stack, source, taskTypeId, { reduceTo: 1 }), /reduceTo/);
    assert.throws(() => new StreamLifecycle(stack, source, taskTypeId, { reduceTo: 0 }), RangeError);
    assert.equal(new StreamLifecycle(stack, source, taskTypeId, { reduceTo: 0.25 }).reduceToBps, 2500n);
  });

  it('open: the pool\'s flow from the source is the rate and its credit grows', async () => {
    const rate = 10n ** 13n; // below the absorbable rate, a multiple of the pool's 10,000 units
    await lifecycle.open(rate);
    assert.equal(await flowOf(source.address), rate);
    assert.equal(lifecycle.state, 'streaming');
    const c0 = await creditOf(source.address);
    await bpe.advanceTime(stack.clients, 100);
    const c1 = await creditOf(source.address);
    assert.ok(c1 - c0 >= rate * 100n, `credit grew by ${c1 - c0}`);
    assert.deepEqual(events, ['opened']);
  });

  it('adjust checkpoints first: the first segment\'s credit is kept (a raw setStream loses it)', async () => {
    const before = await creditOf(source.address);
    assert.ok(before > 0n);
    await lifecycle.adjust(2n * 10n ** 13n);
    assert.equal(await flowOf(source.address), 2n * 10n ** 13n);
    assert.ok((await creditOf(source.address)) >= before, 'credit lost on adjust');

    // The same change without the checkpoint forfeits the first segment.
    const raw = anvilAccount(RAW_SOURCE);
    await bpe.setStream(stack, raw, stack.token, pool, 10n ** 13n);
    await bpe.advanceTime(stack.clients, 100);
    const rawBefore = await creditOf(raw.address);
    await bpe.setStream(stack, raw, stack.token, pool, 2n * 10n ** 13n);
    assert.ok((await creditOf(raw.address)) < rawBefore / 10n, 'the raw stream kept its credit');
    await bpe.setStream(stack, raw, stack.token, pool, 0n);
    assert.deepEqual(events, ['opened', 'adjusted']);
  });

  it('pauses when the buffer saturates and resumes the remembered rate once it drains below 50 %', async () => {
    const absorbable = await absorbableRate();
    const rate = ((absorbable * 2n) / 10_000n) * 10_000n; // twice what the sink absorbs
    await lifecycle.adjust(rate);
    await bpe.updateOverflow(stack, keeper, taskTypeId); // the keeper sizes the buffer's overflow share
    assert.equal(await lifecycle.poll(), 'unchanged', 'the buffer is still empty');

    const paused: SaturationInfo[] = [];
    lifecycle.on('paused', (info) => paused.push(info));
    await bpe.advanceTime(stack.clients, 330); // overflow ≈ absorbable × 330 s ≈ 1.1 × bufferMax
    assert.ok((await bpe.bufferLevel(stack, taskTypeId)) >= BUFFER_MAX, 'the buffer filled');
    assert.equal(await lifecycle.poll(), 'paused');
    assert.equal(await flowOf(source.address), 0n);
    assert.equal(lifecycle.state, 'paused');
    assert.equal(lifecycle.desiredRate, rate);
    assert.equal(paused.length, 1);
    assert.equal(paused[0]!.rate, 0n);
    assert.equal(paused[0]!.desiredRate, rate);
    assert.ok(paused[0]!.saturationBps >= 10_000n);
    assert.equal(await lifecycle.poll(), 'unchanged', 'still saturated: stays paused');

    // With the stream paused the sink has spare capacity: drains pay the buffer out to it.
    for (let i = 0; ; i++) {
      assert.ok(i < 5, 'the buffer did not drain below 50 %');
      await bpe.drain(stack, keeper, taskTypeId);
      const level = await bpe.bufferLevel(stack, taskTypeId);
      if (level * 2n < BUFFER_MAX) break;
      await bpe.advanceTime(stack.clients, Number(stack.bpe.params.drainWindow));
    }
    const resumed: SaturationInfo[] = [];
    lifecycle.on('resumed', (info) => resumed.push(info));
    assert.equal(await lifecycle.poll(), 'resumed');
    assert.equal(await flowOf(source.address), rate);
    assert.equal(lifecycle.state, 'streaming');
    assert.equal(resumed.length, 1);
    assert.ok(resumed[0]!.saturationBps < 5000n);
    assert.deepEqual(events, ['opened', 'adjusted', 'adjusted', 'paused', 'resumed']);
  });

  it('close stops the flow', async () => {
    await lifecycle.close();
    assert.equal(await flowOf(source.address), 0n);
    assert.equal(lifecycle.state, 'closed');
    assert.equal(await lifecycle.poll(), 'unchanged');
    assert.equal(events.at(-1), 'closed');
  });

  it('with reduceTo, saturation lowers the stream to that fraction instead of pausing it', async () => {
    const raw = anvilAccount(RAW_SOURCE);
    const reducing = new StreamLifecycle(stack, raw, taskTypeId, { reduceTo: 0.5 });
    const rate = (((await absorbableRate()) * 2n) / 10_000n) * 10_000n;
    await reducing.open(rate);
    await bpe.updateOverflow(stack, keeper, taskTypeId);
    await bpe.advanceTime(stack.clients, 400);
    const paused: SaturationInfo[] = [];
    reducing.on('paused', (info) => paused.push(info));
    assert.equal(await reducing.poll(), 'paused');
    assert.equal(paused[0]!.rate, rate / 2n);
    assert.equal(reducing.currentRate, rate / 2n);
    // The GDA rounds the flow down to a multiple of the pool's total units (the buffer now has some).
    const flow = await flowOf(raw.address);
    const totalUnits = await stack.clients.publicClient.readContract({ address: pool, abi: superfluidPoolAbi, functionName: 'getTotalUnits' });
    assert.ok(flow <= rate / 2n && flow > rate / 2n - totalUnits, `flow ${flow}`);
    await reducing.close();
    assert.equal(await flowOf(raw.address), 0n);
  });

  it('a failed poll on the interval is emitted as error, never thrown', async () => {
    let failing = false;
    const publicClient = new Proxy(stack.clients.publicClient, {
      get: (target, key, receiver) =>
        key === 'readContract' && failing ? () => Promise.reject(new Error('RPC down')) : Reflect.get(target, key, receiver),
    });
    const flaky = new StreamLifecycle({ ...stack, clients: { ...stack.clients, publicClient } }, source, taskTypeId);
    await flaky.open(10n ** 13n);
    failing = true;
    const error = new Promise<unknown>((resolve) => flaky.once('error', resolve));
    flaky.start(5);
    assert.match(String(await error), /RPC down/);
    flaky.stop();
    assert.match(String(flaky.lastError), /RPC down/);
    failing = false;
    await flaky.close();
  });

  it('open without the deposit: InsufficientBalanceError naming both amounts, nothing sent', async () => {
    const poor = anvilAccount(POOR);
    await write(stack, 'funding the poor source', {
      account: source, address: stack.token, abi: superTokenAbi, functionName: 'transfer', args: [poor.address, E18],
    });
    const rate = 10n ** 15n; // a deposit of 4 h × 1e15 = 1.44e19 wei, above the 1e18 held
    const err = await refusedWithoutSending(poor, () => new StreamLifecycle(stack, poor, taskTypeId).open(rate));
    assert.ok(err instanceof InsufficientBalanceError, String(err));
    assert.equal(err.required, rate * 14_400n);
    assert.ok(err.available <= E18 && err.available > 0n);
    assert.match(err.message, new RegExp(`${err.required}[\\s\\S]*${err.available}`));
    // The check matches the GDA: the raw call is refused too, and a rate whose deposit fits opens.
    await assert.rejects(bpe.setStream(stack, poor, stack.token, pool, rate));
    const fits = new StreamLifecycle(stack, poor, taskTypeId);
    await fits.open(10n ** 13n); // deposit 1.44e17
    assert.equal(await flowOf(poor.address), 10n ** 13n);
    await fits.close();
  });

  it('open on an unknown task type: UnknownTaskTypeError, nothing sent', async () => {
    const unknown = `0x${'ab'.repeat(32)}` as Hex;
    const err = await refusedWithoutSending(source, () => new StreamLifecycle(stack, source, unknown).open(10n ** 13n));
    assert.ok(err instanceof UnknownTaskTypeError, String(err));
    assert.match(err.message, /unknown task type 0xabab/);
  });

  it('open into a pool without units, or below them: RateRoundsToZeroError, nothing sent', async () => {
    const empty = await bpe.registerTaskType(stack, stack.deployer, {
      name: 'no sinks yet', token: stack.token, pricePerTask: PRICE, bufferMax: BUFFER_MAX,
    });
    const none = await refusedWithoutSending(source, () => new StreamLifecycle(stack, source, empty.taskTypeId).open(10n ** 13n));
    assert.ok(none instanceof RateRoundsToZeroError, String(none));
    assert.equal(none.totalUnits, 0n);
    assert.match(none.message, /has no units yet/);
    // The first pool has units: a rate below them rounds to 0 as well.
    const units = await stack.clients.publicClient.readContract({ address: pool, abi: superfluidPoolAbi, functionName: 'getTotalUnits' });
    assert.ok(units > 1n);
    const below = await refusedWithoutSending(source, () => new StreamLifecycle(stack, source, taskTypeId).open(units - 1n));
    assert.ok(below instanceof RateRoundsToZeroError, String(below));
    assert.equal(below.totalUnits, units);
    assert.match(below.message, new RegExp(`stream at least ${units} wei/s`));
  });
});
