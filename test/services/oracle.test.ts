// CapacityOracle in process against anvil (real Superfluid + BPE): the HTTP intake (accepted,
// duplicate, every rejection reason, request-level refusals with nothing stored), the relayer
// driven by hand (batches, supersession, settling 'sending' rows as after a crash), the registry's
// smoothed capacity moving on chain, /health and /metrics.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { parseEventLogs, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { CapacityRegistry, OffchainAggregator } from '../../src/chain/bpe/artifacts.generated.ts';
import * as verification from '../../src/chain/bpe/verification.ts';
import { ewmaStep } from '../../src/core/ewma.ts';
import { createLogger } from '../../src/services/common/log.ts';
import { startOracle, toAttestationJson, type RunningOracle } from '../../src/services/oracle/index.ts';
import { signatureError } from '../../src/services/oracle/signature.ts';
import type { SignedAttestation } from '../../src/chain/bpe/verification.ts';
import { oracleConfig, post, startOracleWorld, type OracleWorld, type Report, type Sink } from './oracleFixture.ts';

const silent = createLogger('oracle-test', process.env.BPE_TEST_LOG ?? 'silent');
const body = (items: SignedAttestation[]) => ({ attestations: items.map(toAttestationJson) });
const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

describe('CapacityOracle on anvil', () => {
  let world: OracleWorld;
  let oracle: RunningOracle;
  let sinks: Sink[];

  const sinkState = (sink: Sink) =>
    world.stack.clients.publicClient.readContract({
      address: world.stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'sinkState', args: [world.taskTypeId, sink.address],
    });
  const report = async (nonce: number, capacity = 10n, backlog = 2n): Promise<Report> => ({ capacity, backlog, nonce, timestamp: await world.chainTime() });
  const total = () => Object.values(oracle.store.counts()).reduce((a, b) => a + b, 0);
  const rowsOf = (sink: Sink) =>
    oracle.store.db.prepare('SELECT nonce, status, reason, tx_hash AS txHash FROM attestations WHERE sink = ? ORDER BY nonce').all(sink.address.toLowerCase()) as
      { nonce: number; status: string; reason: string | null; txHash: string | null }[];
  const metricValue = async (name: string, labels: Record<string, string>) => {
    const metric = await oracle.metrics.registry.getSingleMetric(name)!.get();
    const v = metric.values.find((x) => Object.entries(labels).every(([k, val]) => x.labels[k] === val));
    return v?.value ?? 0;
  };

  before(async () => {
    world = await startOracleWorld({ sinks: 5, label: 'main' });
    sinks = world.sinks;
    oracle = await startOracle(oracleConfig(world, { maxItemsPerRequest: 8, maxBodyBytes: 8192 }), { relay: false, log: silent });
  });
  after(async () => {
    await oracle?.stop();
    await world?.stop();
    if (world) rmSync(world.dir, { recursive: true, force: true });
  });

  it('computes the digest the aggregator computes, and accepts what the SDK signs', async () => {
    const a = world.sign(sinks[0], { capacity: 7n, backlog: 1n, nonce: 99, timestamp: 1_700_000_000n });
    const onChain = await world.stack.clients.publicClient.readContract({
      address: world.stack.bpe.offchainAggregator, abi: OffchainAggregator.abi, functionName: 'attestationDigest',
      args: [a.taskTypeId, a.sink, a.capacity, a.backlog, a.nonce, a.timestamp],
    });
    const { attestationDigest } = await import('../../src/services/oracle/signature.ts');
    const ours = attestationDigest(world.domainSeparator, { ...a, sink: a.sink.toLowerCase() });
    assert.equal(`0x${Buffer.from(ours).toString('hex')}`, onChain);
    const viaSdk = await verification.signAttestation(world.stack, sinks[0].account, { taskTypeId: world.taskTypeId, capacity: 7n, backlog: 1n, nonce: 99, timestamp: 1_700_000_000n });
    assert.equal(signatureError(world.domainSeparator, { ...viaSdk, sink: viaSdk.sink.toLowerCase() }), undefined);
    const forged = world.sign(sinks[0], { capacity: 7n, backlog: 1n, nonce: 99, timestamp: 1_700_000_000n }, { key: sinks[1].key });
    assert.match(signatureError(world.domainSeparator, { ...forged, sink: forged.sink.toLowerCase() }) ?? '', /^wrong signer: the signature recovers to 0x[0-9a-f]{40}, not the sink$/);
  });

  it('accepts valid attestations, stores them, relays them in one batch; the smoothed capacity moves on chain', async () => {
    const items = await Promise.all(sinks.slice(0, 3).map(async (s, i) => world.sign(s, await report(1, 10n + BigInt(i), 2n))));
    const res = await post(oracle.url, body(items));
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { results: [{ status: 'accepted' }, { status: 'accepted' }, { status: 'accepted' }] });
    assert.equal(oracle.store.counts().pending, 3);

    const before = await Promise.all(sinks.slice(0, 3).map(sinkState));
    assert.deepEqual(before.map((s) => [s.nonce, s.smoothed]), [[0, 0], [0, 0], [0, 0]]);
    assert.equal(await oracle.relayer.relayOnce(), 3);
    assert.deepEqual(oracle.store.counts(), { pending: 0, sending: 0, relayed: 3, rejected: 0, superseded: 0, expired: 0 });
    const alpha = world.stack.bpe.params.ewmaAlphaBps;
    const after = await Promise.all(sinks.slice(0, 3).map(sinkState));
    after.forEach((s, i) => {
      const declared = 10n + BigInt(i);
      const capped = declared < BigInt(s.allowance) ? declared : BigInt(s.allowance);
      assert.equal(s.nonce, 1);
      assert.equal(BigInt(s.smoothed), ewmaStep(0n, capped, alpha));
      assert.equal(BigInt(s.backlog), 2n);
    });
    assert.equal(BigInt(after[2].smoothed), 4n, '30 % of 12, rounded up');
    const [relay] = oracle.store.relays();
    assert.equal(relay.items, 3);
    assert.equal(relay.accepted, 3);
    const receipt = await world.stack.clients.publicClient.getTransactionReceipt({ hash: relay.txHash });
    const [summary] = parseEventLogs({ abi: OffchainAggregator.abi, eventName: 'AttestationsSubmitted', logs: receipt.logs });
    assert.equal(summary.args.accepted, 3n);
    assert.equal(summary.args.rejected, 0n);
    assert.equal(summary.args.relayer, privateKeyToAccount(world.relayerKeys[0]).address);
    assert.equal(relay.gasUsed, Number(receipt.gasUsed));

    const health = (await (await fetch(`${oracle.url}/health`)).json()) as any;
    assert.equal(health.ok, true);
    assert.ok(['native', 'wasm'].includes(health.signatureBackend), health.signatureBackend);
    assert.equal(health.pending, 0);
    assert.equal(health.chainReachable, true);
    assert.equal(health.lastRelay.txHash, relay.txHash);
    assert.equal(health.lastRelay.accepted, 3);
    const metrics = await (await fetch(`${oracle.url}/metrics`)).text();
    assert.match(metrics, /bpe_oracle_attestations_total\{status="accepted",reason="",service="oracle"\} 3/);
    assert.match(metrics, /bpe_oracle_relay_batches_total\{service="oracle"\} 1/);
    assert.match(metrics, new RegExp(`bpe_oracle_relay_gas_used_total\\{service="oracle"\\} ${receipt.gasUsed}`));
    assert.match(metrics, /bpe_oracle_pending\{service="oracle"\} 0/);
  });

  it('a resubmission is a duplicate, a lower nonce is rejected; nothing new is stored', async () => {
    const ts = await world.chainTime();
    const first = world.sign(sinks[0], { capacity: 10n, backlog: 2n, nonce: 1, timestamp: ts });
    const before = total();
    const res = await post(oracle.url, body([first]));
    assert.deepEqual(res.json.results, [{ status: 'duplicate' }]);
    const third = world.sign(sinks[0], { capacity: 9n, backlog: 0n, nonce: 3, timestamp: ts });
    const second = world.sign(sinks[0], { capacity: 9n, backlog: 0n, nonce: 2, timestamp: ts });
    const res2 = await post(oracle.url, body([third, third, second]));
    assert.deepEqual(res2.json.results, [
      { status: 'accepted' },
      { status: 'duplicate' },
      { status: 'rejected', reason: 'nonce not increasing: this oracle already holds nonce 3 for this sink' },
    ]);
    assert.equal(total(), before + 1);
    assert.equal(await metricValue('bpe_oracle_attestations_total', { status: 'duplicate' }), 2);
  });

  it('rejects each bad item with its reason and stores none of them', async () => {
    const now = await world.chainTime();
    const { maxAge, maxSkew } = oracle.rules;
    const good = (s: Sink, over: Partial<Report> = {}) => world.sign(s, { capacity: 5n, backlog: 0n, nonce: 10, timestamp: now, ...over });
    const zeroR = { ...good(sinks[3]), r: `0x${'0'.repeat(64)}` as Hex };
    // EIP-2098 leaves room for s in (n/2, 2^255): the aggregator (OpenZeppelin) refuses those.
    const highS = { ...good(sinks[3]), vs: `0x${((N >> 1n) + 1n).toString(16).padStart(64, '0')}` as Hex };
    const wrongSigner = world.sign(sinks[3], { capacity: 5n, backlog: 0n, nonce: 10, timestamp: now }, { key: sinks[4].key });
    const tampered = { ...good(sinks[3]), capacity: 6n };
    const stale = good(sinks[3], { timestamp: now - BigInt(maxAge) - 100n });
    const future = good(sinks[3], { timestamp: now + BigInt(maxSkew) + 100n });
    const unregistered = good(world.stranger);
    const outOfRange = good(sinks[3], { capacity: 1n << 40n });
    const otherTaskType = world.sign(sinks[3], { capacity: 5n, backlog: 0n, nonce: 10, timestamp: now }, { taskTypeId: `0x${'ab'.repeat(32)}` });
    const before = total();
    const res = await post(oracle.url, body([zeroR, highS, wrongSigner, tampered, stale, future, unregistered, outOfRange]));
    assert.equal(res.status, 200);
    const reasons = res.json.results.map((r: { status: string; reason: string }) => `${r.status}: ${r.reason}`);
    assert.equal(reasons[0], 'rejected: bad signature: r out of range');
    assert.equal(reasons[1], 'rejected: bad signature: s in the upper half order (malleable)');
    assert.match(reasons[2], /^rejected: wrong signer: the signature recovers to 0x[0-9a-f]{40}, not the sink$/);
    assert.ok(reasons[2].includes(sinks[4].address.toLowerCase()), 'names the real signer');
    assert.match(reasons[3], /^rejected: wrong signer: /);
    assert.equal(reasons[4], `rejected: stale: signed at ${now - BigInt(maxAge) - 100n}, more than the aggregator's max age of ${maxAge} s ago`);
    assert.equal(reasons[5], `rejected: from the future: signed at ${now + BigInt(maxSkew) + 100n}, more than ${maxSkew} s ahead of the chain`);
    assert.equal(reasons[6], `rejected: not registered: ${world.stranger.address.toLowerCase()} is not a registered sink of task type ${world.taskTypeId}`);
    assert.equal(reasons[7], `rejected: out of range: capacity above the registry's maximum ${(1n << 40n) - 1n}`);
    const res2 = await post(oracle.url, body([otherTaskType]));
    assert.equal(res2.json.results[0].reason, `not registered: ${sinks[3].address.toLowerCase()} is not a registered sink of task type 0x${'ab'.repeat(32)}`);
    assert.equal(total(), before, 'a rejected item was stored');
    assert.equal(await metricValue('bpe_oracle_attestations_total', { status: 'rejected', reason: 'stale' }), 1);
    assert.equal(await metricValue('bpe_oracle_attestations_total', { status: 'rejected', reason: 'wrong_signer' }), 2);
    assert.equal(await metricValue('bpe_oracle_attestations_total', { status: 'rejected', reason: 'not_registered' }), 2);
  });

  it('refuses malformed requests whole (4xx, one-line reason) and stores nothing', async () => {
    const now = await world.chainTime();
    const valid = toAttestationJson(world.sign(sinks[4], { capacity: 5n, backlog: 0n, nonce: 1, timestamp: now }));
    const before = total();
    const cases: [string, Promise<{ status: number; json: any }>, number, RegExp][] = [
      ['too many items', post(oracle.url, { attestations: Array(9).fill(valid) }), 413, /^9 attestations exceed the limit of 8 per request$/],
      ['oversized body', post(oracle.url, { attestations: [{ ...valid, pad: 'x'.repeat(9000) }] }), 413, /exceeds the 8192-byte limit/],
      ['wrong content-type', post(oracle.url, { attestations: [valid] }, { contentType: 'text/plain' }), 415, /^content-type must be application\/json$/],
      ['invalid JSON', post(oracle.url, null, { raw: '{"attestations": [' }), 400, /^body is not valid JSON$/],
      ['not an object', post(oracle.url, [valid]), 400, /^body must be a JSON object/],
      ['no array', post(oracle.url, { attestations: valid }), 400, /^"attestations" must be an array$/],
      ['empty', post(oracle.url, { attestations: [] }), 400, /^"attestations" is empty$/],
      ['bad field', post(oracle.url, { attestations: [valid, { ...valid, r: '0x12' }] }), 400, /^attestations\[1\]\.r must be a 0x-prefixed 32-byte hex string$/],
      ['negative capacity', post(oracle.url, { attestations: [{ ...valid, capacity: '-1' }] }), 400, /^attestations\[0\]\.capacity must be a decimal string/],
      ['numeric capacity', post(oracle.url, { attestations: [{ ...valid, capacity: 5 }] }), 400, /^attestations\[0\]\.capacity must be a decimal string/],
      ['fractional nonce', post(oracle.url, { attestations: [{ ...valid, nonce: 1.5 }] }), 400, /^attestations\[0\]\.nonce must be a non-negative integer$/],
      ['unknown field', post(oracle.url, { attestations: [{ ...valid, extra: 1 }] }), 400, /^attestations\[0\] has an unknown field "extra"$/],
    ];
    for (const [what, pending, status, reason] of cases) {
      const res = await pending;
      assert.equal(res.status, status, what);
      assert.match(res.json.error, reason, what);
      assert.ok(!res.json.error.includes('\n'), `${what}: one line`);
    }
    assert.equal(total(), before);
    // The valid item of the refused requests is still new: nothing of it was stored.
    const res = await post(oracle.url, { attestations: [valid] });
    assert.deepEqual(res.json.results, [{ status: 'accepted' }]);
  });

  it('relays only the newest of several pending nonces of a sink; older ones are superseded', async () => {
    await oracle.relayer.relayOnce(); // settle what earlier tests left
    const ts = await world.chainTime();
    for (const nonce of [5, 6, 7]) {
      const res = await post(oracle.url, body([world.sign(sinks[1], { capacity: BigInt(nonce), backlog: 0n, nonce, timestamp: ts })]));
      assert.deepEqual(res.json.results, [{ status: 'accepted' }]);
    }
    assert.equal(await oracle.relayer.relayOnce(), 1);
    assert.deepEqual(rowsOf(sinks[1]).map((r) => [r.nonce, r.status]), [[1, 'relayed'], [5, 'superseded'], [6, 'superseded'], [7, 'relayed']]);
    assert.equal((await sinkState(sinks[1])).nonce, 7);
  });

  it('settles rows left "sending" by a crash: a transaction never broadcast is sent again, a mined one is recorded by its events', async () => {
    const ts = await world.chainTime();
    // (1) Signed and recorded, never broadcast.
    await post(oracle.url, body([world.sign(sinks[2], { capacity: 8n, backlog: 1n, nonce: 2, timestamp: ts })]));
    const [row2] = oracle.store.rowsWithStatus('pending');
    const ghost = `0x${'77'.repeat(32)}` as Hex;
    oracle.store.markSending([row2.id], ghost);
    assert.equal(await oracle.relayer.relayOnce(), 1, 'sent again');
    assert.deepEqual(rowsOf(sinks[2]).map((r) => [r.nonce, r.status]), [[1, 'relayed'], [2, 'relayed']]);
    assert.notEqual(rowsOf(sinks[2])[1].txHash, ghost);
    assert.ok(!oracle.store.relays().some((r) => r.txHash === ghost));
    assert.equal((await sinkState(sinks[2])).nonce, 2);

    // (2) Broadcast and mined, the crash before the outcome was written.
    const item = world.sign(sinks[2], { capacity: 9n, backlog: 1n, nonce: 3, timestamp: ts });
    await post(oracle.url, body([item]));
    const [row3] = oracle.store.rowsWithStatus('pending');
    const relayer = privateKeyToAccount(world.relayerKeys[0]);
    const { receipt } = await verification.submitAttestations(world.stack, relayer, [item]);
    oracle.store.markSending([row3.id], receipt.transactionHash);
    const txCount = await world.stack.clients.publicClient.getTransactionCount({ address: relayer.address });
    assert.equal(await oracle.relayer.relayOnce(), 0, 'nothing sent again');
    assert.equal(await world.stack.clients.publicClient.getTransactionCount({ address: relayer.address }), txCount);
    assert.deepEqual(rowsOf(sinks[2]).map((r) => [r.nonce, r.status, r.txHash]).at(-1), [3, 'relayed', receipt.transactionHash]);
    assert.equal((await sinkState(sinks[2])).nonce, 3);
  });

  it('a stale row expires unsent; a nonce the registry already applied is refused at intake', async () => {
    // Another relayer applies sink 4's nonce 2 behind the oracle's back.
    const ts = await world.chainTime();
    const direct = world.sign(sinks[4], { capacity: 3n, backlog: 0n, nonce: 2, timestamp: ts });
    await verification.submitAttestations(world.stack, privateKeyToAccount(world.relayerKeys[1]), [direct]);
    const fresh = await startOracle(oracleConfig(world, { registryTtlMs: 0 }, 1), { relay: false, log: silent });
    try {
      const res = await post(fresh.url, body([world.sign(sinks[4], { capacity: 3n, backlog: 0n, nonce: 2, timestamp: ts })]));
      assert.deepEqual(res.json.results, [{ status: 'rejected', reason: 'nonce not increasing: the registry has already applied nonce 2 for this sink' }]);
      assert.equal(Object.values(fresh.store.counts()).reduce((a, b) => a + b, 0), 0);
      // Accepted fresh, then the chain's clock passes the max age before any relay.
      const late = world.sign(sinks[4], { capacity: 3n, backlog: 0n, nonce: 4, timestamp: ts });
      assert.deepEqual((await post(fresh.url, body([late]))).json.results, [{ status: 'accepted' }]);
      await world.stack.clients.testClient.increaseTime({ seconds: fresh.rules.maxAge + 1 });
      await world.stack.clients.testClient.mine({ blocks: 1 });
      await fresh.relayer['o'].clock.sync();
      assert.equal(await fresh.relayer.relayOnce(), 0);
      assert.deepEqual(fresh.store.counts(), { pending: 0, sending: 0, relayed: 0, rejected: 0, superseded: 0, expired: 1 });
    } finally {
      await fresh.stop();
    }
  });
});
