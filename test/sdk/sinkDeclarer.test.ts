// SinkDeclarer on anvil with the real Superfluid framework and BPE (one stack for the file).
// Blocks are mined and time moved by hand: nothing here waits on the wall clock.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Hex } from 'viem';
import { anvilAccount } from '../../src/chain/clients.ts';
import { CapacityRegistry } from '../../src/chain/bpe/artifacts.generated.ts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { startLocalStack, type LocalStack } from '../../src/chain/bpe/localStack.ts';
import { ewmaStep } from '../../src/core/ewma.ts';
import {
  BpeError,
  CommitmentPendingError,
  FileCommitmentStore,
  SinkDeclarer,
  UpdateTooFrequentError,
  commitmentKeyString,
  toBpeError,
  type SinkDeclarerOptions,
} from '../../src/index.ts';

const E18 = 10n ** 18n;

describe('SinkDeclarer on anvil', () => {
  let stack: LocalStack;
  let taskTypeId: Hex;
  let dir: string;
  let path: string;
  let alphaBps: bigint;
  const sink = anvilAccount(1);

  const smoothed = () => bpe.smoothedCapacity(stack, taskTypeId, sink.address);
  const commitmentOnChain = () =>
    stack.clients.publicClient.readContract({
      address: stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'commitmentOf', args: [taskTypeId, sink.address],
    });
  const txCount = () => stack.clients.publicClient.getTransactionCount({ address: sink.address });
  const mine = (blocks: number) => stack.clients.testClient.mine({ blocks });
  /** Past the registry's minUpdateInterval, so the next EWMA step is allowed. */
  const nextInterval = () => bpe.advanceTime(stack.clients, Number(stack.bpe.params.minUpdateInterval));
  const declarer = (opts: SinkDeclarerOptions = {}) =>
    new SinkDeclarer(stack, sink, taskTypeId, { store: new FileCommitmentStore(path), mineBlock: () => mine(1), ...opts });
  const fileEntries = async () => JSON.parse(await readFile(path, 'utf8')).entries as Record<string, { nonce: Hex; hash: Hex; committedAtBlock?: string }>;
  const storeKey = () => commitmentKeyString({ chainId: 31337, registry: stack.bpe.capacityRegistry, taskTypeId, sink: sink.address });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bpe-declarer-'));
    path = join(dir, 'commitments.json');
    stack = await startLocalStack();
    alphaBps = stack.bpe.params.ewmaAlphaBps;
    const { minSinkStake } = stack.bpe.params;
    await stack.mintStakeTokens(stack.deployer.address, minSinkStake);
    await bpe.stake(stack, stack.deployer, minSinkStake);
    ({ taskTypeId } = await bpe.registerTaskType(stack, stack.deployer, {
      name: 'declarer', token: stack.token, pricePerTask: 10n ** 15n, bufferMax: 10n ** 18n,
    }));
    await stack.mintStakeTokens(sink.address, 2000n * E18); // backs 100 tasks/epoch at 20 units a task
    await bpe.stake(stack, sink, 2000n * E18);
    await bpe.registerSink(stack, sink, taskTypeId);
  });
  after(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('declare: the nonce is in the file before the commit exists; one EWMA step; the entry is gone after', async () => {
    const before = await smoothed();
    const nonceBefore = await txCount();
    let checked = false;
    const result = await declarer({
      beforeCommit: async (pending) => {
        const entry = (await fileEntries())[storeKey()];
        assert.equal(entry?.nonce, pending.nonce, 'the nonce is not on disk before the commit');
        assert.equal(entry?.committedAtBlock, undefined);
        assert.equal(await txCount(), nonceBefore, 'a transaction was sent before the store write');
        assert.equal((await commitmentOnChain()).hash, `0x${'0'.repeat(64)}`);
        checked = true;
      },
    }).declare(50n);
    assert.ok(checked);
    assert.equal(result.resumed, false);
    assert.equal(result.capacity, 50n);
    assert.ok(result.reveal.blockNumber > result.commit!.blockNumber);
    assert.equal(await smoothed(), ewmaStep(before, 50n, alphaBps));
    assert.notEqual(await smoothed(), 50n, 'one step, not a jump');
    assert.deepEqual(await fileEntries(), {});
  });

  it('UpdateTooFrequent: a typed error with its time, before anything is sent', async () => {
    const state = await stack.clients.publicClient.readContract({
      address: stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'sinkState', args: [taskTypeId, sink.address],
    });
    const sent = await txCount();
    const err = await declarer().declare(60n).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof UpdateTooFrequentError, String(err));
    assert.equal(err.code, 'UpdateTooFrequent');
    assert.equal(err.nextUpdateAt, BigInt(state.lastUpdate) + stack.bpe.params.minUpdateInterval);
    assert.match(err.message, new RegExp(`unix time ${err.nextUpdateAt}`));
    assert.equal(await txCount(), sent);
    assert.deepEqual(await fileEntries(), {});
    await assert.rejects(declarer().declare(-1n), RangeError);
    await assert.rejects(declarer().declare(2n ** 40n), /capacity must be/);
  });

  it('a crash between commit and reveal: a new declarer on the same file reveals the stored capacity', async () => {
    await nextInterval();
    const crashed = declarer({ afterCommit: () => { throw new Error('simulated crash'); } });
    await assert.rejects(crashed.declare(80n), /simulated crash/);
    const entry = (await fileEntries())[storeKey()];
    assert.ok(entry?.committedAtBlock, 'the commit block was recorded');
    assert.equal((await commitmentOnChain()).hash, entry.hash);
    const before = await smoothed();

    const restarted = declarer(); // a new process: new store instance, same file
    const result = await restarted.declare(10n);
    assert.equal(result.resumed, true);
    assert.equal(result.capacity, 80n, 'the stored capacity is revealed, not the new one');
    assert.equal(await smoothed(), ewmaStep(before, 80n, alphaBps));
    assert.equal((await commitmentOnChain()).hash, `0x${'0'.repeat(64)}`);
    assert.deepEqual(await fileEntries(), {});
    assert.equal(await restarted.resume(), undefined, 'nothing left to resume');
  });

  it('the registry\'s own reverts decode to typed errors (UpdateTooFrequent, CommitmentPending, NotRegistered)', async () => {
    const state = await stack.clients.publicClient.readContract({
      address: stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'sinkState', args: [taskTypeId, sink.address],
    });
    // A raw commit (no interval check on commit), then a raw reveal inside the interval.
    const { hash, nonce } = bpe.makeCommitment(sink.address, taskTypeId, 5n);
    await bpe.commitCapacity(stack, sink, taskTypeId, hash);
    const raw = await bpe.revealCapacity(stack, sink, taskTypeId, 5n, nonce).then(() => undefined, (e: unknown) => e);
    const typed = toBpeError(raw, 'revealing');
    assert.ok(typed instanceof UpdateTooFrequentError, String(typed));
    assert.equal(typed.nextUpdateAt, BigInt(state.lastUpdate) + stack.bpe.params.minUpdateInterval);

    // That commitment (whose nonce the declarer never saw) is pending: the declarer cannot replace it.
    await nextInterval();
    const pending = await declarer().declare(40n).then(() => undefined, (e: unknown) => e);
    assert.ok(pending instanceof CommitmentPendingError, String(pending));
    assert.ok(pending.expiresAtBlock > 0n);
    assert.match(pending.message, /pending until block/);
    assert.deepEqual(await fileEntries(), {}, 'a refused commit leaves no entry');

    const stranger = anvilAccount(8);
    const notRegistered = toBpeError(
      await bpe.commitCapacity(stack, stranger, taskTypeId, hash).then(() => undefined, (e: unknown) => e), 'committing',
    );
    assert.ok(notRegistered instanceof BpeError && notRegistered.code === 'NotRegistered', String(notRegistered));
    assert.match(notRegistered.message, /is not registered for task type/);
    assert.doesNotMatch(notRegistered.message, /0x[0-9a-f]{100}/, 'no raw revert data');

    // Once expired (21 blocks), the declarer replaces it.
    await mine(Number(stack.bpe.params.commitTimeout) + 1);
    const before = await smoothed();
    const result = await declarer().declare(40n);
    assert.equal(result.resumed, false);
    assert.equal(await smoothed(), ewmaStep(before, 40n, alphaBps));
  });

  it('an expired stored commitment is dropped and replaced by a fresh one', async () => {
    await nextInterval();
    await assert.rejects(declarer({ afterCommit: () => { throw new Error('crash'); } }).declare(30n), /crash/);
    const stale = (await fileEntries())[storeKey()]!;
    await mine(Number(stack.bpe.params.commitTimeout) + 1);
    const before = await smoothed();
    let fresh: Hex | undefined;
    const result = await declarer({ beforeCommit: (p) => { fresh = p.hash; } }).declare(30n);
    assert.equal(result.resumed, false);
    assert.ok(fresh && fresh !== stale.hash, 'a new commitment (new nonce) was made');
    assert.equal(await smoothed(), ewmaStep(before, 30n, alphaBps));
    assert.deepEqual(await fileEntries(), {});
  });
});
