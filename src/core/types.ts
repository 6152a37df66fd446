/** Read-only numeric input: a plain array or any typed array. */
export type NumArray = ArrayLike<number>;

/** Writable numeric output: a plain array or a Float64Array (the simulator passes views). */
export interface MutNumArray {
  readonly length: number;
  [index: number]: number;
}

/**
 * What one allocation step did, besides the per-sink payments written into `out`.
 * A plain record so that callers in a hot loop can reuse one instance.
 */
export interface StepResult {
  /** Money paid to the sinks this step (the sum of `out`). */
  toSinks: number;
  /** Buffer content after the step. */
  buffer: number;
  /**
   * Inflow that could not be placed because the buffer is full: the sources pause for this much
   * (EscrowBuffer's saturation signal). Never more than the inflow.
   */
  refused: number;
  /** Total spare capacity `sum(max(0, capacity_k - backlog_k))` seen by the rule (0 when not used). */
  spare: number;
  /**
   * Water level `m`: below spare, the fraction of every spare filled (< 1); above spare, sink k is
   * filled to `m * capacity_k - backlog_k`, i.e. its predicted backlog is `(m - 1)` steps of its capacity.
   */
  level: number;
}

export function newStepResult(): StepResult {
  return { toSinks: 0, buffer: 0, refused: 0, spare: 0, level: 0 };
}
