/**
 * The capacity signal a sink declares, computed from what it measures while it works.
 *
 *   raw      = concurrency × epochSeconds / latency × (1 − errorRate)
 *   capacity = floor(raw × safetyMargin)            (tasks per epoch, a uint on chain)
 *
 * `latency` is the mean over a sliding window of the last `windowSize` tasks, failed ones included
 * (a failed task held a slot as long as it ran); `errorRate` is failed / total in the same window,
 * because a failed task earns no completion receipt. The two combine to
 * `raw = concurrency × epochSeconds × succeeded / Σ latency`, which is how it is computed: one
 * division, so round figures stay exact.
 *
 * The safety margin (default 0.95) keeps an honest sink clear of the shortfall penalty: the chain
 * charges every task short of 94 % of what the sink was paid for, so declaring a little below the
 * measured rate absorbs measurement noise without giving away much pay.
 *
 * Capacity is 0 before any task has been observed (nothing measured, nothing promised) and while
 * the sink drains (it takes no new work, so it must not be paid for any).
 *
 * `next()` adds hysteresis: a new capacity is reported only outside the pool's 5 % deadband
 * (`needsUpdate`, so below 20 tasks/epoch every change of one task passes), or when the backlog
 * crosses zero in either direction (the registry counts sinks with an empty queue as spare, so that
 * crossing changes where the pool sends money). Otherwise the last reported capacity is repeated and
 * nothing needs to be sent.
 */
import { needsUpdate, REBALANCE_THRESHOLD_BPS } from '../core/deadband.ts';

export const DEFAULT_SAFETY_MARGIN = 0.95;
export const DEFAULT_WINDOW_SIZE = 100;

export interface CapacityComputerOptions {
  /** Tasks the sink runs in parallel. */
  concurrency: number;
  /** Length of the deployment's epoch in seconds (`DEFAULT_PARAMS.epochSeconds`: 300). */
  epochSeconds: number | bigint;
  /** Fraction of the measured rate to declare, in (0, 1]. Default 0.95. */
  safetyMargin?: number;
  /** Relative change (basis points) a new capacity must exceed to be reported. Default 500 (5 %). */
  thresholdBps?: number;
  /** How many of the latest tasks the latency and error rate are measured over. Default 100. */
  windowSize?: number;
}

export interface CapacitySignal {
  /** Tasks per epoch to declare: the last reported value unless `changed`. */
  capacity: bigint;
  /** Tasks waiting or running now. */
  backlog: bigint;
  /** Whether this signal should be sent (a capacity outside the deadband, or backlog crossed zero). */
  changed: boolean;
}

export interface CapacityState {
  /** Tasks waiting or running. Default 0. */
  backlog?: number;
  /** The sink takes no new work: declare 0. Default false. */
  draining?: boolean;
}

function checkPositiveInteger(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

export class CapacityComputer {
  readonly concurrency: number;
  readonly epochSeconds: number;
  readonly safetyMargin: number;
  readonly thresholdBps: number;
  readonly windowSize: number;

  // Ring buffer of the window: latency in seconds and whether the task succeeded.
  readonly #latencies: number[] = [];
  readonly #ok: boolean[] = [];
  #cursor = 0;

  #reportedCapacity = 0n;
  #reportedBacklog = 0n;

  constructor(options: CapacityComputerOptions) {
    const {
      concurrency,
      epochSeconds,
      safetyMargin = DEFAULT_SAFETY_MARGIN,
      thresholdBps = REBALANCE_THRESHOLD_BPS,
      windowSize = DEFAULT_WINDOW_SIZE,
    } = options;
    checkPositiveInteger('concurrency', concurrency);
    const epoch = Number(epochSeconds);
    if (!Number.isFinite(epoch) || epoch <= 0) throw new RangeError(`epochSeconds must be a positive number, got ${epochSeconds}`);
    if (!(safetyMargin > 0 && safetyMargin <= 1)) throw new RangeError(`safetyMargin must be in (0, 1], got ${safetyMargin}`);
    if (!Number.isInteger(thresholdBps) || thresholdBps < 0 || thresholdBps > 10_000) {
      throw new RangeError(`thresholdBps must be an integer in [0, 10000], got ${thresholdBps}`);
    }
    checkPositiveInteger('windowSize', windowSize);
    this.concurrency = concurrency;
    this.epochSeconds = epoch;
    this.safetyMargin = safetyMargin;
    this.thresholdBps = thresholdBps;
    this.windowSize = windowSize;
  }

  /** Records one finished task: how long it ran and whether it succeeded. */
  observe(latencySeconds: number, ok: boolean): void {
    if (!Number.isFinite(latencySeconds) || latencySeconds < 0) {
      throw new RangeError(`latencySeconds must be a finite number >= 0, got ${latencySeconds}`);
    }
    this.#latencies[this.#cursor] = latencySeconds;
    this.#ok[this.#cursor] = ok;
    this.#cursor = (this.#cursor + 1) % this.windowSize;
  }

  /** Tasks observed in the window. */
  get observed(): number {
    return this.#latencies.length;
  }

  /** failed / total over the window; 0 before any observation. */
  get errorRate(): number {
    const n = this.#ok.length;
    return n === 0 ? 0 : this.#ok.filter((ok) => !ok).length / n;
  }

  /** Mean latency (seconds) over the window; 0 before any observation. */
  get latency(): number {
    const n = this.#latencies.length;
    return n === 0 ? 0 : this.#latencies.reduce((a, b) => a + b, 0) / n;
  }

  /** The capacity the measurements support now, before hysteresis. */
  capacity({ draining = false }: CapacityState = {}): bigint {
    const total = this.#latencies.reduce((a, b) => a + b, 0);
    // A window of zero latencies (a clock too coarse to time the tasks) measures no rate at all.
    if (draining || total === 0) return 0n;
    const succeeded = this.#ok.filter(Boolean).length;
    const raw = (this.concurrency * this.epochSeconds * succeeded) / total;
    // 0.95 and sums of latencies are inexact in binary: a product meant to be a whole number can land
    // one ulp below it, and flooring that would cost a task. 1e-9 relative is far above the error of
    // these few operations and far below one task.
    return BigInt(Math.floor(raw * this.safetyMargin * (1 + 1e-9)));
  }

  /** The signal to declare, with hysteresis against the last reported one. */
  next(state: CapacityState = {}): CapacitySignal {
    const backlogNumber = state.backlog ?? 0;
    if (!Number.isSafeInteger(backlogNumber) || backlogNumber < 0) {
      throw new RangeError(`backlog must be an integer >= 0, got ${backlogNumber}`);
    }
    const backlog = BigInt(backlogNumber);
    const capacity = this.capacity(state);
    const crossedZero = (backlog === 0n) !== (this.#reportedBacklog === 0n);
    const changed = crossedZero || needsUpdate(this.#reportedCapacity, capacity, this.thresholdBps);
    if (changed) {
      this.#reportedCapacity = capacity;
      this.#reportedBacklog = backlog;
    }
    return { capacity: this.#reportedCapacity, backlog, changed };
  }
}
