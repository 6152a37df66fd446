/**
 * The source's side of a BPE stream: open, change and close one account's stream into a task
 * type's pool, and obey the escrow buffer's saturation signal.
 *
 * Every change first books the source's credit (`CompletionTracker.checkpoint`): the GDA records
 * only a stream's current segment, so a change without a checkpoint would forfeit the receipt
 * credit the earlier segment paid for. Then the stream is set (`setStream`).
 *
 * `poll()` is one step of flow control: while the task type's buffer is saturated (its level has
 * reached `bufferMax`, so the sinks are absorbing less than arrives) it pauses the stream (or, with
 * `reduceTo`, lowers it) and remembers the rate the app asked for; once saturation falls below
 * `resumeBelowBps` it restores that rate. The gap between "saturated" (100 %) and the resume
 * threshold (50 % by default) is hysteresis: the stream does not flap around the limit.
 *
 * Events: `opened` (rate), `adjusted` (rate, previous), `paused` (info), `resumed` (info),
 * `closed`, `error` (error: a failed poll on the `start` interval).
 */
import { EventEmitter } from 'node:events';
import { keccak256, parseAbi, toBytes, zeroAddress, type Account, type Address, type Hex } from 'viem';
import { gdaAbi, gdaForwarderAbi, superTokenAbi, superfluidPoolAbi } from '../chain/abis.ts';
import { BackpressurePool, CapacityRegistry, CompletionTracker, EscrowBuffer } from '../chain/bpe/artifacts.generated.ts';
import { setStream, type BpeContext } from '../chain/bpe/actions.ts';
import { write } from '../chain/deploy.ts';

/** Resume once saturation is below this many basis points of `bufferMax`. */
export const DEFAULT_RESUME_BELOW_BPS = 5000;

export interface StreamLifecycleOptions {
  /** Resume the remembered rate once saturation falls below this (bps of `bufferMax`, 1..10000;
   * default 5000). */
  resumeBelowBps?: number;
  /** While saturated, stream this fraction of the desired rate instead of pausing (0 < f < 1). */
  reduceTo?: number;
}

export type StreamState = 'idle' | 'streaming' | 'paused' | 'closed';

export interface SaturationInfo {
  /** The rate now streaming (0 when paused, the reduced rate with `reduceTo`). */
  rate: bigint;
  /** The rate the app asked for, restored on resume. */
  desiredRate: bigint;
  saturationBps: bigint;
}

export interface StreamLifecycleEvents {
  opened: [rate: bigint];
  adjusted: [rate: bigint, previous: bigint];
  paused: [info: SaturationInfo];
  resumed: [info: SaturationInfo];
  closed: [];
  error: [error: unknown];
}

/** The task type does not exist (no pool): nothing was sent. */
export class UnknownTaskTypeError extends Error {
  constructor(readonly taskTypeId: Hex) {
    super(`unknown task type ${taskTypeId}: the BackpressurePool has no pool for it`);
    this.name = 'UnknownTaskTypeError';
  }
}

/**
 * The GDA rounds a pool's flow rate down to a multiple of its total units: with no units (no sink
 * with capacity yet) or a rate below the units, the stream would be set at 0 wei/s and stay there
 * until set again. Nothing was sent.
 */
export class RateRoundsToZeroError extends Error {
  constructor(readonly pool: Address, readonly flowRate: bigint, readonly totalUnits: bigint) {
    super(
      totalUnits === 0n
        ? `pool ${pool} has no units yet (no sink has declared capacity): a stream of ${flowRate} wei/s would flow at 0; open it once a sink has joined`
        : `pool ${pool} has ${totalUnits} units: a stream of ${flowRate} wei/s rounds down to 0; stream at least ${totalUnits} wei/s`,
    );
    this.name = 'RateRoundsToZeroError';
  }
}

/** The source cannot put up the GDA deposit the stream needs: nothing was sent. */
export class InsufficientBalanceError extends Error {
  constructor(
    readonly source: Address,
    readonly flowRate: bigint,
    /** Token wei the source can put up: available balance plus this stream's current deposit. */
    readonly available: bigint,
    /** Token wei the GDA locks for the new rate (rate × liquidation period, at least the minimum deposit). */
    readonly required: bigint,
    readonly liquidationPeriod: bigint,
  ) {
    super(
      `source ${source} cannot stream ${flowRate} wei/s: the deposit is ${required} wei ` +
        `(${liquidationPeriod} s of flow) but only ${available} wei of Super Token is available`,
    );
    this.name = 'InsufficientBalanceError';
  }
}

/** Methods on Superfluid's host, governance and token that the deposit check reads. */
const superfluidReadAbi = parseAbi([
  'function getHost() view returns (address host)',
  'function getGovernance() view returns (address governance)',
  'function getAgreementClass(bytes32 agreementType) view returns (address agreementClass)',
  'function getConfigAsUint256(address host, address superToken, bytes32 key) view returns (uint256 value)',
]);
// Superfluid's governance keys (Definitions.sol): the GDA uses the CFA's PPP configuration.
const PPP_CONFIG_KEY = keccak256(toBytes('org.superfluid-finance.agreements.ConstantFlowAgreement.v1.PPPConfiguration'));
const MINIMUM_DEPOSIT_KEY = keccak256(toBytes('org.superfluid-finance.superfluid.superTokenMinimumDeposit'));
const GDA_TYPE = keccak256(toBytes('org.superfluid-finance.agreements.GeneralDistributionAgreement.v1'));

const BPS = 10_000n;

// Typed `on` / `once` / `off` / `emit` (Node 20's types have no generic EventEmitter).
export interface StreamLifecycle {
  on<E extends keyof StreamLifecycleEvents>(event: E, listener: (...args: StreamLifecycleEvents[E]) => void): this;
  once<E extends keyof StreamLifecycleEvents>(event: E, listener: (...args: StreamLifecycleEvents[E]) => void): this;
  off<E extends keyof StreamLifecycleEvents>(event: E, listener: (...args: StreamLifecycleEvents[E]) => void): this;
  emit<E extends keyof StreamLifecycleEvents>(event: E, ...args: StreamLifecycleEvents[E]): boolean;
}

export class StreamLifecycle extends EventEmitter {
  readonly resumeBelowBps: bigint;
  /** `reduceTo` in basis points, or undefined to pause. */
  readonly reduceToBps: bigint | undefined;

  #state: StreamState = 'idle';
  #desiredRate = 0n;
  #currentRate = 0n;
  #target: Promise<{ pool: Address; token: Address }> | undefined;
  // Operations run one at a time: a poll landing during an adjust would otherwise act on a stale rate.
  #queue: Promise<unknown> = Promise.resolve();
  #timer: ReturnType<typeof setInterval> | undefined;
  #polling = false;

  constructor(
    readonly ctx: BpeContext,
    readonly source: Account,
    readonly taskTypeId: Hex,
    options: StreamLifecycleOptions = {},
  ) {
    super();
    const { resumeBelowBps = DEFAULT_RESUME_BELOW_BPS, reduceTo } = options;
    if (!Number.isInteger(resumeBelowBps) || resumeBelowBps < 1 || resumeBelowBps > 10_000) {
      throw new RangeError(`resumeBelowBps must be an integer in 1..10000, got ${resumeBelowBps}`);
    }
    if (reduceTo !== undefined && !(typeof reduceTo === 'number' && reduceTo > 0 && reduceTo < 1)) {
      throw new RangeError(`reduceTo must be a fraction strictly between 0 and 1, got ${reduceTo}`);
    }
    this.resumeBelowBps = BigInt(resumeBelowBps);
    this.reduceToBps = reduceTo === undefined ? undefined : BigInt(Math.round(reduceTo * 10_000));
  }

  get state(): StreamState {
    return this.#state;
  }

  /** The rate the app asked for (what a resume restores). */
  get desiredRate(): bigint {
    return this.#desiredRate;
  }

  /** The rate streaming now (0 while paused, lower while reduced). */
  get currentRate(): bigint {
    return this.#currentRate;
  }

  /** Starts the stream at `rate` wei/s. */
  open(rate: bigint): Promise<void> {
    return this.#serial(async () => {
      if (this.#state !== 'idle') throw new Error(`cannot open: the stream is ${this.#state}`);
      checkRate(rate);
      await this.#apply(rate);
      this.#desiredRate = rate;
      this.#state = 'streaming';
      this.emit('opened', rate);
    });
  }

  /** Changes the desired rate. While paused it is only remembered (reduced mode applies the
   * reduced share of it): the buffer is still full, so streaming more would only add to it. */
  adjust(rate: bigint): Promise<void> {
    return this.#serial(async () => {
      if (this.#state !== 'streaming' && this.#state !== 'paused') throw new Error(`cannot adjust: the stream is ${this.#state}`);
      checkRate(rate);
      const previous = this.#desiredRate;
      const next = this.#state === 'paused' ? this.#throttled(rate) : rate;
      if (next !== this.#currentRate) await this.#apply(next);
      this.#desiredRate = rate;
      this.emit('adjusted', rate, previous);
    });
  }

  /** Stops the stream (after booking its credit) and the polling interval. */
  close(): Promise<void> {
    this.stop();
    return this.#serial(async () => {
      if (this.#state === 'closed') return;
      if (this.#currentRate !== 0n) await this.#apply(0n);
      this.#state = 'closed';
      this.#desiredRate = 0n;
      this.emit('closed');
    });
  }

  /**
   * One step of flow control: reads the buffer's saturation and pauses (or reduces), or resumes.
   * Returns what it did. Rejects on an RPC failure; the `start` interval emits that as `error`.
   */
  poll(): Promise<'paused' | 'resumed' | 'unchanged'> {
    return this.#serial(async () => {
      if (this.#state !== 'streaming' && this.#state !== 'paused') return 'unchanged';
      const { publicClient } = this.ctx.clients;
      const buffer = { address: this.ctx.bpe.escrowBuffer, abi: EscrowBuffer.abi, args: [this.taskTypeId] } as const;
      const [saturated, saturationBps] = await Promise.all([
        publicClient.readContract({ ...buffer, functionName: 'isSaturated' }),
        publicClient.readContract({ ...buffer, functionName: 'saturationBps' }),
      ]);
      if (this.#state === 'streaming' && saturated) {
        const rate = this.#throttled(this.#desiredRate);
        if (rate !== this.#currentRate) await this.#apply(rate);
        this.#state = 'paused';
        this.emit('paused', { rate, desiredRate: this.#desiredRate, saturationBps });
        return 'paused';
      }
      if (this.#state === 'paused' && saturationBps < this.resumeBelowBps) {
        const rate = this.#desiredRate;
        if (rate !== this.#currentRate) await this.#apply(rate);
        this.#state = 'streaming';
        this.emit('resumed', { rate, desiredRate: rate, saturationBps });
        return 'resumed';
      }
      return 'unchanged';
    });
  }

  /** Polls every `intervalMs`. A failed poll is emitted as `error` (kept in `lastError` when
   * nobody listens), never thrown out of the timer; a tick is skipped while one is running. */
  start(intervalMs: number): void {
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) throw new RangeError(`intervalMs must be positive, got ${intervalMs}`);
    this.stop();
    this.#timer = setInterval(() => {
      if (this.#polling) return;
      this.#polling = true;
      this.poll()
        .catch((err: unknown) => {
          this.lastError = err;
          // EventEmitter throws an 'error' nobody listens to: that would crash the process from a timer.
          if (this.listenerCount('error') > 0) this.emit('error', err);
        })
        .finally(() => {
          this.#polling = false;
        });
    }, intervalMs);
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The last error of a poll on the `start` interval. */
  lastError: unknown;

  // ---------------------------------------------------------------- internals

  #throttled(rate: bigint): bigint {
    return this.reduceToBps === undefined ? 0n : (rate * this.reduceToBps) / BPS;
  }

  #serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(op, op);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Checks the task type and the deposit (before anything is sent), checkpoints, sets the stream.
   * Two transactions: what the old rate pays between their blocks (a block's worth) is not booked. */
  async #apply(rate: bigint): Promise<void> {
    const { pool, token } = await this.#resolve();
    if (rate > 0n) await this.#checkDeposit(token, pool, rate);
    await write(this.ctx, 'checkpointing source credit', {
      account: this.source,
      address: this.ctx.bpe.completionTracker,
      abi: CompletionTracker.abi,
      functionName: 'checkpoint',
      args: [this.taskTypeId, this.source.address],
    });
    await setStream(this.ctx, this.source, token, pool, rate);
    this.#currentRate = rate;
  }

  #resolve(): Promise<{ pool: Address; token: Address }> {
    this.#target ??= (async () => {
      const { publicClient } = this.ctx.clients;
      const pool = await publicClient.readContract({
        address: this.ctx.bpe.backpressurePool, abi: BackpressurePool.abi, functionName: 'getPool', args: [this.taskTypeId],
      });
      if (pool === zeroAddress) throw new UnknownTaskTypeError(this.taskTypeId);
      const taskType = await publicClient.readContract({
        address: this.ctx.bpe.capacityRegistry, abi: CapacityRegistry.abi, functionName: 'taskType', args: [this.taskTypeId],
      });
      return { pool, token: taskType.token };
    })();
    // A failed lookup (RPC error) is retried next time rather than remembered.
    this.#target.catch(() => {
      this.#target = undefined;
    });
    return this.#target;
  }

  /**
   * The GDA locks rate × liquidation period (at least the token's minimum deposit) when a stream
   * is set and reverts if the sender's available balance goes negative; checking first turns that
   * opaque revert into an error naming both amounts, and sends nothing. The actual rate is the
   * requested one rounded down to the pool's units, as the GDA will set it; a rate that rounds to
   * 0 is refused too (it would pay nothing until set again).
   */
  async #checkDeposit(token: Address, pool: Address, rate: bigint): Promise<void> {
    const { publicClient } = this.ctx.clients;
    const from = this.source.address;
    const host = await publicClient.readContract({ address: token, abi: superfluidReadAbi, functionName: 'getHost' });
    const [governance, gda, [actualRate], [available]] = await Promise.all([
      publicClient.readContract({ address: host, abi: superfluidReadAbi, functionName: 'getGovernance' }),
      publicClient.readContract({ address: host, abi: superfluidReadAbi, functionName: 'getAgreementClass', args: [GDA_TYPE] }),
      publicClient.readContract({
        address: this.ctx.framework.gdaV1Forwarder, abi: gdaForwarderAbi, functionName: 'estimateFlowDistributionActualFlowRate',
        args: [token, from, pool, rate],
      }),
      publicClient.readContract({ address: token, abi: superTokenAbi, functionName: 'realtimeBalanceOfNow', args: [from] }),
    ]);
    const config = (key: Hex) =>
      publicClient.readContract({ address: governance, abi: superfluidReadAbi, functionName: 'getConfigAsUint256', args: [host, token, key] });
    const [ppp, minimumDeposit, [, , currentDeposit]] = await Promise.all([
      config(PPP_CONFIG_KEY),
      config(MINIMUM_DEPOSIT_KEY),
      publicClient.readContract({ address: gda, abi: gdaAbi, functionName: 'getFlow', args: [token, from, pool] }),
    ]);
    if (actualRate === 0n && rate > 0n) {
      const totalUnits = await publicClient.readContract({ address: pool, abi: superfluidPoolAbi, functionName: 'getTotalUnits' });
      throw new RateRoundsToZeroError(pool, rate, totalUnits);
    }
    const liquidationPeriod = (ppp >> 32n) & 0xffffffffn;
    let required = actualRate * liquidationPeriod;
    if (actualRate > 0n && required < minimumDeposit) required = minimumDeposit;
    // The deposit this stream already holds is released by the change.
    const canPay = available + currentDeposit;
    if (canPay < required) throw new InsufficientBalanceError(from, rate, canPay, required, liquidationPeriod);
  }
}

function checkRate(rate: bigint): void {
  if (typeof rate !== 'bigint' || rate < 0n || rate >= 2n ** 95n) {
    throw new RangeError(`rate must be a bigint in wei/s between 0 and 2^95 - 1, got ${String(rate)}`);
  }
}
