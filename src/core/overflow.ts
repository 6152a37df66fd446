/**
 * The buffer's (EscrowBuffer's) share of a pool stream, as the contracts set it
 * (`CapacityMath.overflowUnits`): with sink units U, inflow R and absorbable rate A (same unit), the
 * sinks receive R * U / (U + B); setting that to A gives B = U * (R - A) / A, rounded up so the sinks
 * are never overpaid by rounding.
 */

/** Buffer units when the sinks can absorb nothing: the buffer takes all but 1 / (1 + OVERFLOW_ALL) of the inflow. */
export const OVERFLOW_ALL = 1_000_000n;

/**
 * Exact buffer units: 0 if R <= A; else 1 if U == 0 (the buffer alone receives the stream); else
 * U * OVERFLOW_ALL if A == 0; else ceil(U * (R - A) / A).
 */
export function overflowUnits(sinkUnits: bigint, inflow: bigint, absorbable: bigint): bigint {
  if (sinkUnits < 0n || inflow < 0n || absorbable < 0n) throw new RangeError('overflowUnits takes non-negative values');
  if (inflow <= absorbable) return 0n;
  if (sinkUnits === 0n) return 1n;
  if (absorbable === 0n) return sinkUnits * OVERFLOW_ALL;
  const num = sinkUnits * (inflow - absorbable);
  return (num + absorbable - 1n) / absorbable;
}

/** Float form: the fraction of the inflow that goes to the buffer, `max(0, R - A) / R`. */
export function overflowShare(inflow: number, absorbable: number): number {
  return inflow > absorbable && inflow > 0 ? (inflow - Math.max(0, absorbable)) / inflow : 0;
}
