/**
 * The sink operator's one object: stake, registration, pool connection, a bounded task queue that
 * measures capacity, capacity declarations on a schedule, checked task intake, completion receipts
 * and handing back pay it did not earn.
 *
 * Lifecycle: `start()` stakes up to `stake` (if the sink is not registered yet and holds less),
 * registers, connects to the task type's pool, then every `updateIntervalMs` runs `tick()`:
 * `update()`, and once per epoch `settle()`; `stop()` refuses new tasks and waits for the accepted ones and their
 * receipts; `leave()` also hands back unearned pay, deregisters and starts unbonding the stake.
 *
 * Declaring (`update()`): the capacity to declare is the `CapacityComputer`'s reading of the
 * queue's completed tasks (`initialCapacity` until the first one finishes), times
 * `overDeclareFactor`; the backlog is the queue's (waiting + running). The registry moves its EWMA
 * one step per declaration, so the agent keeps declaring while the smoothed capacity on chain is
 * outside the pool's 5 % deadband of the target (capped by the registration's allowance), at most
 * once per `minUpdateInterval` (read from the chain, and, with an oracle, from its own last
 * attestation, which the oracle may not have relayed yet). With an oracle it signs an attestation
 * (capacity + backlog, a nonce above the chain's, the chain's clock as timestamp) and posts it;
 * it also attests when only the backlog changed (an oracle still unreachable after its retries: the
 * outage is an `error` event and the sink declares on chain instead, unless `fallbackToChain` is
 * false; likewise a receipt the verifier cannot take is recorded on chain). Without one it declares by commit-reveal
 * (`SinkDeclarer`) and reports a changed backlog with `reportBacklog` (not rate-limited; sent when it
 * crosses zero or moves outside the deadband).
 *
 * Intake (`submit`): a request is refused (`RequestRefusedError`, with a `reason` code, and the
 * `taskRejected` event) unless it names this sink and task type, comes from another account, was
 * not done before, is signed by its source (`verifyRequest`), has not passed its deadline (chain
 * clock) and, with `checkSourceCredit` (default), the source has paid credit for at least one base
 * fee (otherwise the receipt would be refused as `UnpaidReceipt` after the work); then the queue
 * may still refuse it (full, duplicate, draining). `submit` resolves with the worker's result.
 *
 * Receipts: after the work the sink signs the completion (`completedAt` = the chain's latest block
 * time, so the receipt is never "in the future") and posts it to the verifier, or records it on
 * chain itself (`recordCompletion`, paying the gas) when there is none. `flush()` waits for them.
 *
 * Unearned pay (`settle()`), the rule: over the CompletionTracker's open evaluation window, the
 * sink kept `received − returned` (from the pool, minus what it handed back); it has earned the
 * base fee for every task it completed: receipts counted on chain and receipts the verifier
 * accepted but has not recorded yet. Tasks still in the queue do not count: their receipts land
 * after the judgement at the earliest and count in the next window, so pay kept for them now would
 * be charged as a shortfall (the buffer pays it out again to sinks with room). Whole base
 * fees beyond that, `floor((kept − earned × fee) / fee) × fee`, go back to the buffer
 * (`returnPayment`): the tracker then stops expecting work for them, and the buffer pays them to
 * sinks with room. Less than one fee stays: the tracker counts paid tasks as `floor(kept / fee)`, so
 * it adds no expected task. The scheduler settles once per epoch, shortly before the tracker can
 * judge the window (`receiptGrace` after the epoch ends; see `#settleEpoch`); `leave()` settles
 * before deregistering. A sink that over-declares (`overDeclareFactor > 1`) keeps its pay by
 * default (`returnUnearned: false`): it is the lying sink the shortfall rule exists to slash.
 *
 * Events: `attested` (a declaration sent: via oracle or chain), `taskDone`, `taskFailed` (the worker
 * threw), `taskRejected`, `receiptSent`, `returned` (pay handed back), `error` (a failure on the
 * schedule or while sending a receipt; kept in `lastError` when nobody listens).
 */
import { EventEmitter } from 'node:events';
import { erc20Abi, isAddressEqual, zeroAddress, type Address, type Hex, type LocalAccount, type TransactionReceipt } from 'viem';
import { gdaForwarderAbi, superTokenAbi } from '../chain/abis.ts';
import { CapacityRegistry, CompletionTracker, EscrowBuffer, StakeManager } from '../chain/bpe/artifacts.generated.ts';
import {
  connectPool,
  deregisterSink,
  poolOf,
  receivedFromPool,
  registerSink,
  returnPayment,
  stake,
  stakeAccount,
  unstake,
  type BpeContext,
} from '../chain/bpe/actions.ts';
import {
  baseFee,
  recordCompletion,
  reportBacklog,
  signAttestation,
  signCompletion,
  verifyRequest,
  type CompletionReceipt,
  type SignedAttestation,
  type TaskRequest,
} from '../chain/bpe/verification.ts';
import { needsUpdate, REBALANCE_THRESHOLD_BPS } from '../core/deadband.ts';
import type { CapacityComputerOptions } from './capacityComputer.ts';
import { CapacityComputer } from './capacityComputer.ts';
import { BpeError, ServiceUnavailableError, UpdateTooFrequentError, toBpeError } from './errors.ts';
import { OracleClient, type OracleClientOptions } from './oracleClient.ts';
import type { ItemResult } from './serviceClient.ts';
import { SinkDeclarer, type SinkDeclarerOptions } from './sinkDeclarer.ts';
import { UnknownTaskTypeError } from './streamLifecycle.ts';
import { DuplicateTaskError, QueueDrainingError, QueueFullError, TaskQueueManager, TaskRejectedError } from './taskQueue.ts';
import { VerifierClient, type VerifierClientOptions } from './verifierClient.ts';

export type SinkWorker<P, R> = (payload: P, request: TaskRequest) => Promise<R>;

export interface SinkAgentOptions<P, R> {
  ctx: BpeContext;
  /** The sink's key (signs attestations and completions, sends its transactions). */
  account: LocalAccount;
  taskTypeId: Hex;
  /** Does one task. A throw fails the task (no receipt). */
  worker: SinkWorker<P, R>;
  /** Tasks run in parallel. */
  concurrency: number;
  /** Tasks that may wait for a slot. Default 4 × concurrency. */
  maxQueue?: number;
  /** The capacity oracle (URL or client); without one, commit-reveal and `reportBacklog`. */
  oracle?: string | OracleClientOptions | OracleClient;
  /** The verifier (URL or client); without one, receipts are recorded on chain by the sink. */
  verifier?: string | VerifierClientOptions | VerifierClient;
  /** Stake (stake-token wei) to hold before registering; topped up if below. Default the
   * deployment's minimum. The registration's allowance is stake / stakeUnit / stakeUnitsPerTask
   * tasks per epoch: stake enough to back the capacity you will declare. */
  stake?: bigint;
  /** Tasks/epoch to declare until the first task has been measured. Default 0: the pool pays (and
   * a weighted source sends) nothing to a sink with no capacity, so give an estimate. */
  initialCapacity?: bigint | number;
  /** Multiplies the declared capacity (default 1). Above 1 the sink lies (the demo's slashed sink). */
  overDeclareFactor?: number;
  /** Hand back pay beyond the tasks done (`settle`). Default true, false when over-declaring. */
  returnUnearned?: boolean;
  /** Refuse requests whose source has less paid credit than one base fee. Default true. */
  checkSourceCredit?: boolean;
  /** When the oracle or the verifier stays unreachable (`ServiceUnavailableError` after its
   * retries), declare by commit-reveal / record the receipt on chain instead (paying the gas), and
   * report the outage as an `error` event. Default true: no relayer can silence the sink. */
  fallbackToChain?: boolean;
  /** The schedule of `update()` (and the epoch's `settle()`); 0 disables it. Default 15 000. */
  updateIntervalMs?: number;
  /** Options of the commit-reveal declarer (a crash-safe `store`, `mineBlock` on a local chain). */
  declarer?: SinkDeclarerOptions;
  /** Options of the capacity computer (safety margin, window, threshold). */
  capacity?: Omit<CapacityComputerOptions, 'concurrency' | 'epochSeconds'>;
  /** Clock for task latencies in ms (default performance.now). */
  now?: () => number;
}

/** Why a request was refused. */
export type RefusalReason =
  | 'not-started'
  | 'draining'
  | 'wrong-sink'
  | 'wrong-task-type'
  | 'self-request'
  | 'bad-signature'
  | 'expired'
  | 'unpaid'
  | 'duplicate'
  | 'queue-full';

/** The sink refused a task request; `reason` says why (the queue's own error is the `cause`). */
export class RequestRefusedError extends TaskRejectedError {
  constructor(
    readonly reason: RefusalReason,
    taskId: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`task ${taskId} refused (${reason}): ${message}`, taskId);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** An item of a batch the oracle or verifier answered `rejected`. */
export class ItemRejectedError extends BpeError {
  constructor(readonly service: string, readonly reason: string, what: string) {
    super('ItemRejected', [service, reason], `${service} rejected ${what}: ${reason}`);
    this.name = 'ItemRejectedError';
  }
}

export interface AttestedInfo {
  via: 'oracle' | 'chain';
  /** The capacity declared (undefined for a backlog-only report on chain). */
  capacity?: bigint;
  backlog: bigint;
  /** The attestation's nonce (oracle). */
  nonce?: number;
  /** The oracle's answer (oracle). */
  status?: ItemResult['status'];
}

export interface UpdateResult {
  /** What was sent: an attestation, a commit-reveal declaration (with or without a backlog
   * report), a backlog report alone, nothing needed, or nothing allowed yet. */
  action: 'attested' | 'declared' | 'backlog' | 'none' | 'too-soon';
  /** The capacity to declare now (after `overDeclareFactor`). */
  capacity: bigint;
  backlog: bigint;
  /** The smoothed capacity on chain before this update. */
  smoothed: bigint;
  /** With `too-soon`: the unix time (chain clock) from which a declaration is allowed. */
  nextUpdateAt?: bigint;
}

export interface ReceiptInfo {
  receipt: CompletionReceipt;
  sinkSignature: Hex;
  sourceSignature: Hex;
  via: 'verifier' | 'chain';
  /** `accepted`/`duplicate` from the verifier; `accepted` once recorded on chain. */
  status: ItemResult['status'];
  /** The `recordCompletion` transaction (chain). */
  transaction?: TransactionReceipt;
}

export interface SettleResult {
  /** Token wei handed back now (0 when nothing was due). */
  returned: bigint;
  /** Kept in the open window before this call: received − returned since it opened. */
  kept: bigint;
  /** Tasks the kept pay is for: counted receipts + receipts pending at the verifier + backlog. */
  earnedTasks: bigint;
  baseFee: bigint;
  /** False when the tracker has no open window for the sink yet (nothing is expected of it). */
  windowOpen: boolean;
}

export interface SinkAgentEvents<R> {
  attested: [info: AttestedInfo];
  taskDone: [request: TaskRequest, result: R, latencySeconds: number];
  taskFailed: [request: TaskRequest, error: unknown];
  taskRejected: [request: TaskRequest, error: RequestRefusedError];
  receiptSent: [info: ReceiptInfo];
  returned: [result: SettleResult];
  error: [error: unknown];
}

interface AgentTask<P> {
  readonly id: string;
  readonly request: TaskRequest;
  readonly sourceSignature: Hex;
  readonly payload: P;
}

// Typed `on` / `once` / `off` / `emit` (Node 20's types have no generic EventEmitter).
export interface SinkAgent<P, R> {
  on<E extends keyof SinkAgentEvents<R>>(event: E, listener: (...args: SinkAgentEvents<R>[E]) => void): this;
  once<E extends keyof SinkAgentEvents<R>>(event: E, listener: (...args: SinkAgentEvents<R>[E]) => void): this;
  off<E extends keyof SinkAgentEvents<R>>(event: E, listener: (...args: SinkAgentEvents<R>[E]) => void): this;
  emit<E extends keyof SinkAgentEvents<R>>(event: E, ...args: SinkAgentEvents<R>[E]): boolean;
}

const MAX_40_BITS = 2n ** 40n - 1n;
/** Task keys remembered as done (replays refused); the oldest are forgotten beyond this. */
const DONE_MEMORY = 10_000;

export class SinkAgent<P = unknown, R = unknown> extends EventEmitter {
  readonly ctx: BpeContext;
  readonly account: LocalAccount;
  readonly taskTypeId: Hex;
  readonly queue: TaskQueueManager<AgentTask<P>, R>;
  readonly declarer: SinkDeclarer;
  readonly oracle: OracleClient | undefined;
  readonly verifier: VerifierClient | undefined;
  readonly overDeclareFactor: number;
  readonly returnUnearned: boolean;
  readonly checkSourceCredit: boolean;
  readonly fallbackToChain: boolean;
  readonly updateIntervalMs: number;
  readonly initialCapacity: bigint;
  /** The last error on the schedule or of a receipt (also emitted as `error` if anyone listens). */
  lastError: unknown;

  readonly #worker: SinkWorker<P, R>;
  readonly #stakeTarget: bigint | undefined;
  readonly #waiters = new Map<string, { resolve: (r: R) => void; reject: (e: unknown) => void }>();
  readonly #done = new Set<string>();
  readonly #receipts = new Set<Promise<void>>();
  /** Receipts the verifier accepted and the chain may not have counted yet. */
  readonly #atVerifier = new Map<string, { source: Address; taskId: Hex }>();
  #pool: Address | undefined;
  #started = false;
  #stopping = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticking = false;
  #lastNonce = 0;
  #lastAttestedAt = 0n;
  #lastAttestedBacklog: bigint | undefined;
  #settledEpoch: bigint | undefined;
  #minUpdateInterval: bigint | undefined;
  // The sink's transactions, one at a time (one account, one nonce sequence).
  #txQueue: Promise<unknown> = Promise.resolve();
  // One update or settle at a time.
  #opQueue: Promise<unknown> = Promise.resolve();

  constructor(options: SinkAgentOptions<P, R>) {
    super();
    const { ctx, account, taskTypeId, worker, concurrency, overDeclareFactor = 1 } = options;
    if (typeof worker !== 'function') throw new TypeError('worker must be a function');
    if (!(Number.isFinite(overDeclareFactor) && overDeclareFactor > 0)) {
      throw new RangeError(`overDeclareFactor must be a positive number, got ${overDeclareFactor}`);
    }
    const initial = BigInt(options.initialCapacity ?? 0);
    if (initial < 0n || initial > MAX_40_BITS) throw new RangeError(`initialCapacity must be in 0..2^40-1, got ${initial}`);
    const updateIntervalMs = options.updateIntervalMs ?? 15_000;
    if (!(Number.isFinite(updateIntervalMs) && updateIntervalMs >= 0)) throw new RangeError(`updateIntervalMs must be >= 0, got ${updateIntervalMs}`);
    this.ctx = ctx;
    this.account = account;
    this.taskTypeId = taskTypeId;
    this.#worker = worker;
    this.#stakeTarget = options.stake;
    this.overDeclareFactor = overDeclareFactor;
    this.returnUnearned = options.returnUnearned ?? overDeclareFactor <= 1;
    this.checkSourceCredit = options.checkSourceCredit ?? true;
    this.fallbackToChain = options.fallbackToChain ?? true;
    this.updateIntervalMs = updateIntervalMs;
    this.initialCapacity = initial;
    this.oracle = toClient(options.oracle, OracleClient);
    this.verifier = toClient(options.verifier, VerifierClient);
    const capacity = new CapacityComputer({ ...options.capacity, concurrency, epochSeconds: ctx.bpe.params.epochSeconds });
    this.queue = new TaskQueueManager<AgentTask<P>, R>({
      worker: (task) => this.#worker(task.payload, task.request),
      concurrency,
      maxQueue: options.maxQueue ?? 4 * concurrency,
      capacity,
      now: options.now,
    });
    this.declarer = new SinkDeclarer(ctx, account, taskTypeId, options.declarer);
    this.queue.on('completed', (task, result, latency) => this.#completed(task, result, latency));
    this.queue.on('failed', (task, error) => this.#failed(task, error));
  }

  get address(): Address {
    return this.account.address;
  }

  /** Whether `start` has run and `stop` has not. */
  get running(): boolean {
    return this.#started && !this.#stopping;
  }

  /** The capacity to declare now: measured (or `initialCapacity`), times `overDeclareFactor`; 0 while stopping. */
  get targetCapacity(): bigint {
    if (this.#stopping || this.queue.draining) return 0n;
    const measured = this.queue.capacity.observed > 0 ? this.queue.capacity.capacity() : this.initialCapacity;
    const declared = BigInt(Math.floor(Number(measured) * this.overDeclareFactor));
    return declared > MAX_40_BITS ? MAX_40_BITS : declared;
  }

  /**
   * Stakes (up to `stake`, only if not registered yet), registers, connects to the pool and starts
   * the schedule. Idempotent on chain: a sink already registered and connected sends nothing.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    if (this.#stopping) throw new Error('this SinkAgent was stopped; create a new one');
    const { publicClient } = this.ctx.clients;
    const pool = await poolOf(this.ctx, this.taskTypeId);
    if (pool === zeroAddress) throw new UnknownTaskTypeError(this.taskTypeId);
    this.#pool = pool;
    const registry = { address: this.ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi } as const;
    const [registered, connected, interval] = await Promise.all([
      publicClient.readContract({ ...registry, functionName: 'isRegistered', args: [this.taskTypeId, this.address] }),
      publicClient.readContract({
        address: this.ctx.framework.gdaV1Forwarder, abi: gdaForwarderAbi, functionName: 'isMemberConnected', args: [pool, this.address],
      }),
      publicClient.readContract({ ...registry, functionName: 'minUpdateInterval' }),
    ]);
    this.#minUpdateInterval = interval;
    if (!registered) {
      await this.#tx(() => this.#ensureStake());
      await this.#tx(() => registerSink(this.ctx, this.account, this.taskTypeId), 'registering sink');
    }
    if (!connected) await this.#tx(() => connectPool(this.ctx, this.account, pool), 'connecting to the pool');
    this.#settledEpoch = this.#settleEpoch(await this.#chainNow());
    this.#started = true;
    if (this.updateIntervalMs > 0) {
      this.#timer = setInterval(() => void this.tick(), this.updateIntervalMs);
      this.#timer.unref?.();
    }
  }

  /** One declaration round (see the module comment). Rejects on a chain or service failure. */
  update(): Promise<UpdateResult> {
    return this.#op(async () => {
      const [state, now] = await Promise.all([this.#sinkState(), this.#chainNow()]);
      if (state.index === 0) throw new BpeError('NotRegistered', [this.taskTypeId, this.address], `sink ${this.address} is not registered for task type ${this.taskTypeId}; call start()`);
      const capacity = this.targetCapacity;
      const backlog = BigInt(this.queue.backlog);
      const smoothed = BigInt(state.smoothed);
      const allowance = BigInt(state.allowance);
      const effective = capacity < allowance ? capacity : allowance;
      const capacityDue = needsUpdate(smoothed, effective, REBALANCE_THRESHOLD_BPS);
      const lastUpdate = BigInt(state.lastUpdate) > this.#lastAttestedAt ? BigInt(state.lastUpdate) : this.#lastAttestedAt;
      const nextUpdateAt = lastUpdate + (await this.#interval());
      // The declaration lands in a later block, at least one second on (as SinkDeclarer checks).
      const allowed = lastUpdate === 0n || now + 1n >= nextUpdateAt;
      const result = { capacity, backlog, smoothed };

      if (this.oracle) {
        const backlogDue = backlog !== (this.#lastAttestedBacklog ?? BigInt(state.backlog));
        if (!capacityDue && !backlogDue) return { ...result, action: 'none' };
        if (!allowed) return { ...result, action: 'too-soon', nextUpdateAt };
        const attestation = await this.#sign(capacity, backlog, now, state.nonce);
        let answer: ItemResult | undefined;
        try {
          [answer] = await this.oracle.submit([attestation]);
        } catch (err) {
          if (!(this.fallbackToChain && err instanceof ServiceUnavailableError)) throw err;
          // The oracle is down: say so, and declare on chain below (commit-reveal cannot be censored).
          this.#error(err);
        }
        if (answer) {
          if (answer.status === 'rejected') {
            throw new ItemRejectedError('oracle', answer.reason ?? 'no reason given', `the attestation with nonce ${attestation.nonce}`);
          }
          this.#lastAttestedAt = now;
          this.#lastAttestedBacklog = backlog;
          this.emit('attested', { via: 'oracle', capacity, backlog, nonce: attestation.nonce, status: answer.status });
          return { ...result, action: 'attested' };
        }
      }

      let declared = false;
      if (capacityDue && allowed) {
        try {
          await this.#tx(() => this.declarer.declare(capacity));
          declared = true;
        } catch (err) {
          if (!(err instanceof UpdateTooFrequentError)) throw err;
        }
      }
      const reported = BigInt(state.backlog);
      const backlogDue = (backlog === 0n) !== (reported === 0n) || needsUpdate(reported, backlog, REBALANCE_THRESHOLD_BPS);
      if (backlogDue) await this.#tx(() => reportBacklog(this.ctx, this.account, this.taskTypeId, backlog), 'reporting backlog');
      if (declared || backlogDue) this.emit('attested', { via: 'chain', capacity: declared ? capacity : undefined, backlog });
      if (declared) return { ...result, action: 'declared' };
      if (backlogDue) return { ...result, action: 'backlog' };
      return capacityDue ? { ...result, action: 'too-soon', nextUpdateAt } : { ...result, action: 'none' };
    });
  }

  /** Signs an attestation of the current capacity and backlog now (chain clock, next nonce), for
   * relaying yourself (`submitAttestations`) or through another oracle. Advances the nonce. */
  async attestation(): Promise<SignedAttestation> {
    const [state, now] = await Promise.all([this.#sinkState(), this.#chainNow()]);
    return this.#sign(this.targetCapacity, BigInt(this.queue.backlog), now, state.nonce);
  }

  /**
   * Takes a task: checks the request (see the module comment), queues it, resolves with the
   * worker's result once done (rejects with the worker's error). Refusals reject with
   * `RequestRefusedError` and emit `taskRejected`. The receipt follows in the background.
   */
  async submit(request: TaskRequest, sourceSignature: Hex, payload: P): Promise<R> {
    const id = taskKey(request.source, request.taskId);
    const refuse = (reason: RefusalReason, message: string, cause?: unknown): never => {
      const error = new RequestRefusedError(reason, request.taskId, message, { cause });
      this.emit('taskRejected', request, error);
      throw error;
    };
    if (!this.#started) refuse('not-started', 'the sink agent has not started');
    if (this.#stopping) refuse('draining', 'the sink is stopping and accepts no new tasks');
    if (!isAddressEqual(request.sink, this.address)) refuse('wrong-sink', `the request names sink ${request.sink}, this is ${this.address}`);
    if (request.taskTypeId.toLowerCase() !== this.taskTypeId.toLowerCase()) {
      refuse('wrong-task-type', `the request is for task type ${request.taskTypeId}, this sink serves ${this.taskTypeId}`);
    }
    if (isAddressEqual(request.source, this.address)) refuse('self-request', 'a sink cannot be its own source');
    if (this.#done.has(id)) refuse('duplicate', 'this task was already done');
    const [valid, now] = await Promise.all([verifyRequest(this.ctx, request, sourceSignature), this.#chainNow()]);
    if (!valid) refuse('bad-signature', `the request is not signed by its source ${request.source}`);
    if (request.deadline <= now) refuse('expired', `the deadline ${request.deadline} has passed (chain time ${now})`);
    if (this.checkSourceCredit) {
      const [credit, fee] = await Promise.all([this.#creditOf(request.source), baseFee(this.ctx, this.taskTypeId)]);
      if (credit < fee) refuse('unpaid', `source ${request.source} has paid credit ${credit}, below the base fee ${fee}`);
    }
    if (this.#stopping) refuse('draining', 'the sink is stopping and accepts no new tasks');
    return new Promise<R>((resolve, reject) => {
      this.#waiters.set(id, { resolve, reject });
      try {
        this.queue.submit({ id, request, sourceSignature, payload });
      } catch (err) {
        this.#waiters.delete(id);
        const reason: RefusalReason =
          err instanceof QueueFullError ? 'queue-full' : err instanceof DuplicateTaskError ? 'duplicate' : err instanceof QueueDrainingError ? 'draining' : 'queue-full';
        try {
          refuse(reason, err instanceof Error ? err.message : String(err), err);
        } catch (refusal) {
          reject(refusal);
        }
      }
    });
  }

  /** Waits until every receipt sent so far has been posted or recorded (failures are `error` events). */
  async flush(): Promise<void> {
    while (this.#receipts.size > 0) await Promise.allSettled([...this.#receipts]);
  }

  /** Hands back unearned pay of the open evaluation window (the rule is in the module comment). */
  settle(): Promise<SettleResult> {
    return this.#op(() => this.#settle());
  }

  /** Stops the schedule, refuses new tasks, waits for the accepted ones and their receipts. Final:
   * a stopped agent does not start again (create a new one on the same account). */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.queue.drain();
    await this.flush();
    await this.#opQueue.catch(() => undefined);
  }

  /**
   * Leaves the task type: `stop()`, hands back unearned pay (unless `returnUnearned` is false),
   * deregisters (capacity and pool units drop to zero at once) and, when the stake backs no other
   * registration and `unstake` is not false, starts unbonding all of it (`withdrawStake` after
   * `releaseAt`; it stays slashable until then, e.g. for this window's judgement).
   */
  async leave({ unstake: unstakeAll = true }: { unstake?: boolean } = {}): Promise<{ settled?: SettleResult; unstaked: bigint; releaseAt?: bigint }> {
    await this.stop();
    const settled = this.returnUnearned ? await this.#op(() => this.#settle()) : undefined;
    const state = await this.#sinkState();
    if (state.index !== 0) await this.#tx(() => deregisterSink(this.ctx, this.account, this.taskTypeId), 'deregistering sink');
    const account = await stakeAccount(this.ctx, this.address);
    if (!unstakeAll || account.registrations !== 0 || account.staked === 0n) return { settled, unstaked: 0n };
    await this.#tx(() => unstake(this.ctx, this.account, account.staked), 'unstaking');
    const after = await stakeAccount(this.ctx, this.address);
    return { settled, unstaked: account.staked, releaseAt: after.releaseAt };
  }

  /**
   * One round of the schedule: `update()`, then (with `returnUnearned`) `settle()` if an epoch has
   * ended since the last settle. Never rejects: failures are `error` events (`lastError`). A round
   * still running, or a stopping agent, makes it return at once.
   */
  async tick(): Promise<void> {
    if (this.#ticking || this.#stopping) return;
    this.#ticking = true;
    try {
      await this.update();
      if (this.returnUnearned) {
        const epoch = this.#settleEpoch(await this.#chainNow());
        if (this.#settledEpoch === undefined || epoch > this.#settledEpoch) {
          await this.settle();
          this.#settledEpoch = epoch;
        }
      }
    } catch (err) {
      this.#error(err);
    } finally {
      this.#ticking = false;
    }
  }

  // ---------------------------------------------------------------- internals

  /**
   * The epoch whose window the schedule settles next. A window is judged `receiptGrace` seconds
   * after its epoch ends, and pay keeps arriving until then: settling right at the epoch's end would
   * leave the grace period's pay unreturned. So the settle point is the judgement minus a lead of
   * two schedule rounds plus 5 s for the transaction (at most half the grace).
   */
  #settleEpoch(now: bigint): bigint {
    const { epochSeconds, receiptGrace } = this.ctx.bpe.params;
    const leadSeconds = BigInt(Math.ceil((2 * this.updateIntervalMs) / 1000) + 5);
    const lead = leadSeconds < receiptGrace / 2n ? leadSeconds : receiptGrace / 2n;
    const shifted = now + lead - receiptGrace;
    return shifted > 0n ? shifted / epochSeconds : 0n;
  }

  async #settle(): Promise<SettleResult> {
    const { publicClient } = this.ctx.clients;
    const tracker = { address: this.ctx.bpe.completionTracker, abi: CompletionTracker.abi } as const;
    const pool = this.#pool ?? (await poolOf(this.ctx, this.taskTypeId));
    const [window, received, returned, fee] = await Promise.all([
      publicClient.readContract({ ...tracker, functionName: 'windowOf', args: [this.taskTypeId, this.address] }),
      receivedFromPool(this.ctx, pool, this.address),
      publicClient.readContract({
        address: this.ctx.bpe.escrowBuffer, abi: EscrowBuffer.abi, functionName: 'returnedBy', args: [this.taskTypeId, this.address],
      }),
      baseFee(this.ctx, this.taskTypeId),
    ]);
    if (!window.opened) return { returned: 0n, kept: 0n, earnedTasks: 0n, baseFee: fee, windowOpen: false };
    // The tracker's 96-bit snapshots wrap: the difference over one window is what counts.
    const mask = 2n ** 96n - 1n;
    const receivedInWindow = (received - window.receivedAtStart) & mask;
    const returnedInWindow = (returned - window.returnedAtStart) & mask;
    const kept = receivedInWindow > returnedInWindow ? receivedInWindow - returnedInWindow : 0n;
    const pending = await this.#pendingAtVerifier();
    const earnedTasks = BigInt(window.completions) + pending;
    const earned = earnedTasks * fee;
    let amount = kept > earned ? ((kept - earned) / fee) * fee : 0n;
    if (amount > 0n) {
      const token = await this.#token();
      const [available] = await publicClient.readContract({ address: token, abi: superTokenAbi, functionName: 'realtimeBalanceOfNow', args: [this.address] });
      if (available < amount) amount = available > 0n ? available : 0n;
    }
    const result: SettleResult = { returned: amount, kept, earnedTasks, baseFee: fee, windowOpen: true };
    if (amount === 0n) return result;
    const token = await this.#token();
    await this.#tx(() => returnPayment(this.ctx, this.account, token, this.taskTypeId, amount), 'returning payment');
    this.emit('returned', result);
    return result;
  }

  /** Receipts the verifier accepted that the chain has not counted yet (counted ones are forgotten). */
  async #pendingAtVerifier(): Promise<bigint> {
    if (this.#atVerifier.size === 0) return 0n;
    const entries = [...this.#atVerifier];
    const counted = await Promise.all(
      entries.map(([, { source, taskId }]) =>
        this.ctx.clients.publicClient.readContract({
          address: this.ctx.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'isCounted', args: [this.taskTypeId, source, taskId],
        }),
      ),
    );
    entries.forEach(([key], i) => {
      if (counted[i]) this.#atVerifier.delete(key);
    });
    return BigInt(this.#atVerifier.size);
  }

  #completed(task: AgentTask<P>, result: R, latency: number): void {
    this.#remember(task.id);
    this.#waiters.get(task.id)?.resolve(result);
    this.#waiters.delete(task.id);
    this.emit('taskDone', task.request, result, latency);
    const sending = this.#sendReceipt(task)
      .catch((err: unknown) => this.#error(err))
      .finally(() => this.#receipts.delete(sending));
    this.#receipts.add(sending);
  }

  #failed(task: AgentTask<P>, error: unknown): void {
    this.#waiters.get(task.id)?.reject(error);
    this.#waiters.delete(task.id);
    this.emit('taskFailed', task.request, error);
  }

  async #sendReceipt(task: AgentTask<P>): Promise<void> {
    const completedAt = await this.#chainNow();
    const { request, sourceSignature } = task;
    if (completedAt > request.deadline) {
      throw new BpeError('CompletedAfterDeadline', [completedAt, request.deadline], `task ${request.taskId} finished at ${completedAt}, after its deadline ${request.deadline}: no receipt`);
    }
    const receipt: CompletionReceipt = { ...request, completedAt };
    const sinkSignature = await signCompletion(this.ctx, this.account, receipt);
    if (this.verifier) {
      let answer: ItemResult | undefined;
      try {
        [answer] = await this.verifier.submit([{ receipt, sinkSignature, sourceSignature }]);
      } catch (err) {
        if (!(this.fallbackToChain && err instanceof ServiceUnavailableError)) throw err;
        // The verifier is down: say so, and record the receipt ourselves before the window closes.
        this.#error(err);
      }
      if (answer) {
        if (answer.status === 'rejected') throw new ItemRejectedError('verifier', answer.reason ?? 'no reason given', `the receipt of task ${request.taskId}`);
        this.#atVerifier.set(task.id, { source: request.source, taskId: request.taskId });
        this.emit('receiptSent', { receipt, sinkSignature, sourceSignature, via: 'verifier', status: answer.status });
        return;
      }
    }
    let signed = { receipt, sinkSignature };
    let transaction: TransactionReceipt;
    try {
      transaction = await this.#tx(() => recordCompletion(this.ctx, this.account, signed.receipt, signed.sinkSignature, sourceSignature), 'recording a completion');
    } catch (err) {
      // The receipt opens the sink's window and an epoch began between reading the clock and the
      // block (ReceiptBeforeWindow): completedAt is the sink's to choose, so sign the completion
      // again at a time inside the new window and send it once more.
      // The refusal comes decoded from the gas estimate (its window start is the time to use), or
      // as a mined revert (the chain's clock has then moved into the new epoch).
      const epoch = this.ctx.bpe.params.epochSeconds;
      const retryAt = err instanceof BpeError && err.code === 'ReceiptBeforeWindow' ? (err.args[1] as bigint) : await this.#chainNow();
      if (retryAt / epoch <= completedAt / epoch || retryAt > request.deadline) throw err;
      const again: CompletionReceipt = { ...request, completedAt: retryAt };
      signed = { receipt: again, sinkSignature: await signCompletion(this.ctx, this.account, again) };
      transaction = await this.#tx(() => recordCompletion(this.ctx, this.account, signed.receipt, signed.sinkSignature, sourceSignature), 'recording a completion');
    }
    this.emit('receiptSent', { receipt: signed.receipt, sinkSignature: signed.sinkSignature, sourceSignature, via: 'chain', status: 'accepted', transaction });
  }

  async #sign(capacity: bigint, backlog: bigint, now: bigint, chainNonce: number): Promise<SignedAttestation> {
    const nonce = Math.max(this.#lastNonce, chainNonce) + 1;
    this.#lastNonce = nonce;
    return signAttestation(this.ctx, this.account, { taskTypeId: this.taskTypeId, capacity, backlog, nonce, timestamp: now });
  }

  async #ensureStake(): Promise<void> {
    const { publicClient } = this.ctx.clients;
    const target = this.#stakeTarget ?? this.ctx.bpe.params.minSinkStake;
    const { staked } = await stakeAccount(this.ctx, this.address);
    if (staked >= target) return;
    const missing = target - staked;
    const stakeToken = await publicClient.readContract({ address: this.ctx.bpe.stakeManager, abi: StakeManager.abi, functionName: 'stakeToken' });
    const balance = await publicClient.readContract({ address: stakeToken, abi: erc20Abi, functionName: 'balanceOf', args: [this.address] });
    if (balance < missing) {
      throw new BpeError(
        'InsufficientStakeTokens', [balance, missing],
        `sink ${this.address} holds ${balance} stake-token wei but needs ${missing} more to stake ${target} (it has ${staked} staked)`,
      );
    }
    await stake(this.ctx, this.account, missing);
  }

  async #sinkState() {
    return this.ctx.clients.publicClient.readContract({
      address: this.ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'sinkState', args: [this.taskTypeId, this.address],
    });
  }

  async #interval(): Promise<bigint> {
    this.#minUpdateInterval ??= await this.ctx.clients.publicClient.readContract({
      address: this.ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'minUpdateInterval',
    });
    return this.#minUpdateInterval;
  }

  #tokenAddress: Address | undefined;
  async #token(): Promise<Address> {
    if (this.#tokenAddress) return this.#tokenAddress;
    const t = await this.ctx.clients.publicClient.readContract({
      address: this.ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'taskType', args: [this.taskTypeId],
    });
    this.#tokenAddress = t.token;
    return t.token;
  }

  #creditOf(source: Address): Promise<bigint> {
    return this.ctx.clients.publicClient.readContract({
      address: this.ctx.bpe.completionTracker, abi: CompletionTracker.abi, functionName: 'creditOf', args: [this.taskTypeId, source],
    });
  }

  /** The chain's clock: the latest block's timestamp (what receipts and attestations are checked against). */
  async #chainNow(): Promise<bigint> {
    return (await this.ctx.clients.publicClient.getBlock({ blockTag: 'latest' })).timestamp;
  }

  #remember(id: string): void {
    this.#done.add(id);
    if (this.#done.size > DONE_MEMORY) this.#done.delete(this.#done.values().next().value!);
  }

  /** Runs the sink's transactions one at a time; contract reverts become typed errors. */
  #tx<T>(op: () => Promise<T>, what?: string): Promise<T> {
    const run = this.#txQueue.then(op, op).catch((err: unknown) => {
      throw what ? toBpeError(err, what) : err;
    });
    this.#txQueue = run.catch(() => undefined);
    return run;
  }

  #op<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#opQueue.then(op, op);
    this.#opQueue = run.catch(() => undefined);
    return run;
  }

  #error(err: unknown): void {
    this.lastError = err;
    // EventEmitter throws an 'error' nobody listens to: that would crash the process from a timer.
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

/** Task ids live in their source's namespace. */
function taskKey(source: Address, taskId: Hex): string {
  return `${source.toLowerCase()}:${taskId.toLowerCase()}`;
}

function toClient<C, O>(value: string | O | C | undefined, Client: new (o: string | O) => C): C | undefined {
  if (value === undefined) return undefined;
  return value instanceof Client ? value : new Client(value as string | O);
}

