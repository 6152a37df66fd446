import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseEther, type Address } from 'viem';
import { gdaAbi, gdaForwarderAbi, superfluidPoolAbi, superTokenAbi } from '../../src/chain/abis.ts';
import { startAnvil, type AnvilInstance } from '../../src/chain/anvil.ts';
import { anvilAccount, anvilClients, type AnvilClients } from '../../src/chain/clients.ts';
import { withGasHeadroom, write } from '../../src/chain/deploy.ts';
import {
  deploySuperfluid,
  deployTestSuperToken,
  ERC1820_ADDRESS,
  ERC1820_DEPLOYER,
  erc1820RuntimeBytecode,
  type SuperfluidFramework,
  type TestSuperToken,
} from '../../src/chain/superfluid.ts';

describe('Superfluid on anvil', () => {
  const admin = anvilAccount(0);
  const [member1, member2, distributor] = [anvilAccount(1), anvilAccount(2), anvilAccount(3)];
  const minted = parseEther('1000');
  let anvil: AnvilInstance;
  let clients: AnvilClients;
  let framework: SuperfluidFramework;
  let token: TestSuperToken;

  before(async () => {
    anvil = await startAnvil();
    clients = anvilClients(anvil.rpcUrl, admin);
    framework = await deploySuperfluid(clients);
    token = await deployTestSuperToken(clients, framework, {
      name: 'Test DAI',
      symbol: 'TDAI',
      mintTo: [member1.address, member2.address, distributor.address],
      amount: minted,
    });
  });

  after(async () => {
    await anvil?.stop();
  });

  const balanceOf = (account: Address) =>
    clients.publicClient.readContract({ address: token.superToken, abi: superTokenAbi, functionName: 'balanceOf', args: [account] });

  it('deploys ERC1820 and the framework contracts with code', async () => {
    const { publicClient } = clients;
    assert.equal(await publicClient.getCode({ address: ERC1820_ADDRESS }), erc1820RuntimeBytecode());
    for (const name of ['host', 'cfa', 'ida', 'gda', 'superTokenFactory', 'resolver', 'cfaV1Forwarder', 'gdaV1Forwarder'] as const) {
      const code = await publicClient.getCode({ address: framework[name] });
      assert.ok(code && code.length > 2, `${name} (${framework[name]}) has no code`);
    }
  });

  it('deploying again reuses the ERC1820 registry', async () => {
    const second = await deploySuperfluid(clients);
    assert.notEqual(second.host, framework.host);
    assert.equal(await clients.publicClient.getTransactionCount({ address: ERC1820_DEPLOYER }), 1);
  });

  it('wraps the minted amount for each account and nothing for others', async () => {
    const { publicClient } = clients;
    assert.equal(await balanceOf(member1.address), minted);
    assert.equal(await balanceOf(member2.address), minted);
    assert.equal(await balanceOf(distributor.address), minted);
    assert.equal(await balanceOf(admin.address), 0n);
    const read = { address: token.superToken, abi: superTokenAbi } as const;
    assert.equal(await publicClient.readContract({ ...read, functionName: 'getUnderlyingToken' }), token.underlying);
    assert.equal(await publicClient.readContract({ ...read, functionName: 'symbol' }), 'TDAIx');
    assert.equal(await publicClient.readContract({ ...read, functionName: 'totalSupply' }), 3n * minted);
  });

  it('streams through a GDA pool 1:3 to members with 1 and 3 units', async () => {
    const { publicClient, testClient } = clients;
    const forwarder = { address: framework.gdaV1Forwarder, abi: gdaForwarderAbi } as const;

    const { result: [created, pool], request } = await publicClient.simulateContract({
      ...forwarder,
      account: admin,
      functionName: 'createPool',
      args: [token.superToken, admin.address, { transferabilityForUnitsOwner: false, distributionFromAnyAddress: true }],
    });
    assert.equal(created, true);
    await write({ clients }, 'createPool', request);
    const poolRead = { address: pool, abi: superfluidPoolAbi } as const;
    assert.equal(await publicClient.readContract({ ...poolRead, functionName: 'admin' }), admin.address);

    for (const [member, units] of [[member1, 1n], [member2, 3n]] as const) {
      await write({ clients }, 'updateMemberUnits', { ...forwarder, functionName: 'updateMemberUnits', args: [pool, member.address, units, '0x'] });
      await write({ clients }, 'connectPool', { ...forwarder, account: member, functionName: 'connectPool', args: [pool, '0x'] });
      assert.equal(await publicClient.readContract({ ...forwarder, functionName: 'isMemberConnected', args: [pool, member.address] }), true);
    }
    assert.equal(await publicClient.readContract({ ...poolRead, functionName: 'getTotalUnits' }), 4n);

    // The GDA rounds the requested rate down to a multiple of the total units (4).
    const requested = 10n ** 12n + 3n;
    const actual = 10n ** 12n;
    const perUnit = actual / 4n;
    const [estimated] = await publicClient.readContract({
      ...forwarder,
      functionName: 'estimateFlowDistributionActualFlowRate',
      args: [token.superToken, distributor.address, pool, requested],
    });
    assert.equal(estimated, actual);

    const receipt = await write({ clients }, 'distributeFlow', {
      ...forwarder,
      account: distributor,
      functionName: 'distributeFlow',
      args: [token.superToken, distributor.address, pool, requested, '0x'],
    });
    const start = (await publicClient.getBlock({ blockNumber: receipt.blockNumber })).timestamp;
    assert.equal(
      await publicClient.readContract({ ...forwarder, functionName: 'getFlowDistributionFlowRate', args: [token.superToken, distributor.address, pool] }),
      actual,
    );
    assert.equal(await publicClient.readContract({ ...forwarder, functionName: 'getNetFlow', args: [token.superToken, distributor.address] }), -actual);
    assert.equal(await publicClient.readContract({ ...poolRead, functionName: 'getMemberFlowRate', args: [member1.address] }), perUnit);
    assert.equal(await publicClient.readContract({ ...poolRead, functionName: 'getMemberFlowRate', args: [member2.address] }), 3n * perUnit);
    assert.equal(
      await publicClient.readContract({ address: framework.gda, abi: gdaAbi, functionName: 'getPoolAdjustmentFlowRate', args: [pool] }),
      0n,
      'units were set before the flow, so nothing is left for the admin',
    );

    await testClient.increaseTime({ seconds: 3600 });
    await testClient.mine({ blocks: 1 });
    const now = (await publicClient.getBlock()).timestamp;
    const elapsed = now - start;
    assert.ok(elapsed >= 3600n);

    const received1 = (await balanceOf(member1.address)) - minted;
    const received2 = (await balanceOf(member2.address)) - minted;
    assert.equal(received1, perUnit * elapsed);
    assert.equal(received2, 3n * perUnit * elapsed);
    assert.equal(
      await publicClient.readContract({ ...poolRead, functionName: 'getTotalAmountReceivedByMember', args: [member2.address] }),
      received2,
    );
    const [available, deposit, , at] = await publicClient.readContract({
      address: token.superToken,
      abi: superTokenAbi,
      functionName: 'realtimeBalanceOfNow',
      args: [distributor.address],
    });
    assert.equal(at, now);
    assert.ok(deposit > 0n, 'a flow distribution locks a deposit');
    assert.equal(BigInt(available) + deposit, minted - actual * elapsed, 'every wei sent reached a member');
  });
  it('units set on a new pool and mined a second after their estimate succeed with the gas headroom', async () => {
    // With the exact estimate this reverts most of the time (4 of 6 tries measured): the GDA needs
    // more gas in a later block than in the one it was estimated in.
    const { publicClient, walletClient, testClient } = clients;
    const forwarder = { address: framework.gdaV1Forwarder, abi: gdaForwarderAbi, account: admin } as const;
    for (let i = 0; i < 3; i++) {
      const { result: [, pool], request } = await publicClient.simulateContract({
        ...forwarder,
        functionName: 'createPool',
        args: [token.superToken, admin.address, { transferabilityForUnitsOwner: false, distributionFromAnyAddress: true }],
      });
      await write({ clients }, 'createPool', request);
      for (const [member, units] of [[member1, 1n], [member2, 3n]] as const) {
        const call = { ...forwarder, functionName: 'updateMemberUnits', args: [pool, member.address, units, '0x'] } as const;
        const estimate = await publicClient.estimateContractGas(call);
        await testClient.setNextBlockTimestamp({ timestamp: (await publicClient.getBlock()).timestamp + 1n });
        const hash = await walletClient.writeContract({ ...call, gas: withGasHeadroom(estimate) });
        assert.equal((await publicClient.waitForTransactionReceipt({ hash })).status, 'success', `pool ${i}, ${units} units`);
        await write({ clients }, 'connectPool', { ...forwarder, account: member, functionName: 'connectPool', args: [pool, '0x'] });
      }
    }
  });
});
