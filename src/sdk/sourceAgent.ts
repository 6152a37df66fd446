/**
 * A source's runtime: its stream into a task type's pool (a `StreamLifecycle`: checkpointed
 * changes, paused while the escrow buffer is saturated) and the tasks it hands out.
 *
 * `send(payload)` picks a sink among those the pool pays (the registry's sink list, `sinksOf`, with
 * their pool units, `getUnits`; a sink with 0 units is paid nothing and gets nothing), at random with
 * probability units / total units, so tasks follow the money: each sink receives tasks in
 * proportion to what the pool pays it. It signs the `TaskRequest` (fresh random task id, deadline
 * = chain time + `deadlineSeconds`) and delivers it through the `TaskTransport`. A sink that refuses
 * (`TaskRejectedError`: full queue, draining, unreachable) is skipped and another one drawn, up to
 * `maxAttempts` sinks; any other failure fails the task.
 *
 * While the stream is paused by saturation, `send` refuses at once (`SourcePausedError`): the sinks
 * are full and the buffer holds what they cannot absorb, so new tasks would only queue. It resumes
 * with the stream (`poll()`, or `start(intervalMs)` to poll on an interval).
 *
 * The sink list and units are read at most every `sinkRefreshMs` (default 10 s; `refreshSinks()`
 * forces it).
 *
 * Events: `taskSent` (request, sink, attempt), `taskCompleted` (request, sink, result),
 * `taskFailed` (request, sink, error, willRetry), `paused`, `resumed` (the stream's saturation info),
 * `error` (a failed poll on the interval).
 */
import { EventEmitter } from 'node:events';
import { webcrypto } from 'node:crypto';
import { toHex, zeroAddress, type Address, type Hex, type LocalAccount } from 'viem';
import { poolOf, poolUnits, sinksOf, type BpeContext } from '../chain/bpe/actions.ts';
import { signRequest, type TaskRequest } from '../chain/bpe/verification.ts';
import { BpeError } from './errors.ts';
import { StreamLifecycle, UnknownTaskTypeError, type SaturationInfo, type StreamLifecycleOptions, type StreamState } from './streamLifecycle.ts';
import { TaskRejectedError } from './taskQueue.ts';
import type { TaskTransport } from './transport.ts';

export interface SourceAgentOptions<P, R> {
  ctx: BpeContext;
  /** The source's key: streams, signs requests. */
  account: LocalAccount;
  taskTypeId: Hex;
  transport: TaskTransport<P, R>;
  /** Options of the stream (resume threshold, reduce instead of pause). */
  stream?: StreamLifecycleOptions;
  /** Seconds from now (chain clock) a sink has to finish a task. Default 3600. */
  deadlineSeconds?: number | bigint;
  /** Sinks tried per task when they refuse. Default 3. */
  maxAttempts?: number;
  /** How long a read of the sinks and their units is reused, in ms. Default 10 000. */
  sinkRefreshMs?: number;
  /** Uniform random numbers in [0, 1) for the weighted draw (default Math.random; seed it in tests). */
  random?: () => number;
}

export interface SinkShare {
  sink: Address;
  /** Pool units: what the pool pays this sink, relative to the others. */
  units: bigint;
}

export interface SourceAgentEvents<R> {
  taskSent: [request: TaskRequest, sink: Address, attempt: number];
  taskCompleted: [request: TaskRequest, sink: Address, result: R];
  taskFailed: [request: TaskRequest, sink: Address, error: unknown, willRetry: boolean];
  paused: [info: SaturationInfo];
  resumed: [info: SaturationInfo];
  error: [error: unknown];
}

/** The stream is paused by the buffer's saturation: no task is sent. */
export class SourcePausedError extends BpeError {
  constructor(readonly taskTypeId: Hex) {
    super('SourcePaused', [taskTypeId], `task not sent: the stream into task type ${taskTypeId} is paused (its escrow buffer is saturated)`);
    this.name = 'SourcePausedError';
  }
}

/** No sink is paid by the pool (none registered with units), or every one refused. */
export class NoSinkAvailableError extends BpeError {
  constructor(readonly taskTypeId: Hex, readonly tried: readonly Address[]) {
    super(
      'NoSinkAvailable', [taskTypeId, tried],
      tried.length === 0
        ? `no sink of task type ${taskTypeId} has pool units`
        : `every sink of task type ${taskTypeId} with pool units refused or was tried (${tried.join(', ')})`,
    );
    this.name = 'NoSinkAvailableError';
  }
}

// Typed `on` / `once` / `off` / `emit` (Node 20's types have no generic EventEmitter).
export interface SourceAgent<P, R> {
  on<E extends keyof SourceAgentEvents<R>>(event: E, listener: (...args: SourceAgentEvents<R>[E]) => void): this;
  once<E extends keyof SourceAgentEvents<R>>(event: E, listener: (...args: SourceAgentEvents<R>[E]) => void): this;
  off<E extends keyof SourceAgentEvents<R>>(event: E, listener: (...args: SourceAgentEvents<R>[E]) => void): this;
  emit<E extends keyof SourceAgentEvents<R>>(event: E, ...args: SourceAgentEvents<R>[E]): boolean;
}

export class SourceAgent<P = unknown, R = unknown> extends EventEmitter {
  readonly ctx: BpeContext;
  readonly account: LocalAccount;
  readonly taskTypeId: Hex;
  readonly stream: StreamLifecycle;
  readonly transport: TaskTransport<P, R>;
  readonly deadlineSeconds: bigint;
  readonly maxAttempts: number;
  readonly sinkRefreshMs: number;

  readonly #random: () => number;
  #shares: { at: number; list: SinkShare[] } | undefined;
  #pool: Address | undefined;

  constructor(options: SourceAgentOptions<P, R>) {
    super();
    const { ctx, account, taskTypeId, transport, deadlineSeconds = 3600, maxAttempts = 3, sinkRefreshMs = 10_000 } = options;
    if (BigInt(deadlineSeconds) <= 0n) throw new RangeError(`deadlineSeconds must be positive, got ${deadlineSeconds}`);
    if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) throw new RangeError(`maxAttempts must be a positive integer, got ${maxAttempts}`);
    if (!(sinkRefreshMs >= 0)) throw new RangeError(`sinkRefreshMs must be >= 0, got ${sinkRefreshMs}`);
    this.ctx = ctx;
    this.account = account;
    this.taskTypeId = taskTypeId;
    this.transport = transport;
    this.deadlineSeconds = BigInt(deadlineSeconds);
    this.maxAttempts = maxAttempts;
    this.sinkRefreshMs = sinkRefreshMs;
    this.#random = options.random ?? Math.random;
    this.stream = new StreamLifecycle(ctx, account, taskTypeId, options.stream);
    this.stream.on('paused', (info) => this.emit('paused', info));
    this.stream.on('resumed', (info) => this.emit('resumed', info));
    this.stream.on('error', (err) => {
      if (this.listenerCount('error') > 0) this.emit('error', err);
    });
  }

  get address(): Address {
    return this.account.address;
  }

  /** The stream's state; `paused` means tasks are held back. */
  get state(): StreamState {
    return this.stream.state;
  }

  get paused(): boolean {
    return this.stream.state === 'paused';
  }

  /** Opens the stream at `rate` wei/s (see `StreamLifecycle.open`). */
  open(rate: bigint): Promise<void> {
    return this.stream.open(rate);
  }

  adjust(rate: bigint): Promise<void> {
    return this.stream.adjust(rate);
  }

  close(): Promise<void> {
    return this.stream.close();
  }

  /** One saturation check of the stream: pauses or resumes it (and task sending with it). */
  poll(): Promise<'paused' | 'resumed' | 'unchanged'> {
    return this.stream.poll();
  }

  /** Polls the stream every `intervalMs`. */
  start(intervalMs: number): void {
    this.stream.start(intervalMs);
  }

  stop(): void {
    this.stream.stop();
  }

  /** Reads the registered sinks and their pool units now (those with 0 units are left out). */
  async refreshSinks(): Promise<SinkShare[]> {
    const pool = await this.#poolAddress();
    const sinks = await sinksOf(this.ctx, this.taskTypeId);
    const units = await Promise.all(sinks.map((sink) => poolUnits(this.ctx, pool, sink)));
    const list = sinks.map((sink, i) => ({ sink, units: units[i]! })).filter((s) => s.units > 0n);
    this.#shares = { at: Date.now(), list };
    return list;
  }

  /** The sinks the pool pays and their units (cached for `sinkRefreshMs`). */
  async shares(): Promise<SinkShare[]> {
    if (this.#shares && Date.now() - this.#shares.at < this.sinkRefreshMs) return this.#shares.list;
    return this.refreshSinks();
  }

  /** Draws a sink with probability units / total units, leaving out `exclude`. */
  async pickSink(exclude: ReadonlySet<Address> = new Set()): Promise<Address> {
    const candidates = (await this.shares()).filter((s) => !exclude.has(s.sink));
    if (candidates.length === 0) throw new NoSinkAvailableError(this.taskTypeId, [...exclude]);
    return weightedPick(candidates, this.#random());
  }

  /**
   * Hands out one task and resolves with the sink's result. Rejects with `SourcePausedError` while
   * the stream is paused, `NoSinkAvailableError` when no sink (left) has units, or the last
   * sink's error.
   */
  async send(payload: P): Promise<R> {
    if (this.paused) throw new SourcePausedError(this.taskTypeId);
    const taskId = toHex(webcrypto.getRandomValues(new Uint8Array(32)));
    const tried = new Set<Address>();
    for (let attempt = 1; ; attempt++) {
      const sink = await this.pickSink(tried);
      const now = (await this.ctx.clients.publicClient.getBlock({ blockTag: 'latest' })).timestamp;
      const request: TaskRequest = { taskId, taskTypeId: this.taskTypeId, sink, source: this.address, deadline: now + this.deadlineSeconds };
      const signature = await signRequest(this.ctx, this.account, request);
      // Re-checked after the awaits: a poll may have paused the stream meanwhile.
      if (this.paused) throw new SourcePausedError(this.taskTypeId);
      this.emit('taskSent', request, sink, attempt);
      try {
        const result = await this.transport.deliver(sink, request, signature, payload);
        this.emit('taskCompleted', request, sink, result);
        return result;
      } catch (err) {
        tried.add(sink);
        const willRetry = err instanceof TaskRejectedError && attempt < this.maxAttempts && !this.paused;
        this.emit('taskFailed', request, sink, err, willRetry);
        if (!willRetry) throw err;
      }
    }
  }

  async #poolAddress(): Promise<Address> {
    if (this.#pool) return this.#pool;
    const pool = await poolOf(this.ctx, this.taskTypeId);
    if (pool === zeroAddress) throw new UnknownTaskTypeError(this.taskTypeId);
    this.#pool = pool;
    return pool;
  }
}

/** The sink whose cumulative units interval holds `u × total` (u uniform in [0, 1)). */
export function weightedPick(shares: readonly SinkShare[], u: number): Address {
  if (!(u >= 0 && u < 1)) throw new RangeError(`random number must be in [0, 1), got ${u}`);
  const total = shares.reduce((sum, s) => sum + s.units, 0n);
  if (total === 0n) throw new RangeError('no units to draw from');
  // 2^53 steps of resolution: exact enough for any realistic number of units.
  const SCALE = 2n ** 53n;
  let point = (BigInt(Math.floor(u * Number(SCALE))) * total) / SCALE;
  for (const s of shares) {
    if (point < s.units) return s.sink;
    point -= s.units;
  }
  return shares[shares.length - 1]!.sink;
}
