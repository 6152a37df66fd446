// `bpe demo`: the README's main command. Starts a local chain with the real Superfluid protocol
// and BPE, then plays one scripted story and prints what every party received:
// three sinks of capacity 10:20:30 share a source's stream 1:2:3; one sink gets busy and loses
// share; demand doubles past capacity and the excess lands in the escrow buffer; demand falls
// and the buffer drains into the capacity that freed up. Then the verification layer: a signed
// capacity attestation relayed by a stranger (a forged one beside it is skipped), a backlog that
// makes a sink dearer so it loses share, and a sink that takes money without doing the work,
// slashed after three epochs of completion receipts.
import { formatUnits, keccak256, toHex, type Account, type Address, type Hex, type LocalAccount } from 'viem';
import { anvilAccount } from '../../chain/clients.ts';
import { superTokenAbi } from '../../chain/abis.ts';
import { startLocalStack, type LocalStack } from '../../chain/bpe/localStack.ts';
import * as bpe from '../../chain/bpe/actions.ts';
import * as verification from '../../chain/bpe/verification.ts';
import { StakeManager } from '../../chain/bpe/artifacts.generated.ts';
import { CliError } from '../errors.ts';

const PRICE = 10n ** 15n; // 0.001 TUSD per task
const BUFFER_MAX = 10n ** 21n; // 1,000 TUSD
const TST = (wei: bigint) => `${Number(formatUnits(wei, 18)).toFixed(4)} TUSD`;

interface Sink { name: string; account: LocalAccount; stake: bigint; capacity: bigint }

export async function run(args: string[]): Promise<void> {
  if (args.length > 0) throw new CliError(`unexpected argument "${args[0]}" (demo takes none)`);
  const log = (line: string) => process.stdout.write(`${line}\n`);
  log('starting anvil and deploying Superfluid + BPE ...');
  const stack = await startLocalStack({ fundedAccounts: [4] });
  try {
    await verificationStory(stack, await story(stack, log), log);
  } finally {
    await stack.stop();
  }
}

interface Market { taskTypeId: Hex; pool: Address; sinks: Sink[]; source: LocalAccount; parties: [string, Address][] }

async function story(stack: LocalStack, log: (line: string) => void): Promise<Market> {
  const { bpe: d } = stack;
  const epoch = d.params.epochSeconds;
  const rateOf = (capacity: bigint) => (capacity * PRICE) / epoch; // wei/s that `capacity` absorbs
  log(`  Superfluid host ${stack.framework.host}, token ${stack.token}`);
  log(`  StakeManager ${d.stakeManager}  CapacityRegistry ${d.capacityRegistry}`);
  log(`  BackpressurePool ${d.backpressurePool}  EscrowBuffer ${d.escrowBuffer}  Pipeline ${d.pipeline}`);

  // A task type: 0.001 TUSD per task, 300 s epochs, a 1,000 TUSD buffer.
  const creator = stack.deployer;
  await stack.mintStakeTokens(creator.address, d.params.minSinkStake);
  await bpe.stake(stack, creator, d.params.minSinkStake);
  const { taskTypeId, pool } = await bpe.registerTaskType(stack, creator, {
    name: 'summarize', token: stack.token, pricePerTask: PRICE, bufferMax: BUFFER_MAX,
  });
  log(`\n1. task type "summarize" ${taskTypeId.slice(0, 10)}…, GDA pool ${pool}`);

  const sinks: Sink[] = [
    { name: 'sink A', account: anvilAccount(1), stake: 400n * 10n ** 18n, capacity: 10n },
    { name: 'sink B', account: anvilAccount(2), stake: 900n * 10n ** 18n, capacity: 20n },
    { name: 'sink C', account: anvilAccount(3), stake: 1600n * 10n ** 18n, capacity: 30n },
  ];
  for (const s of sinks) {
    await stack.mintStakeTokens(s.account.address, s.stake);
    await bpe.stake(stack, s.account, s.stake);
    await bpe.registerSink(stack, s.account, taskTypeId);
    await bpe.connectPool(stack, s.account, pool);
  }
  await settle(stack, taskTypeId, sinks.map((s) => [s.account, s.capacity]));
  log(`2. three sinks staked 400/900/1600 (backing 20/45/80 tasks/epoch at 20 STK a task) and declared 10/20/30;`);
  log(`   commit-reveal + EWMA settled: ${await capacities(stack, taskTypeId, sinks)}`);

  const source = anvilAccount(4);
  const balanceOf = (who: Address) => stack.clients.publicClient.readContract({
    address: stack.token, abi: superTokenAbi, functionName: 'balanceOf', args: [who],
  });
  const sourceStart = await balanceOf(source.address);
  const parties: [string, Address][] = [...sinks.map((s) => [s.name, s.account.address] as [string, Address]), ['buffer', d.escrowBuffer]];
  const absorbable = rateOf(60n);
  let mark = await snapshot(stack, pool, parties);

  await bpe.setStream(stack, source, stack.token, pool, absorbable / 2n);
  await bpe.updateOverflow(stack, source, taskTypeId);
  await bpe.advanceTime(stack.clients, 3600);
  log(`\n3. source streams ${TST(absorbable / 2n)}/s (half of capacity) for 1 hour:`);
  mark = await report(stack, pool, parties, mark, log);

  // Sink C gets busy: it declares 6 instead of 30; the EWMA walks there step by step.
  for (let i = 0; i < 6; i++) {
    await bpe.declareCapacity(stack, sinks[2]!.account, taskTypeId, 6n);
    await bpe.advanceTime(stack.clients, Number(d.params.minUpdateInterval));
  }
  mark = await snapshot(stack, pool, parties);
  await bpe.advanceTime(stack.clients, 3600);
  log(`\n4. sink C gets busy and declares 6 (six reveals, one per minute): ${await capacities(stack, taskTypeId, sinks)}`);
  log('   next hour:');
  mark = await report(stack, pool, parties, mark, log);

  const capacityNow = await totalCapacity(stack, taskTypeId);
  const absorbableNow = rateOf(capacityNow);
  await bpe.setStream(stack, source, stack.token, pool, absorbableNow * 2n);
  await bpe.updateOverflow(stack, source, taskTypeId);
  await bpe.advanceTime(stack.clients, 1800);
  log(`\n5. demand doubles past capacity (${TST(absorbableNow * 2n)}/s vs ${TST(absorbableNow)}/s absorbable) for 30 minutes:`);
  mark = await report(stack, pool, parties, mark, log);
  log(`   buffer level ${TST(await bpe.bufferLevel(stack, taskTypeId))}`);

  await bpe.setStream(stack, source, stack.token, pool, absorbableNow / 4n);
  await bpe.updateOverflow(stack, source, taskTypeId);
  await bpe.advanceTime(stack.clients, Number(d.params.drainWindow));
  const before = await bpe.bufferLevel(stack, taskTypeId);
  await bpe.drain(stack, source, taskTypeId);
  const after = await bpe.bufferLevel(stack, taskTypeId);
  log(`\n6. demand falls to a quarter; after 5 minutes anyone calls drain(): the buffer pays`);
  log(`   ${TST(before - after)} into the spare capacity (level ${TST(before)} -> ${TST(after)});`);
  log('   the sinks received, stream and drain together:');
  mark = await report(stack, pool, parties, mark, log);

  await bpe.setStream(stack, source, stack.token, pool, 0n);
  const totals = await snapshot(stack, pool, parties);
  const remainder = await balanceOf(await bpe.poolAdmin(stack, taskTypeId));
  const paid = sourceStart - (await balanceOf(source.address));
  const level = await bpe.bufferLevel(stack, taskTypeId);
  const sinkTotal = totals.slice(0, 3).reduce((a, b) => a + b, 0n);
  log('\n7. totals over the whole story:');
  for (const [i, [name]] of parties.slice(0, 3).entries()) log(`   ${name.padEnd(8)} received ${TST(totals[i]!)}`);
  log(`   buffer   holds    ${TST(level)} (after paying out ${TST(before - after)})`);
  log(`   GDA rounding remainder awaiting sweep: ${remainder} wei`);
  const accounted = sinkTotal + level + remainder;
  log(`   source paid ${paid} wei; sinks + buffer + remainder = ${accounted} wei`);
  if (paid !== accounted) throw new Error(`money not conserved: paid ${paid} wei, accounted ${accounted} wei`);
  log('   every wei the source paid is accounted for.');
  return { taskTypeId, pool, sinks, source, parties };
}

async function verificationStory(stack: LocalStack, market: Market, log: (line: string) => void): Promise<void> {
  const { taskTypeId, pool, sinks, source, parties } = market;
  const [a, b, c] = sinks as [Sink, Sink, Sink];
  const epoch = Number(stack.bpe.params.epochSeconds);

  const now = async () => (await stack.clients.publicClient.getBlock()).timestamp;
  const signed = await verification.signAttestation(stack, a.account, {
    taskTypeId, capacity: 12n, backlog: 0n, nonce: 1, timestamp: await now(),
  });
  const forged = { ...signed, sink: b.account.address }; // A's signature passed off as B's report
  const relayed = await verification.submitAttestations(stack, anvilAccount(9), [signed, forged]);
  log(`\n8. sink A signs "12 tasks/epoch" off chain; a stranger relays it with a forged report for B:`);
  log(`   ${relayed.accepted} accepted, ${relayed.rejected.length} skipped (reason ${relayed.rejected.map((r) => r.reason).join(', ')}: bad signature);`);
  log(`   capacities now ${await capacities(stack, taskTypeId, sinks)} (one EWMA step for A)`);

  const capacity = await totalCapacity(stack, taskTypeId);
  await bpe.setStream(stack, source, stack.token, pool, (capacity * PRICE) / stack.bpe.params.epochSeconds / 2n);
  await bpe.updateOverflow(stack, source, taskTypeId);
  const priceBefore = await verification.priceOf(stack, taskTypeId, b.account.address);
  await verification.reportBacklog(stack, b.account, taskTypeId, 20n);
  const priceAfter = await verification.priceOf(stack, taskTypeId, b.account.address);
  let mark = await snapshot(stack, pool, parties);
  await bpe.advanceTime(stack.clients, 600);
  log(`\n9. sink B reports 20 tasks waiting: its price goes ${TST(priceBefore)} -> ${TST(priceAfter)} per task,`);
  log('   so the pool sends it less; the next 10 minutes:');
  mark = await report(stack, pool, parties, mark, log);

  // Three epochs of completion receipts: A and B prove their work, C proves none. Windows are
  // judged a receipt grace after their epoch ends, so the story runs just past that offset.
  await bpe.advanceToEpochOffset(stack, stack.bpe.params.receiptGrace + 1n);
  for (const s of sinks) await verification.advanceSinkEpoch(stack, source, taskTypeId, s.account.address);
  const stakeOf = (who: Address) => stack.clients.publicClient.readContract({
    address: stack.bpe.stakeManager, abi: StakeManager.abi, functionName: 'getStake', args: [who],
  });
  const stakeBefore = await stakeOf(c.account.address);
  const unitsBefore = await bpe.poolUnits(stack, pool, c.account.address);
  let taskNumber = 0;
  for (let e = 0; e < 3; e++) {
    await bpe.advanceTime(stack.clients, epoch / 2);
    for (const worker of [a, b]) {
      for (let i = 0; i < 8; i++) {
        const t = await now();
        const receipt = {
          taskId: keccak256(toHex(`demo-task-${taskNumber++}`)), taskTypeId,
          sink: worker.account.address, source: source.address, completedAt: t, deadline: t + 3600n,
        };
        await verification.recordCompletion(stack, anvilAccount(9), receipt,
          await verification.signCompletion(stack, worker.account, receipt), await verification.signRequest(stack, source, receipt));
      }
    }
    // To the same offset in the next epoch, however long the receipts took: what C is charged
    // depends on what it was paid in each window, not on the machine's speed.
    await bpe.advanceToEpochOffset(stack, stack.bpe.params.receiptGrace + 1n);
    for (const s of sinks) await verification.advanceSinkEpoch(stack, source, taskTypeId, s.account.address);
  }
  log('\n10. three epochs of completion receipts (requests signed by the source, completions by the sink):');
  log('    A and B post 8 per epoch, more than they were paid for; C posts none while it keeps getting paid.');
  log('    Each epoch anyone\'s advanceEpoch charges C its shortfall, 20 STK of stake per task it was paid');
  log(`    for and did not do: stake ${TST(stakeBefore).replace('TUSD', 'STK')} -> ${TST(await stakeOf(c.account.address)).replace('TUSD', 'STK')}, pool units ${unitsBefore} -> ${await bpe.poolUnits(stack, pool, c.account.address)};`);
  log(`    A and B keep all of theirs (${TST(await stakeOf(a.account.address)).replace('TUSD', 'STK')}, ${TST(await stakeOf(b.account.address)).replace('TUSD', 'STK')}).`);
  await bpe.setStream(stack, source, stack.token, pool, 0n);
}

/** Declares every sink's capacity each minute until the EWMA has reached all of them. */
async function settle(stack: LocalStack, taskTypeId: Hex, targets: [Account, bigint][]): Promise<void> {
  for (let round = 0; round < 100; round++) {
    let pending = 0;
    for (const [account, capacity] of targets) {
      if ((await bpe.smoothedCapacity(stack, taskTypeId, account.address)) === capacity) continue;
      pending++;
      await bpe.declareCapacity(stack, account, taskTypeId, capacity);
    }
    if (pending === 0) return;
    await bpe.advanceTime(stack.clients, Number(stack.bpe.params.minUpdateInterval));
  }
  throw new Error('capacities did not settle within 100 rounds');
}

async function capacities(stack: LocalStack, taskTypeId: Hex, sinks: Sink[]): Promise<string> {
  const values = await Promise.all(sinks.map((s) => bpe.smoothedCapacity(stack, taskTypeId, s.account.address)));
  return sinks.map((s, i) => `${s.name} ${values[i]}`).join(', ');
}

async function totalCapacity(stack: LocalStack, taskTypeId: Hex): Promise<bigint> {
  const { CapacityRegistry } = await import('../../chain/bpe/artifacts.generated.ts');
  return stack.clients.publicClient.readContract({
    address: stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'totalCapacity', args: [taskTypeId],
  });
}

async function snapshot(stack: LocalStack, pool: Address, parties: [string, Address][]): Promise<bigint[]> {
  return Promise.all(parties.map(([, address]) => bpe.receivedFromPool(stack, pool, address)));
}

/** Prints what each party received from the pool since `mark`, with shares; returns the new mark. */
async function report(
  stack: LocalStack, pool: Address, parties: [string, Address][], mark: bigint[], log: (line: string) => void,
): Promise<bigint[]> {
  const now = await snapshot(stack, pool, parties);
  const deltas = now.map((v, i) => v - mark[i]!);
  const sum = deltas.reduce((a, b) => a + b, 0n);
  for (const [i, [name]] of parties.entries()) {
    const share = sum === 0n ? 0 : Number((deltas[i]! * 10_000n) / sum) / 100;
    log(`   ${name.padEnd(8)} ${TST(deltas[i]!).padStart(16)}  ${share.toFixed(2).padStart(6)} %`);
  }
  return now;
}
