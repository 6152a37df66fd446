// `npm run -s bench:oracle`: throughput of the CapacityOracle's intake (attestations accepted,
// signature-checked and durably stored per second over HTTP on loopback) and the gas its relayer
// spends per attestation on chain, on a local anvil with the real Superfluid + BPE. Prints one
// JSON object to stdout; progress to stderr.
//
// Load: SINKS registered sinks, ITEMS pre-signed attestations (nonce order per sink), CONCURRENCY
// clients (in a separate process, bench/postLoad.mjs) each owning a disjoint set of sinks (so every item is accepted: none races its own
// sink's nonce) and posting ITEMS_PER_REQUEST per request. The relayer runs meanwhile, as in
// production. Also measured on the main thread alone: signature checks per second with the
// platform's libsecp256k1 backend (native or WebAssembly) and with the WebAssembly one.
import { availableParallelism, loadavg } from 'node:os';
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CapacityRegistry } from '../src/chain/bpe/artifacts.generated.ts';
import { createLogger } from '../src/services/common/log.ts';
import { OracleStore, parseRequest, startOracle, toAttestationJson } from '../src/services/oracle/index.ts';
import { recovery, signatureError, wasmRecovery, type Recovery } from '../src/services/oracle/signature.ts';
import type { SignedAttestation } from '../src/chain/bpe/verification.ts';
import { oracleConfig, startOracleWorld } from '../test/services/oracleFixture.ts';

const env = (name: string, dflt: number) => Number(process.env[name] ?? dflt);
const SINKS = env('BENCH_SINKS', 64);
const ITEMS = env('BENCH_ITEMS', 16_384);
const CONCURRENCY = env('BENCH_CONCURRENCY', 8);
const ITEMS_PER_REQUEST = env('BENCH_ITEMS_PER_REQUEST', 256);
const THREADS = env('BENCH_VERIFY_THREADS', 2);
const BATCH_SIZE = env('BENCH_BATCH_SIZE', 50);

const started = performance.now();
const progress = (line: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${line}\n`);

async function main() {
  const load = loadavg()[0];
  progress(`starting anvil, Superfluid, BPE; ${SINKS} sinks`);
  const world = await startOracleWorld({ sinks: SINKS, label: 'bench', relayers: 1 });
  try {
    const perSink = Math.ceil(ITEMS / SINKS);
    progress(`signing ${perSink * SINKS} attestations`);
    const now = await world.chainTime();
    const bySink: SignedAttestation[][] = world.sinks.map((s, i) =>
      Array.from({ length: perSink }, (_, k) => world.sign(s, { capacity: BigInt(10 + ((i + k) % 50)), backlog: BigInt(k % 5), nonce: k + 1, timestamp: now })),
    );

    // Signature checks alone, on this thread, with each backend.
    const sample = bySink.flatMap((items) => items.slice(0, 32)).map((a) => ({ ...a, sink: a.sink.toLowerCase() }));
    const rate = (using: Recovery) => {
      const t0 = performance.now();
      for (const a of sample) if (signatureError(world.domainSeparator, a, using)) throw new Error('bench signature invalid');
      return sample.length / ((performance.now() - t0) / 1000);
    };
    const signaturePerSecond = rate(recovery);
    const wasmPerSecond = recovery === wasmRecovery ? signaturePerSecond : rate(wasmRecovery);
    progress(`one thread: ${signaturePerSecond.toFixed(0)} signatures/s (${recovery.name}), ${wasmPerSecond.toFixed(0)}/s (wasm)`);
    let t: number;

    // The rest of the intake alone, on this thread: JSON text -> checked shape, and the store.
    const chunk = JSON.stringify({ attestations: bySink.flatMap((items) => items.slice(0, 4)).slice(0, 256).map(toAttestationJson) });
    t = performance.now();
    let parsed = 0;
    for (let i = 0; i < 40; i++) parsed += parseRequest(JSON.parse(chunk), 256).length;
    const parsePerSecond = parsed / ((performance.now() - t) / 1000);
    const scratch = join(tmpdir(), `bpe-oracle-bench-${process.pid}.sqlite`);
    const store = new OracleStore(scratch);
    const rowsToStore = bySink.flatMap((items) => items.slice(0, 64)).map((a) => ({ ...a, key: `${a.taskTypeId}:${a.sink}` }));
    t = performance.now();
    for (let i = 0; i < rowsToStore.length; i += 256) store.insertMany(rowsToStore.slice(i, i + 256));
    const storePerSecond = rowsToStore.length / ((performance.now() - t) / 1000);
    store.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(scratch + suffix, { force: true });
    progress(`one thread: ${parsePerSecond.toFixed(0)}/s parsed, ${storePerSecond.toFixed(0)}/s stored (256-row transactions, fsync each)`);

    const oracle = await startOracle(
      oracleConfig(world, { verifyThreads: THREADS, batchSize: BATCH_SIZE, relayIntervalMs: 200, maxItemsPerRequest: Math.max(256, ITEMS_PER_REQUEST), maxBodyBytes: 16 << 20 }),
      { log: createLogger('oracle-bench', 'warn') },
    );
    try {
      // Client c owns sinks c, c + CONCURRENCY, ...; its requests walk their nonces in order.
      const requests: string[][] = Array.from({ length: CONCURRENCY }, () => []);
      for (let c = 0; c < CONCURRENCY; c++) {
        const mine = bySink.filter((_, i) => i % CONCURRENCY === c);
        const ordered = Array.from({ length: perSink }, (_, k) => mine.map((items) => items[k])).flat();
        for (let i = 0; i < ordered.length; i += ITEMS_PER_REQUEST) {
          requests[c].push(JSON.stringify({ attestations: ordered.slice(i, i + ITEMS_PER_REQUEST).map(toAttestationJson) }));
        }
      }
      const total = perSink * SINKS;
      progress(`posting ${total} attestations: ${CONCURRENCY} clients, ${ITEMS_PER_REQUEST} per request, ${THREADS} verify threads`);
      const loadFile = join(tmpdir(), `bpe-oracle-bench-load-${process.pid}.json`);
      writeFileSync(loadFile, JSON.stringify({ url: `${oracle.url}/v1/attestations`, requests }));
      const client = spawn(process.execPath, [new URL('./postLoad.mjs', import.meta.url).pathname, loadFile], { stdio: ['ignore', 'pipe', 'inherit'] });
      let clientOut = '';
      client.stdout.on('data', (d) => (clientOut += d));
      const clientCode = await new Promise<number | null>((resolve) => client.on('exit', resolve));
      rmSync(loadFile, { force: true });
      if (clientCode !== 0) throw new Error(`the load generator exited with ${clientCode}`);
      const { accepted, other, seconds, busyRequestMs } = JSON.parse(clientOut) as { accepted: number; other: number; seconds: number; busyRequestMs: number };
      const counts = { accepted, other };
      if (counts.other) throw new Error(`${counts.other} attestations not accepted`);
      progress(`${counts.accepted} accepted in ${seconds.toFixed(2)} s: ${(counts.accepted / seconds).toFixed(0)}/s`);

      progress('waiting for the relayer to settle every row');
      for (;;) {
        const c = oracle.store.counts();
        if (c.pending === 0 && c.sending === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const relays = oracle.store.relays();
      const gas = relays.reduce((a, r) => a + (r.gasUsed ?? 0), 0);
      const onChain = relays.reduce((a, r) => a + (r.accepted ?? 0), 0);
      const rows = oracle.store.counts();

      // Steady state: every sink re-declares what the registry already holds, so no pool-unit push
      // (GDA updateMemberUnits, ~200k gas) follows: the aggregator's and registry's own cost.
      progress('steady-state round: each sink re-declares its smoothed capacity');
      const ts = await world.chainTime();
      const steady = await Promise.all(
        world.sinks.map(async (s, i) => {
          const st = await world.stack.clients.publicClient.readContract({
            address: world.stack.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'sinkState', args: [world.taskTypeId, s.address],
          });
          return world.sign(s, { capacity: BigInt(st.smoothed), backlog: BigInt(st.backlog), nonce: bySink[i].length + 1, timestamp: ts });
        }),
      );
      for (let i = 0; i < steady.length; i += 256) {
        await fetch(`${oracle.url}/v1/attestations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ attestations: steady.slice(i, i + 256).map(toAttestationJson) }) });
      }
      for (;;) {
        const c = oracle.store.counts();
        if (c.pending === 0 && c.sending === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      const steadyRelays = oracle.store.relays().slice(relays.length);
      const steadyGas = steadyRelays.reduce((a, r) => a + (r.gasUsed ?? 0), 0);
      const steadyApplied = steadyRelays.reduce((a, r) => a + (r.accepted ?? 0), 0);
      const commits = await oracle.metrics.registry.getSingleMetric('bpe_oracle_commits_total')!.get();
      const result = {
        attestationsPerSecond: Math.round(counts.accepted / seconds),
        gasPerAttestation: onChain ? Math.round(gas / onChain) : null,
        items: counts.accepted,
        seconds: Number(seconds.toFixed(3)),
        concurrency: CONCURRENCY,
        itemsPerRequest: ITEMS_PER_REQUEST,
        verifyThreads: THREADS,
        sinks: SINKS,
        meanRequestMs: Number((busyRequestMs / requests.flat().length).toFixed(1)),
        groupCommits: commits.values[0]?.value ?? 0,
        gasPerAttestationSteady: steadyApplied ? Math.round(steadyGas / steadyApplied) : null,
        signatureBackend: recovery.name,
        // Per accepted item on one thread: signature, JSON + shape, SQLite: where the time goes.
        oneThreadMicrosecondsPerItem: {
          signature: Number((1e6 / signaturePerSecond).toFixed(1)),
          parse: Number((1e6 / parsePerSecond).toFixed(1)),
          store: Number((1e6 / storePerSecond).toFixed(1)),
        },
        // Intake throughput in units of one thread's signature checks measured in the same run
        // (the machine's load moves both; this ratio is what the worker threads bought).
        intakeOverOneThreadSignatureRate: Number((counts.accepted / seconds / signaturePerSecond).toFixed(2)),
        oneThreadPerSecond: {
          signature: Math.round(signaturePerSecond),
          signatureWasm: Math.round(wasmPerSecond),
          parse: Math.round(parsePerSecond),
          store: Math.round(storePerSecond),
        },
        relay: {
          batchSize: BATCH_SIZE,
          transactions: relays.length,
          attestationsApplied: onChain,
          gasUsed: gas,
          rows,
          note: 'gasPerAttestation is over the whole run: most relays move the sink\'s pool units (GDA updateMemberUnits); gasPerAttestationSteady is a round where no units move',
          steady: { transactions: steadyRelays.length, attestationsApplied: steadyApplied, gasUsed: steadyGas },
        },
        machine: { cpus: availableParallelism(), loadAverageAtStart: Number(load.toFixed(2)) },
      };
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    } finally {
      await oracle.stop();
    }
  } finally {
    await world.stop();
    rmSync(world.dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench:oracle failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`);
  process.exitCode = 1;
});
