/**
 * RebalanceEngine: the keeper's loop. Each poll reads the head block, scans the new logs (task
 * types, pipelines, failed unit pushes, flow changes on pools, judged windows), and runs the
 * duties of every task type that an event touched, whose next time-driven check (an epoch end, a
 * receipt grace, a drain interval) has come, or that has gone `resyncSec` without a check (the
 * fallback for anything the logs missed). A poll that cannot reach the chain marks the keeper
 * degraded and backs off; it resumes from where it was once the node answers again.
 */
import { EventEmitter } from 'node:events';
import type { Account, Address, Hex } from 'viem';
import type { BpeContext } from '../../chain/bpe/actions.ts';
import { Backoff, sleep } from '../common/backoff.ts';
import type { Logger } from '../common/log.ts';
import { shortError } from '../common/revert.ts';
import { DUTY_KINDS, type DutyKind } from './config.ts';
import { upkeepPipeline, upkeepTaskType, type DutyEnv, type KeeperEventName } from './duties.ts';
import { DutyExecutor, type TxRecord } from './executor.ts';
import { ChainFollower, type TaskTypeRef } from './follower.ts';
import type { KeeperMetrics } from './metrics.ts';

export interface EngineOptions {
  ctx: BpeContext;
  account: Account;
  /** Superfluid's GDA: its flow events tell when a source's stream into a pool changed. */
  gda?: Address;
  startBlock: bigint;
  knownTaskTypes?: TaskTypeRef[];
  pollMs: number;
  duties: Record<DutyKind, boolean>;
  drainIntervalSec: number;
  resyncSec: number;
  maxLogRange: number;
  log: Logger;
  metrics: KeeperMetrics;
}

export interface KeeperStatus {
  running: boolean;
  degraded: boolean;
  lastError?: string;
  consecutiveFailures: number;
  lastBlock?: bigint;
  lastBlockTime?: bigint;
  polls: number;
  account: Address;
  taskTypes: number;
  pipelines: number;
  txSent: number;
  duties: Record<DutyKind, boolean>;
}

export class RebalanceEngine extends EventEmitter {
  readonly exec: DutyExecutor;
  private readonly follower: ChainFollower;
  private readonly backoff = new Backoff({ initialMs: 200, maxMs: 10_000 });
  private readonly abort = new AbortController();
  private loop?: Promise<void>;
  private degraded = false;
  private lastError?: string;
  private polls = 0;
  private lastBlock?: bigint;
  private lastBlockTime?: bigint;
  /** Task types with an event not yet handled (kept until their upkeep completes). */
  private readonly dirty = new Set<Hex>();
  private readonly nextCheck = new Map<Hex, bigint>();
  private readonly pushFailed = new Map<Hex, Set<Address>>();
  private readonly env: DutyEnv;

  constructor(private readonly opts: EngineOptions) {
    super();
    this.exec = new DutyExecutor(opts.ctx, opts.account, opts.metrics, opts.log);
    this.follower = new ChainFollower(opts.ctx, opts.gda, opts.startBlock, BigInt(opts.maxLogRange), opts.knownTaskTypes);
    for (const t of opts.knownTaskTypes ?? []) this.dirty.add(t.id);
    this.env = {
      ctx: opts.ctx,
      account: opts.account,
      exec: this.exec,
      enabled: opts.duties,
      drainIntervalSec: BigInt(opts.drainIntervalSec),
      emit: (event, detail) => this.publish(event, detail),
    };
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  /** Transactions this keeper sent (most recent last). */
  get sent(): readonly TxRecord[] {
    return this.exec.sent;
  }

  status(): KeeperStatus {
    return {
      running: this.loop !== undefined && !this.abort.signal.aborted,
      degraded: this.degraded,
      lastError: this.lastError,
      consecutiveFailures: this.backoff.consecutiveFailures,
      lastBlock: this.lastBlock,
      lastBlockTime: this.lastBlockTime,
      polls: this.polls,
      account: this.opts.account.address,
      taskTypes: this.follower.taskTypes.size,
      pipelines: this.follower.pipelines.size,
      txSent: this.exec.sent.length,
      duties: this.opts.duties,
    };
  }

  private publish(event: KeeperEventName, detail: Record<string, unknown>): void {
    try {
      this.emit(event, detail);
    } catch (err) {
      this.opts.log.error({ err, event }, 'a keeper event listener threw');
    }
  }

  private async run(): Promise<void> {
    const { log, metrics } = this.opts;
    const signal = this.abort.signal;
    log.info({ account: this.opts.account.address, duties: this.opts.duties }, 'keeper started');
    while (!signal.aborted) {
      try {
        await this.tick();
        if (this.degraded) {
          this.degraded = false;
          metrics.degraded.set(0);
          log.info({ block: this.lastBlock?.toString() }, 'chain reachable again: keeper resumed');
          this.publish('recovered', { block: this.lastBlock });
        }
        this.backoff.reset();
        await sleep(this.opts.pollMs, signal);
      } catch (err) {
        if (signal.aborted) break;
        metrics.rpcErrors.inc();
        this.lastError = shortError(err);
        const wait = this.backoff.next();
        if (!this.degraded) {
          this.degraded = true;
          metrics.degraded.set(1);
          this.publish('degraded', { error: this.lastError });
        }
        log.error({ error: this.lastError, retryInMs: Math.round(wait), failures: this.backoff.consecutiveFailures }, 'poll failed: backing off');
        await sleep(wait, signal);
      }
    }
    log.info('keeper stopped');
  }

  private async tick(): Promise<void> {
    const { ctx, metrics } = this.opts;
    this.polls += 1;
    const block = await ctx.clients.publicClient.getBlock({ blockTag: 'latest' });
    const head = block.number;
    const now = block.timestamp;
    if (head < this.follower.cursor) {
      this.opts.log.warn({ head: head.toString(), cursor: this.follower.cursor.toString() }, 'the chain head went back: rescanning from it');
      this.follower.rewindTo(head);
      for (const id of this.follower.taskTypes.keys()) this.dirty.add(id);
    }
    if (head > this.follower.cursor) {
      const scan = await this.follower.scan(head);
      for (const id of scan.dirty) this.dirty.add(id);
      for (const { taskTypeId, sink } of scan.pushFailed) {
        let set = this.pushFailed.get(taskTypeId);
        if (!set) this.pushFailed.set(taskTypeId, (set = new Set()));
        set.add(sink);
        this.dirty.add(taskTypeId);
      }
      for (const j of scan.judged) {
        if (j.slashed === 0n) continue;
        metrics.slashes.inc();
        this.opts.log.warn({ taskTypeId: j.taskTypeId, sink: j.sink, slashed: j.slashed.toString(), tx: j.txHash }, 'sink slashed');
        this.publish('slashed', { ...j });
      }
      this.publish('block', { number: head, timestamp: now });
    }
    this.lastBlock = head;
    this.lastBlockTime = now;
    metrics.lastBlock.set(Number(head));
    metrics.taskTypes.set(this.follower.taskTypes.size);

    const checked = new Set<Hex>();
    const resync = BigInt(this.opts.resyncSec);
    for (const t of this.follower.taskTypes.values()) {
      const due = this.nextCheck.get(t.id);
      if (!this.dirty.has(t.id) && due !== undefined && due > now) continue;
      const failed = this.pushFailed.get(t.id) ?? new Set<Address>();
      const next = await upkeepTaskType(this.env, t, now, failed);
      this.nextCheck.set(t.id, next < now + resync ? next : now + resync);
      this.dirty.delete(t.id);
      checked.add(t.id);
    }
    for (const [id, stages] of this.follower.pipelines) {
      if (stages.some((s) => checked.has(s))) await upkeepPipeline(this.env, id, stages);
    }
  }
}

export const ALL_DUTIES: Record<DutyKind, boolean> = Object.fromEntries(DUTY_KINDS.map((k) => [k, true])) as Record<DutyKind, boolean>;
