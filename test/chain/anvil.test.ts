import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseEther } from 'viem';
import { startAnvil } from '../../src/chain/anvil.ts';
import { anvilAccount, anvilClients } from '../../src/chain/clients.ts';

/** Running, as opposed to gone or a zombie (killed, waiting for its new parent to reap it). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; Linux only, elsewhere kill(pid, 0) has to do.
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

/** Waits up to `ms` for `pid` to end; kills it if it does not, so a failing test leaves no orphan either. */
async function waitForDeath(pid: number, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  process.kill(pid, 'SIGKILL');
  return false;
}

async function rpcAnswers(rpcUrl: string): Promise<boolean> {
  try {
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] });
    await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    return true;
  } catch {
    return false;
  }
}

describe('startAnvil', () => {
  it('serves chain 31337 on a free port with the mnemonic accounts funded, and stops', async () => {
    const anvil = await startAnvil();
    try {
      assert.match(anvil.rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.notEqual(anvil.port, 0);
      const { publicClient } = anvilClients(anvil.rpcUrl);
      assert.equal(await publicClient.getChainId(), 31337);
      assert.equal(anvilAccount(0).address, '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
      assert.equal(await publicClient.getBalance({ address: anvilAccount(9).address }), parseEther('10000'));
    } finally {
      await anvil.stop();
    }
    assert.equal(isAlive(anvil.pid), false);
    assert.equal(await rpcAnswers(anvil.rpcUrl), false);
    await anvil.stop(); // a second stop is a no-op
  });

  it('runs two instances side by side', async () => {
    const [a, b] = await Promise.all([startAnvil(), startAnvil()]);
    try {
      assert.notEqual(a.port, b.port);
      assert.ok(await rpcAnswers(a.rpcUrl));
      assert.ok(await rpcAnswers(b.rpcUrl));
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });

  it("reports anvil's own error output when it cannot start", async () => {
    await assert.rejects(startAnvil({ extraArgs: ['--no-such-flag'] }), (err: Error) => {
      assert.match(err.message, /^anvil exited \(code \d+\) before listening: /);
      assert.match(err.message, /--no-such-flag/);
      return true;
    });
  });

  it('fails when the port is taken, with the reason', async () => {
    const first = await startAnvil();
    try {
      await assert.rejects(startAnvil({ port: first.port }), /anvil exited .* before listening: .*(in use|Address)/is);
    } finally {
      await first.stop();
    }
  });

  describe('leaves no orphan when the owning process', () => {
    const fixture = fileURLToPath(new URL('./fixtures/hold-anvil.ts', import.meta.url));
    async function runHolder(mode: 'exit' | 'wait') {
      const child = spawn(process.execPath, ['--import', 'tsx', fixture, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.setEncoding('utf8');
      const [line] = (await once(child.stdout, 'data')) as [string];
      return { child, ...(JSON.parse(line) as { pid: number; rpcUrl: string }) };
    }

    it('exits without calling stop()', async () => {
      const { child, pid } = await runHolder('exit');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
      assert.ok(await waitForDeath(pid), `anvil ${pid} outlived its parent`);
    });

    it('is terminated by SIGTERM', async () => {
      const { child, pid, rpcUrl } = await runHolder('wait');
      assert.ok(await rpcAnswers(rpcUrl));
      child.kill('SIGTERM');
      const [, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      assert.equal(signal, 'SIGTERM', 'the signal still terminates the parent');
      assert.ok(await waitForDeath(pid), `anvil ${pid} outlived its parent`);
    });
  });
});
