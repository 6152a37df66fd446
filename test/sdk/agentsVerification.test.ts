// Two SinkAgents on anvil paid by one stream that asks them for far less work than it pays for: the
// honest one hands the unrequested pay back on its scheduled round (`tick`) and is not charged; the
// one declaring overDeclareFactor = 2 keeps it and the CompletionTracker slashes its shortfall.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keccak256, parseEventLogs, toHex, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { anvilAccount } from '../../src/chain/clients.ts';
import { CompletionTracker, EscrowBuffer } from '../../src/chain/bpe/artifacts.generated.ts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { startLocalStack, type LocalStack } from '../../src/chain/bpe/localStack.ts';
import { SinkAgent, advanceSinkEpoch, baseFee, signRequest, type SettleResult, type TaskRequest } from '../../src/index.ts';

const E18 = 10n ** 18n;
const PRICE = 10n ** 15n;
const SINK_STAKE = 400n * E18;
const SOURCE = 4;
const FLOW_RATE = 10n ** 14n; // tens of base fees over the epoch, against 1 task asked of each sink
const TOLERANCE_BPS = 600n;

describe('SinkAgents under verification: the honest sink returns unrequested pay, the over-declaring one is slashed', () => {
  let stack: LocalStack;
  let taskTypeId: Hex;
  let pool: Address;
  let honest: SinkAgent<number, number>;
  let liar: SinkAgent<number, number>;
  const source = anvilAccount(SOURCE);
  const stranger = anvilAccount(6);
  const errors: unknown[] = [];

  const agent = (label: string, overDeclareFactor: number) => {
    const account = privateKeyToAccount(keccak256(toHex(`bpe agents verification test: ${label}`)));
    const a = new SinkAgent<number, number>({
      ctx: stack, account, taskTypeId, worker: async (n) => n, concurrency: 1, stake: SINK_STAKE, initialCapacity: 10, overDeclareFactor,
      updateIntervalMs: 0, declarer: { mineBlock: () => stack.clients.testClient.mine({ blocks: 1 }) },
    });
    a.on('error', (e) => errors.push(e));
    return a;
  };
  const oneTask = async (sink: SinkAgent<number, number>, n: number) => {
    const now = (await stack.clients.publicClient.getBlock()).timestamp;
    const request: TaskRequest = { taskId: keccak256(toHex(`task ${n}`)), taskTypeId, sink: sink.address, source: source.address, deadline: now + 3600n };
    assert.equal(await sink.submit(request, await signRequest(stack, source, request), n), n);
    await sink.flush();
  };

  before(async () => {
    stack = await startLocalStack({ fundedAccounts: [SOURCE] });
    await stack.mintStakeTokens(stack.deployer.address, stack.bpe.params.minSinkStake);
    await bpe.stake(stack, stack.deployer, stack.bpe.params.minSinkStake);
    ({ taskTypeId, pool } = await bpe.registerTaskType(stack, stack.deployer, {
      name: 'verified agents', token: stack.token, pricePerTask: PRICE, bufferMax: 1000n * E18,
    }));
    honest = agent('honest', 1);
    liar = agent('liar', 2);
    for (const a of [honest, liar]) {
      await stack.clients.testClient.setBalance({ address: a.address, value: 10n * E18 });
      await stack.mintStakeTokens(a.address, SINK_STAKE);
      await a.start();
    }
  });
  after(async () => {
    await stack?.stop();
  });

  it('one epoch paid for tens of tasks, 1 asked of each; after it the honest sink has handed back all but ~1 fee, the liar nothing', async () => {
    assert.equal(liar.returnUnearned, false);
    for (const a of [honest, liar]) assert.equal((await a.update()).action, 'declared');
    assert.equal(await bpe.smoothedCapacity(stack, taskTypeId, honest.address), 3n); // one EWMA step toward 10
    assert.equal(await bpe.smoothedCapacity(stack, taskTypeId, liar.address), 6n); // toward 2 x 10
    // At the start of an epoch, open both evaluation windows (the first advanceEpoch only opens
    // one), then pay: the window is then one whole epoch plus the grace, whatever the start time.
    await bpe.advanceToEpochOffset(stack, 5n);
    for (const a of [honest, liar]) await advanceSinkEpoch(stack, stranger, taskTypeId, a.address);
    await bpe.setStream(stack, source, stack.token, pool, FLOW_RATE);
    await bpe.advanceTime(stack.clients, 120);
    await oneTask(honest, 1);
    await oneTask(liar, 2);
    // Past the epoch's end and its receipt grace: the scheduled round settles.
    await bpe.advanceToEpochOffset(stack, stack.bpe.params.receiptGrace + 1n);
    const returned = new Map<Address, SettleResult>();
    for (const a of [honest, liar]) {
      a.on('returned', (r) => returned.set(a.address, r));
      await a.tick();
    }
    assert.deepEqual(errors, []);
    const fee = await baseFee(stack, taskTypeId);
    const settled = returned.get(honest.address);
    assert.ok(settled, 'the honest sink handed pay back');
    assert.equal(settled.earnedTasks, 1n);
    assert.equal(settled.returned, ((settled.kept - fee) / fee) * fee, 'all whole fees beyond the one task done');
    assert.ok(settled.returned >= 5n * fee, `a third of ~350 s at 1e14 wei/s is ~11 fees; handed back ${settled.returned}`);
    assert.equal(returned.get(liar.address), undefined, 'the liar handed back nothing');
    const returnedBy = (who: Address) =>
      stack.clients.publicClient.readContract({ address: stack.bpe.escrowBuffer, abi: EscrowBuffer.abi, functionName: 'returnedBy', args: [taskTypeId, who] });
    assert.equal(await returnedBy(honest.address), settled.returned);
    assert.equal(await returnedBy(liar.address), 0n);
  });

  it('advanceEpoch: the honest sink is expected 1 task and did it; the liar is charged each task short of 94 % of expected', async () => {
    const perTask = bpe.DEFAULT_STAKE_UNITS_PER_TASK * stack.bpe.params.stakeUnit;
    const verdict = async (a: SinkAgent<number, number>) => {
      const tx = await advanceSinkEpoch(stack, stranger, taskTypeId, a.address);
      const [event] = parseEventLogs({ abi: CompletionTracker.abi, eventName: 'EpochEvaluated', logs: tx.logs });
      assert.ok(event, 'the window was judged');
      return event.args;
    };
    const h = await verdict(honest);
    assert.equal(h.completions, 1n);
    assert.ok(h.expected <= 2n, `honest expected ${h.expected}`);
    assert.equal(h.slashed, 0n);
    assert.equal((await bpe.stakeAccount(stack, honest.address)).staked, SINK_STAKE);

    const l = await verdict(liar);
    assert.equal(l.completions, 1n);
    assert.ok(l.expected >= 6n, `liar expected ${l.expected}: its declared capacity, paid for in full`);
    const owed = (l.expected * (10_000n - TOLERANCE_BPS)) / 10_000n;
    assert.equal(l.slashed, (owed - l.completions) * perTask);
    assert.ok(l.slashed > 0n);
    assert.equal((await bpe.stakeAccount(stack, liar.address)).staked, SINK_STAKE - l.slashed);
  });
});
