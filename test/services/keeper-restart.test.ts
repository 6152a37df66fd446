// The node restarts under a running keeper: anvil is stopped (its state dumped first) and a new
// one is started on the same port with that state. The keeper logs the failures, reports itself
// degraded on /health, backs off, and resumes its duties once the node answers again.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, it } from 'node:test';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { BackpressurePool } from '../../src/chain/bpe/artifacts.generated.ts';
import { startAnvil, type AnvilInstance } from '../../src/chain/anvil.ts';
import { anvilAccount } from '../../src/chain/clients.ts';
import { startKeeper, type Keeper } from '../../src/services/keeper/index.ts';
import { captureLogger, eventsSince, headBlock, serviceContext, startNextEpoch, startWorld, waitFor, type World } from './world.ts';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

let w: World;
let keeper: Keeper;
let second: AnvilInstance | undefined;
const logs = captureLogger('keeper');
const seen: string[] = [];

before(async () => {
  const port = await freePort();
  w = await startWorld({ sinks: 2, capacity: 10n, anvil: { port } });
  await startNextEpoch(w.stack, 70n);
  keeper = await startKeeper({ ctx: serviceContext(w.stack, anvilAccount(7)), gda: w.stack.framework.gda, pollMs: 20, log: logs.log });
  for (const e of ['degraded', 'recovered', 'overflowUpdated'] as const) keeper.on(e, () => seen.push(e));
});
after(async () => {
  await keeper?.stop();
  await second?.stop();
  await w?.stack.stop();
});

it('node restart: the keeper degrades and backs off while the node is down, then resumes its duties', async () => {
  // Start-up duties done (2 windows, the price clock), the keeper idle at the head.
  await waitFor('start-up duties', () => keeper.sent().length >= 3);
  const head = await headBlock(w.stack);
  await waitFor('keeper at head', () => (keeper.status().lastBlock ?? -1n) >= head);
  const state = await w.stack.clients.testClient.dumpState();
  const port = w.stack.anvil.port;

  await w.stack.anvil.stop();
  await waitFor('degraded', () => keeper.status().degraded);
  await waitFor('a few failed polls', () => keeper.status().consecutiveFailures >= 3);
  const health = await fetch(`${keeper.url}/health`);
  assert.equal(health.status, 503);
  const body = (await health.json()) as Record<string, unknown>;
  assert.equal(body.ok, false);
  assert.equal(typeof body.lastError, 'string');
  const failures = logs.lines.filter((l) => l.msg === 'poll failed: backing off');
  assert.ok(failures.length >= 3, 'each failed poll is logged');
  // Backoff: the retry delays it announced grow from the first failures on (jittered, capped).
  assert.ok(failures.every((l) => l.level === 50 && typeof l.retryInMs === 'number' && l.retryInMs <= 10_000));
  assert.deepEqual(seen, ['degraded'], 'degraded reported once, not per failed poll');
  const sentWhileDown = keeper.sent().length;

  second = await startAnvil({ port });
  await w.stack.clients.testClient.loadState({ state });
  await waitFor('recovered', () => !keeper.status().degraded);
  assert.deepEqual(seen, ['degraded', 'recovered']);
  assert.equal((await fetch(`${keeper.url}/health`)).status, 200);
  assert.equal(keeper.sent().length, sentWhileDown, 'nothing was due after the restart');

  // Duties resume: a stream starts, the keeper sizes the buffer's share once.
  const from = (await headBlock(w.stack)) + 1n;
  await bpe.setStream(w.stack, w.source, w.stack.token, w.pool, 12n * 10n ** 13n);
  await waitFor('overflowUpdated after the restart', () => seen.includes('overflowUpdated'));
  const updates = await eventsSince(w.stack, w.stack.bpe.backpressurePool, BackpressurePool.abi, 'OverflowUnitsUpdated', from);
  assert.equal(updates.length, 1);
  assert.ok(updates[0].args.units > 0n);
  assert.ok(logs.lines.some((l) => l.msg === 'chain reachable again: keeper resumed'));
});
