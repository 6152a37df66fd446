// The verification service on a real anvil: dual-signed receipts counted on chain in batches
// (recordCompletions), bad signatures, duplicates and malformed bodies refused with reasons and
// never stored, a receipt the chain refuses for good marked rejected while the rest of its batch
// counts, batches of at most submitBatch, halved while over the gas cap, a restart mid-batch (each
// receipt counted exactly once), slashes reported, and fuzzed bodies never answered 5xx.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { keccak256, toHex, type Address, type Hex, type LocalAccount } from 'viem';
import * as bpe from '../../src/chain/bpe/actions.ts';
import { CompletionTracker } from '../../src/chain/bpe/artifacts.generated.ts';
import { anvilAccount } from '../../src/chain/clients.ts';
import * as verification from '../../src/chain/bpe/verification.ts';
import { startVerifier, type Verifier } from '../../src/services/verifier/index.ts';
import { captureLogger, eventsSince, headBlock, keyAccount, PRICE, serviceContext, startNextEpoch, startWorld, waitFor, type World } from './world.ts';

const submitter = anvilAccount(6);
const dir = mkdtempSync(join(tmpdir(), 'bpe-verifier-'));

describe('verifier', () => {
  let w: World;
  let v: Verifier;
  let honest: LocalAccount; // completes its tasks
  let liar: LocalAccount; // declares capacity, does nothing
  let stranger: LocalAccount;
  let startBlock: bigint;
  const logs = captureLogger('verifier');

  const taskId = (label: string): Hex => keccak256(toHex(`verifier test task: ${label}`));
  const now = async () => (await w.stack.clients.publicClient.getBlock()).timestamp;
  const isCounted = (source: Address, id: Hex) =>
    w.stack.clients.publicClient.readContract({ address: w.stack.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'isCounted', args: [w.taskTypeId, source, id] });

  async function signed(label: string, opts: { sink?: LocalAccount; sinkSigner?: LocalAccount; sourceSigner?: LocalAccount } = {}) {
    const sink = opts.sink ?? honest;
    const completedAt = await now();
    const receipt = { taskId: taskId(label), taskTypeId: w.taskTypeId, sink: sink.address, source: w.source.address, completedAt, deadline: completedAt + 3600n };
    const [sinkSignature, sourceSignature] = await Promise.all([
      verification.signCompletion(w.stack, opts.sinkSigner ?? sink, receipt),
      verification.signRequest(w.stack, opts.sourceSigner ?? w.source, receipt),
    ]);
    return { receipt: { ...receipt, completedAt: completedAt.toString(), deadline: receipt.deadline.toString() }, sinkSignature, sourceSignature };
  }

  async function post(body: unknown, raw?: string): Promise<{ status: number; json: any }> {
    const res = await fetch(`${v.url}/v1/receipts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw ?? JSON.stringify(body) });
    return { status: res.status, json: await res.json() };
  }

  async function start(db: string, submit = true): Promise<Verifier> {
    return startVerifier({ ctx: serviceContext(w.stack, submitter), db, startBlock, pollMs: 20, submit, retryBaseMs: 50, maxAttempts: 3, log: logs.log });
  }

  before(async () => {
    w = await startWorld({ sinks: 2, capacity: 10n });
    [honest, liar] = w.sinks;
    stranger = await keyAccount(w.stack, 'stranger');
    startBlock = 0n;
    // The source pays the pool (both sinks get paid); credit for receipts accrues with it.
    await bpe.setStream(w.stack, w.source, w.stack.token, w.pool, 10n ** 14n);
    await bpe.advanceTime(w.stack.clients, 60);
    await startNextEpoch(w.stack, 5n);
    // The liar's evaluation window opens now (a keeper would do this; here a stranger does).
    await verification.advanceSinkEpoch(w.stack, stranger, w.taskTypeId, liar.address);
    v = await start(join(dir, 'main.sqlite'));
  });
  after(async () => {
    await v?.stop();
    await w?.stack.stop();
  });

  it('valid dual-signed receipts are accepted, stored, and counted on chain once each', async () => {
    const from = (await headBlock(w.stack)) + 1n;
    const items = await Promise.all(['a', 'b', 'c'].map((l) => signed(l)));
    const res = await post({ receipts: items });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { results: [{ status: 'accepted' }, { status: 'accepted' }, { status: 'accepted' }] });
    await waitFor('3 counted', () => v.store.counts().counted === 3);
    for (const l of ['a', 'b', 'c']) assert.equal(await isCounted(w.source.address, taskId(l)), true);
    const recorded = await eventsSince(w.stack, w.stack.bpe.completionTracker, CompletionTracker.abi, 'CompletionRecorded', from);
    assert.deepEqual(recorded.map((e) => e.args.taskId).sort(), ['a', 'b', 'c'].map(taskId).sort());
    const row = await (await fetch(`${v.url}/v1/receipts?source=${w.source.address}&taskId=${taskId('a')}`)).json() as Record<string, unknown>;
    assert.equal(row.status, 'counted');
    assert.match(String(row.txHash), /^0x[0-9a-f]{64}$/);
  });

  it('bad sink signature, bad source signature, duplicate: each refused with its reason, nothing stored', async () => {
    const before = v.store.total();
    const badSink = await signed('d', { sinkSigner: stranger });
    const badSource = await signed('e', { sourceSigner: stranger });
    const dup = await signed('a');
    const res = await post({ receipts: [badSink, badSource, dup] });
    assert.equal(res.status, 200);
    const [r1, r2, r3] = res.json.results;
    assert.equal(r1.status, 'rejected');
    assert.match(r1.reason, /bad sink signature/);
    assert.equal(r2.status, 'rejected');
    assert.match(r2.reason, /bad source signature/);
    assert.equal(r3.status, 'duplicate');
    // Tampering after signing: the completion time moved, the sink's signature no longer matches.
    const tampered = await signed('f');
    tampered.receipt.completedAt = (BigInt(tampered.receipt.completedAt) - 1n).toString();
    const [r4] = (await post({ receipts: [tampered] })).json.results;
    assert.equal(r4.status, 'rejected');
    assert.match(r4.reason, /bad sink signature/);
    assert.equal(v.store.total(), before);
    for (const l of ['d', 'e', 'f']) assert.equal(v.store.exists(w.source.address, taskId(l)), false);
  });

  it('malformed bodies: 4xx with the reason, nothing stored', async () => {
    const before = v.store.total();
    const good = await signed('g');
    const cases: [string, number, RegExp][] = [
      ['{"receipts": [', 400, /not valid JSON/],
      ['[]', 400, /body must be a JSON object/],
      ['{"receipts": []}', 400, /empty/],
      [JSON.stringify({ receipts: [{ ...good, receipt: { ...good.receipt, completedAt: 17 } }] }), 400, /receipts\[0\]\.receipt\.completedAt must be a decimal string/],
      [JSON.stringify({ receipts: [good, { ...good, sinkSignature: '0x12' }] }), 400, /receipts\[1\]\.sinkSignature must be a 0x-prefixed 65-byte signature/],
      [JSON.stringify({ receipts: [{ ...good, receipt: { ...good.receipt, sink: 'nope' } }] }), 400, /receipt\.sink must be a 0x-prefixed 20-byte address/],
      [JSON.stringify({ receipts: [{ ...good, extra: 1 }] }), 400, /receipts\[0\]\.extra is not a known field/],
    ];
    for (const [raw, status, reason] of cases) {
      const res = await post(undefined, raw);
      assert.equal(res.status, status, raw);
      assert.match(res.json.error, reason);
    }
    const wrongType = await fetch(`${v.url}/v1/receipts`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ receipts: [good] }) });
    assert.equal(wrongType.status, 415);
    assert.equal(v.store.total(), before, 'a malformed batch stores none of its items, valid ones included');
    assert.equal(v.store.exists(w.source.address, taskId('g')), false);
  });

  it('a batch with a receipt the chain refuses for good: the others count in the same transaction, the bad one is rejected with the reason', async () => {
    const unregistered = await keyAccount(w.stack, 'never registered');
    const labels = ['g1', 'g2', 'h', 'g3', 'i'];
    const items = await Promise.all(labels.map((l) => (l === 'h' ? signed(l, { sink: unregistered }) : signed(l))));
    // Credit for the four good receipts. The stream alone accrues one base fee per 10 s of chain
    // time, and how much chain time passed since it opened depends on where the wall clock fell in
    // the epoch when \`before\` jumped to the next one (65-365 s): as little as 6.5 fees, 3 spent.
    await bpe.depositToBuffer(w.stack, w.source, w.stack.token, w.taskTypeId, 4n * PRICE);
    const nonce = await w.stack.clients.publicClient.getTransactionCount({ address: submitter.address });
    const res = await post({ receipts: items });
    assert.deepEqual(res.json.results.map((r: { status: string }) => r.status), labels.map(() => 'accepted'));
    await waitFor('all settled', () => labels.every((l) => ['rejected', 'counted'].includes(v.store.get(w.source.address, taskId(l))?.status ?? '')));
    const row = v.store.get(w.source.address, taskId('h'))!;
    assert.equal(row.status, 'rejected');
    assert.match(row.reason!, /^NotRegistered\(/, 'the error with its arguments');
    assert.equal(row.attempts, 1, 'a permanent refusal is not retried');
    const good = labels.filter((l) => l !== 'h').map((l) => v.store.get(w.source.address, taskId(l))!);
    assert.deepEqual(good.map((r) => r.status), ['counted', 'counted', 'counted', 'counted']);
    assert.equal(new Set(good.map((r) => r.txHash)).size, 1, 'one transaction for the batch');
    assert.equal(row.txHash, good[0]!.txHash, 'the bad one was in it too');
    assert.equal(await w.stack.clients.publicClient.getTransactionCount({ address: submitter.address }), nonce + 1);
    for (const l of labels) assert.equal(await isCounted(w.source.address, taskId(l)), l !== 'h');
    const n = (await fetch(`${v.url}/metrics`)).text();
    assert.match(await n, /bpe_verifier_submissions_total\{outcome="rejected",service="verifier"\} 1/);
  });

  it('batches are at most submitBatch receipts', async () => {
    await v.stop();
    v = await startVerifier({ ctx: serviceContext(w.stack, submitter), db: join(dir, 'small-batches.sqlite'), startBlock, pollMs: 20, submitBatch: 2, retryBaseMs: 50, maxAttempts: 3, log: logs.log });
    await bpe.depositToBuffer(w.stack, w.source, w.stack.token, w.taskTypeId, 5n * PRICE); // credit for 5 base fees
    const labels = ['s1', 's2', 's3', 's4', 's5'];
    const nonce = await w.stack.clients.publicClient.getTransactionCount({ address: submitter.address });
    await post({ receipts: await Promise.all(labels.map((l) => signed(l))) });
    await waitFor('5 counted', () => v.store.counts().counted === 5);
    const rows = labels.map((l) => v.store.get(w.source.address, taskId(l))!);
    assert.deepEqual(rows.map((r) => r.txHash).map((h) => rows.findIndex((r) => r.txHash === h)), [0, 0, 2, 2, 4], 'two, two, one');
    assert.equal(await w.stack.clients.publicClient.getTransactionCount({ address: submitter.address }), nonce + 3);
    await v.stop();
    v = await start(join(dir, 'main.sqlite'));
  });

  it('a batch whose gas estimate passes the per-transaction cap is halved until it fits', async () => {
    await v.stop();
    // A cap of 1.2 M gas stands in for 16,777,216: 12 receipts (~0.3 M for the first allowance plus
    // ~60-100 k each, +50 % headroom) do not fit in one transaction, 6 or fewer do.
    v = await startVerifier({ ctx: serviceContext(w.stack, submitter), db: join(dir, 'halving.sqlite'), startBlock, pollMs: 20, maxTxGas: 1_200_000n, retryBaseMs: 50, maxAttempts: 3, log: logs.log });
    await bpe.depositToBuffer(w.stack, w.source, w.stack.token, w.taskTypeId, 12n * PRICE); // credit for 12 base fees
    const labels = Array.from({ length: 12 }, (_, i) => `halve ${i}`);
    await post({ receipts: await Promise.all(labels.map((l) => signed(l))) });
    await waitFor('12 counted', () => v.store.counts().counted === 12);
    const hashes = labels.map((l) => v.store.get(w.source.address, taskId(l))!.txHash!);
    const perTx = [...new Set(hashes)].map((h) => hashes.filter((x) => x === h).length);
    assert.ok(perTx.length >= 2 && perTx.every((n) => n <= 6), `batches of ${perTx.join(', ')}`);
    for (const h of new Set(hashes)) {
      const r = await w.stack.clients.publicClient.getTransactionReceipt({ hash: h as Hex });
      assert.ok(r.gasUsed < 1_200_000n);
    }
    assert.ok(logs.lines.some((l) => l.msg === 'receipt batch too heavy for one transaction: halving it' && l.items === 12));
    await v.stop();
    v = await start(join(dir, 'main.sqlite'));
  });

  it('a receipt refused for now (its source never paid: UnpaidReceipt) is retried with a wait, then rejected after maxAttempts', async () => {
    const freeloader = await keyAccount(w.stack, 'freeloader');
    const completedAt = await now();
    const receipt = { taskId: taskId('unpaid'), taskTypeId: w.taskTypeId, sink: honest.address, source: freeloader.address, completedAt, deadline: completedAt + 3600n };
    const [sinkSignature, sourceSignature] = await Promise.all([verification.signCompletion(w.stack, honest, receipt), verification.signRequest(w.stack, freeloader, receipt)]);
    const res = await post({ receipts: [{ receipt: { ...receipt, completedAt: completedAt.toString(), deadline: receipt.deadline.toString() }, sinkSignature, sourceSignature }] });
    assert.deepEqual(res.json.results, [{ status: 'accepted' }]);
    await waitFor('rejected after its attempts', () => v.store.get(freeloader.address, taskId('unpaid'))?.status === 'rejected');
    const row = v.store.get(freeloader.address, taskId('unpaid'))!;
    assert.equal(row.attempts, 3);
    assert.match(row.reason!, /^UnpaidReceipt\(.*\) \(after 3 attempts\)$/);
    const retries = logs.lines.filter((l) => l.msg === 'receipt refused for now: will retry' && l.source === freeloader.address.toLowerCase());
    assert.deepEqual(retries.map((l) => l.attempts), [1, 2]);
    assert.ok(retries[1].retryInMs > retries[0].retryInMs, 'the wait doubles');
    assert.equal(await isCounted(freeloader.address, taskId('unpaid')), false);
  });

  it('fuzzed bodies (random JSON, near-valid receipts, random text) never get a 5xx and store nothing', async () => {
    const before = v.store.total();
    const good = await signed('fuzz');
    const hexish = fc.oneof(fc.string(), fc.constantFrom('0x', '0x00', good.sinkSignature, good.receipt.taskId, good.receipt.sink), fc.integer(), fc.constant(null));
    const nearValid = fc.record({
      field: fc.constantFrom('taskId', 'taskTypeId', 'sink', 'source', 'completedAt', 'deadline'),
      value: fc.oneof(hexish, fc.bigInt({ min: -1n, max: 1n << 70n }).map(String), fc.constant('18446744073709551616')),
      sig: fc.constantFrom('sinkSignature', 'sourceSignature', 'none'),
      sigValue: hexish,
    }).map(({ field, value, sig, sigValue }) => {
      const item: Record<string, unknown> = { ...good, receipt: { ...good.receipt, [field]: value } };
      if (sig !== 'none') item[sig] = sigValue;
      return JSON.stringify({ receipts: [item] });
    });
    const bodies = fc.oneof(fc.json(), nearValid, fc.string(), fc.jsonValue().map((j) => JSON.stringify({ receipts: j })));
    await fc.assert(
      fc.asyncProperty(bodies, async (raw) => {
        const res = await fetch(`${v.url}/v1/receipts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
        assert.ok(res.status < 500, `${res.status} for ${raw}`);
        await res.arrayBuffer();
      }),
      { numRuns: 300 },
    );
    assert.equal(v.store.total(), before);
    assert.equal(v.store.exists(w.source.address, taskId('fuzz')), false);
  });

  it('restart mid-batch (one batch mined, one marked but never sent, one receipt pending): each is counted on chain exactly once', async () => {
    await v.stop();
    const db = join(dir, 'restart.sqlite');
    const first = await start(db, false); // accepts and stores, sends nothing
    v = first;
    const unregistered = await keyAccount(w.stack, 'never registered either');
    await bpe.depositToBuffer(w.stack, w.source, w.stack.token, w.taskTypeId, 5n * PRICE); // credit for the 5 good ones
    const labels = ['r1', 'r2', 'rbad', 'r3', 'r4', 'r5'];
    const items = await Promise.all(labels.map((l) => (l === 'rbad' ? signed(l, { sink: unregistered }) : signed(l))));
    const res = await post({ receipts: items });
    assert.deepEqual(res.json.results.map((r: { status: string }) => r.status), labels.map(() => 'accepted'));
    await first.stop();
    // The crashed run had marked [r1, r2, rbad] submitting and its transaction was mined (rbad
    // skipped in it); it had also marked [r3, r4] with the hash of a transaction it never broadcast.
    const asChain = (x: (typeof items)[number]) => ({ ...x, receipt: { ...x.receipt, completedAt: BigInt(x.receipt.completedAt), deadline: BigInt(x.receipt.deadline) } });
    const crashed = await verification.recordCompletions(w.stack, submitter, items.slice(0, 3).map(asChain) as never);
    assert.equal(crashed.counted, 2);
    const raw = new Database(db);
    const mark = raw.prepare(`UPDATE receipts SET status = 'submitting', tx_hash = ? WHERE task_id = ?`);
    for (const l of ['r1', 'r2', 'rbad']) mark.run(crashed.receipt.transactionHash, taskId(l));
    for (const l of ['r3', 'r4']) mark.run(keccak256(toHex('never broadcast')), taskId(l));
    raw.close();

    const from = (await headBlock(w.stack)) + 1n;
    const nonce = await w.stack.clients.publicClient.getTransactionCount({ address: submitter.address });
    v = await start(db, true);
    await waitFor('5 counted, 1 rejected', () => v.store.counts().counted === 5 && v.store.counts().rejected === 1);
    const recorded = await eventsSince(w.stack, w.stack.bpe.completionTracker, CompletionTracker.abi, 'CompletionRecorded', from);
    assert.deepEqual(recorded.map((e) => e.args.taskId).sort(), ['r3', 'r4', 'r5'].map(taskId).sort(), 'r1, r2 were already on chain: not sent again');
    assert.equal(await w.stack.clients.publicClient.getTransactionCount({ address: submitter.address }), nonce + 1, 'the rest in one batch');
    const all = await eventsSince(w.stack, w.stack.bpe.completionTracker, CompletionTracker.abi, 'CompletionRecorded', startBlock);
    for (const l of labels) {
      assert.equal(all.filter((e) => e.args.taskId === taskId(l)).length, l === 'rbad' ? 0 : 1, `${l} counted exactly once`);
      assert.equal(await isCounted(w.source.address, taskId(l)), l !== 'rbad');
    }
    for (const l of ['r1', 'r2']) assert.equal(v.store.get(w.source.address, taskId(l))!.reason, 'found counted on chain after a restart');
    assert.match(v.store.get(w.source.address, taskId('rbad'))!.reason!, /^NotRegistered\(/);
    assert.ok(logs.lines.some((l) => l.msg === 'reconciled receipts left in flight by an earlier run' && l.rows === 5));
  });

  it('a sink that declared capacity and completed nothing is slashed once its window is judged, and /v1/slashes reports it', async () => {
    const seen: Record<string, any>[] = [];
    v.on('slashed', (d) => seen.push(d));
    // Past the end of the epoch the liar's window opened in, plus the receipt grace.
    await startNextEpoch(w.stack, w.stack.bpe.params.receiptGrace + 5n);
    const tx = await verification.advanceSinkEpoch(w.stack, stranger, w.taskTypeId, liar.address);
    const [judged] = await eventsSince(w.stack, w.stack.bpe.completionTracker, CompletionTracker.abi, 'EpochEvaluated', tx.blockNumber);
    assert.equal(judged.args.sink, liar.address);
    assert.equal(judged.args.completions, 0n);
    assert.ok(judged.args.slashed > 0n);
    assert.equal(judged.args.slashed, ((judged.args.expected * 9400n) / 10_000n) * 20n * 10n ** 18n);
    await waitFor('slash reported', async () => ((await (await fetch(`${v.url}/v1/slashes`)).json()) as { slashes: unknown[] }).slashes.length === 1);
    const { slashes } = (await (await fetch(`${v.url}/v1/slashes?sink=${liar.address}`)).json()) as { slashes: Record<string, string>[] };
    assert.equal(slashes.length, 1);
    assert.equal(slashes[0].sink, liar.address);
    assert.equal(slashes[0].amount, judged.args.slashed.toString());
    assert.equal(slashes[0].expected, judged.args.expected.toString());
    assert.equal(slashes[0].completions, '0');
    assert.equal(slashes[0].txHash, tx.transactionHash);
    const none = (await (await fetch(`${v.url}/v1/slashes?sink=${honest.address}`)).json()) as { slashes: unknown[] };
    assert.equal(none.slashes.length, 0);
    await waitFor('slashed event', () => seen.length === 1);
    assert.equal(seen[0].amount, judged.args.slashed);
    assert.match(await (await fetch(`${v.url}/metrics`)).text(), /bpe_verifier_slashes_total\{service="verifier"\} 1/);
  });
});
