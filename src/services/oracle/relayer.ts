/**
 * Sends stored attestations to the OffchainAggregator in batches and records what the chain did
 * with each. Crash-safe: a batch's transaction is signed first, its hash written to the store
 * with the rows ('sending'), and only then broadcast; every cycle (so also after a restart)
 * starts by settling 'sending' rows from the chain: a receipt marks them by its events, a
 * transaction the node does not know sends them again. Resending is harmless: the registry
 * applies a (task type, sink) nonce at most once.
 *
 * Only the newest pending attestation of a (task type, sink) is sent; older ones are superseded.
 * One that would hit the registry's rate limit (minUpdateInterval) waits (a newer one may
 * supersede it meanwhile); one older than the aggregator's max age expires unsent. RPC failures
 * are logged and retried with backoff; nothing here throws out of the loop.
 */
import {
  BaseError,
  HttpRequestError,
  TimeoutError,
  encodeFunctionData,
  keccak256,
  parseEventLogs,
  TransactionReceiptNotFoundError,
  TransactionNotFoundError,
  type Hex,
  type TransactionReceipt,
} from 'viem';
import type { BpeContext } from '../../chain/bpe/actions.ts';
import { withGasHeadroom } from '../../chain/deploy.ts';
import { OffchainAggregator } from '../../chain/bpe/artifacts.generated.ts';
import { packAttestations, type SignedAttestation } from '../../chain/bpe/verification.ts';
import { Backoff, sleep } from '../common/backoff.ts';
import type { Logger } from '../common/log.ts';
import type { ChainClock } from './chainClock.ts';
import type { RegistryView } from './registryView.ts';
import type { OracleStore, StoredRow } from './store.ts';

/** ICapacityRegistry.Rejection, in enum order. */
export const REJECTION_NAMES = ['None', 'Stale', 'FromTheFuture', 'BadSignature', 'NotRegistered', 'NonceNotIncreasing', 'TooFrequent', 'OutOfRange'] as const;

/** Seconds of margin before max age: a row this close to expiry would land stale. */
const EXPIRY_MARGIN_S = 5;
/** Most gas one relay transaction may ask for: under EIP-7825's 16,777,216 per transaction. A
 * batch whose sinks all move pool units costs ~200k gas an item; larger ones are halved. */
export const MAX_RELAY_GAS = 16_000_000n;

export interface RelayerOptions {
  ctx: BpeContext;
  store: OracleStore;
  clock: ChainClock;
  registry: RegistryView;
  log: Logger;
  batchSize: number;
  intervalMs: number;
  /** The aggregator's max age and the registry's minUpdateInterval, seconds. */
  maxAge: number;
  minUpdateInterval: number;
  /** How often to ask for a receipt, ms. */
  pollMs: number;
  /** Wait for a receipt at most this long before settling the batch on a later cycle. */
  receiptTimeoutMs?: number;
  events?: RelayerEvents;
}

export interface RelayerEvents {
  batchMined?(info: { txHash: Hex; items: number; accepted: number; gasUsed: bigint }): void;
  itemSettled?(outcome: 'relayed' | 'rejected' | 'deferred' | 'superseded' | 'expired', reason?: string): void;
  failure?(stage: string): void;
}

export class Relayer {
  private readonly backoff = new Backoff({ initialMs: 200, maxMs: 15_000 });
  private stopping = new AbortController();
  private wakeUp = new AbortController();
  private loop: Promise<void> | undefined;
  /** Consecutive failed cycles (for /health). */
  failures = 0;
  lastError: string | undefined;

  constructor(private readonly o: RelayerOptions) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Relay now instead of at the next interval (called when a batch may be full). */
  wake(): void {
    this.wakeUp.abort();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.wakeUp.abort();
    await this.loop;
  }

  /** One cycle by hand (what the loop does each time): settle 'sending' rows, send one batch.
   * Returns how many rows the batch held. Throws on RPC errors (the loop backs off instead). */
  async relayOnce(): Promise<number> {
    await this.settleSending();
    const batch = await this.plan();
    if (batch.length) await this.send(batch);
    return batch.length;
  }

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      let full = false;
      try {
        full = (await this.relayOnce()) === this.o.batchSize;
        this.backoff.reset();
        this.failures = 0;
        this.lastError = undefined;
      } catch (err) {
        this.failures++;
        this.lastError = (err as Error).message.split('\n')[0];
        this.o.events?.failure?.('cycle');
        const wait = this.backoff.next();
        this.o.log.warn({ err: this.lastError, retryInMs: Math.round(wait) }, 'relay cycle failed');
        await sleep(wait, this.stopping.signal);
        continue;
      }
      if (full) continue; // more may be waiting
      // stop() aborts wakeUp too. A wake() during the cycle ends this sleep at once: its rows
      // were committed after the cycle read the store.
      await sleep(this.o.intervalMs, this.wakeUp.signal);
      if (this.wakeUp.signal.aborted && !this.stopping.signal.aborted) this.wakeUp = new AbortController();
    }
  }

  /** Settles rows left 'sending' (by a crash, or a receipt that did not come in time). */
  async settleSending(): Promise<void> {
    const { publicClient } = this.o.ctx.clients;
    const byTx = new Map<Hex, StoredRow[]>();
    for (const row of this.o.store.rowsWithStatus('sending')) {
      if (row.txHash) byTx.set(row.txHash, [...(byTx.get(row.txHash) ?? []), row]);
    }
    for (const [hash, rows] of byTx) {
      let receipt: TransactionReceipt | undefined;
      try {
        receipt = await publicClient.getTransactionReceipt({ hash });
      } catch (err) {
        if (!(err instanceof TransactionReceiptNotFoundError)) throw err;
      }
      if (receipt) {
        this.record(hash, rows, receipt);
        continue;
      }
      try {
        await publicClient.getTransaction({ hash });
        this.o.log.info({ txHash: hash }, 'relay transaction still pending');
      } catch (err) {
        if (!(err instanceof TransactionNotFoundError)) throw err;
        this.o.log.info({ txHash: hash, items: rows.length }, 'relay transaction never reached the chain: sending again');
        this.o.store.unsend(hash, rows.map((r) => r.id));
      }
    }
  }

  /** Picks the next batch; supersedes, expires and defers rows on the way. */
  async plan(): Promise<StoredRow[]> {
    const now = this.o.clock.now();
    const superseded = this.o.store.supersedePending('a newer nonce of this sink was relayed instead');
    for (let i = 0; i < superseded; i++) this.o.events?.itemSettled?.('superseded');
    // One pending row per (task type, sink) is left.
    const newest = this.o.store.rowsWithStatus('pending');
    const expired: StoredRow[] = [];
    const batch: StoredRow[] = [];
    for (const row of newest) {
      if (Number(row.timestamp) + this.o.maxAge < now + EXPIRY_MARGIN_S) expired.push(row);
      else if (row.notBefore <= now && batch.length < this.o.batchSize) {
        if (this.o.minUpdateInterval > 0) {
          // The registry would refuse a second EWMA step within minUpdateInterval (TooFrequent).
          const { lastUpdate } = await this.o.registry.get(row.taskTypeId, row.sink);
          const next = lastUpdate + this.o.minUpdateInterval;
          if (lastUpdate !== 0 && next > now) {
            this.o.store.defer([row.id], next, null);
            continue;
          }
        }
        batch.push(row);
      }
    }
    if (expired.length) {
      this.o.store.setStatus(
        expired.map((r) => ({ id: r.id, status: 'expired' as const, reason: `older than the aggregator's max age (${this.o.maxAge} s) before it could be relayed` })),
      );
      for (const _ of expired) this.o.events?.itemSettled?.('expired');
    }
    return batch;
  }

  private async send(rows: StoredRow[]): Promise<void> {
    const { ctx } = this.o;
    const { publicClient, walletClient, account } = ctx.clients;
    const items: SignedAttestation[] = rows.map((r) => ({
      taskTypeId: r.taskTypeId, sink: r.sink, capacity: r.capacity, backlog: r.backlog, nonce: r.nonce, timestamp: r.timestamp, r: r.r, vs: r.vs,
    }));
    const data = encodeFunctionData({ abi: OffchainAggregator.abi, functionName: 'submitAttestations', args: [packAttestations(items)] });
    const to = ctx.bpe.offchainAggregator;
    let estimate: bigint;
    try {
      estimate = await publicClient.estimateGas({ account, to, data });
    } catch (err) {
      // Not a transport failure: the node refused the estimate (e.g. above the block's gas limit).
      const transport = err instanceof BaseError && err.walk((e) => e instanceof HttpRequestError || e instanceof TimeoutError);
      if (transport || rows.length === 1) throw err;
      return this.send(rows.slice(0, Math.ceil(rows.length / 2)));
    }
    if (withGasHeadroom(estimate) > MAX_RELAY_GAS && rows.length > 1) {
      this.o.log.info({ items: rows.length, estimate: estimate.toString() }, 'relay batch too heavy for one transaction: halving it');
      return this.send(rows.slice(0, Math.ceil(rows.length / 2)));
    }
    const request = await walletClient.prepareTransactionRequest({
      account, to, data, gas: withGasHeadroom(estimate), chain: walletClient.chain,
    });
    const serialized = await walletClient.signTransaction(request as Parameters<typeof walletClient.signTransaction>[0]);
    const hash = keccak256(serialized);
    const ids = rows.map((r) => r.id);
    // Durable before broadcast: a crash from here on is settled from the chain on restart.
    this.o.store.markSending(ids, hash);
    try {
      await publicClient.sendRawTransaction({ serializedTransaction: serialized });
    } catch (err) {
      // The node may have taken it anyway (a lost reply); if it does not know it, nothing was sent.
      const known = await publicClient.getTransaction({ hash }).then(() => true, () => false);
      if (!known) this.o.store.unsend(hash, ids);
      throw err;
    }
    this.o.log.info({ txHash: hash, items: rows.length }, 'relay transaction sent');
    const receipt = await this.waitForReceipt(hash);
    this.record(hash, rows, receipt);
  }

  /** Polls for the receipt (a plain loop: no block watcher whose first tick can be missed). */
  private async waitForReceipt(hash: Hex): Promise<TransactionReceipt> {
    const deadline = performance.now() + (this.o.receiptTimeoutMs ?? 120_000);
    for (;;) {
      try {
        return await this.o.ctx.clients.publicClient.getTransactionReceipt({ hash });
      } catch (err) {
        if (!(err instanceof TransactionReceiptNotFoundError)) throw err;
      }
      if (performance.now() > deadline || this.stopping.signal.aborted) {
        throw new Error(`no receipt for relay transaction ${hash} yet: settled on a later cycle`);
      }
      await sleep(this.o.pollMs, this.stopping.signal);
    }
  }

  /** Marks the rows of a mined transaction by its events. */
  private record(hash: Hex, rows: StoredRow[], receipt: TransactionReceipt): void {
    if (receipt.status !== 'success') {
      this.o.log.warn({ txHash: hash, gasUsed: receipt.gasUsed.toString() }, 'relay transaction reverted: its attestations go back to pending');
      this.o.store.unsend(hash, rows.map((r) => r.id));
      this.o.events?.failure?.('reverted');
      return;
    }
    const logs = receipt.logs.filter((l) => l.address.toLowerCase() === this.o.ctx.bpe.offchainAggregator.toLowerCase());
    const reasons = new Map<string, number>();
    for (const e of parseEventLogs({ abi: OffchainAggregator.abi, eventName: 'AttestationRejected', logs })) {
      reasons.set(`${e.args.taskTypeId.toLowerCase()}:${e.args.sink.toLowerCase()}:${e.args.nonce}`, e.args.reason);
    }
    const [summary] = parseEventLogs({ abi: OffchainAggregator.abi, eventName: 'AttestationsSubmitted', logs });
    const now = this.o.clock.now();
    const outcome = { relayed: [] as number[], rejected: [] as { id: number; reason: string }[], deferred: [] as { id: number; notBefore: number; reason: string }[] };
    for (const row of rows) {
      const code = reasons.get(`${row.taskTypeId}:${row.sink}:${row.nonce}`);
      if (code === undefined) {
        outcome.relayed.push(row.id);
        this.o.registry.applied(row.taskTypeId, row.sink, row.nonce, Math.floor(now));
        this.o.events?.itemSettled?.('relayed');
      } else if (REJECTION_NAMES[code] === 'TooFrequent') {
        outcome.deferred.push({ id: row.id, notBefore: Math.ceil(now) + this.o.minUpdateInterval, reason: 'TooFrequent (waiting for the rate limit)' });
        this.o.registry.forget(row.taskTypeId, row.sink);
        this.o.events?.itemSettled?.('deferred', 'TooFrequent');
      } else {
        const reason = REJECTION_NAMES[code] ?? `Rejection(${code})`;
        outcome.rejected.push({ id: row.id, reason });
        this.o.events?.itemSettled?.('rejected', reason);
      }
    }
    const accepted = Number(summary?.args.accepted ?? 0n);
    this.o.store.recordOutcome(hash, outcome, {
      gasUsed: receipt.gasUsed, blockNumber: receipt.blockNumber, accepted, rejected: rows.length - accepted,
    });
    this.o.events?.batchMined?.({ txHash: hash, items: rows.length, accepted, gasUsed: receipt.gasUsed });
    this.o.log.info({ txHash: hash, items: rows.length, accepted, gasUsed: receipt.gasUsed.toString() }, 'relay batch mined');
  }
}
