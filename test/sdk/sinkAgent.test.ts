// SinkAgent on anvil with the real Superfluid framework and BPE, without oracle or verifier: it
// stakes, registers and connects itself, declares by commit-reveal, checks every request, records
// its receipts on chain, hands back pay it did not earn and leaves. Time moves by hand.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { keccak256, toHex, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { anvilAccount } from '../../src/chain/clients.ts';
import { CapacityRegistry, CompletionTracker, EscrowBuffer } from '../../src/chain/bpe/artifacts.generated.ts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { startLocalStack, type LocalStack } from '../../src/chain/bpe/localStack.ts';
import { ewmaStep } from '../../src/core/ewma.ts';
import {
  RequestRefusedError,
  ServiceUnavailableError,
  SinkAgent,
  baseFee,
  signRequest,
  submitAttestations,
  type ReceiptInfo,
  type TaskRequest,
} from '../../src/index.ts';

const E18 = 10n ** 18n;
const PRICE = 10n ** 15n;
const SINK_STAKE = 400n * E18; // 20 tasks/epoch at 20 stake units a task
const SOURCE = 4;
const FLOW_RATE = 10n ** 13n;

/** A port nothing listens on: bind one, note it, close it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('SinkAgent on anvil (no oracle, no verifier)', () => {
  let stack: LocalStack;
  let taskTypeId: Hex;
  let pool: Address;
  let agent: SinkAgent<{ n: number }, number>;
  const sinkKey = privateKeyToAccount(keccak256(toHex('bpe sink agent test: sink')));
  const source = anvilAccount(SOURCE);
  const impostor = privateKeyToAccount(keccak256(toHex('bpe sink agent test: impostor')));
  const receipts: ReceiptInfo[] = [];
  const p = () => stack.bpe.params;
  let taskCounter = 0;

  const now = async () => (await stack.clients.publicClient.getBlock()).timestamp;
  const sinkState = () =>
    stack.clients.publicClient.readContract({
      address: stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'sinkState', args: [taskTypeId, sinkKey.address],
    });
  const request = async (overrides: Partial<TaskRequest> = {}): Promise<TaskRequest> => ({
    taskId: keccak256(toHex(`task ${++taskCounter}`)),
    taskTypeId,
    sink: sinkKey.address,
    source: source.address,
    deadline: (await now()) + 3600n,
    ...overrides,
  });

  before(async () => {
    stack = await startLocalStack({ fundedAccounts: [SOURCE] });
    await stack.mintStakeTokens(stack.deployer.address, p().minSinkStake);
    await bpe.stake(stack, stack.deployer, p().minSinkStake);
    ({ taskTypeId, pool } = await bpe.registerTaskType(stack, stack.deployer, {
      name: 'agent', token: stack.token, pricePerTask: PRICE, bufferMax: 1000n * E18,
    }));
    await stack.clients.testClient.setBalance({ address: sinkKey.address, value: 10n * E18 });
    await stack.mintStakeTokens(sinkKey.address, SINK_STAKE);
    agent = new SinkAgent({
      ctx: stack,
      account: sinkKey,
      taskTypeId,
      worker: async ({ n }) => n * 2,
      concurrency: 2,
      stake: SINK_STAKE,
      initialCapacity: 10,
      updateIntervalMs: 0, // the test drives update() and settle()
      declarer: { mineBlock: () => stack.clients.testClient.mine({ blocks: 1 }) },
    });
    agent.on('receiptSent', (info) => receipts.push(info));
  });
  after(async () => {
    await stack?.stop();
  });

  it('start: stakes what is missing, registers, connects to the pool', async () => {
    assert.equal((await bpe.stakeAccount(stack, sinkKey.address)).staked, 0n);
    await agent.start();
    const account = await bpe.stakeAccount(stack, sinkKey.address);
    assert.equal(account.staked, SINK_STAKE);
    assert.equal(account.registrations, 1);
    const state = await sinkState();
    assert.ok(state.index > 0, 'registered');
    assert.equal(BigInt(state.allowance), SINK_STAKE / p().stakeUnit / bpe.DEFAULT_STAKE_UNITS_PER_TASK);
    assert.deepEqual(await bpe.sinksOf(stack, taskTypeId), [sinkKey.address]);
    await agent.start(); // idempotent
  });

  it('update: declares initialCapacity by commit-reveal (one EWMA step on chain); within minUpdateInterval it waits', async () => {
    const attested: unknown[] = [];
    agent.on('attested', (info) => attested.push(info));
    const first = await agent.update();
    assert.equal(first.action, 'declared');
    assert.equal(first.capacity, 10n);
    const smoothed = await bpe.smoothedCapacity(stack, taskTypeId, sinkKey.address);
    assert.equal(smoothed, ewmaStep(0n, 10n, p().ewmaAlphaBps));
    assert.ok(smoothed > 0n);
    assert.equal(await bpe.poolUnits(stack, pool, sinkKey.address), smoothed * p().unitScale);
    assert.deepEqual(attested, [{ via: 'chain', capacity: 10n, backlog: 0n }]);

    const second = await agent.update();
    assert.equal(second.action, 'too-soon');
    assert.equal(second.nextUpdateAt, BigInt((await sinkState()).lastUpdate) + p().minUpdateInterval);
    assert.equal(await bpe.smoothedCapacity(stack, taskTypeId, sinkKey.address), smoothed, 'nothing sent');

    // After the interval the EWMA takes one more step toward the same target.
    await bpe.advanceTime(stack.clients, Number(p().minUpdateInterval));
    assert.equal((await agent.update()).action, 'declared');
    assert.equal(await bpe.smoothedCapacity(stack, taskTypeId, sinkKey.address), ewmaStep(smoothed, 10n, p().ewmaAlphaBps));
  });

  it('attestation(): a signed attestation anyone can relay; the aggregator accepts it (next nonce, chain clock)', async () => {
    await bpe.advanceTime(stack.clients, Number(p().minUpdateInterval));
    const before = await sinkState();
    const attestation = await agent.attestation();
    assert.equal(attestation.nonce, before.nonce + 1);
    assert.equal(attestation.capacity, 10n);
    const { accepted } = await submitAttestations(stack, anvilAccount(6), [attestation]);
    assert.equal(accepted, 1);
    const after = await sinkState();
    assert.equal(after.nonce, attestation.nonce);
    assert.equal(BigInt(after.smoothed), ewmaStep(BigInt(before.smoothed), 10n, p().ewmaAlphaBps));
  });

  it('overDeclareFactor multiplies the declared capacity; an over-declaring sink keeps its pay by default', () => {
    const make = (overDeclareFactor: number, returnUnearned?: boolean) =>
      new SinkAgent({ ctx: stack, account: impostor, taskTypeId, worker: async () => 0, concurrency: 1, initialCapacity: 10, overDeclareFactor, returnUnearned });
    assert.equal(make(2.5).targetCapacity, 25n);
    assert.equal(make(2.5).returnUnearned, false);
    assert.equal(make(2.5, true).returnUnearned, true);
    assert.equal(make(1).targetCapacity, 10n);
    assert.equal(make(1).returnUnearned, true);
    assert.throws(() => make(0), /overDeclareFactor must be a positive number/);
  });

  describe('tasks', () => {
    before(async () => {
      // The source pays the pool, so its receipts are backed by credit and the sink receives pay.
      await bpe.setStream(stack, source, stack.token, pool, FLOW_RATE);
      await bpe.advanceTime(stack.clients, 600);
    });

    it('a valid request signed by its source: done, the result returned, the receipt recorded on chain (isCounted)', async () => {
      const req = await request();
      const signature = await signRequest(stack, source, req);
      const done: unknown[] = [];
      agent.once('taskDone', (r, result) => done.push([r.taskId, result]));
      assert.equal(await agent.submit(req, signature, { n: 21 }), 42);
      await agent.flush();
      assert.deepEqual(done, [[req.taskId, 42]]);
      const counted = await stack.clients.publicClient.readContract({
        address: stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'isCounted', args: [taskTypeId, source.address, req.taskId],
      });
      assert.equal(counted, true);
      assert.equal(receipts.length, 1);
      assert.equal(receipts[0]!.via, 'chain');
      assert.equal(receipts[0]!.status, 'accepted');
      assert.equal(receipts[0]!.receipt.taskId, req.taskId);
      assert.ok(receipts[0]!.receipt.completedAt <= req.deadline);
      const window = await stack.clients.publicClient.readContract({
        address: stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'windowOf', args: [taskTypeId, sinkKey.address],
      });
      assert.equal(window.completions, 1n);

      // The same request again: refused as a duplicate, no second receipt.
      await assert.rejects(agent.submit(req, signature, { n: 21 }), (e: unknown) => e instanceof RequestRefusedError && e.reason === 'duplicate');
    });

    it('refusals, each with its reason and a taskRejected event: another sink, another task type, a bad signature, a passed deadline, an unpaid source', async () => {
      const rejected: string[] = [];
      const listener = (_r: TaskRequest, e: RequestRefusedError) => rejected.push(e.reason);
      agent.on('taskRejected', listener);
      const refused = async (req: TaskRequest, signature: Hex, reason: string, message: RegExp) => {
        const err = await agent.submit(req, signature, { n: 1 }).then(() => undefined, (e: unknown) => e);
        assert.ok(err instanceof RequestRefusedError, String(err));
        assert.equal(err.reason, reason);
        assert.match(err.message, message);
      };
      const otherSink = await request({ sink: anvilAccount(7).address });
      await refused(otherSink, await signRequest(stack, source, otherSink), 'wrong-sink', /names sink 0x[0-9a-fA-F]{40}, this is/);
      const otherType = await request({ taskTypeId: keccak256(toHex('another task type')) });
      await refused(otherType, await signRequest(stack, source, otherType), 'wrong-task-type', /is for task type/);
      const forged = await request();
      await refused(forged, await signRequest(stack, impostor, forged), 'bad-signature', new RegExp(`not signed by its source ${source.address}`));
      const tampered = await request();
      const tamperedSig = await signRequest(stack, source, tampered);
      await refused({ ...tampered, deadline: tampered.deadline + 1n }, tamperedSig, 'bad-signature', /not signed by its source/);
      const late = await request({ deadline: (await now()) - 1n });
      await refused(late, await signRequest(stack, source, late), 'expired', /deadline \d+ has passed/);
      const unpaid = await request({ source: impostor.address });
      await refused(unpaid, await signRequest(stack, impostor, unpaid), 'unpaid', /has paid credit 0, below the base fee/);
      agent.off('taskRejected', listener);
      assert.deepEqual(rejected, ['wrong-sink', 'wrong-task-type', 'bad-signature', 'bad-signature', 'expired', 'unpaid']);
      assert.equal(receipts.length, 1, 'no work, no receipt');
    });

    it('settle: pay beyond the completed task goes back to the buffer in whole base fees; the tracker stops expecting it', async () => {
      const { publicClient } = stack.clients;
      // The window opened with the receipt; let the stream pay the sink for a while since.
      await bpe.advanceTime(stack.clients, 600);
      const bufferBefore = await bpe.bufferLevel(stack, taskTypeId);
      const returnedBefore = await publicClient.readContract({
        address: stack.bpe.escrowBuffer, abi: EscrowBuffer.abi, functionName: 'returnedBy', args: [taskTypeId, sinkKey.address],
      });
      assert.equal(returnedBefore, 0n);
      const fee = await baseFee(stack, taskTypeId);
      const result = await agent.settle();
      assert.equal(result.windowOpen, true);
      assert.equal(result.baseFee, fee);
      assert.equal(result.earnedTasks, 1n, 'one counted receipt, nothing pending, an empty queue');
      assert.ok(result.kept > 2n * fee, `the sink was paid for more than one task (kept ${result.kept})`);
      assert.equal(result.returned, ((result.kept - fee) / fee) * fee);
      assert.equal(await bpe.bufferLevel(stack, taskTypeId), bufferBefore + result.returned);
      const returned = await publicClient.readContract({
        address: stack.bpe.escrowBuffer, abi: EscrowBuffer.abi, functionName: 'returnedBy', args: [taskTypeId, sinkKey.address],
      });
      assert.equal(returned, result.returned);
      // What the sink kept in the window now pays for the one task it did (and less than one more).
      const window = await publicClient.readContract({
        address: stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'windowOf', args: [taskTypeId, sinkKey.address],
      });
      const received = await bpe.receivedFromPool(stack, pool, sinkKey.address);
      const keptNow = received - window.receivedAtStart - (returned - window.returnedAtStart);
      assert.equal(keptNow / fee, window.completions);
    });

    it('leave: stops, deregisters (units to zero) and starts unbonding the whole stake', async () => {
      await bpe.setStream(stack, source, stack.token, pool, 0n);
      const result = await agent.leave();
      assert.equal(result.unstaked, SINK_STAKE);
      assert.ok(result.releaseAt! > 0n);
      assert.equal((await sinkState()).index, 0);
      assert.equal(await bpe.poolUnits(stack, pool, sinkKey.address), 0n);
      const account = await bpe.stakeAccount(stack, sinkKey.address);
      assert.deepEqual({ staked: account.staked, unbonding: account.unbonding, registrations: account.registrations }, { staked: 0n, unbonding: SINK_STAKE, registrations: 0 });
      const req = await request();
      await assert.rejects(agent.submit(req, await signRequest(stack, source, req), { n: 1 }), (e: unknown) => e instanceof RequestRefusedError && e.reason === 'draining');
    });
  });
  describe('oracle and verifier unreachable (nothing listens on their port)', () => {
    const second = privateKeyToAccount(keccak256(toHex('bpe sink agent test: second sink')));
    let fallback: SinkAgent<number, number>;
    const errors: unknown[] = [];

    before(async () => {
      const port = await closedPort();
      const unreachable = { url: `http://127.0.0.1:${port}`, retries: 1, backoff: { initialMs: 1, maxMs: 2 } };
      await stack.clients.testClient.setBalance({ address: second.address, value: 10n * E18 });
      await stack.mintStakeTokens(second.address, SINK_STAKE);
      fallback = new SinkAgent({
        ctx: stack, account: second, taskTypeId, worker: async (n: number) => n, concurrency: 1, stake: SINK_STAKE, initialCapacity: 10,
        updateIntervalMs: 0, oracle: unreachable, verifier: unreachable,
        declarer: { mineBlock: () => stack.clients.testClient.mine({ blocks: 1 }) },
      });
      fallback.on('error', (e) => errors.push(e));
      await fallback.start();
    });

    it('the declaration falls back to commit-reveal, the outage is an error event', async () => {
      const result = await fallback.update();
      assert.equal(result.action, 'declared');
      assert.equal(await bpe.smoothedCapacity(stack, taskTypeId, second.address), ewmaStep(0n, 10n, p().ewmaAlphaBps));
      assert.equal(errors.length, 1);
      const [err] = errors;
      assert.ok(err instanceof ServiceUnavailableError, String(err));
      assert.equal(err.service, 'oracle');
      assert.equal(err.attempts, 2);
      assert.match(err.reason, /ECONNREFUSED/);
    });

    it('the receipt is recorded on chain by the sink itself, even when an epoch begins between its clock reading and its block', async () => {
      await bpe.setStream(stack, source, stack.token, pool, FLOW_RATE);
      await bpe.advanceTime(stack.clients, 300);
      // The latest block 2 s before an epoch ends, the next one 1 s into the next epoch: the receipt
      // (the sink's first, which opens its window) is stamped in the old epoch and lands in the new.
      const epoch = p().epochSeconds;
      const end = ((await now()) / epoch + 1n) * epoch;
      await stack.clients.testClient.setNextBlockTimestamp({ timestamp: end - 2n });
      await stack.clients.testClient.mine({ blocks: 1 });
      await stack.clients.testClient.setNextBlockTimestamp({ timestamp: end + 1n });
      const req = await request({ sink: second.address });
      const sent: ReceiptInfo[] = [];
      fallback.on('receiptSent', (info) => sent.push(info));
      assert.equal(await fallback.submit(req, await signRequest(stack, source, req), 5), 5);
      await fallback.flush();
      assert.equal(sent.length, 1);
      assert.equal(sent[0]!.via, 'chain');
      assert.ok(sent[0]!.receipt.completedAt >= end, `re-signed inside the new window (${sent[0]!.receipt.completedAt} vs ${end})`);
      const counted = await stack.clients.publicClient.readContract({
        address: stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'isCounted', args: [taskTypeId, source.address, req.taskId],
      });
      assert.equal(counted, true);
      assert.equal(errors.length, 2);
      assert.ok(errors[1] instanceof ServiceUnavailableError && errors[1].service === 'verifier', String(errors[1]));
    });
  });
});
