// The relayer and the registry's rate limit (minUpdateInterval = 60 s here, the default): an
// attestation that would be refused as TooFrequent waits unsent (no gas burnt) and goes out once
// the chain's clock passes the limit; a newer one arriving meanwhile supersedes it.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { CapacityRegistry } from '../../src/chain/bpe/artifacts.generated.ts';
import { createLogger } from '../../src/services/common/log.ts';
import { startOracle, toAttestationJson, type RunningOracle } from '../../src/services/oracle/index.ts';
import { oracleConfig, post, startOracleWorld, type OracleWorld } from './oracleFixture.ts';

const silent = createLogger('oracle-test', process.env.BPE_TEST_LOG ?? 'silent');

describe('CapacityOracle and the registry rate limit', () => {
  let world: OracleWorld;
  let oracle: RunningOracle;

  before(async () => {
    world = await startOracleWorld({ sinks: 1, label: 'rate', stack: { params: { minUpdateInterval: 60n } } });
    oracle = await startOracle(oracleConfig(world, { registryTtlMs: 0 }), { relay: false, log: silent });
  });
  after(async () => {
    await oracle?.stop();
    await world?.stop();
    if (world) rmSync(world.dir, { recursive: true, force: true });
  });

  it('waits for minUpdateInterval instead of sending a TooFrequent attestation', async () => {
    const [sink] = world.sinks;
    const state = () =>
      world.stack.clients.publicClient.readContract({
        address: world.stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'sinkState', args: [world.taskTypeId, sink.address],
      });
    const postOne = async (nonce: number) => {
      const a = world.sign(sink, { capacity: 10n, backlog: 0n, nonce, timestamp: await world.chainTime() });
      assert.deepEqual((await post(oracle.url, { attestations: [toAttestationJson(a)] })).json.results, [{ status: 'accepted' }]);
    };
    const statuses = () =>
      (oracle.store.db.prepare('SELECT nonce, status, not_before AS notBefore FROM attestations ORDER BY nonce').all() as { nonce: number; status: string; notBefore: number }[]);
    assert.equal(oracle.rules.minUpdateInterval, 60);

    await postOne(1);
    assert.equal(await oracle.relayer.relayOnce(), 1);
    const first = await state();
    assert.equal(first.nonce, 1);

    await postOne(2);
    assert.equal(await oracle.relayer.relayOnce(), 0, 'held back: the registry would refuse it');
    assert.deepEqual(statuses().map((r) => [r.nonce, r.status, r.notBefore]), [[1, 'relayed', 0], [2, 'pending', first.lastUpdate + 60]]);
    assert.equal(oracle.store.relays().length, 1, 'no transaction sent');

    await postOne(3); // supersedes nonce 2 while it waits
    await world.stack.clients.testClient.increaseTime({ seconds: 61 });
    await world.stack.clients.testClient.mine({ blocks: 1 });
    await oracle.relayer['o'].clock.sync();
    assert.equal(await oracle.relayer.relayOnce(), 1);
    assert.deepEqual(statuses().map((r) => [r.nonce, r.status]), [[1, 'relayed'], [2, 'superseded'], [3, 'relayed']]);
    const after = await state();
    assert.equal(after.nonce, 3);
    assert.ok(after.lastUpdate >= first.lastUpdate + 60);
  });
});
