/**
 * The CapacityOracle: receives signed capacity attestations over HTTP, checks them off chain as
 * the OffchainAggregator would, stores the valid ones durably and relays them in batches.
 */
import type { Hex } from 'viem';
import { domainSeparator } from 'viem';
import { CapacityRegistry, OffchainAggregator } from '../../chain/bpe/artifacts.generated.ts';
import { connect, type ChainConnection } from '../common/chain.ts';
import { HttpError, startHttpService, type HttpService } from '../common/http.ts';
import { createLogger, type Logger } from '../common/log.ts';
import { parseRequest, type ItemResult } from './attestation.ts';
import { ChainClock } from './chainClock.ts';
import type { OracleConfig } from './config.ts';
import { GroupCommitter } from './groupCommit.ts';
import { Intake } from './intake.ts';
import { createOracleMetrics, type OracleMetrics } from './metrics.ts';
import { RegistryView } from './registryView.ts';
import { Relayer } from './relayer.ts';
import { hexToBytes32, recovery } from './signature.ts';
import { OracleStore } from './store.ts';
import { createVerifierPool, type VerifierPool } from './verifierPool.ts';

export interface RunningOracle {
  url: string;
  store: OracleStore;
  relayer: Relayer;
  metrics: OracleMetrics;
  connection: ChainConnection;
  /** The aggregator's freshness rules and the registry's rate limit, seconds. */
  rules: { maxAge: number; maxSkew: number; minUpdateInterval: number };
  stop(): Promise<void>;
}

export interface StartOracleOptions {
  log?: Logger;
  /** Relay on its own schedule (default true); tests may drive `relayer` by hand. */
  relay?: boolean;
}

export async function startOracle(config: OracleConfig, opts: StartOracleOptions = {}): Promise<RunningOracle> {
  const log = opts.log ?? createLogger('oracle');
  const connection = await connect(config);
  const { publicClient } = connection.clients;
  const aggregator = connection.bpe.offchainAggregator;
  const read = <F extends 'maxAge' | 'maxSkew'>(functionName: F) =>
    publicClient.readContract({ address: aggregator, abi: OffchainAggregator.abi, functionName });
  // The EIP-712 domain is the contract's own, read once (not assumed from the deployment file).
  const [[, name, version, chainId, verifyingContract], maxAge, maxSkew, minUpdateInterval] = await Promise.all([
    publicClient.readContract({ address: aggregator, abi: OffchainAggregator.abi, functionName: 'eip712Domain' }),
    read('maxAge'),
    read('maxSkew'),
    publicClient.readContract({ address: connection.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'minUpdateInterval' }),
  ]);
  const separator = hexToBytes32(domainSeparator({ domain: { name, version, chainId: Number(chainId), verifyingContract } }) as Hex);
  const rules = { maxAge: Number(maxAge), maxSkew: Number(maxSkew), minUpdateInterval: Number(minUpdateInterval) };

  const store = new OracleStore(config.dbPath);
  const clock = new ChainClock(connection.clients, log);
  let verifier: VerifierPool | undefined;
  let http: HttpService | undefined;
  try {
    await clock.sync();
    clock.start(config.pollMs);
    verifier = createVerifierPool(separator, config.verifyThreads, (err) =>
      log.error({ err }, 'a signature worker failed: checking signatures on the main thread from now on'),
    );
    const registry = new RegistryView(connection, config.registryTtlMs);
    const metrics = createOracleMetrics(() => store.openCount());
    const committer = new GroupCommitter(store, config.commitDelayMs);
    const relayer = new Relayer({
      ctx: connection, store, clock, registry, log,
      batchSize: config.batchSize, intervalMs: config.relayIntervalMs, pollMs: config.pollMs,
      maxAge: rules.maxAge, minUpdateInterval: rules.minUpdateInterval,
      events: {
        batchMined: (b) => metrics.batchMined(b.items, b.accepted, b.gasUsed),
        itemSettled: (outcome, reason) => metrics.settled(outcome, reason),
        failure: (stage) => metrics.relayFailure(stage),
      },
    });
    let committedSinceWake = 0;
    committer.onCommit = (rows) => {
      metrics.committed(rows);
      committedSinceWake += rows;
      if (committedSinceWake >= config.batchSize) {
        committedSinceWake = 0;
        relayer.wake();
      }
    };
    const intake = new Intake({ store, committer, verifier, registry, clock, rules, log });
    intake.onResult = (r) => metrics.item(r);

    http = await startHttpService({
      host: config.host,
      port: config.port,
      maxBodyBytes: config.maxBodyBytes,
      log,
      metrics: metrics.registry,
      routes: [
        {
          method: 'POST',
          path: '/v1/attestations',
          async handle(body): Promise<{ results: ItemResult[] }> {
            try {
              return { results: await intake.submit(parseRequest(body, config.maxItemsPerRequest)) };
            } catch (err) {
              if (err instanceof HttpError) metrics.refused(err.status);
              throw err;
            }
          },
        },
      ],
      health: () => {
        const last = store.lastRelay();
        const counts = store.openCounts();
        return {
          ok: clock.reachable,
          signatureBackend: recovery.name,
          pending: counts.pending,
          sending: counts.sending,
          chainReachable: clock.reachable,
          chainError: clock.lastError,
          relayFailures: relayer.failures,
          relayError: relayer.lastError,
          lastRelay: last && {
            txHash: last.txHash, items: last.items, accepted: last.accepted, gasUsed: last.gasUsed,
            blockNumber: last.blockNumber, at: last.minedAt === null ? null : new Date(last.minedAt).toISOString(),
          },
        };
      },
    });
    if (opts.relay !== false) relayer.start();
    log.info({ url: http.url, db: config.dbPath, aggregator, ...rules, verifyThreads: verifier.threads, signatureBackend: recovery.name }, 'oracle started');
    const started = { http, verifier };
    return {
      url: http.url, store, relayer, metrics, connection, rules,
      async stop() {
        await started.http.close();
        committer.flush();
        await relayer.stop();
        clock.stop();
        await started.verifier.close();
        store.close();
        log.info('oracle stopped');
      },
    };
  } catch (err) {
    await http?.close();
    await verifier?.close();
    clock.stop();
    store.close();
    throw err;
  }
}
