// `bpe keeper` and `bpe verifier` as an operator runs them: a deployment JSON, the key in the
// environment, flags; each serves /health, does its work on the chain, and stops cleanly on SIGTERM.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { keccak256, toHex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { CompletionTracker } from '../../src/chain/bpe/artifacts.generated.ts';
import { writeDeploymentFile } from '../../src/chain/bpe/deploymentFile.ts';
import { E18, startWorld, waitFor, type World } from './world.ts';

const dir = mkdtempSync(join(tmpdir(), 'bpe-cli-'));
const deployment = join(dir, 'deployment.json');
let w: World;
const children: ChildProcess[] = [];

before(async () => {
  w = await startWorld({ sinks: 1, capacity: 10n });
  writeDeploymentFile(deployment, {
    version: 1,
    chainId: w.stack.clients.chain.id,
    rpcUrl: w.stack.anvil.rpcUrl,
    startBlock: 0n,
    superfluid: { host: w.stack.framework.host, gda: w.stack.framework.gda, gdaV1Forwarder: w.stack.framework.gdaV1Forwarder },
    token: w.stack.token,
    stakeToken: w.stack.underlying,
    bpe: w.stack.bpe,
    taskTypes: [{ id: w.taskTypeId, name: 'summarise', pool: w.pool }],
  });
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await w?.stack.stop();
});

/** Starts `bpe <name>` and resolves with its URL once it says where it listens. */
function run(name: string, env: Record<string, string>, args: string[]): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', name, ...args], {
    env: { ...process.env, ...env, BPE_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      const m = new RegExp(`bpe ${name}: listening on (\\S+)`).exec(err);
      if (m) resolve({ child, url: m[1], stderr: () => err });
    });
    child.once('exit', (code) => reject(new Error(`bpe ${name} exited ${code}: ${err}`)));
  });
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

it('bpe keeper: from the deployment file and an env key, opens the sink\'s window; /health 200; SIGTERM exits 0', async () => {
  const key = keccak256(toHex('bpe cli test keeper'));
  await w.stack.clients.testClient.setBalance({ address: privateKeyToAccount(key).address, value: 10n * E18 });
  const { child, url } = await run('keeper', { BPE_KEEPER_PRIVATE_KEY: key }, ['--deployment', deployment, '--port', '0', '--pollMs', '50', '--drain', 'false']);
  const health = await fetch(`${url}/health`);
  assert.equal(health.status, 200);
  const body = (await health.json()) as Record<string, any>;
  assert.equal(body.duties.drain, false);
  assert.equal(body.account, privateKeyToAccount(key).address);
  await waitFor('the sink window opened by the keeper process', async () => {
    const win = await w.stack.clients.publicClient.readContract({
      address: w.stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'windowOf', args: [w.taskTypeId, w.sinks[0].address],
    });
    return win.opened;
  });
  child.kill('SIGTERM');
  assert.equal(await exited(child), 0);
});

it('bpe verifier: serves /v1/slashes and refuses a malformed body; SIGTERM exits 0', async () => {
  const key = keccak256(toHex('bpe cli test verifier'));
  const { child, url } = await run('verifier', { BPE_VERIFIER_PRIVATE_KEY: key }, ['--deployment', deployment, '--port', '0', '--db', join(dir, 'v.sqlite')]);
  assert.equal((await fetch(`${url}/health`)).status, 200);
  assert.deepEqual(await (await fetch(`${url}/v1/slashes`)).json(), { slashes: [] });
  const res = await fetch(`${url}/v1/receipts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"receipts": 5}' });
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { error: 'body.receipts must be an array' });
  child.kill('SIGTERM');
  assert.equal(await exited(child), 0);
});

it('a bad deployment file: one line naming it, exit 2', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'keeper', '--deployment', join(dir, 'missing.json')], {
    env: { ...process.env, BPE_KEEPER_PRIVATE_KEY: keccak256(toHex('x')) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  assert.equal(await exited(child), 2);
  assert.match(err, /^bpe keeper: cannot start: deployment file .*missing\.json: cannot read it \(ENOENT\)\n$/);
});
