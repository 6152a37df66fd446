// The oracle's durability and multi-instance guarantees on anvil:
//   (1) kill -9 mid-batch: the oracle runs as a child process (`bin/bpe.js oracle`), a client posts
//       rounds of attestations, the oracle is SIGKILLed while a relay transaction is in flight
//       ('sending' rows in its DB), restarted on the same DB: every acknowledged attestation ends
//       relayed or superseded by a newer acknowledged one, each sink's newest acknowledged nonce is
//       the chain's, and the chain applied exactly what the DB says was relayed (no nonce twice,
//       no on-chain rejection, nothing acknowledged lost);
//   (2) two instances with separate DBs receiving the same attestations: the chain applies each once;
//       the slower instance's transaction is refused item by item (NonceNotIncreasing).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { getAbiItem, type Address, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { CapacityRegistry, OffchainAggregator } from '../../src/chain/bpe/artifacts.generated.ts';
import { createLogger } from '../../src/services/common/log.ts';
import { startOracle, toAttestationJson } from '../../src/services/oracle/index.ts';
import { oracleConfig, post, startOracleWorld, type OracleWorld, type Sink } from './oracleFixture.ts';

const silent = createLogger('oracle-test', process.env.BPE_TEST_LOG ?? 'silent');
const BIN = new URL('../../bin/bpe.js', import.meta.url).pathname;

/** Starts `bpe oracle` as a child; resolves with its URL once it listens. */
function spawnOracle(env: Record<string, string>): Promise<{ child: ChildProcess; url: string; exited: Promise<void> }> {
  const child = spawn(process.execPath, [BIN, 'oracle'], {
    env: { ...process.env, BPE_LOG_LEVEL: process.env.BPE_TEST_LOG ?? 'warn', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      const m = /bpe oracle: listening on (\S+)/.exec(err);
      if (m) resolve({ child, url: m[1], exited });
      if (process.env.BPE_TEST_LOG) process.stderr.write(chunk);
    });
    child.once('exit', (code, signal) => reject(new Error(`oracle exited (${signal ?? code}) before listening: ${err}`)));
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, tries = 3000): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await probe();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('CapacityOracle durability and multiple instances', () => {
  let world: OracleWorld;
  const nonceOnChain = async (sink: Sink) =>
    (await world.stack.clients.publicClient.readContract({
      address: world.stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'sinkState', args: [world.taskTypeId, sink.address],
    })).nonce;
  /** AttestationsSubmitted and AttestationRejected events of the aggregator, by relayer. */
  const chainEvents = async (relayer: Address) => {
    const client = world.stack.clients.publicClient;
    const submitted = await client.getLogs({
      address: world.stack.bpe.offchainAggregator,
      event: getAbiItem({ abi: OffchainAggregator.abi, name: 'AttestationsSubmitted' }),
      args: { relayer },
      fromBlock: 0n,
    });
    const hashes = new Set(submitted.map((l) => l.transactionHash));
    const rejected = (await client.getLogs({
      address: world.stack.bpe.offchainAggregator,
      event: getAbiItem({ abi: OffchainAggregator.abi, name: 'AttestationRejected' }),
      fromBlock: 0n,
    })).filter((l) => hashes.has(l.transactionHash));
    return {
      txs: submitted.length,
      accepted: submitted.reduce((a, l) => a + Number(l.args.accepted), 0),
      rejected: submitted.reduce((a, l) => a + Number(l.args.rejected), 0),
      rejections: rejected.map((l) => ({ sink: l.args.sink!.toLowerCase(), nonce: Number(l.args.nonce), reason: Number(l.args.reason) })),
    };
  };

  before(async () => {
    world = await startOracleWorld({ sinks: 10, relayers: 3, label: 'crash' });
  });
  after(async () => {
    await world?.stop();
    if (world) rmSync(world.dir, { recursive: true, force: true });
  });

  it('kill -9 while a relay is in flight, restart on the same DB: every acknowledged attestation is relayed once or superseded, none lost', async () => {
    const sinks = world.sinks.slice(0, 6);
    const dbPath = join(world.dir, 'crash.sqlite');
    const env = {
      BPE_ORACLE_DEPLOYMENT: world.deploymentPath,
      BPE_ORACLE_PRIVATE_KEY: world.relayerKeys[0],
      BPE_ORACLE_DB_PATH: dbPath,
      BPE_ORACLE_PORT: '0',
      BPE_ORACLE_BATCH_SIZE: '4',
      BPE_ORACLE_RELAY_INTERVAL_MS: '10',
      BPE_ORACLE_POLL_MS: '50',
      BPE_ORACLE_VERIFY_THREADS: '1',
    };
    /** Acknowledged ("accepted") nonces per sink address. */
    const acked = new Map<string, number[]>(sinks.map((s) => [s.address.toLowerCase(), []]));
    let round = 0;
    const postRound = async (url: string): Promise<boolean> => {
      round++;
      const ts = await world.chainTime();
      const items = sinks.map((s, i) => world.sign(s, { capacity: BigInt(10 + ((round + i) % 7)), backlog: BigInt(round % 3), nonce: round, timestamp: ts }));
      let res;
      try {
        res = await post(url, { attestations: items.map(toAttestationJson) });
      } catch {
        return false; // the oracle died mid-request: nothing acknowledged
      }
      assert.equal(res.status, 200);
      res.json.results.forEach((r: { status: string }, i: number) => {
        assert.equal(r.status, 'accepted');
        acked.get(items[i].sink.toLowerCase())!.push(round);
      });
      return true;
    };

    // First run: post rounds until killed.
    const first = await spawnOracle(env);
    const spy = new Database(dbPath, { readonly: true, fileMustExist: true });
    let killedWithSending = 0;
    let killed = false;
    const poster = (async () => {
      while (!killed && (await postRound(first.url)));
    })();
    killedWithSending = await waitFor('a relay in flight after two mined ones', () => {
      const mined = (spy.prepare('SELECT COUNT(*) AS n FROM relays WHERE mined_at IS NOT NULL').get() as { n: number }).n;
      const sending = (spy.prepare(`SELECT COUNT(*) AS n FROM attestations WHERE status = 'sending'`).get() as { n: number }).n;
      if (mined >= 2 && sending > 0) {
        first.child.kill('SIGKILL');
        killed = true;
        return sending;
      }
      return undefined;
    });
    await first.exited;
    await poster;
    spy.close();
    assert.ok(killedWithSending > 0 && killedWithSending <= 4, 'killed with a batch in flight');
    const roundsBefore = round;
    assert.ok(roundsBefore >= 2);

    // Second run on the same DB: two more rounds, then wait until everything settled.
    const second = await spawnOracle(env);
    try {
      for (let i = 0; i < 2; i++) assert.ok(await postRound(second.url));
      await waitFor('every row settled', async () => {
        const h = (await (await fetch(`${second.url}/health`)).json()) as { pending: number; sending: number };
        return h.pending === 0 && h.sending === 0 ? true : undefined;
      });
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }

    const db = new Database(dbPath, { readonly: true });
    const rows = db.prepare('SELECT sink, nonce, status, tx_hash AS txHash FROM attestations').all() as { sink: string; nonce: number; status: string; txHash: string | null }[];
    db.close();
    // Nothing acknowledged is lost; every row is settled as relayed or superseded.
    const stored = new Map(rows.map((r) => [`${r.sink}:${r.nonce}`, r]));
    for (const [sink, nonces] of acked) for (const n of nonces) assert.ok(stored.has(`${sink}:${n}`), `acknowledged ${sink} nonce ${n} is missing`);
    // Beyond the acknowledged rows, at most the request the kill cut off (committed, reply lost).
    const ackedCount = [...acked.values()].reduce((a, n) => a + n.length, 0);
    assert.ok(rows.length >= ackedCount && rows.length <= ackedCount + sinks.length, `${rows.length} rows for ${ackedCount} acknowledged`);
    assert.deepEqual([...new Set(rows.map((r) => r.status))].sort().filter((s) => s !== 'relayed' && s !== 'superseded'), []);
    // Each sink's newest acknowledged nonce is on chain, and relayed.
    for (const s of sinks) {
      const newest = Math.max(...acked.get(s.address.toLowerCase())!);
      assert.equal(newest, round, 'the last round was acknowledged for every sink');
      assert.equal(await nonceOnChain(s), newest);
      assert.equal(stored.get(`${s.address.toLowerCase()}:${newest}`)!.status, 'relayed');
    }
    // The chain applied exactly the relayed rows, each once: no resend of an applied nonce.
    const relayed = rows.filter((r) => r.status === 'relayed');
    const events = await chainEvents(privateKeyToAccount(world.relayerKeys[0]).address);
    assert.equal(events.accepted, relayed.length);
    assert.equal(events.rejected, 0);
    assert.deepEqual(events.rejections, []);
    assert.equal(new Set(relayed.map((r) => r.txHash)).size, events.txs, 'one relay record per transaction');
  });

  it('two instances with separate DBs and the same attestations: the chain applies each once', async () => {
    const sinks = world.sinks.slice(6, 10);
    const a = await startOracle(oracleConfig(world, {}, 1), { relay: false, log: silent });
    const b = await startOracle(oracleConfig(world, {}, 2), { relay: false, log: silent });
    try {
      const ts = await world.chainTime();
      for (const nonce of [1, 2, 3]) {
        const body = { attestations: sinks.map((s) => toAttestationJson(world.sign(s, { capacity: 20n + BigInt(nonce), backlog: 1n, nonce, timestamp: ts }))) };
        for (const oracle of [a, b]) assert.deepEqual((await post(oracle.url, body)).json.results.map((r: { status: string }) => r.status), ['accepted', 'accepted', 'accepted', 'accepted']);
      }
      // Both relay at once (a race): each sends one transaction with every sink's nonce 3.
      assert.deepEqual(await Promise.all([a.relayer.relayOnce(), b.relayer.relayOnce()]), [4, 4]);
      for (const s of sinks) assert.equal(await nonceOnChain(s), 3);
      const ea = await chainEvents(privateKeyToAccount(world.relayerKeys[1]).address);
      const eb = await chainEvents(privateKeyToAccount(world.relayerKeys[2]).address);
      assert.equal(ea.accepted + eb.accepted, 4, 'each applied once');
      assert.equal(ea.rejected + eb.rejected, 4, 'the loser wasted one transaction');
      const loser = ea.rejected ? ea : eb;
      assert.deepEqual(loser.rejections.map((r) => [r.nonce, r.reason]), [[3, 5], [3, 5], [3, 5], [3, 5]], 'NonceNotIncreasing');
      const statuses = (o: typeof a) => o.store.db.prepare('SELECT nonce, status, reason FROM attestations ORDER BY nonce, sink').all() as { nonce: number; status: string; reason: string | null }[];
      const [winner, slower] = ea.accepted ? [a, b] : [b, a];
      assert.deepEqual(statuses(winner).map((r) => `${r.nonce} ${r.status}`), [...Array(4).fill('1 superseded'), ...Array(4).fill('2 superseded'), ...Array(4).fill('3 relayed')]);
      assert.deepEqual(statuses(slower).filter((r) => r.nonce === 3).map((r) => `${r.status} ${r.reason}`), Array(4).fill('rejected NonceNotIncreasing'));
      // A newer attestation posted to the slower one afterwards is applied normally.
      const next = { attestations: [toAttestationJson(world.sign(sinks[0], { capacity: 30n, backlog: 0n, nonce: 4, timestamp: await world.chainTime() }))] };
      assert.deepEqual((await post(slower.url, next)).json.results, [{ status: 'accepted' }]);
      assert.equal(await slower.relayer.relayOnce(), 1);
      assert.equal(await nonceOnChain(sinks[0]), 4);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});
