/**
 * VerificationService: takes dual-signed completion receipts over HTTP, checks both EIP-712
 * signatures off chain, stores them (SQLite, acknowledged after commit, one per (source, task id)),
 * submits them in batches with `recordCompletions`, and reports the slashes the chain hands out.
 *
 * It does not advance the sinks' evaluation windows: that is the keeper's duty (`bpe keeper`,
 * duty `sinkEpoch`), so the two services never send the same call twice.
 *
 * `startVerifier(config)` connects with the deployment file; `startVerifier({ ctx, db, ... })` runs on
 * clients you already hold. Events: 'accepted', 'counted', 'rejected', 'slashed', 'degraded', 'recovered'.
 */
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Account, Address, Hex } from 'viem';
import { isAddress, isHex } from 'viem';
import type { BpeContext } from '../../chain/bpe/actions.ts';
import { Backoff } from '../common/backoff.ts';
import { connect, hasContext } from '../common/chain.ts';
import { HttpError, startHttpService, type HttpService } from '../common/http.ts';
import { createLogger, type Logger } from '../common/log.ts';
import { createRegistry, type Registry } from '../common/metrics.ts';
import { shortError } from '../common/revert.ts';
import { verifierSchema, type VerifierConfig } from './config.ts';
import { verifierMetrics } from './metrics.ts';
import { offChainRefusal, parseReceiptsBody, trackerDomain } from './receipts.ts';
import { SlashWatcher } from './slashWatcher.ts';
import { ReceiptStore, type ReceiptStatus } from './store.ts';
import { Submitter } from './submitter.ts';

export { verifierSchema, type VerifierConfig, ReceiptStore };

export type VerifierEventName = 'accepted' | 'counted' | 'rejected' | 'slashed' | 'degraded' | 'recovered';

export interface VerifierDeps {
  ctx: BpeContext;
  /** Sender of recordCompletions (default: the clients' account). */
  account?: Account;
  /** SQLite file. */
  db: string;
  startBlock?: bigint;
  pollMs?: number;
  maxBatch?: number;
  /** Most receipts per recordCompletions transaction (default 50). */
  submitBatch?: number;
  /** Most gas per transaction (default 16,777,216; lower only in tests). */
  maxTxGas?: bigint;
  maxAttempts?: number;
  retryBaseMs?: number;
  maxLogRange?: number;
  /** false: store receipts but send nothing (they wait as pending). Default true. */
  submit?: boolean;
  http?: { host?: string; port?: number } | false;
  log?: Logger;
}

export interface ItemResult {
  status: 'accepted' | 'duplicate' | 'rejected';
  reason?: string;
}

export interface VerifierStatus {
  running: boolean;
  degraded: boolean;
  lastError?: string;
  consecutiveFailures: number;
  lastBlock?: bigint;
  receipts: Record<ReceiptStatus, number>;
  slashes: number;
  account: Address;
}

export interface Verifier {
  url?: string;
  metrics: Registry;
  store: ReceiptStore;
  /** Checks and stores receipts as POST /v1/receipts does (throws HttpError on a malformed body). */
  submit(body: unknown): Promise<{ results: ItemResult[] }>;
  status(): VerifierStatus;
  on(event: VerifierEventName, listener: (detail: Record<string, any>) => void): () => void;
  stop(): Promise<void>;
}


export async function startVerifier(input: VerifierConfig | VerifierDeps): Promise<Verifier> {
  let deps: VerifierDeps;
  if (hasContext<VerifierDeps>(input)) {
    deps = input;
  } else {
    const c = input;
    const conn = await connect(c);
    deps = {
      ctx: conn, db: c.db, startBlock: conn.deployment.startBlock, pollMs: c.pollMs, maxBatch: c.maxBatch, submitBatch: c.submitBatch, maxAttempts: c.maxAttempts,
      retryBaseMs: c.retryBaseMs, maxLogRange: c.maxLogRange, http: { host: c.host, port: c.port },
    };
  }
  const log = deps.log ?? createLogger('bpe-verifier');
  const ctx = deps.ctx;
  const account = deps.account ?? ctx.clients.account;
  const pollMs = deps.pollMs ?? 1000;
  const maxBatch = deps.maxBatch ?? verifierSchema.maxBatch.default!;
  const store = new ReceiptStore(deps.db);
  const registry = createRegistry('verifier');
  const metrics = verifierMetrics(registry, store);
  const events = new EventEmitter();
  events.on('error', (err) => log.error({ err }, 'verifier event listener failed'));
  const domain = trackerDomain(ctx.clients.chain.id, ctx.bpe.completionTracker);
  const submitter = new Submitter({
    ctx, account, store, metrics, log, events,
    maxAttempts: deps.maxAttempts ?? verifierSchema.maxAttempts.default!,
    retryBaseMs: deps.retryBaseMs ?? verifierSchema.retryBaseMs.default!,
    batchSize: deps.submitBatch ?? verifierSchema.submitBatch.default!,
    maxTxGas: deps.maxTxGas,
  });
  const watcher = new SlashWatcher(ctx, store, metrics, log, events, deps.startBlock ?? 0n, BigInt(deps.maxLogRange ?? verifierSchema.maxLogRange.default!));

  // ---- the loop: reconcile once, then scan slashes and submit what is due, backing off on RPC failures
  const abort = new AbortController();
  const backoff = new Backoff({ initialMs: 200, maxMs: 10_000 });
  let degraded = false;
  let lastError: string | undefined;
  let lastBlock: bigint | undefined;
  let reconciled = false;
  let wake: (() => void) | undefined;
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        abort.signal.removeEventListener('abort', done);
        resolve();
      }
      wake = done;
      abort.signal.addEventListener('abort', done, { once: true });
    });

  const loop = (async () => {
    log.info({ account: account.address, submit: deps.submit !== false }, 'verifier started');
    while (!abort.signal.aborted) {
      try {
        if (!reconciled) {
          await submitter.reconcile();
          reconciled = true;
        }
        const head = await ctx.clients.publicClient.getBlockNumber({ cacheTime: 0 });
        await watcher.scan(head);
        lastBlock = head;
        if (deps.submit !== false) await submitter.submitDue(abort.signal);
        if (degraded) {
          degraded = false;
          metrics.degraded.set(0);
          log.info('chain reachable again: verifier resumed');
          events.emit('recovered', {});
        }
        backoff.reset();
        await pause(pollMs);
      } catch (err) {
        if (abort.signal.aborted) break;
        metrics.rpcErrors.inc();
        lastError = shortError(err);
        const wait = backoff.next();
        if (!degraded) {
          degraded = true;
          metrics.degraded.set(1);
          events.emit('degraded', { error: lastError });
        }
        log.error({ error: lastError, retryInMs: Math.round(wait) }, 'verifier loop failed: backing off');
        await pause(wait);
      }
    }
  })();

  const status = (): VerifierStatus => ({
    running: !abort.signal.aborted,
    degraded,
    lastError,
    consecutiveFailures: backoff.consecutiveFailures,
    lastBlock,
    receipts: store.counts(),
    slashes: store.slashes().length,
    account: account.address,
  });

  async function accept(body: unknown): Promise<{ results: ItemResult[] }> {
    let items;
    try {
      items = parseReceiptsBody(body, maxBatch);
    } catch (err) {
      if (err instanceof HttpError) metrics.malformed.inc();
      throw err;
    }
    const results: ItemResult[] = new Array(items.length);
    const fresh: number[] = [];
    const inBatch = new Set<string>();
    for (let i = 0; i < items.length; i++) {
      const { receipt: r } = items[i];
      const refusal = await offChainRefusal(items[i], domain);
      if (refusal) {
        results[i] = { status: 'rejected', reason: refusal };
        continue;
      }
      const key = `${r.source.toLowerCase()}:${r.taskId}`;
      if (inBatch.has(key) || store.exists(r.source, r.taskId)) {
        results[i] = { status: 'duplicate', reason: 'a receipt for this (source, taskId) was already accepted' };
        continue;
      }
      inBatch.add(key);
      fresh.push(i);
    }
    const inserted = store.insert(fresh.map((i) => items[i])); // committed before we answer
    fresh.forEach((i, k) => {
      results[i] = inserted[k]
        ? { status: 'accepted' }
        : { status: 'duplicate', reason: 'a receipt for this (source, taskId) was already accepted' };
    });
    for (const r of results) metrics.received.inc({ result: r.status });
    fresh.forEach((i, k) => {
      if (inserted[k]) events.emit('accepted', { source: items[i].receipt.source, taskId: items[i].receipt.taskId, sink: items[i].receipt.sink });
    });
    if (inserted.some(Boolean)) wake?.();
    return { results };
  }

  const query = (req: IncomingMessage) => new URL(req.url ?? '/', 'http://x').searchParams;

  let http: HttpService | undefined;
  if (deps.http !== false) {
    http = await startHttpService({
      host: deps.http?.host,
      port: deps.http?.port ?? 0,
      log,
      metrics: registry,
      health: () => {
        const s = status();
        return { ok: s.running && !s.degraded, ...s };
      },
      routes: [
        { method: 'POST', path: '/v1/receipts', handle: (body) => accept(body) },
        {
          method: 'GET',
          path: '/v1/receipts',
          handle: (_body, req) => {
            const q = query(req);
            const source = q.get('source');
            const taskId = q.get('taskId');
            if (source === null && taskId === null) return { counts: store.counts() };
            if (!source || !isAddress(source, { strict: false })) throw new HttpError(400, 'source must be an address');
            if (!taskId || !isHex(taskId) || taskId.length !== 66) throw new HttpError(400, 'taskId must be a 32-byte hex string');
            const row = store.get(source as Address, taskId as Hex);
            if (!row) throw new HttpError(404, 'no receipt for this (source, taskId)');
            return { source: row.source, taskId: row.taskId, taskTypeId: row.taskTypeId, sink: row.sink, status: row.status, reason: row.reason, txHash: row.txHash, attempts: row.attempts };
          },
        },
        {
          method: 'GET',
          path: '/v1/slashes',
          handle: (_body, req) => {
            const sink = query(req).get('sink');
            if (sink !== null && !isAddress(sink, { strict: false })) throw new HttpError(400, 'sink must be an address');
            return { slashes: store.slashes(sink ? (sink as Address) : undefined) };
          },
        },
      ],
    });
  }

  return {
    url: http?.url,
    metrics: registry,
    store,
    submit: accept,
    status,
    on(event, listener) {
      events.on(event, listener);
      return () => events.off(event, listener);
    },
    async stop() {
      abort.abort();
      await loop;
      await http?.close();
      store.close();
    },
  };
}
