// The package as a consumer gets it: `npm pack` (whose prepack builds the contracts and dist/),
// an empty project that installs the tarball offline, and a plain .mjs script (no tsx, no build)
// that starts anvil, deploys Superfluid + BPE, stakes and registers a sink through the public
// entry points; then `tsc --noEmit` on a .ts file importing all three entry points.
//
// Run time: ~45 s on 2 cores (pack ~30 s: incremental contract build + tsc; install, the chain
// script and the consumer's tsc a few seconds each). A clean checkout's first pack adds ~40 s.
//
// Offline install: `npm ci` (what CI runs) caches dependency tarballs but not registry metadata
// (packuments), and `npm install <tarball>` without a lockfile must resolve every version range
// from that metadata, so `--offline` fails with ENOTCACHED. The consumer therefore gets a
// package-lock.json made of our lockfile's production entries (the exact versions, tarball URLs
// and integrities `npm ci` cached); npm then needs only tarballs, all in the cache.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const tsc = join(root, 'node_modules/typescript/bin/tsc');

interface LockEntry {
  version?: string;
  dev?: boolean;
  devOptional?: boolean;
  [key: string]: unknown;
}

/** A lockfile for a project depending only on the tarball: our lockfile's production entries. */
async function consumerLockfile(tarball: string): Promise<object> {
  const lock = JSON.parse(await readFile(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>;
  };
  const ours = lock.packages[''] as LockEntry & { dependencies: Record<string, string> };
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '0.0.0', dependencies: { 'backpressure-economics': `file:${tarball}` } },
    'node_modules/backpressure-economics': {
      version: pkg.version,
      resolved: `file:${tarball}`,
      license: pkg.license,
      dependencies: ours.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    // Dev-only entries are not installed for a dependency; devOptional ones are needed by both.
    if (path === '' || entry.dev) continue;
    const { devOptional: _, ...rest } = entry;
    packages[path] = rest;
  }
  return { name: 'consumer', version: '0.0.0', lockfileVersion: 3, requires: true, packages };
}

const CONSUMER_SCRIPT = `
import { startLocalStack, stake, registerSink, registerTaskType, DEFAULT_PARAMS } from 'backpressure-economics';
import { anvilAccount, CapacityRegistry } from 'backpressure-economics/chain';
import { stakeCap } from 'backpressure-economics/core';

const stack = await startLocalStack();
try {
  const sink = anvilAccount(1);
  const { minSinkStake } = DEFAULT_PARAMS;
  for (const who of [stack.deployer, sink]) {
    await stack.mintStakeTokens(who.address, minSinkStake);
    await stake(stack, who, minSinkStake);
  }
  const { taskTypeId, pool } = await registerTaskType(stack, stack.deployer, {
    name: 'summarise', token: stack.token, pricePerTask: 10n ** 15n, bufferMax: 10n ** 21n,
  });
  await registerSink(stack, sink, taskTypeId);
  const registered = await stack.clients.publicClient.readContract({
    address: stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'isRegistered', args: [taskTypeId, sink.address],
  });
  console.log(JSON.stringify({
    registered, sink: sink.address, taskTypeId, pool, host: stack.framework.host,
    stakeCap: String(stakeCap(minSinkStake, minSinkStake, DEFAULT_PARAMS.stakeUnit)),
  }));
} finally {
  await stack.stop();
}
`;

const CONSUMER_TYPES = `
import { startLocalStack, registerSink, type LocalStack, type BpeParams } from 'backpressure-economics';
import { startAnvil, StakeManager, type AnvilInstance } from 'backpressure-economics/chain';
import { ewmaStep } from 'backpressure-economics/core';

const params: Partial<BpeParams> = { epochSeconds: 60n };
const stack: Promise<LocalStack> = startLocalStack({ params });
const anvil: Promise<AnvilInstance> = startAnvil();
const abi: readonly unknown[] = StakeManager.abi;
const next: bigint = ewmaStep(1n, 2n, 3000n);
// Each entry point's types must be real, not \`any\` (which would make these directives unused):
// @ts-expect-error registerSink needs a context, an account and a task type id
void registerSink();
// @ts-expect-error ewmaStep takes bigints
void ewmaStep('1', 2n, 3000n);
// @ts-expect-error the ABI is a typed const, no string
const notAbi: string = StakeManager.abi;
export { stack, anvil, abi, next, notAbi };
`;

describe('the packed package, installed in an empty project', () => {
  let dir: string;
  let consumer: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bpe-install-'));
    consumer = join(dir, 'consumer');
    const { stdout } = await run(npm, ['pack', '--json', '--pack-destination', dir], {
      cwd: root, maxBuffer: 64 << 20, timeout: 300_000,
    });
    const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
    const tarball = join(dir, filename);
    await mkdir(consumer);
    await writeFile(join(consumer, 'package.json'), JSON.stringify({
      name: 'consumer', version: '0.0.0', private: true, type: 'module',
      dependencies: { 'backpressure-economics': `file:${tarball}` },
    }, null, 2));
    await writeFile(join(consumer, 'package-lock.json'), JSON.stringify(await consumerLockfile(tarball), null, 2));
    await run(npm, ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: consumer, timeout: 120_000 });
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('installs without TypeScript sources, tsx or the Superfluid package', async () => {
    const installed = join(consumer, 'node_modules/backpressure-economics');
    const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    assert.ok(!('tsx' in pkg.dependencies) && !('@superfluid-finance/ethereum-contracts' in pkg.dependencies));
    await assert.rejects(readFile(join(installed, 'src/index.ts')), 'src/ is not shipped');
    await readFile(join(installed, 'dist/chain/bpe/artifacts.generated.js'));
    await assert.rejects(readFile(join(consumer, 'node_modules/tsx/package.json')), 'tsx is not installed');
  });

  it('runs a plain ESM script: anvil, Superfluid, BPE, a staked and registered sink', async () => {
    await writeFile(join(consumer, 'main.mjs'), CONSUMER_SCRIPT);
    const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: consumer, timeout: 120_000 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    assert.equal(result.registered, true);
    assert.match(String(result.taskTypeId), /^0x[0-9a-f]{64}$/);
    assert.match(String(result.host), /^0x[0-9a-fA-F]{40}$/);
  });

  it('runs the bpe bin from dist', async () => {
    const { stdout } = await run(join(consumer, 'node_modules/.bin/bpe'), ['--help'], { cwd: consumer });
    assert.match(stdout, /usage: bpe/);
  });

  it('serves the dashboard and exposes the services from the installed package', async () => {
    // The dashboard's page and uPlot come from the installed files, not from a checkout.
    await writeFile(join(consumer, 'dash.mjs'), `
import { startDashboard } from 'backpressure-economics/dashboard';
import { startOracle, startKeeper, startVerifier } from 'backpressure-economics/services';
import { DEFAULT_PARAMS } from 'backpressure-economics';
const A = (n) => '0x' + n.toString(16).padStart(40, '0');
const deployment = {
  version: 1, chainId: 31337, rpcUrl: 'http://127.0.0.1:9', startBlock: 1n,
  superfluid: { host: A(1), gda: A(2), gdaV1Forwarder: A(3) }, token: A(4), stakeToken: A(5),
  bpe: { stakeManager: A(10), capacityRegistry: A(11), backpressurePool: A(12), escrowBuffer: A(13),
    pipeline: A(14), pricingCurve: A(15), offchainAggregator: A(16), completionTracker: A(17), params: DEFAULT_PARAMS },
  taskTypes: [],
};
const dash = await startDashboard({ deployment, pollMs: 1000 });
const status = async (path) => (await fetch(new URL(path, dash.url))).status;
const out = { page: await status('/'), app: await status('/assets/app.js'), uplot: await status('/assets/vendor/uPlot.min.css'),
  services: [startOracle, startKeeper, startVerifier].map((f) => typeof f) };
await dash.close();
console.log(JSON.stringify(out));
`);
    const { stdout } = await run(process.execPath, ['dash.mjs'], { cwd: consumer, timeout: 60_000 });
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').at(-1)!), {
      page: 200, app: 200, uplot: 200, services: ['function', 'function', 'function'],
    });
  });

  it('resolves the types of all three entry points', async () => {
    await writeFile(join(consumer, 'types.ts'), CONSUMER_TYPES);
    await writeFile(join(consumer, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
        // skipLibCheck as most projects have it (and no @types/node here): the @ts-expect-error
        // lines above fail if an import resolved to \`any\`.
        skipLibCheck: true, types: [], lib: ['ES2023'],
      },
      files: ['types.ts'],
    }));
    await run(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: consumer, timeout: 120_000 }).catch((err: { stdout?: string }) => {
      throw new Error(`tsc failed in the consumer project:\n${err.stdout}`);
    });
  });
});
