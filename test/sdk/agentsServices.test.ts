// SinkAgent and SourceAgent with the real services on anvil: the capacity oracle (`startOracle`)
// takes the sink's signed attestations and relays them on chain, the verifier (`startVerifier`)
// takes its dual-signed receipts and records them. Nothing is stubbed: the agents talk HTTP to the
// services, the services to the chain.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { keccak256, toHex, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { anvilAccount, anvilClients } from '../../src/chain/clients.ts';
import { CompletionTracker } from '../../src/chain/bpe/artifacts.generated.ts';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { writeDeploymentFile } from '../../src/chain/bpe/deploymentFile.ts';
import { localDeployment, startLocalStack, type LocalStack } from '../../src/chain/bpe/localStack.ts';
import { loadConfig } from '../../src/services/common/config.ts';
import { oracleSchema } from '../../src/services/oracle/config.ts';
import { startOracle, type RunningOracle } from '../../src/services/oracle/service.ts';
import { startVerifier, type Verifier } from '../../src/services/verifier/index.ts';
import { InProcessTransport, SinkAgent, SourceAgent, advanceSinkEpoch, type AttestedInfo, type ReceiptInfo } from '../../src/index.ts';

const E18 = 10n ** 18n;
const SINK_STAKE = 400n * E18;
const SOURCE = 4;
const quiet = () => pino({ level: 'silent' });

/** Polls `cond` every 25 ms until it holds; fails after `maxTries`. No timing is asserted. */
async function waitFor(what: string, cond: () => Promise<boolean>, maxTries = 800): Promise<void> {
  for (let i = 0; i < maxTries; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('agents with the real oracle and verifier on anvil', () => {
  let stack: LocalStack;
  let taskTypeId: Hex;
  let pool: Address;
  let oracle: RunningOracle;
  let verifier: Verifier;
  let sink: SinkAgent<string, string>;
  let source: SourceAgent<string, string>;
  let dir: string;
  const relayerKey = keccak256(toHex('bpe agents services test: oracle relayer'));
  const sinkAccount = privateKeyToAccount(keccak256(toHex('bpe agents services test: sink')));
  const attested: AttestedInfo[] = [];
  const receipts: ReceiptInfo[] = [];
  const errors: unknown[] = [];

  before(async () => {
    stack = await startLocalStack({ fundedAccounts: [SOURCE] });
    const { minSinkStake } = stack.bpe.params;
    await stack.mintStakeTokens(stack.deployer.address, minSinkStake);
    await bpe.stake(stack, stack.deployer, minSinkStake);
    ({ taskTypeId, pool } = await bpe.registerTaskType(stack, stack.deployer, {
      name: 'served', token: stack.token, pricePerTask: 10n ** 15n, bufferMax: 1000n * E18,
    }));
    dir = mkdtempSync(join(tmpdir(), 'bpe-agents-services-'));
    const deploymentPath = join(dir, 'deployment.json');
    writeDeploymentFile(deploymentPath, localDeployment(stack, [{ id: taskTypeId, name: 'served', pool }]));
    await stack.clients.testClient.setBalance({ address: privateKeyToAccount(relayerKey).address, value: 100n * E18 });
    oracle = await startOracle(
      loadConfig(oracleSchema, {
        env: {},
        overrides: {
          deployment: deploymentPath, privateKey: relayerKey, port: 0, pollMs: 20, relayIntervalMs: 20, verifyThreads: 0,
          dbPath: join(dir, 'oracle.sqlite'),
        },
      }),
      { log: quiet() },
    );
    verifier = await startVerifier({
      ctx: { clients: anvilClients(stack.anvil.rpcUrl, anvilAccount(7)), framework: stack.framework, bpe: stack.bpe },
      db: join(dir, 'verifier.sqlite'), pollMs: 20, http: { port: 0 }, log: quiet(),
    });

    await stack.clients.testClient.setBalance({ address: sinkAccount.address, value: 10n * E18 });
    await stack.mintStakeTokens(sinkAccount.address, SINK_STAKE);
    sink = new SinkAgent<string, string>({
      ctx: stack, account: sinkAccount, taskTypeId, worker: async (s) => s.toUpperCase(), concurrency: 2, stake: SINK_STAKE,
      initialCapacity: 10, updateIntervalMs: 0, oracle: oracle.url, verifier: verifier.url!,
    });
    sink.on('attested', (info) => attested.push(info));
    sink.on('receiptSent', (info) => receipts.push(info));
    sink.on('error', (err) => errors.push(err));
    await sink.start();
    source = new SourceAgent<string, string>({ ctx: stack, account: anvilAccount(SOURCE), taskTypeId, transport: new InProcessTransport([sink]) });
  });
  after(async () => {
    await verifier?.stop();
    await oracle?.stop();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('update(): the attestation goes to the oracle (accepted), which relays it: the capacity moves on chain with no transaction from the sink', async () => {
    const nonceBefore = await stack.clients.publicClient.getTransactionCount({ address: sinkAccount.address });
    const result = await sink.update();
    assert.equal(result.action, 'attested');
    assert.deepEqual(attested, [{ via: 'oracle', capacity: 10n, backlog: 0n, nonce: 1, status: 'accepted' }]);
    await waitFor('the oracle to relay the attestation', async () => (await bpe.smoothedCapacity(stack, taskTypeId, sinkAccount.address)) > 0n);
    assert.equal(await bpe.smoothedCapacity(stack, taskTypeId, sinkAccount.address), 3n, 'one EWMA step toward 10');
    assert.equal(await stack.clients.publicClient.getTransactionCount({ address: sinkAccount.address }), nonceBefore, 'the sink sent nothing');
    // Within minUpdateInterval of its own attestation the agent waits, even before the chain shows it.
    assert.equal((await sink.update()).action, 'too-soon');
    assert.deepEqual(errors, []);
  });

  it('a task from the SourceAgent: the receipt goes to the verifier (accepted), which records it on chain', async () => {
    // The sink's evaluation window opens first (a keeper would do this; here a stranger does). Opened
    // by the verifier's transaction, it would start in the epoch that lands in: a receipt stamped
    // with the latest block's time just before an epoch boundary would be ReceiptBeforeWindow.
    await advanceSinkEpoch(stack, anvilAccount(6), taskTypeId, sinkAccount.address);
    await source.open(10n ** 14n);
    await bpe.advanceTime(stack.clients, 120);
    assert.equal(await source.send('served'), 'SERVED');
    await sink.flush();
    assert.equal(receipts.length, 1);
    assert.equal(receipts[0]!.via, 'verifier');
    assert.equal(receipts[0]!.status, 'accepted');
    const { taskId } = receipts[0]!.receipt;
    await waitFor('the verifier to record the receipt', () =>
      stack.clients.publicClient.readContract({
        address: stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'isCounted', args: [taskTypeId, source.address, taskId],
      }),
    );
    const window = await stack.clients.publicClient.readContract({
      address: stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'windowOf', args: [taskTypeId, sinkAccount.address],
    });
    assert.equal(window.completions, 1n);
    assert.deepEqual(errors, []);
  });
});
