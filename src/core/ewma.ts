/**
 * EWMA smoothing of capacity signals: `next = alpha * target + (1 - alpha) * prev`.
 *
 * The exact form is the contracts' integer rule (`CapacityMath.ewma`): values are unsigned integers,
 * `alphaBps` in [1, 10000], and the weighted sum is divided by 10000 rounding UP when rising and DOWN
 * when falling, so every step moves at least one unit while prev != target (it never stalls short of
 * the target) and never overshoots it.
 */

export const BPS = 10_000n;

function checkAlphaBps(alphaBps: bigint): void {
  if (alphaBps < 1n || alphaBps > BPS) throw new RangeError(`alphaBps must be in [1, 10000], got ${alphaBps}`);
}

/** One exact EWMA step (bigint, as on chain). */
export function ewmaStep(prev: bigint, target: bigint, alphaBps: bigint | number): bigint {
  const a = BigInt(alphaBps);
  checkAlphaBps(a);
  if (prev < 0n || target < 0n) throw new RangeError('EWMA values are unsigned');
  if (target === prev) return prev;
  const weighted = a * target + (BPS - a) * prev;
  return target > prev ? (weighted + BPS - 1n) / BPS : weighted / BPS;
}

/** Number of exact steps from `prev` until the smoothed value equals `target` (it always gets there). */
export function ewmaStepsToReach(prev: bigint, target: bigint, alphaBps: bigint | number): number {
  let v = prev;
  let n = 0;
  while (v !== target) {
    v = ewmaStep(v, target, alphaBps);
    n++;
  }
  return n;
}

/** Float EWMA step for the simulator; `alpha` in (0, 1]. */
export function ewmaFloat(prev: number, target: number, alpha: number): number {
  return prev + alpha * (target - prev);
}

/** Float EWMA of many values in place: `smoothed[k] <- ewmaFloat(smoothed[k], targets[k], alpha)`. */
export function ewmaInto(
  smoothed: { [i: number]: number; readonly length: number },
  targets: ArrayLike<number>,
  alpha: number,
): void {
  for (let k = 0; k < smoothed.length; k++) smoothed[k] = ewmaFloat(smoothed[k], targets[k], alpha);
}
