// `npm run bench:gas`: execution gas of every BPE operation on a local anvil running the real
// Superfluid protocol (optimizer on, as deployed). Prints one JSON object: operation -> gas.
// Execution gas = gasUsed - 21,000 - calldata cost, i.e. what the contracts themselves spend.
import { encodeFunctionData, keccak256, parseEventLogs, toHex, type Account, type Hex, type LocalAccount, type TransactionReceipt } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { gdaForwarderAbi } from '../src/chain/abis.ts';
import { confirm } from '../src/chain/deploy.ts';
import { BackpressurePool } from '../src/chain/bpe/artifacts.generated.ts';
import * as bpe from '../src/chain/bpe/actions.ts';
import * as verification from '../src/chain/bpe/verification.ts';
import { PricingCurve } from '../src/chain/bpe/artifacts.generated.ts';
import { startLocalStack, type LocalStack } from '../src/chain/bpe/localStack.ts';

const PRICE = 10n ** 15n;
const STAKE = 10_000n * 10n ** 18n; // cap 100
const SETTLED = 50n;
const started = Date.now();
const progress = (line: string) =>
  (process.stderr.isTTY || process.env.BPE_PROGRESS) && process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}\n`);

async function executionGas(stack: LocalStack, receipt: TransactionReceipt): Promise<number> {
  const tx = await stack.clients.publicClient.getTransaction({ hash: receipt.transactionHash });
  let calldata = 0n;
  for (let i = 2; i < tx.input.length; i += 2) calldata += tx.input.slice(i, i + 2) === '00' ? 4n : 16n;
  return Number(receipt.gasUsed - 21_000n - calldata);
}

/**
 * Runs `task` over `items`, a few at a time: anvil mines one block per transaction, and a reveal
 * must land within COMMIT_TIMEOUT (20) blocks of its commit.
 */
async function inBatches<T>(items: T[], task: (item: T) => Promise<unknown>, size = 8): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(task));
}

function benchAccount(label: string): LocalAccount {
  return privateKeyToAccount(keccak256(toHex(`bpe-gas-bench/${label}`)));
}

async function fund(stack: LocalStack, account: Account): Promise<void> {
  await stack.clients.testClient.setBalance({ address: account.address, value: 10n ** 20n });
  await stack.mintStakeTokens(account.address, STAKE);
}

/** Sinks staked, registered, connected and settled at SETTLED capacity, in parallel per round. */
async function settledSinks(stack: LocalStack, taskTypeId: Hex, pool: Hex, prefix: string, n: number): Promise<LocalAccount[]> {
  const sinks = Array.from({ length: n }, (_, i) => benchAccount(`${prefix}-${i}`));
  // Minting is sent by the deployer, so it goes one by one; each sink's own transactions in parallel.
  for (const s of sinks) await fund(stack, s);
  await Promise.all(sinks.map(async (s) => {
    await bpe.stake(stack, s, STAKE);
    await bpe.registerSink(stack, s, taskTypeId);
    await bpe.connectPool(stack, s, pool);
  }));
  for (let round = 0; round < 50; round++) {
    const pending = [];
    for (const s of sinks) if ((await bpe.smoothedCapacity(stack, taskTypeId, s.address)) !== SETTLED) pending.push(s);
    if (pending.length === 0) {
      // The deadband may have left the last EWMA steps out of the units: start exact.
      await bpe.rebalanceFully(stack, stack.deployer, taskTypeId);
      return sinks;
    }
    await inBatches(pending, (s) => bpe.declareCapacity(stack, s, taskTypeId, SETTLED));
    await bpe.advanceTime(stack.clients, Number(stack.bpe.params.minUpdateInterval));
  }
  throw new Error(`${prefix}: sinks did not settle`);
}

async function taskType(stack: LocalStack, name: string, bufferMax = 10n ** 24n) {
  return bpe.registerTaskType(stack, stack.deployer, { name, token: stack.token, pricePerTask: PRICE, bufferMax });
}

async function main(): Promise<void> {
  const sourceIndex = 5;
  const stack = await startLocalStack({ fundedAccounts: [sourceIndex], superTokenAmount: 10n ** 26n });
  const source = (await import('../src/chain/clients.ts')).anvilAccount(sourceIndex);
  const gas: Record<string, number> = {};
  const measure = async (key: string, receipt: Promise<TransactionReceipt>) => {
    gas[key] = await executionGas(stack, await receipt);
    progress(`${key}: ${gas[key]}`);
  };
  try {
    const creator = stack.deployer;
    await stack.mintStakeTokens(creator.address, STAKE);
    await measure('stake', bpe.stake(stack, creator, STAKE));
    await measure('registerTaskType', taskType(stack, 'bench').then((r) => r.receipt));
    const single = await taskType(stack, 'single');

    const first = benchAccount('first');
    await fund(stack, first);
    await bpe.stake(stack, first, STAKE);
    await measure('registerSink', bpe.registerSink(stack, first, single.taskTypeId));
    await bpe.connectPool(stack, first, single.pool);
    const c = bpe.makeCommitment(first.address, single.taskTypeId, SETTLED);
    await measure('commitCapacity', bpe.commitCapacity(stack, first, single.taskTypeId, c.hash));
    // First reveal: the sink becomes a pool member (new units).
    await measure('revealCapacity', bpe.revealCapacity(stack, first, single.taskTypeId, SETTLED, c.nonce));

    for (const n of [10, 100]) {
      progress(`setting up a pool of ${n} sinks ...`);
      const t = await taskType(stack, `pool-${n}`);
      const sinks = await settledSinks(stack, t.taskTypeId, t.pool, `pool-${n}`, n);
      const absorbable = (BigInt(n) * SETTLED * PRICE) / stack.bpe.params.epochSeconds;
      await bpe.setStream(stack, source, stack.token, t.pool, absorbable / 2n);
      // One sink's capacity change (50 -> 30 declared: smoothed 44, a 12 % move) re-weights it in
      // O(1). Median of five sinks' updates: every few updates one also folds the GDA's rounding
      // remainder back into the stream (one more distributeFlow), whatever the pool size.
      const updates: number[] = [];
      for (const sink of sinks.slice(0, 5)) {
        updates.push(await executionGas(stack, (await bpe.declareCapacity(stack, sink, t.taskTypeId, 30n)).reveal));
      }
      updates.sort((x, y) => x - y);
      gas[`capacityUpdate_${n}sinks`] = updates[2]!;
      progress(`capacityUpdate_${n}sinks: ${updates.join(', ')}`);
      // Every sink drifts inside the deadband (50 -> 48 declared: smoothed 49, 2 %): no unit
      // changes until a rebalance catches all of them up.
      await bpe.advanceTime(stack.clients, Number(stack.bpe.params.minUpdateInterval));
      await inBatches(sinks.slice(5), (s) => bpe.declareCapacity(stack, s, t.taskTypeId, 48n));
      // A rebalance runs in pieces of at most REBALANCE_BATCH sinks: the key is the whole pass
      // (every piece summed), `_maxCall` the dearest single transaction of it.
      const pieces = await bpe.rebalanceFully(stack, source, t.taskTypeId);
      const updated = pieces.reduce((sum, r) =>
        sum + parseEventLogs({ abi: BackpressurePool.abi, eventName: 'SinkUnitsUpdated', logs: r.logs }).length, 0);
      // The five updated sinks may sit inside the deadband too; the other n - 5 certainly drifted.
      if (updated < n - 5) throw new Error(`rebalance of ${n} sinks re-weighted ${updated}, expected at least ${n - 5}`);
      const pieceGas = await Promise.all(pieces.map((r) => executionGas(stack, r)));
      gas[`rebalance_${n}sinks`] = pieceGas.reduce((x, y) => x + y, 0);
      gas[`rebalance_${n}sinks_maxCall`] = Math.max(...pieceGas);
      progress(`rebalance_${n}sinks: ${pieceGas.join(' + ')}`);
      await bpe.setStream(stack, source, stack.token, t.pool, 0n);
    }

    progress('buffer: deposit and drain ...');
    const b = await taskType(stack, 'buffer');
    await settledSinks(stack, b.taskTypeId, b.pool, 'buffer', 3);
    await measure('deposit', bpe.depositToBuffer(stack, source, stack.token, b.taskTypeId, 10n ** 18n));
    await bpe.setStream(stack, source, stack.token, b.pool, (3n * SETTLED * PRICE) / stack.bpe.params.epochSeconds / 2n);
    await measure('updateOverflow', bpe.updateOverflow(stack, source, b.taskTypeId));
    await bpe.advanceTime(stack.clients, Number(stack.bpe.params.drainWindow));
    await measure('drain', bpe.drain(stack, source, b.taskTypeId));

    await verificationGas(stack, source, gas, measure);

    // Reference: Superfluid's own updateMemberUnits on an existing member of a flowing pool.
    const ref = await referenceUpdateMemberUnits(stack, source);
    gas.superfluid_updateMemberUnits = ref;
  } finally {
    await stack.stop();
  }
  process.stdout.write(`${JSON.stringify(gas, null, 2)}\n`);
}

/** Gas per item of a batch (attestations, receipts), calldata and signature checks included (base fee excluded). */
async function perAttestation(stack: LocalStack, receipt: TransactionReceipt, n: number): Promise<number> {
  return Math.round(Number(receipt.gasUsed - 21_000n) / n);
}

async function verificationGas(
  stack: LocalStack, source: LocalAccount, gas: Record<string, number>,
  measure: (key: string, receipt: Promise<TransactionReceipt>) => Promise<void>,
): Promise<void> {
  progress('attestations: 50 sinks ...');
  const t = await taskType(stack, 'attest');
  const sinks = await settledSinks(stack, t.taskTypeId, t.pool, 'attest', 50);
  await bpe.setStream(stack, source, stack.token, t.pool, (50n * SETTLED * PRICE) / stack.bpe.params.epochSeconds / 2n);
  const batch = async (capacity: bigint, nonce: number) => {
    await bpe.advanceTime(stack.clients, Number(stack.bpe.params.minUpdateInterval));
    const { timestamp } = await stack.clients.publicClient.getBlock();
    const items = await Promise.all(sinks.map((sink) => verification.signAttestation(stack, sink, {
      taskTypeId: t.taskTypeId, capacity, backlog: 0n, nonce, timestamp,
    })));
    const result = await verification.submitAttestations(stack, stack.deployer, items);
    if (result.accepted !== sinks.length) throw new Error(`only ${result.accepted} of ${sinks.length} attestations accepted`);
    return result.receipt;
  };
  // 50 -> 49 declared: smoothed 49, inside the deadband: no unit changes.
  gas.submitAttestations_50 = await perAttestation(stack, await batch(49n, 1), 50);
  progress(`submitAttestations_50: ${gas.submitAttestations_50}`);
  // 49 -> 30 declared: smoothed 43, 14 % below the units: every sink is re-weighted.
  gas.submitAttestations_50_unitChanges = await perAttestation(stack, await batch(30n, 2), 50);
  progress(`submitAttestations_50_unitChanges: ${gas.submitAttestations_50_unitChanges}`);

  // A backlog report that moves the sink's weight inside the deadband (43 -> 42).
  await measure('reportBacklog', verification.reportBacklog(stack, sinks[0]!, t.taskTypeId, 1n));

  // Completion receipts from a paying source, then the sink's epoch closes.
  const sink = sinks[1]!;
  const now = (await stack.clients.publicClient.getBlock()).timestamp;
  const receipt = (i: number) => ({
    taskId: keccak256(toHex(`task-${i}`)), taskTypeId: t.taskTypeId, sink: sink.address, source: source.address,
    completedAt: now, deadline: now + 3600n,
  });
  const record = async (i: number) => verification.recordCompletion(
    stack, stack.deployer, receipt(i),
    await verification.signCompletion(stack, sink, receipt(i)), await verification.signRequest(stack, source, receipt(i)),
  );
  await verification.advancePriceEpoch(stack, stack.deployer, t.taskTypeId); // starts the price clock
  await record(0); // opens the sink's window
  const one = await record(1);
  gas.recordCompletion = await executionGas(stack, one);
  progress(`recordCompletion: ${gas.recordCompletion} (transaction ${one.gasUsed})`);
  await bpe.advanceToEpochOffset(stack, stack.bpe.params.receiptGrace);
  await measure('advanceEpoch', verification.advanceSinkEpoch(stack, stack.deployer, t.taskTypeId, sink.address));
  await measure('advanceEpoch_pricing', verification.advancePriceEpoch(stack, stack.deployer, t.taskTypeId));

  // 50 receipts in one recordCompletions transaction (the verifier's batch): gas per receipt,
  // calldata and both signature checks included, base fee excluded (as submitAttestations_50).
  await bpe.advanceTime(stack.clients, 60); // the stream pays for them
  const at = (await stack.clients.publicClient.getBlock()).timestamp;
  const batchItems = await Promise.all(Array.from({ length: 50 }, async (_, i) => {
    const r = { ...receipt(1000 + i), completedAt: at, deadline: at + 3600n };
    const [sinkSignature, sourceSignature] = await Promise.all([verification.signCompletion(stack, sink, r), verification.signRequest(stack, source, r)]);
    return { receipt: r, sinkSignature, sourceSignature };
  }));
  const recorded = await verification.recordCompletions(stack, stack.deployer, batchItems);
  if (recorded.counted !== 50) throw new Error(`only ${recorded.counted} of 50 receipts counted: ${recorded.skipped.map((x) => x.reason).join(', ')}`);
  gas.recordCompletions_50 = await perAttestation(stack, recorded.receipt, 50);
  progress(`recordCompletions_50: ${gas.recordCompletions_50} (transaction ${recorded.receipt.gasUsed})`);

  const quote = await stack.clients.publicClient.estimateGas({
    account: stack.deployer.address,
    to: stack.bpe.pricingCurve,
    data: encodeFunctionData({ abi: PricingCurve.abi, functionName: 'priceOf', args: [t.taskTypeId, sinks[0]!.address] }),
  });
  gas.priceQuote = Number(quote) - 21_000;
  await bpe.setStream(stack, source, stack.token, t.pool, 0n);
}

async function referenceUpdateMemberUnits(stack: LocalStack, source: LocalAccount): Promise<number> {
  const { walletClient, publicClient } = stack.clients;
  const fwd = { address: stack.framework.gdaV1Forwarder, abi: gdaForwarderAbi } as const;
  const { result, request } = await publicClient.simulateContract({
    ...fwd, account: stack.deployer, functionName: 'createPool',
    args: [stack.token, stack.deployer.address, { transferabilityForUnitsOwner: false, distributionFromAnyAddress: true }],
  });
  await confirm(stack.clients, await walletClient.writeContract(request), 'creating reference pool');
  const pool = result[1];
  const member = benchAccount('reference-member');
  const update = (units: bigint) => walletClient.writeContract({
    ...fwd, account: stack.deployer, functionName: 'updateMemberUnits', args: [pool, member.address, units, '0x'],
  });
  await confirm(stack.clients, await update(1000n), 'adding reference member');
  await bpe.setStream(stack, source, stack.token, pool, 10n ** 12n);
  return executionGas(stack, await confirm(stack.clients, await update(900n), 'updating reference member'));
}

try {
  await main();
} catch (err) {
  process.stderr.write(`bench:gas failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
  process.exitCode = 1;
}
