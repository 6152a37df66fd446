/**
 * The contracts' routing rule, in the simulator's units (money per step, price 1, one step = one
 * epoch = the EscrowBuffer's drainWindow):
 *
 *  - CapacityRegistry: a sink's pool weight is its QUEUE-ADJUSTED capacity
 *    `w_k = C_k / (1 + gamma * q_k / C_k)` (C_k its smoothed, stake-capped declared capacity, q_k its
 *    self-reported backlog; `w_k = C_k` without backlog, 0 without capacity);
 *  - BackpressurePool: the sinks absorb at most `A = sum_k w_k * price` per step; the EscrowBuffer's
 *    units take the overflow `max(0, R - A)` of the inflow R;
 *  - EscrowBuffer.drain: only when `R < A`, it pays `min(level, (A - R) * 1 step)` back through the
 *    pool, i.e. to the sinks in proportion to weight.
 *
 * Together the sinks receive `min(R + B, A)` split by weight, and the buffer keeps the rest (beyond
 * `bufferMax` the sources pause for the difference, as on `isSaturated`).
 *
 * The weight is the float form of core's exact `queueWeight` (src/core/queuePremium.ts,
 * `floor(C^2 * 10000 / (C * 10000 + gammaBps * q))`, i.e. `CapacityMath.queueWeight`); core has no
 * float form, so it is computed inline here. Note that, unlike the price premium, the weight does not
 * cap the backlog-to-capacity ratio.
 *
 * O(n), no allocation: the weights are written into `out` and scaled in place.
 */
import { payWithinRoom, type MutNumArray, type NumArray, type StepResult } from '../core/index.ts';

/** Default queue premium gamma (premiumBps = 10 000 on chain). */
export const DEFAULT_GAMMA = 1;

/** Float `CapacityMath.queueWeight`: `C / (1 + gamma * q / C)`, C without backlog, 0 without capacity. */
export function queueWeightFloat(capacity: number, backlog: number, gamma: number): number {
  return backlog > 0 && capacity > 0 ? (capacity * capacity) / (capacity + gamma * backlog) : capacity;
}

export function onchainInto(
  declared: NumArray,
  backlog: NumArray,
  gamma: number,
  inflow: number,
  buffer: number,
  bufferMax: number,
  out: MutNumArray,
  res: StepResult,
): StepResult {
  const n = declared.length;
  let absorbable = 0;
  for (let k = 0; k < n; k++) {
    const c = declared[k];
    const q = backlog[k];
    const w = q > 0 && c > 0 ? (c * c) / (c + gamma * q) : c;
    out[k] = w;
    absorbable += w;
  }
  // R >= A: the sinks get A, the buffer R - A (no drain). R < A: the sinks get R + min(B, A - R).
  return payWithinRoom(out, absorbable, inflow, buffer, bufferMax, res);
}
