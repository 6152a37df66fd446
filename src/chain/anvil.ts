// Local chain: runs the anvil binary shipped by @foundry-rs/anvil as a child process that
// never outlives this Node process.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';

/** anvil's default mnemonic; its first accounts hold 10,000 ETH each on a fresh chain. */
export const ANVIL_MNEMONIC = 'test test test test test test test test test test test junk';
export const ANVIL_CHAIN_ID = 31337;

export interface AnvilOptions {
  /** 0 (default) lets the OS pick a free port; anvil reports which one it bound. */
  port?: number;
  /** IPv4 address to bind; default 127.0.0.1 (0.0.0.0 exposes it to the network). */
  host?: string;
  /** Seconds per block (interval mining); default: a block per transaction (automine). */
  blockTime?: number;
  /** Number of funded mnemonic accounts; default 10. */
  accounts?: number;
  /** Further anvil flags, e.g. ['--state', 'chain.json']. */
  extraArgs?: readonly string[];
  /** How long to wait for the RPC to answer; default 10 s. */
  timeoutMs?: number;
}

export interface AnvilInstance {
  rpcUrl: string;
  port: number;
  pid: number;
  /** Terminates anvil (SIGTERM, then SIGKILL after 2 s); safe to call more than once. */
  stop(): Promise<void>;
}

// The wrapper `node_modules/.bin/anvil` is a Node script that spawns the native binary; running
// the binary directly leaves one process to kill instead of a wrapper that could be killed alone.
const PLATFORM_PACKAGES: Record<string, string> = {
  'linux-x64': '@foundry-rs/anvil-linux-amd64',
  'linux-arm64': '@foundry-rs/anvil-linux-arm64',
  'darwin-x64': '@foundry-rs/anvil-darwin-amd64',
  'darwin-arm64': '@foundry-rs/anvil-darwin-arm64',
  'win32-x64': '@foundry-rs/anvil-win32-amd64',
};

/** Path of the native anvil binary installed for this platform. */
export function anvilBinaryPath(): string {
  const key = `${process.platform}-${process.arch}`;
  const pkg = PLATFORM_PACKAGES[key];
  if (!pkg) throw new Error(`@foundry-rs/anvil ships no binary for ${key}`);
  const binary = process.platform === 'win32' ? 'anvil.exe' : 'anvil';
  const require = createRequire(import.meta.url);
  try {
    // Usually hoisted next to @foundry-rs/anvil, where this module resolves it too.
    return require.resolve(`${pkg}/bin/${binary}`);
  } catch {
    // Not hoisted (e.g. a version conflict in the consumer's tree): it is then an optional
    // dependency nested under @foundry-rs/anvil, so resolve it from there.
    try {
      return createRequire(require.resolve('@foundry-rs/anvil/package.json')).resolve(`${pkg}/bin/${binary}`);
    } catch {
      throw new Error(`anvil binary not found: ${pkg} is not installed (run npm install)`);
    }
  }
}

/** Starts anvil and resolves once its JSON-RPC answers. */
export async function startAnvil(opts: AnvilOptions = {}): Promise<AnvilInstance> {
  const host = opts.host ?? '127.0.0.1';
  const requestedPort = opts.port ?? 0;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const args = [
    '--host', host,
    '--port', String(requestedPort),
    '--mnemonic', ANVIL_MNEMONIC,
    '--accounts', String(opts.accounts ?? 10),
    '--chain-id', String(ANVIL_CHAIN_ID),
    // Three of Superfluid's deployer contracts exceed the 24,576-byte EIP-170 limit.
    '--disable-code-size-limit',
    '--hardfork', 'prague',
    '--color', 'never',
    ...(opts.blockTime === undefined ? [] : ['--block-time', String(opts.blockTime)]),
    ...(opts.extraArgs ?? []),
  ];
  // Its own process group: a Ctrl-C in the terminal reaches this process, which may still need the
  // chain for a graceful shutdown (the devnet closes its streams and reconciles); the hooks below
  // kill anvil when this process ends.
  const child = spawn(anvilBinaryPath(), args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  track(child);
  const output = new OutputTail();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => output.append(chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => output.append(chunk));
  // Not events.once: that would reject on a spawn 'error', unobserved when nothing awaits it.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

  const deadline = Date.now() + timeoutMs;
  const timeoutError = (where: string) =>
    new Error(`anvil did not answer on ${where} within ${timeoutMs / 1000} s: ${output}`);
  const stop = () => stopChild(child);
  try {
    const port = await waitForListening(child, output, deadline, () =>
      timeoutError(`${host}:${requestedPort || '<free port>'}`),
    );
    const rpcUrl = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    await waitForRpc(rpcUrl, child, closed, output, deadline, () => timeoutError(`${host}:${port}`));
    return { rpcUrl, port, pid: child.pid!, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Keeps the last few KB of anvil's stdout and stderr (for error messages). Reading stdout
 * continuously also matters: anvil logs every RPC call, and a full pipe would block it.
 */
class OutputTail {
  private text = '';
  append(chunk: string): void {
    this.text = (this.text + chunk).slice(-4000);
  }
  toString(): string {
    return this.text.trim() || '(no output)';
  }
}

/** Resolves with the port from anvil's "Listening on HOST:PORT" line (the only way to learn a free port it chose). */
function waitForListening(
  child: ChildProcess,
  output: OutputTail,
  deadline: number,
  timeoutError: () => Error,
): Promise<number> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => fail(timeoutError()), Math.max(0, deadline - Date.now()));
    // 'close' (not 'exit') fires once stdout and stderr are drained, so the output is complete.
    const onClose = (code: number | null, signal: NodeJS.Signals | null) =>
      fail(new Error(`anvil exited (${signal ?? `code ${code}`}) before listening: ${output}`));
    const onError = (err: Error) => fail(new Error(`could not run anvil: ${err.message}`));
    const onStdout = (chunk: string) => {
      stdout += chunk;
      const match = /Listening on \S+:(\d+)/.exec(stdout);
      if (!match) return;
      done();
      resolve(Number(match[1]));
    };
    function done() {
      clearTimeout(timer);
      child.off('close', onClose).off('error', onError);
      child.stdout!.off('data', onStdout);
    }
    function fail(err: Error) {
      done();
      reject(err);
    }
    child.stdout!.on('data', onStdout);
    child.on('close', onClose).on('error', onError);
  });
}

/** Polls eth_chainId until anvil answers: the port is bound slightly before the RPC serves. */
async function waitForRpc(
  rpcUrl: string,
  child: ChildProcess,
  closed: Promise<void>,
  output: OutputTail,
  deadline: number,
  timeoutError: () => Error,
): Promise<void> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] });
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await closed; // let the last output arrive
      throw new Error(`anvil exited before answering on ${rpcUrl}: ${output}`);
    }
    try {
      const res = await fetch(rpcUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
      if (res.ok) return;
    } catch {
      // Not accepting connections yet.
    }
    if (Date.now() > deadline) throw timeoutError();
    await new Promise((r) => setTimeout(r, 20));
  }
}

function stopChild(child: ChildProcess): Promise<void> {
  // No pid: the spawn itself failed, so there is nothing to stop and no 'exit' will come.
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

// ---- No orphans: every live anvil is killed when this process exits or is told to stop. ----

const live = new Set<ChildProcess>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}

// Node does not run 'exit' listeners when a signal terminates it, so signals get their own
// handler. When no one else listens it kills anvil and re-raises the signal, keeping Node's default
// behaviour (terminate) instead of swallowing Ctrl-C.
function onSignal(signal: NodeJS.Signals): void {
  // Someone else handles this signal (a graceful shutdown that still needs the chain): leave anvil
  // to them; the 'exit' hook kills it when the process ends.
  if (process.listenerCount(signal) > 1) return;
  killAll();
  live.clear();
  removeProcessHooks();
  process.kill(process.pid, signal);
}

function addProcessHooks(): void {
  process.on('exit', killAll);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function removeProcessHooks(): void {
  process.off('exit', killAll);
  for (const s of SIGNALS) process.off(s, onSignal);
}

function track(child: ChildProcess): void {
  if (live.size === 0) addProcessHooks();
  live.add(child);
  const untrack = () => {
    if (!live.delete(child)) return;
    if (live.size === 0) removeProcessHooks();
  };
  child.once('exit', untrack);
  // A failed spawn (e.g. ENOENT) emits 'error' and no 'exit'.
  child.once('error', untrack);
}
