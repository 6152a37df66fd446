// SourceAgent on anvil with two in-process SinkAgents of different declared capacity: tasks go to
// the sinks in proportion to their pool units, every one is done and its receipt counted on chain;
// a refusing sink is skipped; a saturated buffer pauses the stream and no task is sent while paused.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { keccak256, toHex, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { anvilAccount } from '../../src/chain/clients.ts';
import { CompletionTracker } from '../../src/chain/bpe/artifacts.generated.ts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { startLocalStack, type LocalStack } from '../../src/chain/bpe/localStack.ts';
import {
  HttpTransport,
  InProcessTransport,
  RequestRefusedError,
  SinkAgent,
  SinkUnreachableError,
  SourceAgent,
  SourcePausedError,
  serveSinkAgent,
  weightedPick,
  type TaskRequest,
} from '../../src/index.ts';

const E18 = 10n ** 18n;
const PRICE = 10n ** 15n;
const BUFFER_MAX = 10n * E18;
const SINK_STAKE = 400n * E18; // 20 tasks/epoch each
const SOURCE = 4;
const FLOW_RATE = 10n ** 14n;
const TASKS = 45;

/** Seeded uniform [0, 1): mulberry32. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** |count − n·p| within 4.5 standard deviations of a binomial(n, p). */
function assertBinomial(count: number, n: number, p: number, what: string): void {
  const bound = 4.5 * Math.sqrt(n * p * (1 - p));
  assert.ok(Math.abs(count - n * p) <= bound, `${what}: ${count} of ${n}, expected ${(n * p).toFixed(1)} ± ${bound.toFixed(1)}`);
}

describe('SourceAgent with two in-process SinkAgents on anvil', () => {
  let stack: LocalStack;
  let taskTypeId: Hex;
  let pool: Address;
  let small: SinkAgent<number, number>;
  let large: SinkAgent<number, number>;
  let source: SourceAgent<number, number>;
  const sourceAccount = anvilAccount(SOURCE);
  const done = new Map<Address, TaskRequest[]>();

  const sinkAgent = (label: string, initialCapacity: number) => {
    const account = privateKeyToAccount(keccak256(toHex(`bpe source agent test: ${label}`)));
    const agent = new SinkAgent<number, number>({
      ctx: stack, account, taskTypeId, worker: async (x) => x + 1, concurrency: 2, stake: SINK_STAKE, initialCapacity,
      updateIntervalMs: 0, declarer: { mineBlock: () => stack.clients.testClient.mine({ blocks: 1 }) },
    });
    agent.on('taskDone', (request) => done.set(account.address, [...(done.get(account.address) ?? []), request]));
    return agent;
  };

  before(async () => {
    stack = await startLocalStack({ fundedAccounts: [SOURCE] });
    const { minSinkStake } = stack.bpe.params;
    await stack.mintStakeTokens(stack.deployer.address, minSinkStake);
    await bpe.stake(stack, stack.deployer, minSinkStake);
    ({ taskTypeId, pool } = await bpe.registerTaskType(stack, stack.deployer, {
      name: 'source agent', token: stack.token, pricePerTask: PRICE, bufferMax: BUFFER_MAX,
    }));
    small = sinkAgent('small', 10);
    large = sinkAgent('large', 20);
    for (const agent of [small, large]) {
      await stack.clients.testClient.setBalance({ address: agent.address, value: 10n * E18 });
      await stack.mintStakeTokens(agent.address, SINK_STAKE);
      await agent.start();
      assert.equal((await agent.update()).action, 'declared');
    }
    source = new SourceAgent<number, number>({
      ctx: stack, account: sourceAccount, taskTypeId, transport: new InProcessTransport([small, large]), random: mulberry32(7),
    });
    await source.open(FLOW_RATE);
    // Credit for the receipts: the stream pays 1e14 wei/s, a receipt spends the 1e15 base fee.
    await bpe.advanceTime(stack.clients, 1200);
  });
  after(async () => {
    await stack?.stop();
  });

  it('the pool pays the two sinks by their declared capacity: one EWMA step of 10 and 20 tasks/epoch', async () => {
    const shares = await source.refreshSinks();
    const unitScale = stack.bpe.params.unitScale;
    assert.deepEqual(shares, [
      { sink: small.address, units: 3n * unitScale },
      { sink: large.address, units: 6n * unitScale },
    ]);
    assert.equal(await bpe.poolUnits(stack, pool, small.address), 3n * unitScale);
    assert.equal(await bpe.poolUnits(stack, pool, large.address), 6n * unitScale);
    // The draw itself: 20,000 seeded draws land within 4.5 sigma of 2/3 on the larger sink.
    const rng = mulberry32(11);
    let toLarge = 0;
    for (let i = 0; i < 20_000; i++) if (weightedPick(shares, rng()) === large.address) toLarge++;
    assertBinomial(toLarge, 20_000, 2 / 3, 'draws to the larger sink');
    assert.equal(weightedPick(shares, 0), small.address);
    assert.equal(weightedPick(shares, 0.3333), small.address);
    assert.equal(weightedPick(shares, 0.3334), large.address);
    assert.equal(weightedPick(shares, 0.999999), large.address);
  });

  it(`${TASKS} tasks: distributed by pool units, each done once, every receipt counted on chain`, async () => {
    const sent: Array<[Hex, Address]> = [];
    const completed: Array<[Hex, Address, number]> = [];
    source.on('taskSent', (request, sink) => sent.push([request.taskId, sink]));
    source.on('taskCompleted', (request, sink, result) => completed.push([request.taskId, sink, result]));
    for (let i = 0; i < TASKS; i++) assert.equal(await source.send(i), i + 1);
    await Promise.all([small.flush(), large.flush()]);

    assert.equal(sent.length, TASKS);
    assert.equal(completed.length, TASKS);
    const toSmall = completed.filter(([, sink]) => sink === small.address).length;
    const toLarge = completed.filter(([, sink]) => sink === large.address).length;
    assert.equal(toSmall + toLarge, TASKS);
    assertBinomial(toLarge, TASKS, 2 / 3, 'tasks to the larger sink');
    assert.ok(toSmall > 0 && toLarge > toSmall, `small ${toSmall}, large ${toLarge}`);
    assert.equal(done.get(small.address)?.length ?? 0, toSmall);
    assert.equal(done.get(large.address)?.length ?? 0, toLarge);

    const { publicClient } = stack.clients;
    for (const [taskId] of completed) {
      const counted = await publicClient.readContract({
        address: stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'isCounted', args: [taskTypeId, sourceAccount.address, taskId],
      });
      assert.equal(counted, true, `task ${taskId} counted`);
    }
    for (const [agent, count] of [[small, toSmall], [large, toLarge]] as const) {
      const window = await publicClient.readContract({
        address: stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'windowOf', args: [taskTypeId, agent.address],
      });
      assert.equal(window.completions, BigInt(count));
    }
  });

  it('a sink that refuses (no endpoint) is skipped: the task goes to the other one', async () => {
    const onlyLarge = new SourceAgent<number, number>({
      ctx: stack, account: sourceAccount, taskTypeId, transport: new InProcessTransport([large]), random: () => 0, // draws the small sink first
    });
    const failed: unknown[] = [];
    onlyLarge.on('taskFailed', (_r, sink, error, willRetry) => failed.push([sink, error instanceof SinkUnreachableError, willRetry]));
    const sinks: Address[] = [];
    onlyLarge.on('taskCompleted', (_r, sink) => sinks.push(sink));
    assert.equal(await onlyLarge.send(100), 101);
    assert.deepEqual(failed, [[small.address, true, true]]);
    assert.deepEqual(sinks, [large.address]);
    await large.flush();
  });

  it('over HTTP: serveSinkAgent + HttpTransport; a misrouted request is refused (409, wrong-sink) and the task goes elsewhere', async () => {
    const smallServer = await serveSinkAgent(small);
    try {
      // The larger sink's URL points at the small sink's server: it refuses a request naming another sink.
      const transport = new HttpTransport<number, number>({ urls: new Map([[small.address, smallServer.url], [large.address, smallServer.url]]) });
      const http = new SourceAgent<number, number>({ ctx: stack, account: sourceAccount, taskTypeId, transport, random: () => 0.99 });
      const failed: unknown[] = [];
      http.on('taskFailed', (_r, sink, error, willRetry) =>
        failed.push([sink, error instanceof RequestRefusedError ? error.reason : String(error), willRetry]));
      const completedBy: Address[] = [];
      http.on('taskCompleted', (_r, sink) => completedBy.push(sink));
      assert.equal(await http.send(41), 42);
      assert.deepEqual(failed, [[large.address, 'wrong-sink', true]]);
      assert.deepEqual(completedBy, [small.address]);
      await small.flush();

      // A malformed body: 400 with the reason, nothing done.
      const res = await fetch(`${smallServer.url}/v1/tasks`, { method: 'POST', body: JSON.stringify({ request: { taskId: '0x12' } }) });
      assert.equal(res.status, 400);
      assert.match(((await res.json()) as { error: string }).error, /request\.taskId must be 32 bytes of hex/);
    } finally {
      await smallServer.close();
    }
  });

  it('a saturated buffer pauses the stream: no task is sent while paused', async () => {
    const paused: unknown[] = [];
    source.on('paused', (info) => paused.push(info));
    const level = await bpe.bufferLevel(stack, taskTypeId);
    await bpe.depositToBuffer(stack, sourceAccount, stack.token, taskTypeId, BUFFER_MAX - level);
    assert.equal(await source.poll(), 'paused');
    assert.equal(source.paused, true);
    assert.equal(source.stream.currentRate, 0n, 'the stream is stopped');
    assert.equal(paused.length, 1);

    let sent = 0;
    source.on('taskSent', () => sent++);
    const doneBefore = (done.get(small.address)?.length ?? 0) + (done.get(large.address)?.length ?? 0);
    for (let i = 0; i < 3; i++) await assert.rejects(source.send(i), (e: unknown) => e instanceof SourcePausedError && /paused/.test(e.message));
    assert.equal(sent, 0, 'no request left the source');
    assert.equal((done.get(small.address)?.length ?? 0) + (done.get(large.address)?.length ?? 0), doneBefore, 'no sink did any work');
  });
});
